"""Selective classification at CPU scale: SAT vs Deep Gamblers vs Softmax Response (CE), several seeds.

Each (preset family, method, seed) trains ``<family>-<method>`` with ``seed=S`` into a run folder,
then ``sat selective`` scores it (paper protocol: 2,000 shuffled test samples held out, the rest
reported; AURC over the whole test set; deployable thresholds chosen on half of the test set and
measured on the other half).

    python -m benchmarks.accuracy.selective_compare --families cifar10sub-selective-cnn,fmnist-selective-cnn \
        --methods sat,gambler,ce --seeds 0,1,2 --out benchmarks/results/selective_cpu.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks.common import result_path, split_overrides
from selfadaptive.config import load_config
from selfadaptive.config.presets import resolve_config
from selfadaptive.selective.evaluate import evaluate_selective
from selfadaptive.training.loop import train


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--families", default="cifar10sub-selective-cnn,fmnist-selective-cnn")
    p.add_argument("--methods", default="sat,gambler,ce")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--runs", default="runs/selective-bench", help="where the run folders go (kept for plots)")
    p.add_argument("--out", default=result_path("selective_cpu.json"))
    p.add_argument("--calib-size", type=int, default=0, help="deployable calibration part (0: half the test set)")
    p.add_argument("--overrides", default="", help="extra comma-separated overrides for every run")
    p.add_argument("--variant", default="", help="a name for these overrides: keys, run folders and tables "
                   "read METHOD[VARIANT], so one results file holds several settings of a method")
    args = p.parse_args(argv)
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.is_file() else {}
    extra = split_overrides(args.overrides)
    for family in args.families.split(","):
        for method in args.methods.split(","):
            for seed in (int(s) for s in args.seeds.split(",")):
                name = f"{method}[{args.variant}]" if args.variant else method
                key = f"{family}/{name}/seed{seed}"
                run = Path(args.runs) / (f"{family}-{method}-{args.variant}-s{seed}" if args.variant
                                         else f"{family}-{method}-s{seed}")
                if not (run / "summary.json").is_file():
                    cfg = load_config(resolve_config(f"{family}-{method}"), [f"seed={seed}", "log.progress=false"] + extra)
                    train(cfg, run, resume=(run / "checkpoint.pt").is_file(), quiet=True)
                r = evaluate_selective(run, calib_size=args.calib_size)
                summary = json.loads((run / "summary.json").read_text())
                pp = r["paper_protocol"]
                err = dict(zip(pp["coverages"], pp["test_selective_error"]))
                last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
                results[key] = {"family": family, "method": name, "seed": seed, "run": str(run),
                                "overrides": extra, "train_acc_last": last.get("train_acc"),
                                "accuracy": r["accuracy"], "aurc": r["aurc"], "e_aurc": r["e_aurc"],
                                "augrc": r["augrc"],
                                "selective_error": {str(c): err[c] for c in pp["coverages"]},
                                "deployable": r["deployable"]["rows"], "wall_time_s": summary["wall_time_s"]}
                print(f"{key}: acc {100 * r['accuracy']:.2f} AURC {100 * r['aurc']:.3f} "
                      + " ".join(f"err@{int(100 * c)} {100 * err[c]:.2f}" for c in (0.95, 0.9, 0.8))
                      + f" ({summary['wall_time_s']:.0f} s)", flush=True)
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
