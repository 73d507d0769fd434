"""``robust_compare`` reads finished runs back, under the regime's own name when the overrides change the family."""
import json

import pytest

from benchmarks.accuracy.robust_compare import main


def finished_run(folder, clean, robust):
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps({
        "test_clean_acc_last": clean, "test_robust_acc_last": robust, "test_fgsm_acc_last": robust + 0.05,
        "test_clean_acc_best": clean, "test_robust_acc_best": robust + 0.01, "best_robust_epoch": 1,
        "wall_time_s": 60.0, "robust_attack": "pgd20", "start_epoch_chosen": None}))
    (folder / "metrics.jsonl").write_text("".join(json.dumps({"epoch": e, "val_robust_acc": v, "test_acc": clean}) + "\n"
                                                  for e, v in enumerate((0.2, 0.3, 0.25))))


def test_a_named_regime_finds_its_runs_and_keys_its_results_by_that_name(tmp_path, capsys):
    finished_run(tmp_path / "runs" / "cifar10-w32-trades-s0", 0.45, 0.20)
    out = tmp_path / "result.json"
    assert main(["--families", "fmnist-robust-cnn", "--methods", "trades", "--seeds", "0", "--runs",
                 str(tmp_path / "runs"), "--name", "cifar10-w32", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert list(result) == ["cifar10-w32/trades/seed0"]
    row = result["cifar10-w32/trades/seed0"]
    assert (row["family"], row["preset_family"], row["robust_last"], row["val_robust_peak"]) == \
        ("cifar10-w32", "fmnist-robust-cnn", 0.20, 0.3)
    assert "| cifar10-w32 | trades | 1 | 45.00 | 20.00 |" in capsys.readouterr().out


def test_a_name_for_several_families_is_refused(tmp_path):
    with pytest.raises(SystemExit) as stop:
        main(["--families", "mnist-robust-cnn,fmnist-robust-cnn", "--name", "x", "--out", str(tmp_path / "r.json")])
    assert stop.value.code == 2
