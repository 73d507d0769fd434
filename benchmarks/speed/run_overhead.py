"""A whole ``sat train`` run with SAT against the same run with CE: the wall-time ratio.

    python -m benchmarks.speed.run_overhead --pairs 5 --out benchmarks/results/run_overhead_cpu.json

The built-in digits default (MLP 2x512, 1,347 samples, 40% flip noise), 40 epochs, SAT from epoch
0 so that every step updates the bank and every epoch tracks it and logs the detection metrics.
Runs are in-process and alternate CE, SAT, CE, SAT... so that drift in machine load hits both
alike; the ratio is median(SAT) / median(CE) of the runs' own ``wall_time_s``.  A first pair is
discarded as warm-up (imports, allocator).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks.common import machine, result_path, write_result
from selfadaptive import load_config, train
from selfadaptive.config.presets import resolve_config

BASE = ["optim.epochs=40", "log.progress=false"]
LOSSES = {"ce": ["loss.name=ce"], "sat": ["loss.name=sat", "loss.start_epoch=0"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pairs", type=int, default=5)
    p.add_argument("--config", default="digits-flip40-sat")
    p.add_argument("--out", default=result_path("run_overhead_cpu.json"))
    args = p.parse_args(argv)
    config = resolve_config(args.config)
    times = {name: [] for name in LOSSES}
    with tempfile.TemporaryDirectory() as tmp:
        for pair in range(args.pairs + 1):
            for name, over in LOSSES.items():
                summary = train(load_config(config, BASE + over), Path(tmp) / f"{name}-{pair}", quiet=True)
                if pair:        # pair 0 is the warm-up
                    times[name].append(summary["wall_time_s"])
            if pair:
                print(f"pair {pair}: CE {times['ce'][-1]:.2f} s, SAT {times['sat'][-1]:.2f} s", flush=True)
    ratio = statistics.median(times["sat"]) / statistics.median(times["ce"])
    result = {"config": args.config, "overrides": BASE, "losses": LOSSES, "wall_time_s": times,
              "median_s": {k: statistics.median(v) for k, v in times.items()}, "ratio_sat_over_ce": ratio,
              "machine": machine()}
    write_result(args.out, result)
    print(f"SAT / CE wall time: {ratio:.3f} (median of {args.pairs} pairs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
