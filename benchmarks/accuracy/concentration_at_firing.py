"""The memorisation gate's reading: how concentrated the training passes' disagreements with the given
labels are when the ``changes_slowdown`` rule lets SAT start, in SAT ``start_epoch=auto`` runs.

    sat train --config PRESET --out runs/firing/NAME noise.rate=0.4 data.val_fraction=0.1 noise.kind=KIND \\
        seed=S loss.name=sat loss.start_epoch=auto loss.auto_min_concentration=0 [the regime's overrides]
    python -m benchmarks.accuracy.concentration_at_firing runs/firing --out benchmarks/results/concentration_at_firing.json

With the gate off the rule starts SAT where it would have; from then on the loss stops recording
predictions, so the checkpoint's ``loss.auto.last_pred`` holds the training passes of the epoch the rule
fired (a run may be stopped with SIGTERM once ``metrics.jsonl`` says ``sat_started``: it checkpoints).
This reads the checkpoint and ``noise.npz`` only: the concentration of the predictions against the given
labels (``start_rules.disagreement_concentration``, what the gate measures), and, for reference, of the
injected noise itself (clean against noisy labels, which a user cannot compute).  The default
``loss.auto_min_concentration`` (1.3) was set between the uniform and the instance-noise runs this printed
(docs/benchmarks.md §12i).  Beside it, the disagreements' asymmetry (``disagreement_asymmetry``), a reading
the gate does not use (§12j).  ``--only`` keeps the run folders whose path contains a string (the ungated
runs of a regime map: ``--only sat_auto_sce``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import read_run_folders, result_path, write_result
from selfadaptive.engine.checkpoint import load_checkpoint
from selfadaptive.losses.start_rules import disagreement_concentration


def reading(run: Path) -> dict | None:
    """One run's concentrations at the firing; None if SAT had not started, or the run has no auto state
    or no injected noise (``noise.npz``)."""
    if not (run / "noise.npz").exists():
        return None
    state = load_checkpoint(run / "checkpoint.pt")["loss"]
    if "auto.last_pred" not in state or int(state["auto.chosen"]) < 0:
        return None
    with np.load(run / "noise.npz") as z:
        given, clean, kind = torch.from_numpy(z["noisy_labels"]), torch.from_numpy(z["clean_labels"]), str(z["kind"])
    pred = state["auto.last_pred"].long()
    seen = pred >= 0
    k = int(max(given.max(), clean.max())) + 1
    return {"noise_kind": kind, "noise_rate_realised": float((given != clean).double().mean()),
            "start_epoch": int(state["auto.chosen"]), "fit_given": float((pred[seen] == given[seen]).double().mean()),
            "concentration": disagreement_concentration(given[seen], pred[seen], k),
            "noise_concentration": disagreement_concentration(given, clean, k),
            "asymmetry": disagreement_asymmetry(given[seen], pred[seen], k)}


def disagreement_asymmetry(given: torch.Tensor, pred: torch.Tensor, num_classes: int) -> float | None:
    """How one-directional the disagreements are: with R[y, c] the share of given class y predicted as c != y,
    sum |R - R^T| / sum (R + R^T) over the off-diagonal entries: 0 when every confusion goes both ways as
    often (a network's own confusions, uniform noise), 1 when none does (pair noise y -> y + 1).  given,
    pred: (N,).  None without disagreements.  Not used by the gate (docs/benchmarks.md §12j)."""
    off = given != pred
    if not bool(off.any()):
        return None
    counts = torch.zeros(num_classes, num_classes, dtype=torch.float64)
    counts.index_put_((given[off], pred[off]), torch.ones(int(off.sum()), dtype=torch.float64), accumulate=True)
    rates = counts / torch.bincount(given, minlength=num_classes).clamp_min(1).double()[:, None]
    return float((rates - rates.T).abs().sum() / (rates + rates.T).sum())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("roots", nargs="+", help="folders searched for run folders (checkpoint.pt + noise.npz)")
    p.add_argument("--only", default="", help="read only the run folders whose path contains this")
    p.add_argument("--out", default=result_path("concentration_at_firing.json"))
    args = p.parse_args(argv)
    runs = read_run_folders(args.roots, "checkpoint.pt", lambda run: reading(run) if args.only in str(run) else None)
    for name, r in runs.items():
        print(f"{name:45s} {r['noise_kind']:10s} E_s {r['start_epoch']:3d}  fit {r['fit_given']:.3f}  "
              f"concentration {r['concentration']:.2f}  (the noise's own {r['noise_concentration']:.2f})  "
              f"asymmetry {r['asymmetry']:.2f}")
    by_kind = {}
    for r in runs.values():
        by_kind.setdefault(r["noise_kind"], []).append(r)
    summary = {kind: {"runs": len(v), "min": min(r["concentration"] for r in v), "max": max(r["concentration"] for r in v),
                      "asymmetry_min": min(r["asymmetry"] for r in v), "asymmetry_max": max(r["asymmetry"] for r in v)}
               for kind, v in sorted(by_kind.items())}
    print(summary)
    write_result(args.out, {"runs": runs, "by_noise_kind": summary})
    return 0


if __name__ == "__main__":
    sys.exit(main())
