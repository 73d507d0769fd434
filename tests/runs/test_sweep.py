"""sat sweep: a grid of runs, skipped when done, resumed when interrupted, with one results table."""
import csv
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from test_cli import assert_one_line_error, sat

from selfadaptive.engine.runfolder import RunDir
from selfadaptive.errors import UserError
from selfadaptive.runs.sweep import grid, run_name, split_axes, validation_verdict

GRID = ["model.base_width=64,128", "loss.name=ce,sat", "loss.start_epoch=1", "optim.epochs=4", "data.val_fraction=0.1",
        "log.progress=false"]


def test_axes_and_fixed_overrides():
    axes, fixed = split_axes(["a.b=1,2", "c=[1,2]", "d=x", "e=p,q,r"])
    assert axes == {"a.b": ["1", "2"], "e": ["p", "q", "r"]} and fixed == ["c=[1,2]", "d=x"]
    assert len(grid(axes)) == 6 and run_name({"a.b": "1", "e": "p"}) == "a.b=1-e=p"
    with pytest.raises(UserError, match="empty value"):
        split_axes(["a=1,"])


def test_validation_verdict_says_whether_the_split_can_tell_the_runs_apart():
    rows = [{"run": "loss.name=ce", "selection_val_acc_last": 0.50, "selection_val_size": 1000},
            {"run": "loss.name=sat", "selection_val_acc_last": 0.52, "selection_val_size": 1000},
            {"run": "unfinished"}]
    # 2 sqrt(0.52 * 0.48 / 1000) = 3.16 points: a 2-point lead is inside it
    tie = validation_verdict(rows)
    assert tie.startswith("on your validation labels at the last epoch: loss.name=sat 52.00%, next loss.name=ce 50.00%")
    assert "2.00 points apart" in tie and "(3.16)" in tie and "does not tell them apart" in tie
    # on 10,000 samples the same lead is over twice the error (1.00)
    far = validation_verdict([{**r, "selection_val_size": 10_000} for r in rows[:2]])
    assert "ahead by 2.00 points" in far and "(1.00)" in far
    # runs written before the size was recorded: the figures without a verdict
    assert validation_verdict([{k: v for k, v in r.items() if k != "selection_val_size"} for r in rows]).endswith("50.00%")
    assert validation_verdict(rows[:1]) is None and validation_verdict([]) is None


def test_validation_verdict_pairs_the_samples_when_both_runs_saved_their_predictions(tmp_path):
    rows = [{"run": "loss.name=ce", "selection_val_acc_last": 0.50, "selection_val_size": 1000},
            {"run": "loss.name=sat", "selection_val_acc_last": 0.52, "selection_val_size": 1000}]
    labels = np.arange(1000) % 10
    wrong = (labels + 1) % 10

    def save(run, right):
        (tmp_path / run).mkdir(exist_ok=True)
        RunDir(tmp_path / run).write_validation(labels, np.where(right, labels, wrong), labels)

    # the same 2-point lead as above, but the runs differ on 20 samples only, all won by SAT: p = 2 / 2^20
    ce_right = np.arange(1000) < 500
    save("loss.name=ce", ce_right)
    save("loss.name=sat", np.arange(1000) < 520)
    near = validation_verdict(rows, tmp_path)
    assert "of the 20 samples only one of them gets right, the first gets 20, the next 0" in near
    assert "p = 1.9e-06" in near and near.endswith("tells them apart")
    # 220 against 200 of 420 disagreements: the same accuracies, no verdict
    sat_right = ce_right.copy()
    sat_right[:200] = False
    sat_right[500:720] = True
    save("loss.name=sat", sat_right)
    assert sat_right.mean() == 0.52 and validation_verdict(rows, tmp_path).endswith("does not tell them apart")
    assert "first gets 220, the next 200" in validation_verdict(rows, tmp_path)
    # another split's labels: back to the unpaired yardstick
    RunDir(tmp_path / "loss.name=ce").write_validation(wrong, labels, labels)
    assert "(3.16)" in validation_verdict(rows, tmp_path)


def test_with_seeds_as_an_axis_the_verdict_compares_settings_pooled_over_seeds(tmp_path):
    labels = np.arange(200) % 10
    rows = []
    for loss, right in (("ce", 100), ("sat", 106)):
        for seed in range(3):
            name = run_name({"loss.name": loss, "seed": str(seed)})
            (tmp_path / name).mkdir()
            # SAT gets 6 more samples right on each seed's split (samples 100-105), CE none that SAT misses
            pred = np.where(np.arange(200) < right, labels, (labels + 1) % 10)
            RunDir(tmp_path / name).write_validation(labels, pred, pred)
            rows.append({"run": name, "loss.name": loss, "seed": str(seed), "selection_val_size": 200,
                         "selection_val_acc_last": right / 200 + (0.05 if (loss, seed) == ("ce", 0) else 0)})
    # one CE seed alone leads the runs (a fluke of that split): run by run, CE's seed 0 "wins"
    assert validation_verdict(rows, tmp_path).startswith("on your validation labels at the last epoch: "
                                                         "loss.name=ce-seed=0")
    line = validation_verdict(rows, tmp_path, axes=["loss.name", "seed"])
    assert line.startswith("on your validation labels at the last epoch, mean over seeds: loss.name=sat 53.00% "
                           "(3 runs), next loss.name=ce 51.67% (3 runs)")
    assert "over the 3 seeds both ran, of the 18 validation samples only one of them gets right, the first gets 18, " \
           "the next 0" in line and line.endswith("so these splits tell them apart")
    # a seed only one setting ran is left out of the pooled test
    missing = [r for r in rows if r["run"] != "loss.name=ce-seed=2"]
    assert "over the 2 seeds both ran, of the 12 validation samples" in validation_verdict(
        missing, tmp_path, axes=["loss.name", "seed"])
    # seeds the only axis: nothing to compare but runs
    assert validation_verdict(rows[:3], tmp_path, axes=["seed"]).startswith("on your validation labels at the last "
                                                                          "epoch: loss.name=ce-seed=0")


