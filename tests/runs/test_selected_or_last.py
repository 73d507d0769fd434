"""benchmarks/accuracy/selected_or_last.py and ce_or_sat_check.py --paired: stored runs rescored on their noisy
validation copy, as the runs scored it."""
import json

import pytest

from benchmarks.accuracy.selected_or_last import LEVELS, main
from selfadaptive import load_config, train
from selfadaptive.engine.runfolder import RunDir
from selfadaptive.engine.selection import sign_test_p


@pytest.mark.slow
def test_the_rescored_split_matches_what_the_run_recorded(tmp_path):
    over = ["loss.name=ce", "optim.epochs=12", "data.val_fraction=0.1", "log.progress=false", "model.base_width=64",
            "optim.lr=0.05", "optim.schedule=constant", "data.batch_size=32"]        # picks epoch 3 of 12
    summary = train(load_config(None, over), tmp_path / "runs" / "ce" / "seed=0", quiet=True)
    main([str(tmp_path / "runs"), "--out", str(tmp_path / "out.json")])
    result = json.loads((tmp_path / "out.json").read_text())
    (row,) = result["runs"]
    # the split rebuilt from config.yaml and noise.npz is the run's own: same size, same two accuracies
    assert row["val_size"] == summary["selection_val_size"] and row["group"].endswith("runs/ce")
    assert row["val_acc_kept"] == pytest.approx(summary["selection_val_acc_at_selected"], abs=1e-6)
    assert row["val_acc_last"] == pytest.approx(summary["selection_val_acc_last"], abs=1e-6)
    assert (row["wins"], row["losses"]) == (summary["selection_wins"], summary["selection_losses"])
    assert row["wins"] + row["losses"] > 0 and row["wins"] - row["losses"] == round(
        (row["val_acc_kept"] - row["val_acc_last"]) * row["val_size"])
    for level in LEVELS:
        picked = summary["test_acc_at_selected"] if row["p_value"] < level else summary["test_acc_last"]
        assert row["test"][f"paired_{level}"] == picked
    assert result["all"]["runs"] == 1
    assert result["by_loss"]["ce"]["test_last"] == pytest.approx(100 * summary["test_acc_last"])


@pytest.mark.slow
def test_ce_or_sat_check_rescores_the_pair_as_the_runs_saved_it(tmp_path):
    from benchmarks.accuracy.ce_or_sat_check import main as check

    over = ["optim.epochs=6", "data.val_fraction=0.1", "log.progress=false", "loss.start_epoch=2"]
    for method, loss in (("ce", "ce"), ("sat_auto", "sat")):
        train(load_config(None, [*over, f"loss.name={loss}"]), tmp_path / "map" / "digits" / method / "flip" / "seed=0",
              quiet=True)
    check([str(tmp_path / "map"), "--paired", "--out", str(tmp_path / "out.json")])
    (pair,) = json.loads((tmp_path / "out.json").read_text())["pairs"]
    # the validation.npz each run wrote at its end, read independently of the benchmark's rescoring
    saved = {m: RunDir(tmp_path / "map" / "digits" / m / "flip" / "seed=0").read_validation()
             for m in ("ce", "sat_auto")}
    right = {m: v["pred_last"] == v["labels"] for m, v in saved.items()}
    assert (saved["ce"]["labels"] == saved["sat_auto"]["labels"]).all()
    assert pair["ce_only_right"] == int((right["ce"] & ~right["sat_auto"]).sum())
    assert pair["sat_only_right"] == int((right["sat_auto"] & ~right["ce"]).sum())
    assert pair["ce_only_right"] + pair["sat_only_right"] > 0
    assert pair["paired_p"] == pytest.approx(sign_test_p(pair["ce_only_right"], pair["sat_only_right"], "two-sided"))
