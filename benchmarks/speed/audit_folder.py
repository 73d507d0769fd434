"""`sat audit` on a folder of 10,000 32x32 images, 30% of them moved to a wrong class folder: the
wall time (decoding included) and the detection AUROC of the ranking against the moved files.

    python -m benchmarks.speed.audit_folder --images 10000 --out benchmarks/results/audit_folder_cifar10k.json

The images are a seeded sample of the CIFAR-10 training set from the data home (a prepared
``cifar10.npz``; ours is the lossy JPEG copy, see docs/benchmarks.md "Data"), written as PNGs into
``<class>/`` folders; each moved image goes to a uniformly drawn other class.  The audit runs as a
user would run it, `sat audit FOLDER --out RUN`, with its defaults (small CNN, 40 epochs, SAT with
start_epoch=auto, 10% noisy validation split, 25% test split).  The time is the whole command.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import machine, result_path, write_result
from selfadaptive.issues.metrics import detection_metrics


def write_folder(root: Path, n: int, moved_fraction: float, seed: int) -> dict[str, tuple[bool, str]]:
    """Write the folder; returns {path inside it: (moved, the image's true class)}."""
    from PIL import Image
    with np.load(Path(os.environ["SAT_DATA_ROOT"]) / "cifar10.npz") as z:
        x, y = z["x_train"], z["y_train"]
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(y), n, replace=False)        # the copy is sorted by class: sample, never slice
    moved = np.zeros(n, bool)
    moved[rng.choice(n, int(moved_fraction * n), replace=False)] = True
    truth = {}
    for j, r in enumerate(rows):
        label = int(y[r]) if not moved[j] else int((y[r] + rng.integers(1, 10)) % 10)
        folder = root / classes[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(x[r]).save(folder / f"img{j:05d}.png")
        truth[f"{classes[label]}/img{j:05d}.png"] = (bool(moved[j]), classes[int(y[r])])
    return truth


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=int, default=10000)
    p.add_argument("--moved", type=float, default=0.3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=result_path("audit_folder_cifar10k.json"))
    p.add_argument("--keep", help="copy the audit's run folder here (for a look at its page and files)")
    p.add_argument("overrides", nargs="*", help="passed to sat audit")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        truth = write_folder(tmp / "photos", args.images, args.moved, args.seed)
        t0 = time.time()
        r = subprocess.run([sys.executable, "-m", "selfadaptive", "audit", str(tmp / "photos"), "--out",
                            str(tmp / "audit"), *args.overrides], capture_output=True, text=True)
        seconds = time.time() - t0
        if r.returncode:
            print(r.stderr, file=sys.stderr)
            return r.returncode
        rows = list(csv.DictReader(open(tmp / "audit" / "label_issues.csv")))
        scores = np.array([float(row["score"]) for row in rows])
        moved = np.array([truth[row["path"]][0] for row in rows])
        flagged = np.array([row["flagged"] == "1" for row in rows])
        true_class = {row["source_index"]: truth[row["path"]][1] for row in rows}
        fixes = list(csv.DictReader(open(tmp / "audit" / "corrected_labels.csv")))
        summary = json.loads((tmp / "audit" / "summary.json").read_text())
        # what corrected_labels.csv would do at other thresholds on the suggestion's mass
        sweep = {}
        for t in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
            after = [row["suggested_label"] if row["flagged"] == "1" and float(row["suggested_mass"]) >= t
                     else row["given_label"] for row in rows]
            sweep[str(t)] = {"num_changed": sum(a != row["given_label"] for a, row in zip(after, rows)),
                             "wrong_labels_after": sum(a != truth[row["path"]][1] for a, row in zip(after, rows))}
        if args.keep:
            import shutil
            shutil.copytree(tmp / "audit", args.keep, dirs_exist_ok=True)
    changed = [f for f in fixes if f["changed"] == "1"]
    wrong_before = sum(f["given_label"] != true_class[f["source_index"]] for f in fixes)
    wrong_after = sum(f["label"] != true_class[f["source_index"]] for f in fixes)
    flagged_set = {"num_flagged": int(flagged.sum()), "precision": float(moved[flagged].mean()) if flagged.any() else 0.0,
                   "recall": float(flagged[moved].mean())}
    corrections = {"num_changed": len(changed),
                   "changes_to_the_true_class": sum(f["label"] == true_class[f["source_index"]] for f in changed),
                   "wrong_labels_before": wrong_before, "wrong_labels_after": wrong_after}
    result = {"regime": f"{args.images} CIFAR-10 images (prepared copy), {args.moved:.0%} moved to a wrong class "
                        f"folder, `sat audit` defaults", "overrides": args.overrides, "wall_time_s": seconds,
              "train_wall_time_s": summary["wall_time_s"], "num_train": summary["num_train"],
              "detection": detection_metrics(scores, moved), "num_moved_in_train": int(moved.sum()),
              "flagged_set": flagged_set, "corrected_labels": corrections, "threshold_sweep": sweep,
              "start_epoch_chosen": summary.get("start_epoch_chosen"), "selected_epoch": summary.get("selected_epoch"),
              "test_acc_last_vs_given_labels": summary["test_acc_last"],
              "test_acc_at_selected_vs_given_labels": summary.get("test_acc_at_selected"),
              "stdout": r.stdout.strip().splitlines()[-3:], "machine": machine()}
    write_result(args.out, result)
    print(json.dumps({k: result[k] for k in ("wall_time_s", "detection", "flagged_set", "corrected_labels",
                                             "threshold_sweep", "start_epoch_chosen")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
