"""How SATClassifier's defaults were chosen: detection AUROC and test accuracy over optimiser,
E_s and epochs, on tables with 30% flipped labels (seed 0; scored on the full data's true labels).

    python -m benchmarks.accuracy.estimator_defaults --out benchmarks/results/estimator_defaults.json
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np
from sklearn import datasets

from benchmarks.common import result_path, write_result
from selfadaptive.estimator import SATClassifier
from selfadaptive.issues import detection_metrics
from selfadaptive.noise.labels import corrupt_labels


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=result_path("estimator_defaults.json"))
    args = p.parse_args(argv)
    rows = []
    for name in ("wine", "breast_cancer", "digits"):
        X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
        noise = corrupt_labels(y, len(np.unique(y)), 0.3, "flip", seed=0)
        for opt, lr in (("sgd", 0.01), ("adam", 1e-3)):
            for start in (5, 10, "auto"):
                for epochs in (50, 200):
                    clf = SATClassifier(max_epochs=epochs, start_epoch=start, optimizer=opt, lr=lr, variant="ce", auto_min_concentration=0,
                                        random_state=0)
                    clf.fit(X, noise.noisy_labels)
                    auroc = detection_metrics(clf.label_issues_.in_index_order("score"), noise.noisy_mask)["auroc"]
                    row = {"data": name, "optimizer": opt, "lr": lr, "start_epoch": start, "max_epochs": epochs,
                           "detection_auroc": auroc, "accuracy_vs_true_labels": clf.score(X, y),
                           "start_epoch_chosen": clf.start_epoch_chosen_}
                    print(json.dumps(row), flush=True)
                    rows.append(row)
    write_result(args.out, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
