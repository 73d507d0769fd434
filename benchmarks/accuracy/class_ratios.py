"""The collapse guard's reading in finished ``start_epoch=auto`` runs: each class's share of the
training passes' predictions over its share of the given labels, at the epoch the rule fired.

    python -m benchmarks.accuracy.class_ratios runs/regime-map --out benchmarks/results/class_ratios_at_firing.json

Reads only run folders: ``checkpoint.pt`` (the loss's ``auto.last_pred``: the predictions of the
last warm-up epoch, which stop changing once SAT starts) and ``noise.npz`` (the given labels; with
the true ones it also reports, for the analysis only, how the mislabeled samples were predicted).
A run the guard held back is listed too (its predictions kept changing while it was held, so its
ratios are those of its last warm-up epoch; ``held_at`` says when the guard held it).  The threshold of ``loss.auto_min_class_ratio`` (0.3) was set
between the two groups this printed on the regime map (docs/benchmarks.md §12b).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import result_path, write_result
from selfadaptive.losses.auto_start import AutoStart


def reading(run: Path) -> dict | None:
    """The guard's class ratios for one run folder, or None if it is not a finished auto run."""
    if not (run / "checkpoint.pt").exists() or not (run / "noise.npz").exists():
        return None
    state = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)["loss"]
    if "auto.last_pred" not in state:
        return None
    noise = np.load(run / "noise.npz")
    given = torch.as_tensor(noise["noisy_labels"]).long()
    auto = AutoStart(len(given), labels=given, num_classes=int(state["soft_targets"].shape[1]))
    auto.load_state_dict({k[len("auto."):]: v for k, v in state.items() if k.startswith("auto.")})
    ratios = auto.class_ratios()
    pred, clean, wrong = auto.last_pred.long().numpy(), noise["clean_labels"], noise["noisy_mask"]
    return {"run": str(run), "noise_kind": str(noise["kind"]), "start_epoch_chosen": auto.start_epoch(),
            "held_at": int(auto.held_at) if auto.was_held else None,
            "min_class_ratio": float(np.nanmin(ratios.numpy())), "class_ratios": [round(float(r), 4) for r in ratios],
            "collapsed_at_0.3": [int(c) for c in np.flatnonzero(ratios.numpy() < 0.3)],
            # uses the true labels: how the mislabeled samples were predicted (analysis only)
            "mislabeled_predicted_true": float((pred[wrong] == clean[wrong]).mean()) if wrong.any() else None,
            "mislabeled_predicted_given": float((pred[wrong] == given.numpy()[wrong]).mean()) if wrong.any() else None}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("roots", nargs="+", help="folders searched for run folders (summary.json)")
    p.add_argument("--out", default=result_path("class_ratios_at_firing.json"))
    args = p.parse_args(argv)
    rows = []
    for root in map(Path, args.roots):
        for summary in sorted(root.rglob("summary.json")):
            if (r := reading(summary.parent)):
                rows.append({**r, "run": str(summary.parent.relative_to(root.parent))})
    for r in rows:
        print(f"{r['min_class_ratio']:.3f}  {r['noise_kind']:10s} E_s {r['start_epoch_chosen']}  "
              f"held at {r['held_at']}  {r['run']}")
    write_result(args.out, {"runs": rows, "min_class_ratio_sorted": sorted(r["min_class_ratio"] for r in rows)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
