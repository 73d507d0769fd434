"""The `sat` command: output, exit codes, and one clear line for each kind of bad input."""
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from selfadaptive.engine.checkpoint import load_checkpoint

FAST = ["model.base_width=64", "optim.epochs=2", "loss.start_epoch=1", "log.progress=false"]


def sat(*args, cwd=None, env=None):
    e = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "selfadaptive", *args], capture_output=True, text=True, cwd=cwd, env=e)


def assert_one_line_error(res, needle):
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("sat: error:") and needle in lines[0], lines[0]
    assert "Traceback" not in res.stderr


@pytest.mark.slow
def test_train_prints_accuracy_and_recovery_then_eval(tmp_path):
    res = sat("train", "--out", str(tmp_path / "r"), *FAST)
    assert res.returncode == 0, res.stderr
    assert "test accuracy" in res.stdout and "wrong training labels" in res.stdout and "538 of 1347" in res.stdout
    ev = sat("eval", str(tmp_path / "r"), "--json")
    assert ev.returncode == 0, ev.stderr
    acc = json.loads(ev.stdout)["accuracy"]
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert acc["test"] == pytest.approx(summary["test_acc_last"])


@pytest.mark.slow
def test_eval_scores_the_selected_model_or_the_one_to_use(tmp_path):
    over = ["loss.name=ce", "optim.epochs=12", "data.val_fraction=0.1", "log.progress=false", "model.base_width=64",
            "optim.lr=0.05", "optim.schedule=constant", "data.batch_size=32"]        # selects epoch 3 of 12
    assert sat("train", "--out", str(tmp_path / "r"), *over).returncode == 0
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["selected_epoch"] < 11
    chosen = json.loads(sat("eval", str(tmp_path / "r"), "--model", "selected", "--json").stdout)
    assert chosen["model"] == "selected_model.pt" and chosen["epoch"] == summary["selected_epoch"]
    assert chosen["accuracy"]["test"] == pytest.approx(summary["test_acc_at_selected"])
    last = json.loads(sat("eval", str(tmp_path / "r"), "--json").stdout)
    assert last["model"] == "checkpoint.pt" and last["epoch"] == 11
    assert last["accuracy"]["test"] == pytest.approx(summary["test_acc_last"])
    used = json.loads(sat("eval", str(tmp_path / "r"), "--model", "use", "--json").stdout)
    assert used["model"] == {"selected": "selected_model.pt", "last": "checkpoint.pt"}[summary["model_to_use"]]
    # a run without a validation split has no selected model
    assert sat("train", "--out", str(tmp_path / "plain"), *FAST).returncode == 0
    assert_one_line_error(sat("eval", str(tmp_path / "plain"), "--model", "selected"), "no selected_model.pt")


@pytest.mark.slow
def test_presets_lists_the_shipped_configs_and_they_load():
    res = sat("presets")
    assert res.returncode == 0
    names = [l.split()[0] for l in res.stdout.splitlines()]
    assert "digits-flip40-sat" in names and "digits-flip40-ce" in names
    from selfadaptive.config import load_config
    from selfadaptive.config.presets import preset_paths
    for path in preset_paths().values():
        load_config(path)


@pytest.mark.slow
def test_preset_by_name(tmp_path):
    res = sat("train", "--config", "digits-flip40-ce", "--out", str(tmp_path / "r"), *FAST)
    assert res.returncode == 0, res.stderr
    assert "CE: test accuracy" in res.stdout


def _npz(path, **arrays):
    base = dict(x_train=np.zeros((4, 3), np.float32), y_train=np.array([0, 1, 0, 1]),
                x_test=np.zeros((2, 3), np.float32), y_test=np.array([0, 1]))
    base.update(arrays)
    np.savez(path, **base)
    return str(path)


