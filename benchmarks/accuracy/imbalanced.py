"""Does ``start_epoch=auto``'s class-collapse guard misfire on imbalanced data?

The guard holds SAT's start back when, at the epoch the start rule fires, some class is predicted at
under ``loss.auto_min_class_ratio`` (0.3) of its given-label share (until every class is back at 0.5;
session 16's first form called SAT off for the run).  Its threshold was set on balanced
data.  On long-tailed data a young network under-predicts the tail, and uniform noise inflates
the tail's given share (40% of every class's labels are spread over all classes), so a tail class
can fall under 0.3 with nothing collapsed.  This benchmark measures that, as a user would meet it:
a long-tailed training set written as a plain ``.npz`` (``data.name=npz``), 40% uniform noise
(``--noise asymmetric``: each class flipped into the next, so head classes flip into rarer ones),
the memorising Fashion-MNIST MLP regime in which SAT helps most on balanced data, scored on the
balanced test set (so accuracy is the mean per-class recall).

Training subset: n_c = round(n_max * rho ** (-c / (K - 1))) samples of class c (CIFAR-10-LT's
exponential profile, Cui et al. 2019), seeded, from the Fashion-MNIST training set.

    python -m benchmarks.accuracy.imbalanced --rhos 10,100 --seeds 0,1 --epochs 40 --jobs 2 \\
        --out benchmarks/results/imbalanced_fmnist.json

Methods: CE, SAT auto (guard on), SAT auto with the guard off (``loss.auto_min_class_ratio=0``), SAT
with the regime map's fixed E_s = 10, all in SAT's CE form as first measured; and SAT auto in the SCE
form, the default since session 22 (``sat_auto_sce``).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from benchmarks.common import LOCAL_COPIES, machine, mean_std, result_path, write_result
from selfadaptive.data.idx import load_idx_folder
from selfadaptive.engine.evaluation import predict_logits
from selfadaptive.engine.restore import load_run_model
from selfadaptive.runs.sweep import sweep

PRESET = "fmnist-u40-mlp-memorise-sat"
#: the memorising regime's settings, with the data swapped for the long-tailed file (no `subset`)
COMMON = ["data.name=npz", "data.subset=0", "data.download=false", "noise.rate=0.4", "data.val_fraction=0.1",
          "log.progress=false"]
METHODS = {
    "ce": ["loss.name=ce"],
    # SAT's CE form, pinned: measured before the SCE form became the default (docs/benchmarks.md §12g)
    "sat_auto": ["loss.name=sat", "loss.start_epoch=auto", "loss.variant=ce", "loss.auto_min_concentration=0"],
    "sat_auto_no_guard": ["loss.name=sat", "loss.start_epoch=auto", "loss.auto_min_class_ratio=0", "loss.variant=ce", "loss.auto_min_concentration=0"],
    "sat_fixed": ["loss.name=sat", "loss.start_epoch=10", "loss.variant=ce"],
    "sat_auto_sce": ["loss.name=sat", "loss.start_epoch=auto", "loss.variant=sce", "loss.auto_min_concentration=0"],     # the default since session 22
    # the default since session 28 (the SCE form with the memorisation gate)
    "sat_auto_gate": ["loss.name=sat", "loss.start_epoch=auto", "loss.variant=sce", "loss.auto_min_concentration=1.3"],
}
#: runs of earlier code kept in the runs folder, read by --collect only
EARLIER = {"sat_auto_called_off": "SAT auto with session 16's guard, which called SAT off for the run (b7d5637)",
           "sat_auto_held_classes_only": "SAT auto with a guard that held the start until the classes it held for "
                                         "were back at 0.5 (e74a34a)"}


def long_tailed_counts(n_max: int, rho: float, k: int) -> list[int]:
    """Per-class sample counts n_c = round(n_max * rho^(-c/(K-1))), c = 0..K-1 (head first)."""
    return [int(round(n_max * rho ** (-c / (k - 1)))) for c in range(k)]


def write_long_tailed(source: Path, out: Path, rho: float, n_max: int, seed: int = 0) -> list[int]:
    """A long-tailed training subset of the IDX folder ``source`` (full test set kept) as ``out`` (.npz)."""
    arrays = load_idx_folder(source)
    y = arrays["y_train"]
    k = int(y.max()) + 1
    counts = long_tailed_counts(n_max, rho, k)
    rng = np.random.default_rng(seed)
    keep = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:n] for c, n in enumerate(counts)])
    keep = rng.permutation(keep)       # not sorted by class: a user's file seldom is
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, x_train=arrays["x_train"][keep], y_train=y[keep],
             x_test=arrays["x_test"], y_test=arrays["y_test"])
    return counts


def per_class_recall(run: Path) -> list[float]:
    """Test accuracy of each class (%) of the run's last model (its checkpoint)."""
    _, _, data, model, _, device = load_run_model(run, "cpu")
    pred = predict_logits(model, data.test, device).argmax(dim=1).numpy()
    y = data.test.y.numpy()
    return [float(100 * (pred[y == c] == c).mean()) for c in range(data.num_classes)]


