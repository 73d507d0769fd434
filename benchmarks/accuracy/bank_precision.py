"""Does a half-precision target bank cost accuracy?  The same SAT run with loss.bank_dtype =
float32 / bfloat16 / float16: last-epoch test accuracy, target recovery and detection AUROC.

    python -m benchmarks.accuracy.bank_precision --config digits-flip40-sat --overrides loss.start_epoch=10 --seeds 0,1,2 \
        --out benchmarks/results/bank_precision_digits.json
    python -m benchmarks.accuracy.bank_precision --config cifar10sub-u40-mlp-memorise-sat --overrides loss.start_epoch=5 --seeds 0 \
        --out benchmarks/results/bank_precision_cifar10sub.json
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks.common import MEASURED_FORM, result_path, split_overrides, write_result
from selfadaptive.config import load_config
from selfadaptive.config.presets import resolve_config
from selfadaptive.training.loop import train

KEYS = ("test_acc_last", "test_acc_best", "target_recovery", "detection_auroc", "wall_time_s")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default="digits-flip40-sat")
    p.add_argument("--dtypes", default="float32,bfloat16,float16")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--overrides", default="", help="comma-separated overrides for every run")
    p.add_argument("--out", default=result_path("bank_precision_digits.json"))
    args = p.parse_args(argv)
    extra = split_overrides(args.overrides)
    runs = {}
    for dtype in args.dtypes.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            cfg = load_config(resolve_config(args.config), [*MEASURED_FORM, f"seed={seed}",
                                                            f"loss.bank_dtype={dtype}", "log.progress=false", *extra])
            with tempfile.TemporaryDirectory() as tmp:
                s = train(cfg, Path(tmp) / "run", quiet=True)
            runs[f"{dtype}/seed{seed}"] = {k: s.get(k) for k in KEYS}
            print(f"{dtype} seed {seed}: last {100 * s['test_acc_last']:.2f}%, recovery "
                  f"{100 * (s.get('target_recovery') or 0):.1f}%, AUROC {s.get('detection_auroc') or 0:.4f} "
                  f"({s['wall_time_s']:.0f} s)", flush=True)
    table = {}
    for dtype in args.dtypes.split(","):
        rows = [r for key, r in runs.items() if key.startswith(dtype + "/")]
        table[dtype] = {k: statistics.mean(r[k] for r in rows) for k in KEYS if all(r[k] is not None for r in rows)}
    base = table.get("float32", {}).get("test_acc_last")
    for dtype, t in table.items():
        if base is not None:
            t["acc_diff_vs_float32_points"] = 100 * (t["test_acc_last"] - base)
    out = {"config": args.config, "overrides": extra, "seeds": args.seeds, "runs": runs, "table": table}
    print(json.dumps(table, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_result(args.out, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
