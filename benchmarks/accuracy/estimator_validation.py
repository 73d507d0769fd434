"""Does ``SATClassifier(validation_fraction=0.1)`` pay for the rows it holds out?

    python -m benchmarks.accuracy.estimator_validation --out benchmarks/results/estimator_validation.json

Tables a user would bring (scikit-learn's digits and breast_cancer), a fixed stratified 75/25 split whose
test quarter keeps its true labels; 40% of the training labels corrupted (``flip``: to a uniformly drawn other
class; ``asymmetric``: to the next class); the estimator's defaults (MLP 2x256, SGD 0.01, SAT's SCE form,
``start_epoch="auto"``) for 50 epochs (the default) and 200 (where CE memorises), each with and without a
10% validation split, for SAT and for CE (``loss="ce"``, for which the split is early stopping with the sign
test).  Scored on the clean test quarter; detection AUROC over the rows both fits trained on (the validation
fit's ``train_index_``), from the default score.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys

import numpy as np
from sklearn import datasets
from sklearn.model_selection import train_test_split

from benchmarks.common import machine, result_path, write_result
from selfadaptive.estimator import SATClassifier
from selfadaptive.issues import detection_metrics
from selfadaptive.noise.labels import corrupt_labels


def scored(clf: SATClassifier, X_test, y_test, noisy_mask, rows) -> dict:
    """Test accuracy on the clean labels, the model kept, and detection AUROC over training rows ``rows``."""
    row = {"test_acc": 100 * clf.score(X_test, y_test), "model_to_use": clf.model_to_use_,
           "selected_epoch": clf.selected_epoch_, "start_epoch_chosen": clf.start_epoch_chosen_}
    if clf.label_issues_ is not None:
        scores = clf.label_issues_.in_index_order("score")          # indexed by trained row
        trained = clf.train_index_ if clf.train_index_ is not None else np.arange(len(noisy_mask))
        position = {int(r): i for i, r in enumerate(trained)}
        row["detection_auroc"] = detection_metrics(scores[[position[int(r)] for r in rows]], noisy_mask[rows])["auroc"]
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="digits,breast_cancer")
    p.add_argument("--noise", default="flip,asymmetric")
    p.add_argument("--epochs", default="50,200")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--out", default=result_path("estimator_validation.json"))
    args = p.parse_args(argv)
    cells = []
    for name in args.data.split(","):
        X_all, y_all = getattr(datasets, f"load_{name}")(return_X_y=True)
        X, X_test, y, y_test = train_test_split(X_all, y_all, test_size=0.25, stratify=y_all, random_state=0)
        k = len(np.unique(y))
        for kind in args.noise.split(","):
            for epochs in (int(e) for e in args.epochs.split(",")):
                runs = {m: [] for m in ("sat", "sat_val", "ce", "ce_val")}
                for seed in (int(s) for s in args.seeds.split(",")):
                    noise = corrupt_labels(y, k, 0.4, kind, seed=seed)
                    fits = {method: SATClassifier(loss=loss, max_epochs=epochs, validation_fraction=fraction,
                                                  random_state=seed).fit(X, noise.noisy_labels)
                            for method, loss, fraction in (("sat", "sat", None), ("sat_val", "sat", 0.1),
                                                           ("ce", "ce", None), ("ce_val", "ce", 0.1))}
                    rows = fits["sat_val"].train_index_         # the rows both SAT fits trained on
                    for method, clf in fits.items():
                        run = scored(clf, X_test, y_test, noise.noisy_mask, rows)
                        runs[method].append(run)
                        print(json.dumps({"data": name, "noise": kind, "epochs": epochs, "seed": seed,
                                          "method": method, **run}), flush=True)
                cell = {"data": name, "noise": kind, "epochs": epochs, "runs": runs,
                        "mean_test_acc": {m: statistics.mean(r["test_acc"] for r in rs) for m, rs in runs.items()},
                        "mean_detection_auroc": {m: statistics.mean(r["detection_auroc"] for r in rs)
                                                 for m, rs in runs.items() if "detection_auroc" in rs[0]}}
                cells.append(cell)
                print(json.dumps({k: v for k, v in cell.items() if k != "runs"}), flush=True)
    write_result(args.out, {"cells": cells, "noise_rate": 0.4, "validation_fraction": 0.1, "machine": machine()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
