"""Does fixing the labels SAT flags pay off?  SAT run -> `sat issues --export` -> retrain, per seed.

For each seed: (1) SAT on the preset's noisy labels; (2) export its suggestions
(``export_labels``, default threshold); (3) retrain CE and SAT on the exported labels; compare
with CE and SAT on the original noisy labels.  All runs use the preset's recipe and the same
noise (``noise.file``).

    python -m benchmarks.accuracy.relabel_loop --config digits-flip40-sat --overrides loss.start_epoch=10 --seeds 0,1,2 \
        --out benchmarks/results/relabel_loop_digits.json
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from benchmarks.common import MEASURED_FORM, result_path, split_overrides, write_result
from selfadaptive.config import load_config
from selfadaptive.config.presets import resolve_config
from selfadaptive.issues.evaluate import export_labels, issues_from_run
from selfadaptive.noise.labels import LabelNoise
from selfadaptive.training.loop import train


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default="digits-flip40-sat")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--threshold", type=float, default=0.2)
    p.add_argument("--overrides", default="", help="comma-separated overrides for every run")
    p.add_argument("--out", default=result_path("relabel_loop_digits.json"))
    args = p.parse_args(argv)
    preset = resolve_config(args.config)
    extra = split_overrides(args.overrides)
    results = {"config": args.config, "overrides": extra, "threshold": args.threshold, "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for seed in (int(s) for s in args.seeds.split(",")):
            base = [*MEASURED_FORM, f"seed={seed}", "log.progress=false"] + extra
            sat_run = tmp / f"sat{seed}"
            s_sat = train(load_config(preset, base), sat_run, quiet=True)
            found = issues_from_run(sat_run)
            labels = tmp / f"labels{seed}.csv"
            counts = export_labels(found, labels, threshold=args.threshold)
            row = {"seed": seed, "sat_noisy": s_sat["test_acc_last"], "export": counts,
                   "detection_auroc": found.metrics.get("auroc")}
            noise = str(sat_run / "noise.npz")
            for loss in ("ce", "sat"):
                fixed = train(load_config(preset, base + [f"loss.name={loss}", "noise.kind=none", f"data.labels={labels}"]),
                              tmp / f"{loss}_fixed{seed}", quiet=True)
                row[f"{loss}_fixed"] = fixed["test_acc_last"]
                row[f"{loss}_fixed_best"] = fixed["test_acc_best"]
            ce = train(load_config(preset, base + ["loss.name=ce", f"noise.file={noise}"]), tmp / f"ce{seed}", quiet=True)
            row.update(ce_noisy=ce["test_acc_last"], ce_noisy_best=ce["test_acc_best"])
            assert LabelNoise.load(tmp / f"ce{seed}" / "noise.npz").noisy_mask.sum() == counts["wrong_before"]
            print(json.dumps(row), flush=True)
            results["runs"].append(row)
    write_result(args.out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
