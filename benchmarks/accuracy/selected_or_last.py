"""Which weights should a user keep: the last epoch's, or the epoch picked on a noisy validation split?

A run with ``data.val_fraction`` keeps two models: the last epoch's (``checkpoint.pt``) and the one best
on the validation split's own, noisy labels (``selected_model.pt``).  The split's maximum is an
optimistic pick: with SAT the last epoch is often as good or better; with CE in a memorising regime
the last epoch is far worse.  This reads finished run folders, scores both models on the run's noisy validation copy
(rebuilt from its config and ``noise.npz``, as the run built it), applies the paired sign test of
``engine.selection.paired_lead`` and scores each policy on the clean test labels the runs recorded:

    python -m benchmarks.accuracy.selected_or_last runs/rates/r20 runs/rates/r60 runs/gate-map runs/mlpval \\
        --out benchmarks/results/selected_or_last.json

Policies: ``last`` (the checkpoint), ``selected`` (what ``sat audit`` kept before session 30: the split's
maximum), ``paired_0.05`` and ``paired_0.01`` (the selected model only when it wins the disagreements at
p under that level; 0.01 is the library's ``model_to_use``), and ``unpaired`` (the same when its accuracy
lead is over twice one accuracy's sampling error, the rule of thumb of ``sat sweep`` for runs without
``validation.npz``).  Groups are the folders' paths with the seed removed.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
from pathlib import Path

import torch

from benchmarks.common import result_path, write_result
from selfadaptive.config.loading import load_config
from selfadaptive.data import build_data
from selfadaptive.engine.selection import paired_lead, split_predictions
from selfadaptive.losses import loss_spec
from selfadaptive.models import build_classifier
from selfadaptive.training.noise import LabelNoise, noisy_validation

#: sign-test levels scored (the library's KEEP_SELECTED_P is the second)
LEVELS = (0.05, 0.01)
POLICIES = ("last", "selected", *(f"paired_{level}" for level in LEVELS), "unpaired")


def rescore(run: Path, weights: tuple[str, ...], data_cache: dict):
    """(labels (M,), [predictions (M,) of each weights file of ``run``]) on the run's noisy validation copy,
    rebuilt from its ``config.yaml`` and ``noise.npz`` as the run built it; (None, None) without one.
    ``data_cache`` keeps each data config's data across runs."""
    cfg = load_config(run / "config.yaml")
    key = json.dumps({"data": str(cfg.data)})
    if key not in data_cache:
        data_cache[key] = build_data(cfg.data)
    data = data_cache[key]
    val = noisy_validation(cfg, data, LabelNoise.load(run / "noise.npz"))
    if val is None:
        return None, None
    model = build_classifier(cfg.model, loss_spec(cfg.loss.name).head, data.num_classes, data.input_shape,
                             data.mean, data.std)
    return val.y.numpy(), [split_predictions(model, val, torch.device("cpu"), 1024, data.num_classes,
                                             weights=run / name) for name in weights]


def read_run(run: Path, data_cache: dict) -> dict | None:
    """Both models' correctness on the run's noisy validation copy, and the run's recorded test figures."""
    summary = json.loads((run / "summary.json").read_text())
    if summary.get("selected_epoch") is None or not (run / "selected_model.pt").is_file():
        return None
    labels, preds = rescore(run, ("selected_model.pt", "checkpoint.pt"), data_cache)
    if labels is None:
        return None
    correct = {"kept": preds[0] == labels, "last": preds[1] == labels}
    lead = paired_lead(correct["kept"], correct["last"])
    n = len(labels)
    acc_kept, acc_last = float(correct["kept"].mean()), float(correct["last"].mean())
    two_se = 2 * math.sqrt(acc_kept * (1 - acc_kept) / n)
    uses_selected = {"last": False, "selected": True, "unpaired": acc_kept - acc_last >= two_se,
                     **{f"paired_{level}": lead["p_value"] < level for level in LEVELS}}
    test = {p: summary["test_acc_at_selected"] if uses_selected[p] else summary["test_acc_last"] for p in POLICIES}
    return {"run": str(run), "group": re.sub(r"/seed=[^/]*", "", str(run)), "loss": summary["loss"],
            "selected_epoch": summary["selected_epoch"], "epochs": summary["epochs"], "val_size": n,
            "val_acc_kept": acc_kept, "val_acc_last": acc_last, "wins": lead["wins"], "losses": lead["losses"],
            "p_value": lead["p_value"], "uses_selected": uses_selected, "test": test}


def tally(rows: list[dict]) -> dict:
    """Mean test accuracy (%) of each policy; for each policy that can move off the last epoch, how often
    it does, how often that is worse on test, and its worst loss (points)."""
    out = {"runs": len(rows), **{f"test_{p}": 100 * statistics.mean(r["test"][p] for r in rows) for p in POLICIES}}
    for p in POLICIES[1:]:
        moved = [r for r in rows if r["uses_selected"][p] and r["selected_epoch"] != r["epochs"] - 1]
        worse = [100 * (r["test"]["selected"] - r["test"]["last"]) for r in moved
                 if r["test"]["selected"] < r["test"]["last"]]
        out[p] = {"moves_off_last": len(moved), "worse_on_test": len(worse), "worst": min(worse, default=0.0)}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("roots", nargs="+", help="folders searched for run folders (summary.json + selected_model.pt)")
    ap.add_argument("--out", default=str(result_path("selected_or_last.json")))
    args = ap.parse_args(argv)
    runs = sorted({p.parent for root in args.roots for p in Path(root).rglob("summary.json")})
    rows, cache = [], {}
    for run in runs:
        row = read_run(run, cache)
        if row is not None:
            rows.append(row)
            print(f"{row['group']}: kept {row['selected_epoch']}/{row['epochs']} wins {row['wins']} losses "
                  f"{row['losses']} p {row['p_value']:.3g}; test last {100 * row['test']['last']:.2f} "
                  f"selected {100 * row['test']['selected']:.2f}", file=sys.stderr)
    groups = {}
    for r in rows:
        groups.setdefault(r["group"], []).append(r)
    by_loss = {}
    for r in rows:
        by_loss.setdefault(r["loss"], []).append(r)
    result = {"roots": args.roots, "all": tally(rows) if rows else {},
              "by_loss": {k: tally(v) for k, v in by_loss.items()},
              "groups": {g: tally(v) for g, v in groups.items()}, "runs": rows}
    write_result(args.out, result)
    print(json.dumps(result["all"], indent=1))
    print(json.dumps(result["by_loss"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
