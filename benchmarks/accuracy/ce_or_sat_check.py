"""How far to trust the CE-or-SAT check: ``sat sweep``'s verdict against the clean test labels.

A user without clean labels trains CE and SAT and keeps the run with the higher accuracy on a
validation split of their own (noisy) labels at the last epoch; ``sat sweep`` says which run that
is and whether its lead is over twice the split's sampling error (``runs.sweep.validation_verdict``).
This reads every CE / SAT-auto pair of the same regime, noise kind and seed from regime-map run
folders (ROOT/REGIME/{ce,sat_auto}/KIND/seed=S) and scores the pick on the clean test labels:

    python -m benchmarks.accuracy.ce_or_sat_check runs/regime-map runs/regime-map-mnist \\
        --out benchmarks/results/ce_or_sat_check.json

With ``--paired`` both runs' last checkpoints are also rescored on their noisy validation copy (rebuilt from
each run's config and ``noise.npz``) and read as ``sat sweep`` reads runs that saved ``validation.npz``: a
two-sided sign test on the samples only one of them gets right.

Runs written before ``selection_val_acc_last`` and ``selection_val_size`` were recorded get the
first from their last metrics row (``val_acc_noisy``, the field it copies under synthetic label
noise) and the second from their config: the validation split is ``val_fraction`` of the training
part, so it holds round(num_train * f / (1 - f)) samples.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import yaml

from benchmarks.accuracy.selected_or_last import rescore
from benchmarks.common import result_path, write_result
from selfadaptive.engine.selection import disagreements, sign_test_p
from selfadaptive.runs.sweep import TOLD_APART_P, validation_lead, validation_verdict


def _row(run: Path) -> dict | None:
    summary = json.loads((run / "summary.json").read_text())
    if "selection_val_acc_last" not in summary:      # written before the field existed: the row it is read from
        last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
        if last.get("val_acc_noisy") is None:
            return None                               # no validation split
        summary["selection_val_acc_last"] = last["val_acc_noisy"]
    if not summary.get("selection_val_size"):
        f = yaml.safe_load((run / "config.yaml").read_text())["data"]["val_fraction"]
        summary["selection_val_size"] = round(summary["num_train"] * f / (1 - f))
    return summary


def paired_fields(ce_dir: Path, sat_dir: Path, cache: dict) -> dict:
    """Both runs' last checkpoints rescored on their (shared) noisy validation copy: the samples only one
    gets right, and ``sat sweep``'s two-sided sign test on them (``runs.sweep.TOLD_APART_P``)."""
    labels, (ce_pred,) = rescore(ce_dir, ("checkpoint.pt",), cache)
    sat_labels, (sat_pred,) = rescore(sat_dir, ("checkpoint.pt",), cache)
    if not np.array_equal(labels, sat_labels):
        raise SystemExit(f"{ce_dir} and {sat_dir} have different validation splits")
    ce_only, sat_only = disagreements(ce_pred == labels, sat_pred == labels)
    p = sign_test_p(ce_only, sat_only, "two-sided")
    return {"ce_only_right": ce_only, "sat_only_right": sat_only, "paired_p": p, "paired_told_apart": p < TOLD_APART_P}


def pairs(root: Path, sat_name: str = "sat_auto", paired: bool = False, cache: dict | None = None) -> list[dict]:
    """Every (regime, noise kind, seed) with a finished CE and SAT-auto run that have a validation split."""
    out = []
    for ce_run in sorted(root.glob("*/ce/*/summary.json")) + sorted(root.glob("*/ce/*/*/summary.json")):
        ce_dir = ce_run.parent
        sat_dir = Path(str(ce_dir).replace("/ce/", f"/{sat_name}/", 1))
        if not (sat_dir / "summary.json").is_file():
            continue
        ce, sat = _row(ce_dir), _row(sat_dir)
        if ce is None or sat is None:
            continue
        ce["run"], sat["run"] = "ce", sat_name
        picked, other, two_se = validation_lead([ce, sat])
        out.append({"pair": str(ce_dir.relative_to(root)).replace("/ce", ""), "noise_kind": ce["noise_kind"],
                    "val_ce": ce["selection_val_acc_last"], "val_sat": sat["selection_val_acc_last"],
                    "val_size": ce["selection_val_size"], "test_ce": ce["test_acc_last"], "test_sat": sat["test_acc_last"],
                    "picked": picked["run"], "right": picked["test_acc_last"] >= other["test_acc_last"],
                    "told_apart": picked["selection_val_acc_last"] - other["selection_val_acc_last"] >= two_se,
                    "verdict": validation_verdict([ce, sat])})
        if paired:
            out[-1].update(paired_fields(ce_dir, sat_dir, cache if cache is not None else {}))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("roots", nargs="+", help="regime-map runs folders")
    p.add_argument("--out", default=result_path("ce_or_sat_check.json"))
    p.add_argument("--sat", default="sat_auto", help="the SAT runs' method folder (e.g. sat_auto_gate)")
    p.add_argument("--paired", action="store_true",
                   help="also rescore both runs on their validation split and apply the paired sign test")
    args = p.parse_args(argv)
    cache = {}
    rows = [r for root in args.roots for r in pairs(Path(root), args.sat, args.paired, cache)]

    def split(key: str) -> dict:
        apart = [r for r in rows if r[key]]
        close = [r for r in rows if not r[key]]
        return {"told_apart": {"pairs": len(apart), "right": sum(r["right"] for r in apart)},
                "not_told_apart": {"pairs": len(close), "right": sum(r["right"] for r in close)}}

    result = {"roots": args.roots, "sat": args.sat, "pairs": rows, **split("told_apart")}
    if args.paired:
        result["paired"] = split("paired_told_apart")
    write_result(args.out, result)
    for r in rows:
        print(f"{r['pair']:45s} val CE {100 * r['val_ce']:.1f} SAT {100 * r['val_sat']:.1f} -> {r['picked']:8s} "
              f"test CE {100 * r['test_ce']:.2f} SAT {100 * r['test_sat']:.2f} {'right' if r['right'] else 'WRONG'}"
              f"{'' if r['told_apart'] else ' (not told apart)'}"
              + (f"; paired {r['ce_only_right']} / {r['sat_only_right']} p {r['paired_p']:.2g}" if args.paired else ""))
    print(f"told apart: {result['told_apart']}; not told apart: {result['not_told_apart']}")
    if args.paired:
        print(f"paired sign test: {result['paired']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
