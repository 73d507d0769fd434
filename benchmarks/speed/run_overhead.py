"""A whole ``sat train`` run with SAT against the same run with CE: the wall-time ratio, and where
SAT's extra time goes.

    python -m benchmarks.speed.run_overhead --pairs 21 --parts --out benchmarks/results/run_overhead_cpu.json

The built-in digits default (MLP 2x512, 1,347 samples, 40% flip noise), 40 epochs, SAT from epoch
0 so that every step updates the bank and every epoch tracks it and logs the detection metrics; with
``--start auto``, SAT as the default runs it (cross-entropy and the rule's record until it starts).
Runs are in-process and alternate CE, SAT, CE, SAT... so that drift in machine load hits both
alike; the ratio is median(SAT) / median(CE) of the runs' own ``wall_time_s``, beside the median of
the per-pair ratios and the same ratios of process CPU time (which time stolen by other tenants of
a virtual machine does not inflate).  A first pair is discarded as warm-up (imports, allocator).

``--parts`` times the trainer's pieces in every run (the loss's forward, every ``backward``, the
per-step training-pass records, the per-epoch tracker update, the metrics row, evaluation and
checkpoints) by wrapping them with a clock; each part's figure is its minimum over the pairs, the
least disturbed run.

``--processes`` times the command itself, as the issue that set the target words it: ``sat train``
processes (``python -m selfadaptive train``), alternating CE and SAT, each timed from its start to its
exit (interpreter, imports, data, the training, the run folder), with the children's CPU time and the
in-process ``wall_time_s`` of the same runs beside it.

    python -m benchmarks.speed.run_overhead --processes --pairs 11 --start auto --out benchmarks/results/run_overhead_processes.json
"""
from __future__ import annotations

import argparse
import collections
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import machine, result_path, write_result
from selfadaptive import load_config, train
from selfadaptive.config.presets import resolve_config

BASE = ["optim.epochs=40", "log.progress=false"]
LOSSES = {"ce": ["loss.name=ce"], "sat": ["loss.name=sat", "loss.start_epoch=0"]}


def losses(start: str) -> dict:
    """CE against SAT from ``start`` (an epoch, or ``auto``: the default's own start)."""
    return {"ce": LOSSES["ce"], "sat": ["loss.name=sat", f"loss.start_epoch={start}"]}


def clock_parts(spent: dict) -> None:
    """Wrap the trainer's pieces so that each call adds its wall time to ``spent[part]``."""
    from selfadaptive.issues.tracker import LabelIssueTracker
    from selfadaptive.losses.ce import CrossEntropyLoss
    from selfadaptive.losses.sat import SelfAdaptiveLoss
    from selfadaptive.training import loop, session

    def wrap(owner, name, part):
        inner = getattr(owner, name)

        def timed(*args, **kwargs):
            t = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                spent[part] += time.perf_counter() - t
        setattr(owner, name, timed)

    for cls in (CrossEntropyLoss, SelfAdaptiveLoss):
        wrap(cls, "forward", "loss_forward")
    wrap(torch.Tensor, "backward", "backward")
    wrap(loop, "record_pass", "pass_records")
    wrap(loop, "merge_epoch_state", "pass_records")       # its flush of the pending records
    wrap(LabelIssueTracker, "update", "tracker_update")
    wrap(LabelIssueTracker, "update_predictions", "tracker_update")
    wrap(loop, "epoch_row", "metrics_row")
    wrap(loop, "evaluate_on", "evaluation")
    wrap(session.Session, "save_checkpoint", "checkpoints")


