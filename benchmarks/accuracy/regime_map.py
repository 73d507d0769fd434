"""Where SAT helps, and whether start_epoch=auto is safe: a map over data, budget and noise kind.

For each regime (data set + model + epoch budget) and each noise kind at 40%, every method trains on
the same 90% of the training set with the same seeded noise; the other 10% is a validation split
carrying the noisy labels (corrupted like the training set), the only model-selection signal a
user without clean labels has.  Methods:

* CE: its last epoch, and the epoch picked by the noisy validation split (``test_acc_at_selected``),
  and its best epoch on test (an oracle, to see whether CE memorises);
* SAT with a fixed E_s (the presets' value until they moved to auto); SAT with ``start_epoch=auto``, in the
  paper's CE form and its SCE form (``sat_auto_sce``), both with the memorisation gate off, and the default since
  session 28, the SCE form with the gate (``sat_auto_gate``); ELR (lambda 3, beta 0.7);
* oracle SAT: the best last-epoch test accuracy over a grid of E_s (picked on test: an upper bound).

Each method is one ``sat sweep`` over noise kind x seed (x E_s for the oracle): an interrupted map
resumes.  Results: JSON per cell (means and per-seed values) and a figure.

    python -m benchmarks.accuracy.regime_map --jobs 2 --out benchmarks/results/regime_map.json --figure docs/figures/regime_map.png
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from benchmarks.accuracy.regime_map_tables import figure, markdown, markdown_sce
from benchmarks.common import result_path, write_result
from selfadaptive.runs.sweep import sweep

#: name -> (preset, overrides, fixed E_s, oracle E_s grid, seeds); the oracle also counts the fixed E_s's runs
REGIMES = {
    "digits-mlp-short": ("digits-flip40-sat", ["optim.epochs=20"], 10, (2, 4, 6, 10), (0, 1, 2)),
    "digits-mlp-long": ("digits-flip40-sat", [], 10, (5, 10, 20, 40), (0, 1, 2)),
    "fmnist-mlp-short": ("fmnist-u40-mlp-memorise-sat", ["optim.epochs=15"], 10, (2, 4, 6, 10), (0, 1)),
    "fmnist-mlp-long": ("fmnist-u40-mlp-memorise-sat", [], 10, (5, 10, 20, 40), (0, 1)),
    # the seeded CIFAR-10 10k subset with the audit's small CNN (width 16; the presets' width 32 costs
    # 14-27 min a run here): 15 epochs with crops and flips (short), 30 without augmentation (long)
    # the presets' small CNN (width 32) on Fashion-MNIST, 10 epochs with crops: the short budget of
    # docs/benchmarks.md §3b, where SAT with E_s = 4 trailed CE
    "fmnist-cnn-short": ("fmnist-u40-cnn-short-sat", [], 4, (2, 6), (0, 1)),
    "cifar10-cnn16-short": ("cifar10sub-u40-cnn-short-sat", ["model.base_width=16"], 5, (2, 8), (0, 1)),
    "cifar10-cnn16-long": ("cifar10sub-u40-cnn-noaug-sat", ["model.base_width=16"], 5, (2, 10), (0, 1)),
    # out of sample (session 18): MNIST was not looked at when the rule and the collapse guard were set;
    # the Fashion-MNIST presets' models and budgets on a seeded 10k MNIST subset
    "mnist-mlp-short": ("fmnist-u40-mlp-memorise-sat", ["data.name=mnist", "optim.epochs=15"], 10, (2, 4, 6, 10),
                        (0, 1, 2)),
    "mnist-mlp-long": ("fmnist-u40-mlp-memorise-sat", ["data.name=mnist"], 10, (5, 10, 20, 40), (0, 1)),
    "mnist-cnn-short": ("fmnist-u40-cnn-short-sat", ["data.name=mnist"], 4, (2, 6), (0, 1)),
}
NOISE = ("uniform", "asymmetric", "instance")
RATE = 0.4


def common(rate: float = RATE) -> list[str]:
    """The overrides every run of the map shares, at noise rate ``rate`` (the map's is 40%)."""
    return [f"noise.rate={rate:g}", "data.val_fraction=0.1", "log.progress=false"]


COMMON = common()
METHODS = {
    "ce": ["loss.name=ce"],
    "sat_fixed": ["loss.name=sat", "loss.variant=ce"],    # + E_s; the CE form, as measured before SCE became default
    # sat_auto and sat_auto_sce as measured before the memorisation gate (session 28): pinned off
    "sat_auto": ["loss.name=sat", "loss.start_epoch=auto", "loss.variant=ce", "loss.auto_min_concentration=0"],
    "elr": ["loss.name=elr", "loss.momentum=0.7"],
    # the paper's SCE form (a CE(T, p) + b (-sum_j p_j log T_j)), with the automatic start (session 22)
    "sat_auto_sce": ["loss.name=sat", "loss.start_epoch=auto", "loss.variant=sce", "loss.auto_min_concentration=0"],
    # the default since session 28: the SCE form with the memorisation gate
    "sat_auto_gate": ["loss.name=sat", "loss.start_epoch=auto", "loss.variant=sce", "loss.auto_min_concentration=1.3"],
}


ALL_METHODS = (*METHODS, "sat_oracle")
#: the cell fields each method's runs give (what --previous may carry over from an earlier result)
FIELDS = {
    "ce": ("ce_last", "ce_noisy_val", "ce_best_test"),
    "sat_fixed": ("sat_fixed_last", "detection_auroc_fixed"),
    "sat_auto": ("sat_auto_last", "sat_auto_noisy_val", "auto_start_epochs", "detection_auroc_auto"),
    "elr": ("elr_last",),
    "sat_auto_sce": ("sat_auto_sce_last", "auto_sce_start_epochs", "detection_auroc_auto_sce"),
    "sat_auto_gate": ("sat_auto_gate_last", "auto_gate_start_epochs", "detection_auroc_auto_gate"),
    "sat_oracle": ("sat_oracle_last", "oracle_by_start_epoch", "oracle_grid_runs"),
}


def run_regime(name: str, root: Path, jobs: int, noise=NOISE, methods=ALL_METHODS, rate: float = RATE) -> None:
    """One resumable ``sat sweep`` per method and noise kind (ROOT/NAME/METHOD/KIND), so a later
    call can add a noise kind or a method beside what is on disk."""
    preset, over, fixed_es, grid, seeds = REGIMES[name]
    for kind in noise:
        base = common(rate) + over + [f"noise.kind={kind}", f"seed={','.join(map(str, seeds))}"]
        for method, extra in METHODS.items():
            if method in methods:
                extra = extra + ([f"loss.start_epoch={fixed_es}"] if method == "sat_fixed" else [])
                sweep(preset, root / name / method / kind, base + extra, jobs=jobs, quiet=True)
        if "sat_oracle" in methods:
            sweep(preset, root / name / "sat_oracle" / kind,
                  base + METHODS["sat_fixed"] + [f"loss.start_epoch={','.join(map(str, grid))}"], jobs=jobs, quiet=True)


def _summaries(folder: Path) -> list[dict]:
    """Every run of a method's folder, ROOT/NAME/METHOD/KIND/RUN (one layout only: runs in two
    layouts of the same sweeps would be counted twice)."""
    return [{**json.loads(p.read_text()), "_path": str(p.parent)} for p in sorted(folder.glob("*/*/summary.json"))]


def _detection_auroc(summary: dict):
    """The run's detection AUROC; where the bank never moved (auto never fired) the summary has
    none, and `sat issues` ranks from the training passes instead: that ranking's AUROC."""
    if summary.get("detection_auroc") is not None:
        return summary["detection_auroc"]
    from selfadaptive.issues.evaluate import issues_from_run
    return issues_from_run(summary["_path"]).metrics.get("auroc")


def _mean(values):
    return statistics.mean(kept) if (kept := [v for v in values if v is not None]) else None


def _use(rows):
    """Mean test accuracy (%) of the model each run says to use (``model_to_use``: the last epoch's, or
    the one selected on the noisy validation split); None unless every run says (runs before session 30)."""
    if not rows or any("model_to_use" not in r for r in rows):
        return None
    return _mean(100 * (r["test_acc_at_selected"] if r["model_to_use"] == "selected" else r["test_acc_last"])
                 for r in rows)


def collect(name: str, root: Path, rate: float = RATE) -> dict:
    """Per noise kind at ``rate``: mean test accuracy (%) of every method over seeds, and the per-seed values."""
    _, _, fixed_es, grid, seeds = REGIMES[name]
    cells = {}
    for kind in NOISE:
        def pick(method, **match):
            rows = [s for s in _summaries(root / name / method)
                    if s["noise_kind"] == kind and s.get("noise_rate", RATE) == rate]
            return [r for r in rows if all(r.get(k) == v for k, v in match.items())]
        ce, fixed, auto, elr, sce, gate = (pick(m) for m in ("ce", "sat_fixed", "sat_auto", "elr", "sat_auto_sce",
                                                              "sat_auto_gate"))
        if not any((ce, fixed, auto, elr, sce, gate, pick("sat_oracle"))):
            continue            # this noise kind was not run in this regime (--noise)
        per_seed_oracle = []
        for seed in seeds:         # the fixed E_s is one of the grid's points: its runs count too
            options = [r["test_acc_last"] for r in pick("sat_oracle", seed=seed) + pick("sat_fixed", seed=seed)]
            per_seed_oracle.append(max(options) if options else None)
        oracle_by_es = {es: _mean(100 * r["test_acc_last"] for r in pick("sat_oracle", start_epoch=es)
                                  + (pick("sat_fixed") if es == fixed_es and not pick("sat_oracle", start_epoch=es) else []))
                        for es in sorted(set(grid) | {fixed_es})}
        grid_done = len({(r["seed"], r["start_epoch"]) for r in pick("sat_oracle")} | {(r["seed"], fixed_es) for r in fixed})
        cell = {
            "ce_last": _mean(100 * r["test_acc_last"] for r in ce),
            "ce_noisy_val": _mean(100 * r["test_acc_at_selected"] for r in ce if "test_acc_at_selected" in r),
            "ce_best_test": _mean(100 * r["test_acc_best"] for r in ce),
            "sat_fixed_last": _mean(100 * r["test_acc_last"] for r in fixed),
            "sat_auto_last": _mean(100 * r["test_acc_last"] for r in auto),
            "sat_auto_noisy_val": _mean(100 * r["test_acc_at_selected"] for r in auto if "test_acc_at_selected" in r),
            "elr_last": _mean(100 * r["test_acc_last"] for r in elr),
            "sat_auto_sce_last": _mean(100 * r["test_acc_last"] for r in sce),
            "auto_sce_start_epochs": [r.get("start_epoch_chosen") for r in sce],
            "detection_auroc_auto_sce": _mean(_detection_auroc(r) for r in sce),
            "sat_auto_gate_last": _mean(100 * r["test_acc_last"] for r in gate),
            "sat_auto_gate_use": _use(gate), "ce_use": _use(ce),
            "auto_gate_start_epochs": [r.get("start_epoch_chosen") for r in gate],
            "auto_gate_concentrations": [r.get("start_concentration") for r in gate],
            "detection_auroc_auto_gate": _mean(_detection_auroc(r) for r in gate),
            # only where the grid ran: the fixed E_s's runs alone are no oracle
            "sat_oracle_last": _mean(100 * v for v in per_seed_oracle if v is not None) if pick("sat_oracle") else None,
            "oracle_by_start_epoch": oracle_by_es,
            "auto_start_epochs": [r.get("start_epoch_chosen") for r in auto],
            "fixed_start_epoch": fixed_es,
            "detection_auroc_fixed": _mean(r.get("detection_auroc") for r in fixed),
            "detection_auroc_auto": _mean(_detection_auroc(r) for r in auto),
            "seeds": max(len(ce), len(auto)),
            "oracle_grid_runs": f"{grid_done} of {len(set(grid) | {fixed_es}) * len(seeds)}",
            "per_seed": {m: [round(100 * r["test_acc_last"], 2) for r in rows]
                         for m, rows in (("ce", ce), ("sat_fixed", fixed), ("sat_auto", auto), ("elr", elr),
                                         ("sat_auto_sce", sce), ("sat_auto_gate", gate))},
        }
        cells[kind] = cell
    return cells


def carry_over(cells: dict, previous: dict, methods) -> None:
    """Fill each cell's fields of the methods neither run now nor on disk from an earlier result's
    same cell, and say so in ``carried_over`` (the runs are seeded, so a rerun repeats them; this
    saves the time).  Runs on disk win over the earlier file."""
    for kind, cell in cells.items():
        if not (old := previous.get(kind)):
            continue
        on_disk = {m for m, rows in cell["per_seed"].items() if rows}
        if cell["sat_oracle_last"] is not None:
            on_disk.add("sat_oracle")
        carried = [m for m in ALL_METHODS if m not in methods and m not in on_disk
                   and all(old.get(f) is not None for f in FIELDS[m])]
        for m in carried:
            for f in FIELDS[m]:
                cell[f] = old[f]
            if m in old.get("per_seed", {}):
                cell["per_seed"][m] = old["per_seed"][m]
        cell["carried_over"] = carried


def derive(cell: dict, auto: str = "sat_auto", tag: str = "auto") -> None:
    """What the targets read, for SAT auto (``auto``: its column, e.g. sat_auto_sce): the safety checks wherever
    CE and it ran, the oracle's only where its grid ran (a cell without one still counts)."""
    if None not in (cell["ce_last"], cell["ce_best_test"], cell.get(f"{auto}_last")):
        cell["ce_memorises"] = cell["ce_best_test"] - cell["ce_last"] > 3.0
        cell[f"{tag}_vs_ce_last"] = cell[f"{auto}_last"] - cell["ce_last"]
        cell[f"{tag}_vs_ce_noisy_val"] = cell[f"{auto}_last"] - (cell["ce_noisy_val"] or float("nan"))
        cell[f"{tag}_vs_ce_best_test"] = cell[f"{auto}_last"] - cell["ce_best_test"]
        cell[f"{tag}_vs_oracle"] = (None if cell["sat_oracle_last"] is None
                                    else cell[f"{auto}_last"] - cell["sat_oracle_last"])


def targets(table: dict, tag: str = "auto") -> dict:
    """The issue's checks over every cell, with the cells that miss them (the oracle: the CE form's grid)."""
    cells = [(r, k, c) for r, kinds in table.items() for k, c in kinds.items() if f"{tag}_vs_ce_last" in c]
    miss_last = [f"{r}/{k}" for r, k, c in cells if c[f"{tag}_vs_ce_last"] < -0.5]
    miss_val = [f"{r}/{k}" for r, k, c in cells if not c[f"{tag}_vs_ce_noisy_val"] >= -1.0]
    miss_memo = [f"{r}/{k}" for r, k, c in cells if c["ce_memorises"] and c[f"{tag}_vs_ce_best_test"] < -1.0]
    with_oracle = [c for _, _, c in cells if c[f"{tag}_vs_oracle"] is not None]
    near_oracle = sum(c[f"{tag}_vs_oracle"] >= -1.0 for c in with_oracle)
    return {"cells": len(cells), "auto_ge_ce_last_minus_0.5": miss_last, "auto_ge_ce_noisy_val_minus_1": miss_val,
            "memorising_cells_auto_within_1_of_ce_best": miss_memo,
            "auto_within_1_of_oracle": f"{near_oracle} of {len(with_oracle)} cells with an oracle grid"}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--regimes", default=",".join(REGIMES))
    p.add_argument("--runs", default="runs/regime-map", help="sweep folders (resumable)")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--noise", default=",".join(NOISE), help="noise kinds to run (the table shows every kind on disk)")
    p.add_argument("--out", default=result_path("regime_map.json"))
    p.add_argument("--figure", default="docs/figures/regime_map.png")
    p.add_argument("--methods", default=",".join(ALL_METHODS), help="methods to run (others: disk, else --previous)")
    p.add_argument("--previous", default="", help="earlier result JSONs, comma-separated, for methods not on disk")
    p.add_argument("--rate", type=float, default=RATE, help="noise rate (the map's: 0.4); give each rate its own --runs")
    args = p.parse_args(argv)
    root = Path(args.runs)
    names = [n for n in args.regimes.split(",") if n]
    methods = tuple(m for m in args.methods.split(",") if m)
    unknown = set(methods) - set(ALL_METHODS)
    if unknown:
        p.error(f"unknown methods {sorted(unknown)}; choose from {ALL_METHODS}")
    previous = {name: cells for path in filter(None, args.previous.split(","))
                for name, cells in json.loads(Path(path).read_text())["table"].items()}
    for name in names:
        run_regime(name, root, args.jobs, tuple(k for k in args.noise.split(",") if k), methods, args.rate)
    table = {name: collect(name, root, args.rate) for name in names}
    for name, cells in table.items():
        carry_over(cells, previous.get(name, {}), methods)
        for cell in cells.values():
            derive(cell)
            derive(cell, "sat_auto_sce", "auto_sce")
            derive(cell, "sat_auto_gate", "auto_gate")
    result = {"regimes": {n: {"preset": REGIMES[n][0], "overrides": REGIMES[n][1], "fixed_start_epoch": REGIMES[n][2],
                              "oracle_grid": REGIMES[n][3], "seeds": REGIMES[n][4]} for n in names},
              "noise": NOISE, "common": common(args.rate), "table": table, "targets": targets(table),
              "targets_sce": targets(table, "auto_sce"), "targets_gate": targets(table, "auto_gate")}
    write_result(args.out, result)
    if args.figure:
        figure(table, Path(args.figure))
    print(markdown(table))
    if any(c.get("sat_auto_sce_last") is not None for kinds in table.values() for c in kinds.values()):
        print(markdown_sce(table))
    if any(c.get("sat_auto_gate_last") is not None for kinds in table.values() for c in kinds.values()):
        print(markdown_sce(table, "auto_sce", "auto_gate", "SAT auto, SCE form, memorisation gate"))
    print(json.dumps({k: result[k] for k in ("targets", "targets_sce", "targets_gate")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
