"""SAT's default since session 28 (the SCE form with the memorisation gate) over the whole regime map.

The gate only reads the training passes: where the disagreements were concentrated when the rule fired
(``concentration_at_firing``: every pair-noise run and the instance-noise runs off CIFAR-10), it stays
open and the run is the SCE form's run bit for bit.  So the default's column is the gate's runs where
they were made (the cells in ``--gate``, from ``regime_map --methods sat_auto_gate``) and the SCE form's
stored runs elsewhere (``carried_from_sce`` in the output says which), and issue 17's targets are checked
on that column over every cell of ``--sce``:

    python -m benchmarks.accuracy.gate_targets --sce benchmarks/results/regime_map_sce.json \\
        --gate benchmarks/results/regime_map_gate_runs.json --out benchmarks/results/regime_map_gate.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks.accuracy.regime_map import derive, targets
from benchmarks.accuracy.regime_map_tables import markdown_sce
from benchmarks.common import write_result

GATE = ("sat_auto_gate_last", "auto_gate_start_epochs", "detection_auroc_auto_gate")
SCE = ("sat_auto_sce_last", "auto_sce_start_epochs", "detection_auroc_auto_sce")


def merge(sce: dict, gate: dict) -> dict:
    """Every cell of ``sce`` with the default's column: the gate's runs where ``gate`` has them, else the SCE
    form's (the per-seed lists too)."""
    table = {}
    for regime, kinds in sce.items():
        for kind, cell in kinds.items():
            cell = dict(cell, per_seed=dict(cell.get("per_seed", {})))
            ran = gate.get(regime, {}).get(kind, {})
            if ran.get(GATE[0]) is not None:
                for field in (*GATE, "auto_gate_concentrations"):
                    cell[field] = ran[field]
                cell["per_seed"]["sat_auto_gate"] = ran["per_seed"]["sat_auto_gate"]
                cell["carried_from_sce"] = False
            else:
                for g, s in zip(GATE, SCE):
                    cell[g] = cell.get(s)
                cell["per_seed"]["sat_auto_gate"] = cell["per_seed"].get("sat_auto_sce")
                cell["carried_from_sce"] = True
            derive(cell, "sat_auto_gate", "auto_gate")
            table.setdefault(regime, {})[kind] = cell
    return table


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sce", required=True, help="regime_map result with the SCE form's column (every cell)")
    p.add_argument("--gate", required=True, help="regime_map result over the gate's runs")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    table = merge(json.loads(Path(args.sce).read_text())["table"], json.loads(Path(args.gate).read_text())["table"])
    result = {"table": table, "targets_sce": targets(table, "auto_sce"), "targets_gate": targets(table, "auto_gate")}
    write_result(args.out, result)
    print(markdown_sce(table, "auto_sce", "auto_gate", "SAT auto, SCE form, memorisation gate"))
    print(json.dumps({k: result[k] for k in ("targets_sce", "targets_gate")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
