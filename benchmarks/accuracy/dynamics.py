"""Training dynamics under corruption (the paper's Fig. 1) at CPU scale: ERM vs SAT.

For each corruption (40% uniform label noise, and 40% of the images replaced by Gaussian noise,
random pixels or shuffled pixels) CE and SAT train the Fashion-MNIST memorising preset with a 10%
validation split, corrupted by the same rule.  Every epoch logs accuracy on the clean and the
corrupted training samples and on the clean and corrupted validation copies.  One figure, one
panel per (corruption, loss); numbers in JSON.

    python -m benchmarks.accuracy.dynamics --jobs 2 --out benchmarks/results/dynamics_fmnist.json \
        --figure docs/figures/dynamics_fmnist.png
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks.common import MEASURED_FORM, result_path, split_overrides, write_result
from selfadaptive.runs.sweep import run_commands, train_args

KINDS = ("uniform", "gaussian", "random_pixels", "shuffled_pixels")
CURVES = ("train_acc_clean", "train_memorised_noisy", "val_acc", "val_acc_noisy", "test_acc")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default="fmnist-u40-mlp-memorise-sat")
    p.add_argument("--kinds", default=",".join(KINDS))
    p.add_argument("--losses", default="ce,sat")
    p.add_argument("--overrides", default="data.subset=5000,optim.epochs=60,data.val_fraction=0.1,loss.start_epoch=10",
                   help="comma-separated overrides for every run")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--runs", default="runs/dynamics")
    p.add_argument("--out", default=result_path("dynamics_fmnist.json"))
    p.add_argument("--figure", default="docs/figures/dynamics_fmnist.png")
    args = p.parse_args(argv)
    over = split_overrides(args.overrides)
    jobs = [(kind, loss) for kind in args.kinds.split(",") for loss in args.losses.split(",")]
    pending = [(kind, loss, Path(args.runs) / f"{kind}-{loss}") for kind, loss in jobs]
    pending = [(kind, loss, run) for kind, loss, run in pending if not (run / "summary.json").is_file()]
    codes = []
    run_commands([train_args(run, args.config, [*MEASURED_FORM, f"noise.kind={kind}", f"loss.name={loss}", "log.progress=false",
                                                 *over])
                  for kind, loss, run in pending], args.jobs, lambda i, rc: codes.append(rc))
    if any(codes):
        raise SystemExit("a run failed; rerun to resume it")
    result = {"config": args.config, "overrides": over, "runs": {}}
    for kind, loss in jobs:
        run = Path(args.runs) / f"{kind}-{loss}"
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
        result["runs"][f"{kind}/{loss}"] = {key: [r.get(key) for r in rows] for key in CURVES}
        last = rows[-1]
        print(f"{kind:>15} {loss:>3}: last epoch train clean {100 * last['train_acc_clean']:.1f}, corrupted (given "
              f"label) {100 * last['train_memorised_noisy']:.1f}, val clean {100 * last['val_acc']:.1f}, val corrupted "
              f"{100 * last['val_acc_noisy']:.1f}, test {100 * last['test_acc']:.1f}", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_result(args.out, result)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    kinds, losses = args.kinds.split(","), args.losses.split(",")
    fig, axes = plt.subplots(len(losses), len(kinds), figsize=(3.6 * len(kinds), 3.0 * len(losses)), squeeze=False,
                             sharey=True)
    labels = {"train_acc_clean": "train, clean", "train_memorised_noisy": "train, corrupted (given label)",
              "val_acc": "val, clean", "val_acc_noisy": "val, corrupted"}
    for i, loss in enumerate(losses):
        for j, kind in enumerate(kinds):
            ax, curves = axes[i][j], result["runs"][f"{kind}/{loss}"]
            for key, label in labels.items():
                ax.plot([100 * v for v in curves[key]], "-" if key.startswith("train") else "--", label=label)
            ax.set_title(f"{kind}, {'ERM (CE)' if loss == 'ce' else loss.upper()}", fontsize=9)
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
        axes[i][0].set_ylabel("accuracy (%)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    Path(args.figure).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.figure, dpi=110)
    print(f"figure: {args.figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
