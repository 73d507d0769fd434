"""Adversarial training at CPU scale: TRADES vs TRADES+SAT, clean and PGD-20 test accuracy, best and last.

Each (preset family, method, seed) trains ``<family>-<method>`` with ``seed=S`` into a run folder
(``task=robust``: PGD-10 on held-out validation samples every epoch picks ``best_model.pt``; PGD-20
on the test subset at the end scores the last and the best model).  Runs go ``--jobs`` at a time,
one thread each, as ``sat train`` processes (``sweep.run_commands``); finished runs are reused
and interrupted ones resumed.
Prints a markdown table (mean +- std over seeds) and writes every number to ``--out``.
``trades-sat-auto`` is TRADES+SAT whose start waits for the held-out PGD accuracy to stop rising
(``loss.start_epoch=auto loss.auto_rule=noisy_val_plateau``, without the fit gate, as first measured);
``trades-sat-fit`` is TRADES+SAT as ``loss.start_epoch=auto`` gives it under ``task=robust``: the default
rule, counted once the training passes fit 0.9 of the labels (``auto_start``'s fit gate).
``--name`` calls the runs of one family by the regime they are when ``--overrides`` swap its data or width
(``--name cifar10-robust-cnn-w32``); the preset stays the family's.

    python -m benchmarks.accuracy.robust_compare --families mnist-robust-cnn,fmnist-robust-cnn \
        --methods trades,trades-sat --seeds 0,1 --jobs 2 --out benchmarks/results/robust_cpu.json
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

from benchmarks.common import result_path, split_overrides
from selfadaptive.runs.sweep import run_commands, train_args

#: methods that are a preset with overrides: name -> (preset suffix, overrides)
VARIANTS = {"trades-sat-auto": ("trades-sat", ["loss.start_epoch=auto", "loss.auto_rule=noisy_val_plateau",
                                               "loss.auto_min_fit=0"]),
            "trades-sat-fit": ("trades-sat", ["loss.start_epoch=auto"])}


def collect(run: Path) -> dict:
    summary = json.loads((run / "summary.json").read_text())
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    val = [r["val_robust_acc"] for r in rows]
    return {"run": str(run), "clean_last": summary["test_clean_acc_last"], "robust_last": summary["test_robust_acc_last"],
            "fgsm_last": summary["test_fgsm_acc_last"], "clean_best": summary["test_clean_acc_best"],
            "robust_best": summary["test_robust_acc_best"], "best_epoch": summary["best_robust_epoch"],
            "val_robust_peak": max(val), "val_robust_last": val[-1], "val_robust_curve": val,
            "test_clean_curve": [r["test_acc"] for r in rows], "wall_time_s": summary["wall_time_s"],
            "attack": summary["robust_attack"], "start_epoch_chosen": summary.get("start_epoch_chosen")}


def table(results: dict) -> str:
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in results.values():
        groups.setdefault((r["family"], r["method"]), []).append(r)

    def ms(rs, key):
        v = [100 * r[key] for r in rs]
        return f"{statistics.mean(v):.2f} ± {statistics.stdev(v):.2f}" if len(v) > 1 else f"{v[0]:.2f}"
    lines = ["| preset family | method | seeds | clean last | PGD-20 last | clean best | PGD-20 best | best epoch "
             "| val PGD-10 peak -> last | min/run |", "|" + "---|" * 10]
    for (family, method), rs in sorted(groups.items()):
        epochs = ",".join(str(r["best_epoch"]) for r in rs)
        drop = f"{ms(rs, 'val_robust_peak')} -> {ms(rs, 'val_robust_last')}"
        minutes = statistics.mean(r["wall_time_s"] for r in rs) / 60
        lines.append(f"| {family} | {method} | {len(rs)} | {ms(rs, 'clean_last')} | {ms(rs, 'robust_last')} | "
                     f"{ms(rs, 'clean_best')} | {ms(rs, 'robust_best')} | {epochs} | {drop} | {minutes:.1f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--families", default="mnist-robust-cnn,fmnist-robust-cnn")
    p.add_argument("--methods", default="trades,trades-sat")
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--jobs", type=int, default=2, help="runs at a time, one thread each")
    p.add_argument("--runs", default="runs/robust-bench", help="where the run folders go (kept for plots)")
    p.add_argument("--out", default=result_path("robust_cpu.json"))
    p.add_argument("--overrides", default="", help="extra comma-separated overrides for every run "
                   "(a list value keeps its commas: optim.milestones=[15,80])")
    p.add_argument("--name", default="", help="what the runs' folders, result keys and table call the regime "
                   "(one family only; default: the family), e.g. cifar10-robust-cnn-w32 when the overrides swap the "
                   "family's data and width")
    args = p.parse_args(argv)
    families = args.families.split(",")
    if args.name and len(families) != 1:
        p.error("--name names the regime of one family; give one family")
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.is_file() else {}
    extra = split_overrides(args.overrides)
    todo = [(f, m, int(s)) for f in families for m in args.methods.split(",") for s in args.seeds.split(",")]
    name = lambda family: args.name or family          # noqa: E731  (the regime's name in folders and keys)

    def record(family, method, seed, run) -> str:
        """Read a finished run into ``results``; returns its key."""
        key = f"{name(family)}/{method}/seed{seed}"
        results[key] = {"family": name(family), "preset_family": family, "method": method, "seed": seed,
                        **collect(run)}
        return key

    pending = []
    for family, method, seed in todo:
        run = Path(args.runs) / f"{name(family)}-{method}-s{seed}"
        if (run / "summary.json").is_file():
            record(family, method, seed, run)
        else:
            pending.append((family, method, seed, run))

    def finish(i: int, rc: int) -> None:
        family, method, seed, run = pending[i]
        if rc != 0:
            print(f"{run}: failed (exit {rc}); rerun to resume it", file=sys.stderr, flush=True)
            return
        key = record(family, method, seed, run)
        r = results[key]
        print(f"{key}: clean {100 * r['clean_last']:.2f} / PGD-20 {100 * r['robust_last']:.2f} "
              f"last, {100 * r['clean_best']:.2f} / {100 * r['robust_best']:.2f} best (epoch {r['best_epoch']}), "
              f"{r['wall_time_s'] / 60:.1f} min", flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")

    os.environ["OMP_NUM_THREADS"] = "1"     # one thread per run
    def command(family, method, seed, run):
        preset, own = VARIANTS.get(method, (method, []))
        return train_args(run, f"{family}-{preset}", [f"seed={seed}", "log.progress=false", *own, *extra])
    run_commands([command(*item) for item in pending], args.jobs, finish)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
