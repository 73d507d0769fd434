"""How the export threshold of `sat issues --export` was chosen: wrong labels left after applying
the suggestions at thresholds 0-0.6 (SATClassifier, seed 0, the data of detection_vs_cleanlab).

    python -m benchmarks.accuracy.export_threshold --out benchmarks/results/export_threshold.json
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from benchmarks.accuracy import detection_vs_cleanlab as D
from benchmarks.common import result_path, write_result
from selfadaptive.estimator import SATClassifier

THRESHOLDS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=result_path("export_threshold.json"))
    args = p.parse_args(argv)
    rows = []
    for name, epochs in (("wine", 40), ("breast_cancer", 10), ("digits", 20), ("mnist", 6), ("mnist", 20)):
        x, clean = D.load(name, 10000, 0)
        k = int(clean.max()) + 1
        kind, rate = D.SETUPS[name]["noise"]
        noise = D.corrupt_labels(clean, k, rate, kind, seed=0)
        _, lr = D.SETUPS[name]["opt"]
        clf = SATClassifier(max_epochs=epochs, start_epoch=max(1, round(epochs / 4)), lr=lr, variant="ce", auto_min_concentration=0,
                            batch_size=D.SETUPS[name]["batch"], random_state=0)
        clf.fit(x.reshape(len(x), -1).astype(np.float32), noise.noisy_labels)
        li = clf.label_issues_
        given, suggested = li.in_index_order("given_label"), li.in_index_order("suggested_label")
        mass = li.in_index_order("suggested_mass")
        left = {str(t): int((np.where((suggested != given) & (mass >= t), suggested, given) != clean).sum())
                for t in THRESHOLDS}
        row = {"data": name, "epochs": epochs, "wrong_before": int(noise.noisy_mask.sum()), "wrong_left": left}
        print(json.dumps(row), flush=True)
        rows.append(row)
    write_result(args.out, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
