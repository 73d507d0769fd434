"""Where SAT ends below CE: does it under-fit the clean samples, or over-correct?  Reads the last
metrics row of finished run folders (runs with injected noise log the training pass's accuracy on the
clean samples, ``train_acc_clean``, and its agreement with the wrong labels, ``train_memorised_noisy``)
and gives, per group of runs, their means with the test accuracy.

    python -m benchmarks.accuracy.fit_gap --group 'fmnist/ce=runs/map/fmnist-cnn-short/ce/uniform/seed=*' \\
        --group 'fmnist/sat=runs/map/fmnist-cnn-short/sat_auto_sce/uniform/seed=*' --out benchmarks/results/fit_gap.json
"""
import argparse
import glob
import statistics
from pathlib import Path

from benchmarks.common import write_result
from selfadaptive.engine.runfolder import RunDir

FIELDS = ("test_acc", "train_acc_clean", "train_memorised_noisy", "train_acc")
#: each run's summary fields, kept per run beside the means (absent ones are None)
SUMMARY_FIELDS = ("test_acc_last", "test_acc_best", "test_acc_at_selected", "selected_epoch", "start_epoch_chosen",
                  "start_concentration", "detection_auroc")


def group_means(pattern: str) -> dict:
    """Means over the finished runs matching ``pattern`` (a glob of run folders) of the last row's fields."""
    runs = sorted(Path(p) for p in glob.glob(pattern) if (Path(p) / "summary.json").is_file())
    if not runs:
        raise SystemExit(f"no finished run folder matches {pattern}")
    rows = [RunDir(run).read_metrics()[-1] for run in runs]
    missing = [f for f in FIELDS if any(f not in r for r in rows)]
    if missing:
        raise SystemExit(f"{pattern}: the runs log no {', '.join(missing)} (no noise was injected?)")
    per_run = [{f: summary.get(f) for f in SUMMARY_FIELDS} for summary in (RunDir(run).read_summary() for run in runs)]
    return {"runs": [str(r) for r in runs], **{f: statistics.mean(r[f] for r in rows) for f in FIELDS}, "per_run": per_run}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--group", action="append", required=True,
                   help="NAME=GLOB of run folders; NAME may be CELL/METHOD, and each cell's first group is its baseline")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    groups = {}
    for spec in args.group:
        name, _, pattern = spec.partition("=")
        groups[name] = group_means(pattern)
    baselines = {}          # per prefix (CELL/ in CELL/METHOD): its first group
    print(f"{'group':<28}{'runs':>5}{'test':>8}{'fit, clean':>12}{'memorised':>11}{'fit, given':>12}")
    for name, g in groups.items():
        base_name = baselines.setdefault(name.rpartition("/")[0], name)
        base = groups[base_name]
        diff = "" if g is base else f"   vs {base_name}: test {100 * (g['test_acc'] - base['test_acc']):+.2f}, " \
            f"clean fit {100 * (g['train_acc_clean'] - base['train_acc_clean']):+.2f}"
        print(f"{name:<28}{len(g['runs']):>5}{100 * g['test_acc']:>8.2f}{100 * g['train_acc_clean']:>12.2f}"
              f"{100 * g['train_memorised_noisy']:>11.2f}{100 * g['train_acc']:>12.2f}{diff}")
    if args.out:
        write_result(args.out, groups)


if __name__ == "__main__":
    main()
