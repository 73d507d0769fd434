"""Print the markdown tables of docs/benchmarks.md §6 from selective_cpu.json (or several files).

    python -m benchmarks.accuracy.summarize_selective benchmarks/results/selective_cpu.json
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict

import numpy as np

NAMES = {"sat": "SAT (abstain class)", "gambler": "Deep Gamblers", "ce": "Softmax Response (CE)",
         "selectivenet": "SelectiveNet (c = 0.8)", "sat[auto]": "SAT, start_epoch=auto"}


def fmt(values, scale=100.0, digits=2) -> str:
    v = scale * np.asarray(values, dtype=float)
    return f"{v.mean():.{digits}f} ± {v.std():.{digits}f}" if len(v) > 1 else f"{v.mean():.{digits}f}"


def oracle_error(accuracy: float, coverage: float) -> float:
    """The selective error at ``coverage`` of an ordering that puts every wrong prediction last."""
    return max(0.0, (1.0 - accuracy) - (1.0 - coverage)) / coverage


def main(*paths: str) -> int:
    results = {}
    for path in paths:          # several files (one per method or setting) make one table
        results.update(json.loads(open(path).read()))
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
    if all("augrc" in r for r in results.values()):
        print("Overconfidence and AUGRC (Traub et al., 2024):")
        print()
        print("| data | method | train accuracy, last epoch | error @80%: oracle ordering | AUGRC (%) |")
        print("|---|---|---|---|---|")
        for (family, method), rows in groups.items():
            train = [r["train_acc_last"] for r in rows if r.get("train_acc_last") is not None]
            print(f"| {family} | {NAMES.get(method, method)} | {fmt(train) if train else '-'} "
                  f"| {fmt([oracle_error(r['accuracy'], 0.8) for r in rows])} "
                  f"| {fmt([r['augrc'] for r in rows], digits=3)} |")
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
    sys.exit(main(*(sys.argv[1:] or ["benchmarks/results/selective_cpu.json"])))
