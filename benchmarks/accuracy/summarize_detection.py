"""Print the markdown tables of docs/benchmarks.md §5 from detection_vs_cleanlab.json.

    python -m benchmarks.accuracy.summarize_detection benchmarks/results/detection_vs_cleanlab.json
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict

import numpy as np

from selfadaptive.issues import DEFAULT_SCORE


def main(path: str) -> int:
    results = json.loads(open(path).read())
    by_data = defaultdict(list)
    for r in results.values():
        by_data[r["dataset"]].append(r)
    print("| data (noise) | N | seeds | cleanlab best AUROC (budget) | cleanlab AP | cleanlab F1 | SAT AUROC | SAT AP "
          "| SAT F1 | SAT epochs | compute SAT / cleanlab | SAT >= cleanlab |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, rows in by_data.items():
        best = [max(r["cleanlab"], key=lambda c: c["auroc"]) for r in rows]
        mean = lambda xs: float(np.mean(xs))   # noqa: E731
        wins = sum(r["sat"][DEFAULT_SCORE]["auroc"] >= b["auroc"] for r, b in zip(rows, best))
        print(f"| {name} ({rows[0]['noise_kind']} {rows[0]['noise_rate']:g}) | {rows[0]['num_samples']} | {len(rows)} "
              f"| {mean([b['auroc'] for b in best]):.4f} ({'/'.join(str(b['budget_epochs']) for b in best)} ep) "
              f"| {mean([b['ap'] for b in best]):.4f} | {mean([b['flagged']['f1'] for b in best]):.3f} "
              f"| {mean([r['sat'][DEFAULT_SCORE]['auroc'] for r in rows]):.4f} | {mean([r['sat'][DEFAULT_SCORE]['ap'] for r in rows]):.4f} "
              f"| {mean([r['sat']['flagged']['f1'] for r in rows]):.3f} | {'/'.join(str(r['sat']['epochs']) for r in rows)} "
              f"| {mean([r['compute_ratio_sat_over_cleanlab_best'] for r in rows]):.2f} | {wins} of {len(rows)} |")
    print()
    print("| data | seed | cleanlab AUROC by CE budget (epochs per fold: AUROC) | SAT epochs: AUROC |")
    print("|---|---|---|---|")
    for name, rows in by_data.items():
        for r in rows:
            print(f"| {name} | {r['seed']} | " + ", ".join(f"{c['budget_epochs']}: {c['auroc']:.4f}" for c in r["cleanlab"])
                  + f" | {r['sat']['epochs']}: {r['sat'][DEFAULT_SCORE]['auroc']:.4f} |")
    print()
    print("| data | seed | SAT mean_given_mass | SAT given_mass | SAT margin |")
    print("|---|---|---|---|---|")
    for name, rows in by_data.items():
        for r in rows:
            s = r["sat"]
            print(f"| {name} | {r['seed']} | {s['mean_given_mass']['auroc']:.4f} | {s['given_mass']['auroc']:.4f} "
                  f"| {s['margin']['auroc']:.4f} |")
    print()
    for score in ("mean_given_mass", "given_mass", "margin"):
        means = [np.mean([r["sat"][score]["auroc"] for r in rows]) for rows in by_data.values()]
        print(f"{score}: mean AUROC over data sets {np.mean(means):.4f} (" + ", ".join(
            f"{n} {m:.4f}" for n, m in zip(by_data, means)) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results/detection_vs_cleanlab.json"))
