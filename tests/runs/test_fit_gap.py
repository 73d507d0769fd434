"""benchmarks/accuracy/fit_gap.py: per-group means of the last metrics row, baselines per cell, each run's summary."""
import json

import pytest

from benchmarks.accuracy.fit_gap import main


def _run(folder, test, clean, memorised, given=0.5, finished=True):
    folder.mkdir(parents=True)
    rows = [{"epoch": 0, "test_acc": 0.0, "train_acc_clean": 0.0, "train_memorised_noisy": 0.0, "train_acc": 0.0},
            {"epoch": 1, "test_acc": test, "train_acc_clean": clean, "train_memorised_noisy": memorised,
             "train_acc": given}]
    (folder / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    if finished:
        (folder / "summary.json").write_text(json.dumps({"test_acc_last": test}))


def test_group_means_read_the_last_row_of_finished_runs(tmp_path, capsys):
    _run(tmp_path / "ce" / "seed=0", 0.80, 0.90, 0.02)
    _run(tmp_path / "ce" / "seed=1", 0.82, 0.92, 0.04)
    _run(tmp_path / "sat" / "seed=0", 0.78, 0.86, 0.03)
    _run(tmp_path / "sat" / "seed=1", 0.10, 0.10, 0.10, finished=False)      # unfinished: left out
    out = tmp_path / "gap.json"
    main(["--group", f"cell/ce={tmp_path}/ce/seed=*", "--group", f"cell/sat={tmp_path}/sat/seed=*", "--out", str(out)])
    groups = json.loads(out.read_text())
    assert groups["cell/ce"]["test_acc"] == pytest.approx(0.81) and groups["cell/ce"]["train_acc_clean"] == pytest.approx(0.91)
    assert len(groups["cell/sat"]["runs"]) == 1 and groups["cell/sat"]["train_memorised_noisy"] == pytest.approx(0.03)
    assert [r["test_acc_last"] for r in groups["cell/ce"]["per_run"]] == [0.80, 0.82]      # each run's summary
    assert groups["cell/ce"]["per_run"][0]["start_epoch_chosen"] is None
    assert "vs cell/ce: test -3.00, clean fit -5.00" in capsys.readouterr().out


def test_a_pattern_without_finished_runs_is_an_error(tmp_path):
    with pytest.raises(SystemExit, match="no finished run folder"):
        main(["--group", f"x={tmp_path}/none/*"])