def read_runs(folder: Path) -> list[dict]:
    rows = []
    for summary in sorted(folder.glob("*/summary.json")):
        s = json.loads(summary.read_text())
        metrics = [json.loads(line) for line in (summary.parent / "metrics.jsonl").read_text().splitlines()]
        ratios = [r["min_class_ratio"] for r in metrics if r.get("min_class_ratio") is not None]
        rows.append({"run": summary.parent.name, "seed": s["seed"], "test_acc_last": 100 * s["test_acc_last"],
                     "test_acc_at_selected": 100 * s["test_acc_at_selected"] if "test_acc_at_selected" in s else None,
                     "start_epoch_chosen": s.get("start_epoch_chosen"),
                     # the guard's first form (session 16) called SAT off: its summaries say so
                     "held_epoch": s.get("start_held_epoch", s.get("start_called_off_epoch")),
                     "held_classes": s.get("start_held_classes", s.get("start_called_off_classes")),
                     "start_concentration": s.get("start_concentration"),
                     "min_class_ratio_last_warmup": ratios[-1] if ratios else None,
                     "detection_auroc": s.get("detection_auroc"),
                     "test_recall_per_class": per_class_recall(summary.parent)})
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rhos", default="10,100", help="imbalance ratios n_max / n_min")
    p.add_argument("--n-max", type=int, default=1000)
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--epochs", type=int, default=40, help="the preset's memorising regime runs 100")
    p.add_argument("--noise", default="uniform", choices=("uniform", "asymmetric", "instance"),
                   help="noise kind at 40%%; asymmetric flips class c to c + 1, head into tail on this profile")
    p.add_argument("--methods", default=",".join(METHODS), help=f"of {list(METHODS)}; --collect also {list(EARLIER)}")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--runs", default="runs/imbalanced")
    p.add_argument("--out", default=result_path("imbalanced_fmnist.json"))
    p.add_argument("--collect", action="store_true", help="read the finished runs only (run nothing)")
    args = p.parse_args(argv)
    methods = args.methods.split(",")
    unknown = set(methods) - set(METHODS) - (set(EARLIER) if args.collect else set())
    if unknown:
        p.error(f"unknown methods {sorted(unknown)}")
    root = Path(args.runs)
    common = [*COMMON, f"noise.kind={args.noise}", f"optim.epochs={args.epochs}"]
    suffix = "" if args.noise == "uniform" else f"-{args.noise}"      # uniform keeps session 17's folder names
    result = {"preset": PRESET, "common": common, "n_max": args.n_max, "methods": {**METHODS, **EARLIER}, "machine": machine(),
              "cells": {}}
    for rho in (float(r) for r in args.rhos.split(",")):
        data = root / f"fmnist-lt-rho{rho:g}.npz"
        counts = long_tailed_counts(args.n_max, rho, 10)
        if not args.collect:
            counts = write_long_tailed(LOCAL_COPIES["fashion-mnist"], data, rho, args.n_max)
        cell = {"class_counts": counts, "methods": {}}
        for method in methods:
            folder = root / f"rho{rho:g}{suffix}" / method
            if not args.collect:
                sweep(PRESET, folder, [*common, f"data.root={data.resolve()}", *METHODS[method], f"seed={args.seeds}"],
                      jobs=args.jobs)
            runs = read_runs(folder)
            if not runs:
                continue
            mean, std = mean_std(r["test_acc_last"] for r in runs)
            tail = [sum(r["test_recall_per_class"][-3:]) / 3 for r in runs]
            selected = [r["test_acc_at_selected"] for r in runs if r["test_acc_at_selected"] is not None]
            cell["methods"][method] = {"test_acc_last_mean": mean, "test_acc_last_std": std,
                                       "tail3_recall_mean": sum(tail) / len(tail),
                                       "worst_class_recall_mean": sum(min(r["test_recall_per_class"]) for r in runs) / len(runs),
                                       "test_acc_at_noisy_val_mean": sum(selected) / len(selected) if selected else None,
                                       "runs": runs}
            print(f"rho {rho:g} {method}: {mean:.2f} +- {std:.2f}, 3 rarest classes' recall {sum(tail) / len(tail):.2f}",
                  flush=True)
        result["cells"][f"rho{rho:g}{suffix}"] = cell
    write_result(args.out, result)
    print(markdown(result))
    return 0


def markdown(result: dict) -> str:
    """One row per imbalance ratio: each method's last-epoch test accuracy (mean of the seeds; the
    3 rarest classes' and the worst class's recall; E_s), CE also at its noisy-validation epoch."""
    lines = []
    for name, cell in result["cells"].items():
        for method, m in cell["methods"].items():
            starts = [r["start_epoch_chosen"] for r in m["runs"]]
            lines.append(f"| {name} | {method} | {m['test_acc_last_mean']:.2f} ± {m['test_acc_last_std']:.2f} | "
                         f"{m['tail3_recall_mean']:.1f} | {m['worst_class_recall_mean']:.1f} | "
                         f"{m['test_acc_at_noisy_val_mean']:.2f} | {starts} |")
    return "\n".join(["| cell | method | test acc last | 3 rarest classes | worst class | at noisy-val epoch | E_s |",
                      "|---|---|---|---|---|---|---|", *lines])


if __name__ == "__main__":
    sys.exit(main())
