"""The stability gate's reading: the prediction changes PC at the epoch the ``changes_slowdown`` rule
fires, in runs that log the whole PC curve.

    sat train --config PRESET --out runs/pc/NAME loss.name=sat loss.start_epoch=auto loss.auto_window=1000 ...
    python -m benchmarks.accuracy.changes_at_firing runs/pc --out benchmarks/results/changes_at_firing.json

``loss.auto_window=1000`` is a window the rule cannot fill, so it never fires: the run is plain
cross-entropy and ``metrics.jsonl`` logs PC every epoch.  This reads only those files, replays the
default rule (window 1) on each curve, and reports PC where it fires, the highest PC after it, and the
first epoch from there at which PC is at most each threshold (SAT starts the epoch after).  The
default ``loss.auto_max_changes`` (0.4) was set between the two groups this printed (docs/benchmarks.md
§12f).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.common import read_run_folders, result_path, write_result
from selfadaptive.engine.runfolder import RunDir
from selfadaptive.losses.start_rules import first_slowdown

THRESHOLDS = (0.35, 0.4, 0.45)


def reading(metrics: Path) -> dict | None:
    """One run's PC curve and the rule's reading of it; None without a logged curve."""
    rows = RunDir(metrics.parent).read_metrics()
    changes = [r.get("prediction_changes") for r in rows[1:]]        # epoch 0 has no previous pass
    if not changes or any(c is None for c in changes):
        return None
    fired = first_slowdown(changes)
    out = {"epochs": len(rows), "prediction_changes": [round(c, 4) for c in changes],
           "test_acc_last": rows[-1].get("test_acc"), "fired_at_epoch_end": None}
    if fired is None:
        return out
    after = changes[fired:]
    out.update(fired_at_epoch_end=fired + 1, changes_at_firing=changes[fired], max_changes_after=max(after),
               start_with_gate={str(t): next((fired + i + 2 for i, c in enumerate(after) if c <= t), None)
                                for t in THRESHOLDS})
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("roots", nargs="+", help="folders searched for run folders (metrics.jsonl)")
    p.add_argument("--out", default=result_path("changes_at_firing.json"))
    args = p.parse_args(argv)
    runs = read_run_folders(args.roots, "metrics.jsonl", lambda run: reading(run / "metrics.jsonl"))
    for name, r in runs.items():
        if r["fired_at_epoch_end"] is None:
            print(f"{name}: the rule never fired in {r['epochs']} epochs")
            continue
        print(f"{name}: fires as epoch {r['fired_at_epoch_end']} ends at PC {r['changes_at_firing']:.3f} "
              f"(highest after {r['max_changes_after']:.3f}); SAT starts at {r['fired_at_epoch_end'] + 1} without "
              f"the gate, {r['start_with_gate']} with it")
    write_result(args.out, {"thresholds": list(THRESHOLDS), "runs": runs})
    return 0


if __name__ == "__main__":
    sys.exit(main())
