"""Print the markdown tables of docs/benchmarks.md §6 from selective_cpu.json.

    python -m benchmarks.accuracy.summarize_selective benchmarks/results/selective_cpu.json
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict

import numpy as np

NAMES = {"sat": "SAT (abstain class)", "gambler": "Deep Gamblers", "ce": "Softmax Response (CE)",
         "selectivenet": "SelectiveNet (c = 0.8)"}


def fmt(values, scale=100.0, digits=2) -> str:
    v = scale * np.asarray(values, dtype=float)
    return f"{v.mean():.{digits}f} ± {v.std():.{digits}f}" if len(v) > 1 else f"{v.mean():.{digits}f}"


def main(path: str) -> int:
    results = json.loads(open(path).read())
    groups = defaultdict(list)
    for r in results.values():
        groups[(r["family"], r["method"])].append(r)
    print("| data | method | seeds | accuracy | error @95% | @90% | @80% | AURC (%) | E-AURC (%) | minutes/run |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (family, method), rows in groups.items():
        err = lambda c: [r["selective_error"][str(c)] for r in rows]   # noqa: E731
        print(f"| {family} | {NAMES.get(method, method)} | {len(rows)} | {fmt([r['accuracy'] for r in rows])} "
              f"| {fmt(err(0.95))} | {fmt(err(0.9))} | {fmt(err(0.8))} | {fmt([r['aurc'] for r in rows], digits=3)} "
              f"| {fmt([r['e_aurc'] for r in rows], digits=3)} | {np.mean([r['wall_time_s'] for r in rows]) / 60:.1f} |")
    print()
    print("Deployable protocol (thresholds chosen on half of the test set, measured on the other half):")
    print()
    print("| data | method | target | realised test coverage (%) | realised test risk (%) |")
    print("|---|---|---|---|---|")
    worst = 0.0
    for (family, method), rows in groups.items():
        for i, target in enumerate(rows[0]["deployable"]):
            cov = [r["deployable"][i]["test_coverage"] for r in rows]
            risk = [r["deployable"][i]["test_risk"] for r in rows]
            if target["target"] == "coverage":
                worst = max(worst, max(abs(c - target["value"]) for c in cov))
            print(f"| {family} | {NAMES.get(method, method)} | {target['target']} {target['value']:g} | {fmt(cov)} "
                  f"| {fmt(risk)} |")
    print()
    print(f"largest |realised - target| coverage over all runs and coverage targets: {100 * worst:.2f} points")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results/selective_cpu.json"))