@pytest.mark.slow
def test_bad_inputs_give_one_line_and_exit_2(tmp_path):
    cases = [
        (["data.name=npz", f"data.root={tmp_path / 'missing.npz'}"], "data file not found"),
        (["data.name=csv", f"data.root={tmp_path}"], "not a file"),
        (["--config", str(tmp_path / "nope.yaml")], "config file not found"),
        (["optim.lrr=1"], "unknown config key 'optim.lrr'"),
        (["optim.epochs=ten"], "'optim.epochs' expects int"),
        (["noise.rate=1.5"], "noise.rate must be in [0, 1]"),
        (["noise.rate=-0.2"], "noise.rate must be in [0, 1]"),
        (["device=cuda"] if not torch.cuda.is_available() else ["device=cuda:99"], "device=cuda"),
    ]
    (tmp_path / "corrupt.npz").write_bytes(b"\x00garbage")
    cases.append((["data.name=npz", f"data.root={tmp_path / 'corrupt.npz'}"], "not a readable .npz"))
    cases.append((["data.name=npz", "data.root=" + _npz(tmp_path / "shape.npz", y_train=np.array([0, 1]))],
                  "x_train has 4 rows but y_train has 2"))
    cases.append((["data.name=npz", "data.num_classes=2", "data.root=" + _npz(tmp_path / "range.npz", y_test=np.array([0, 5]))],
                  "label 5 is out of range"))
    cases.append((["data.name=npz", "data.root=" + _npz(tmp_path / "empty.npz", x_train=np.zeros((0, 3), np.float32),
                                                        y_train=np.zeros(0, np.int64))], "training set is empty"))
    (tmp_path / "bad.yaml").write_text("optim: [unclosed\n")
    cases.append((["--config", str(tmp_path / "bad.yaml")], "not valid YAML"))
    cases.append((["data.augment=crop_flip", "data.name=csv", "data.root=" + _csv(tmp_path)], "needs images"))
    # each case is a whole process (that is the point); two at a time, as the cores allow
    outs = [tmp_path / f"out{i}" for i in range(len(cases))]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda c: sat("train", "--out", str(c[0]), *FAST, *c[1][0]), zip(outs, cases)))
    for out, (args, needle), res in zip(outs, cases, results):
        assert_one_line_error(res, needle)
        assert not (out / "checkpoint.pt").exists()


@pytest.mark.slow
def test_existing_run_is_kept_and_resume_errors(tmp_path):
    out = tmp_path / "r"
    assert sat("train", "--out", str(out), *FAST).returncode == 0
    before = (out / "checkpoint.pt").read_bytes()
    assert_one_line_error(sat("train", "--out", str(out), *FAST), "already holds a run")
    assert (out / "checkpoint.pt").read_bytes() == before
    assert_one_line_error(sat("train", "--resume", str(tmp_path / "nothing")), "run folder not found")
    assert_one_line_error(sat("eval", str(tmp_path / "nothing")), "run folder not found")
    (out / "checkpoint.pt").write_bytes(b"truncated")
    assert_one_line_error(sat("eval", str(out)), "corrupt")


@pytest.mark.slow
def test_nan_loss_exits_1_with_one_line(tmp_path):
    res = sat("train", "--out", str(tmp_path / "r"), "optim.lr=1e30", "loss.name=ce", *FAST)
    assert res.returncode == 1, res.stderr
    assert "loss became" in res.stderr and len(res.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_sigterm_mid_training_then_resume_is_bit_identical(tmp_path):
    # ~0.25 s an epoch: after the second epoch's row about 2 s of training remain for the signal to land in
    args = ["model.base_width=128", "optim.epochs=10", "data.batch_size=4", "loss.start_epoch=2", "log.progress=false",
            "model.dropout=0.1"]
    env = {"SAT_TEST_THREADS": "1"}
    full = sat("train", "--out", str(tmp_path / "full"), *args, env=env)
    assert full.returncode == 0, full.stderr
    proc = subprocess.Popen([sys.executable, "-m", "selfadaptive", "train", "--out", str(tmp_path / "cut"), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ, **env))
    metrics = tmp_path / "cut" / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not metrics.exists() or len(metrics.read_text().splitlines()) < 2):
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "SIGTERM received: checkpoint saved" in err and "Traceback" not in err
    state = load_checkpoint(tmp_path / "cut" / "checkpoint.pt")
    assert 2 <= state["epoch"] < 10
    res = sat("train", "--resume", str(tmp_path / "cut"), env=env)
    assert res.returncode == 0, res.stderr
    a, b = load_checkpoint(tmp_path / "full" / "checkpoint.pt"), load_checkpoint(tmp_path / "cut" / "checkpoint.pt")
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert torch.equal(a["loss"]["soft_targets"], b["loss"]["soft_targets"])
    assert np.array_equal(np.load(tmp_path / "full" / "soft_targets.npy"), np.load(tmp_path / "cut" / "soft_targets.npy"))


def _csv(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(20)))
    return str(path)
