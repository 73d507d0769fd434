"""The regime map's merge of runs on disk with an earlier result file, and its cells' choice of runs
(benchmarks/accuracy/regime_map.py)."""
import json

import pytest

from benchmarks.accuracy.regime_map import carry_over, collect, common


def _cell(**per_seed):
    seeds = {m: per_seed.get(m, []) for m in ("ce", "sat_fixed", "sat_auto", "elr", "sat_auto_sce")}
    return {"per_seed": seeds, "sat_oracle_last": None, "ce_last": None, "ce_noisy_val": None, "ce_best_test": None,
            "sat_auto_last": 50.0 if seeds["sat_auto"] else None, "sat_auto_sce_last": None}


def test_runs_on_disk_win_and_gaps_come_from_the_earlier_file():
    old = {"ce_last": 60.0, "ce_noisy_val": 59.0, "ce_best_test": 61.0, "sat_auto_last": 70.0,
           "sat_auto_noisy_val": 69.0, "auto_start_epochs": [4], "detection_auroc_auto": 0.9,
           "per_seed": {"ce": [60.0], "sat_auto": [70.0]}}
    cells = {"uniform": _cell(sat_auto=[50.0])}
    carry_over(cells, {"uniform": old}, methods=())
    cell = cells["uniform"]
    assert cell["sat_auto_last"] == 50.0 and cell["per_seed"]["sat_auto"] == [50.0]     # disk, not the file
    assert cell["ce_last"] == 60.0 and cell["per_seed"]["ce"] == [60.0]                 # the gap, from the file
    assert cell["carried_over"] == ["ce"]


def test_a_method_run_now_is_never_carried():
    old = {"ce_last": 60.0, "ce_noisy_val": 59.0, "ce_best_test": 61.0, "per_seed": {"ce": [60.0]}}
    cells = {"uniform": _cell()}
    carry_over(cells, {"uniform": old}, methods=("ce",))
    assert cells["uniform"]["ce_last"] is None and cells["uniform"]["carried_over"] == []


def test_a_cell_reads_only_the_runs_of_its_noise_rate(tmp_path):
    for rate, acc in ((0.4, 0.9), (0.2, 0.7)):
        run = tmp_path / "digits-mlp-short" / "ce" / "uniform" / f"seed=0-noise.rate={rate}"
        run.mkdir(parents=True)
        (run / "summary.json").write_text(json.dumps({"noise_kind": "uniform", "noise_rate": rate, "seed": 0,
                                                      "test_acc_last": acc, "test_acc_best": acc}))
    assert collect("digits-mlp-short", tmp_path)["uniform"]["ce_last"] == 90.0          # the map's 40%
    assert collect("digits-mlp-short", tmp_path, 0.2)["uniform"]["ce_last"] == 70.0
    assert common(0.2)[0] == "noise.rate=0.2" and common()[0] == "noise.rate=0.4"


def test_the_model_to_use_column_reads_each_runs_own_verdict():
    from benchmarks.accuracy.regime_map import _use

    rows = [{"test_acc_last": 0.50, "test_acc_at_selected": 0.60, "model_to_use": "selected"},
            {"test_acc_last": 0.70, "test_acc_at_selected": 0.40, "model_to_use": "last"}]
    assert _use(rows) == pytest.approx(65.0)                     # 60 and 70
    assert _use(rows + [{"test_acc_last": 0.9}]) is None         # a run written before the verdict
    assert _use([]) is None