def test_validation_verdict_warns_where_a_sat_run_read_pair_like_noise():
    rows = [{"run": "loss.name=ce", "selection_val_acc_last": 0.50, "selection_val_size": 1000},
            {"run": "loss.name=sat", "selection_val_acc_last": 0.60, "selection_val_size": 1000,
             "start_concentration": 2.62}]
    warned = validation_verdict(rows)
    assert "ahead by 10.00 points" in warned and "concentration 2.62" in warned and "pair-like noise" in warned
    for calm in (1.75, None):           # instance-like, or no reading (a fixed start, or CE alone)
        rows[1]["start_concentration"] = calm
        assert "pair-like" not in validation_verdict(rows)


@pytest.mark.slow
def test_sweep_runs_the_grid_then_skips_finished_runs(tmp_path):
    res = sat("sweep", "--out", str(tmp_path / "sw"), *GRID)
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(open(tmp_path / "sw" / "results.csv")))
    assert len(rows) == 4 and {(r["model.base_width"], r["loss.name"]) for r in rows} == \
        {("64", "ce"), ("64", "sat"), ("128", "ce"), ("128", "sat")}
    assert all(float(r["test_acc_last"]) > 0.3 for r in rows)
    # the column to choose between CE and SAT by: validation accuracy on the labels as given
    assert all(0 < float(r["selection_val_acc_last"]) <= 1 for r in rows)
    summary = json.loads((tmp_path / "sw" / rows[0]["run"] / "summary.json").read_text())
    assert summary["num_train"] + summary["selection_val_size"] == 1347        # digits' training part, 10% held out
    assert {int(r["selection_val_size"]) for r in rows} == {summary["selection_val_size"]}
    assert "on your validation labels at the last epoch:" in res.stdout
    assert "test_acc_last" in res.stdout and "4 runs, 0 already done" in res.stdout
    again = sat("sweep", "--out", str(tmp_path / "sw"), *GRID)
    assert again.returncode == 0 and "4 runs, 4 already done" in again.stdout
    # a different grid in the same folder is refused
    assert_one_line_error(sat("sweep", "--out", str(tmp_path / "sw"), "model.base_width=8,16"), "different sweep")
    assert_one_line_error(sat("sweep", "--out", str(tmp_path / "x"), "optim.epochs=3"), "at least one axis")
    assert_one_line_error(sat("sweep", "--out", str(tmp_path / "y"), "optim.lr=0.1,-1"), "optim.lr")


@pytest.mark.slow
def test_interrupted_sweep_resumes_to_the_same_result(tmp_path):
    # batch 4 makes an epoch ~0.35 s here, so after the first epoch's row ~2.5 s of the run remain: the
    # signal lands mid-run by a wide margin (at batch 64 a whole run took 0.3 s and the race was lost on CI)
    grid_ = ["seed=0,1", "model.base_width=64", "data.batch_size=4", "loss.start_epoch=1", "optim.epochs=8",
             "log.progress=false"]
    cmd = [sys.executable, "-m", "selfadaptive", "sweep", "--out", str(tmp_path / "cut"), *grid_]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = tmp_path / "cut" / "seed=0" / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (first.is_file() and first.read_text().endswith("\n")):
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert not (tmp_path / "cut" / "seed=0" / "summary.json").exists()
    assert len(first.read_text().splitlines()) < 8  # cut mid-run, not after it
    res = sat("sweep", "--out", str(tmp_path / "cut"), *grid_)
    assert res.returncode == 0, res.stderr
    ref = sat("sweep", "--out", str(tmp_path / "ref"), *grid_)
    assert ref.returncode == 0
    for seed in (0, 1):
        a = [json.loads(l) for l in (tmp_path / "cut" / f"seed={seed}" / "metrics.jsonl").read_text().splitlines()]
        b = [json.loads(l) for l in (tmp_path / "ref" / f"seed={seed}" / "metrics.jsonl").read_text().splitlines()]
        strip = lambda rows: [{k: v for k, v in r.items() if k != "time_s"} for r in rows]
        assert strip(a) == strip(b)