def time_process(config: str, overrides: list[str], out: Path) -> tuple[float, float, float]:
    """One ``sat train`` process: (wall seconds from start to exit, its CPU seconds, the run's own
    ``wall_time_s`` from summary.json)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "selfadaptive", "train", "--quiet", "--config", config, "--out", str(out),
                    *overrides], check=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, json.loads((out / "summary.json").read_text())["wall_time_s"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pairs", type=int, default=5)
    p.add_argument("--config", default="digits-flip40-sat")
    p.add_argument("--parts", action="store_true", help="also time the trainer's pieces")
    p.add_argument("--start", default="0", help="SAT's start epoch: 0 (every epoch pays SAT's cost) or auto")
    p.add_argument("--processes", action="store_true",
                   help="time whole `sat train` processes (imports and setup included) instead of in-process runs")
    p.add_argument("--out", default=result_path("run_overhead_cpu.json"))
    args = p.parse_args(argv)
    if args.processes and args.parts:
        p.error("--parts times pieces inside this process; it cannot be combined with --processes")
    config, runs = resolve_config(args.config), losses(args.start)
    spent = collections.defaultdict(float)
    if args.parts:
        clock_parts(spent)
    wall = {name: [] for name in runs}
    cpu = {name: [] for name in runs}
    parts = {name: [] for name in runs}
    started = []        # SAT's start epoch in each timed run (``auto`` decides it during the run)
    in_run = {name: [] for name in runs}     # --processes: the runs' own wall_time_s
    with tempfile.TemporaryDirectory() as tmp:
        for pair in range(args.pairs + 1):
            for name, over in runs.items():
                out = Path(tmp) / f"{name}-{pair}"
                spent.clear()
                if args.processes:
                    w, c, inner = time_process(args.config, BASE + over, out)
                else:
                    t = time.process_time()
                    summary = train(load_config(config, BASE + over), out, quiet=True)
                    w, c, inner = summary["wall_time_s"], time.process_time() - t, summary["wall_time_s"]
                if pair:        # pair 0 is the warm-up
                    cpu[name].append(c)
                    wall[name].append(w)
                    in_run[name].append(inner)
                    parts[name].append(dict(spent))
                    if name == "sat":
                        started.append(json.loads((out / "summary.json").read_text()).get("start_epoch_chosen"))
            if pair:
                print(f"pair {pair}: CE {wall['ce'][-1]:.2f} s, SAT {wall['sat'][-1]:.2f} s", flush=True)

    def ratios(times):
        return {"of_medians": statistics.median(times["sat"]) / statistics.median(times["ce"]),
                "median_of_pairs": statistics.median(s / c for s, c in zip(times["sat"], times["ce"]))}
    wall_ratios, cpu_ratios = ratios(wall), ratios(cpu)
    result = {"config": args.config, "overrides": BASE, "losses": runs, "wall_time_s": wall, "cpu_time_s": cpu,
              "timed": "whole `sat train` processes" if args.processes else "in-process runs (summary wall_time_s)",
              "median_s": {k: statistics.median(v) for k, v in wall.items()}, "sat_started": started,
              "ratio_sat_over_ce": wall_ratios["of_medians"], "wall_ratios": wall_ratios, "cpu_ratios": cpu_ratios,
              "machine": machine()}
    if args.processes:
        result["in_run_wall_time_s"] = in_run
        result["in_run_ratios"] = ratios(in_run)
    if args.parts:
        names = sorted({k for timed in parts.values() for run in timed for k in run})
        result["parts_min_s"] = {loss: {k: min(run.get(k, 0.0) for run in timed) for k in names}
                                 for loss, timed in parts.items()}
        for k in names:
            ce, sat = (result["parts_min_s"][loss][k] for loss in ("ce", "sat"))
            print(f"{k:15s} CE {ce * 1e3:7.1f} ms  SAT {sat * 1e3:7.1f} ms  extra {(sat - ce) * 1e3:+7.1f} ms")
    write_result(args.out, result)
    print(f"SAT / CE wall time: {wall_ratios['of_medians']:.3f} (median of {args.pairs} pairs; per-pair median "
          f"{wall_ratios['median_of_pairs']:.3f}); CPU time {cpu_ratios['of_medians']:.3f}")
    if args.processes:
        print(f"the same runs' own wall_time_s: {result['in_run_ratios']['of_medians']:.3f} (per-pair median "
              f"{result['in_run_ratios']['median_of_pairs']:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
