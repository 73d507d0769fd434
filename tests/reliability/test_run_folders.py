"""Run folders under faults: one process per folder, no dead ends, full disks, lost metrics.

Each case is a `sat` command (a separate process, as a user runs it) or an in-process run with a
fault injected where the machine cannot produce it (a full disk)."""
import json
import os
import subprocess
import sys

import pytest
import torch
from test_cli import assert_one_line_error

from selfadaptive import load_config, train
from selfadaptive.engine.lock import RunLock
from selfadaptive.errors import UserError

SHORT = ["optim.epochs=3", "model.base_width=32", "log.progress=false"]


def sat(*args, env=None):
    return subprocess.run([sys.executable, "-m", "selfadaptive", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def _epochs(run) -> list[int]:
    return [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_two_concurrent_starts_into_one_folder_exactly_one_runs(tmp_path):
    run = tmp_path / "run"
    args = [sys.executable, "-m", "selfadaptive", "train", "optim.epochs=15", "log.progress=false", "--out", str(run)]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, err in results if code == 2)
    # the loser either found the winner at work, or (had it been slow to start) its finished run
    assert ("in use by another sat process (PID" in loser) or ("already holds a run" in loser), loser
    assert loser.count("\n") == 1
    assert _epochs(run) == list(range(15))          # one run's rows, none interleaved


def test_a_live_holder_is_named_and_a_dead_ones_lock_is_taken_over(tmp_path):
    run = tmp_path / "run"
    train(load_config(None, SHORT), run, quiet=True)
    (run / "summary.json").unlink()                 # a finished run resumes to its end again: cheap
    lock = RunLock(run).acquire()                   # this test process plays the live holder
    try:
        assert_one_line_error(sat("train", "--resume", str(run)), f"in use by another sat process (PID {os.getpid()})")
    finally:
        lock.release()
    (run / ".lock").write_text("999999999\n")       # left by a process that no longer exists
    r = sat("train", "--resume", str(run), "--quiet")
    assert r.returncode == 0, r.stderr
    assert (run / "summary.json").is_file()


def test_a_folder_that_died_before_its_first_checkpoint_starts_again(tmp_path):
    """kill -9 after config.yaml, before the first checkpoint: neither --resume nor a new run used to
    accept the folder.  Both do now; leftovers (torn temp files, early metrics) are removed."""
    run = tmp_path / "run"
    train(load_config(None, SHORT), run, quiet=True)
    for name in ("checkpoint.pt", "summary.json", "soft_targets.npy", "label_history.npz"):
        (run / name).unlink()
    (run / "metrics.jsonl").write_text(json.dumps({"epoch": 0, "train_loss": 9.0}) + "\n")
    (run / ".checkpoint.pt.abc123.tmp").write_bytes(b"torn" * 1000)
    r = sat("train", "--resume", str(run))
    assert r.returncode == 0 and "starting it again" in r.stdout, r.stderr
    assert _epochs(run) == [0, 1, 2] and json.loads((run / "metrics.jsonl").read_text().splitlines()[0])["train_loss"] != 9.0
    assert not list(run.glob(".*.tmp"))
    (run / "checkpoint.pt").unlink()
    (run / "summary.json").unlink()
    r = sat("train", *SHORT, "--out", str(run), "--quiet")        # a new run may take the folder too
    assert r.returncode == 0, r.stderr


def test_divergence_in_the_first_epoch_says_no_checkpoint_exists_and_the_folder_is_reusable(tmp_path):
    run = tmp_path / "run"
    r = sat("train", *SHORT, "optim.lr=1e30", "--out", str(run))
    assert r.returncode == 1 and "No checkpoint was written yet" in r.stderr and "last good" not in r.stderr, r.stderr
    r = sat("train", *SHORT, "--out", str(run), "--quiet")
    assert r.returncode == 0, r.stderr


def test_resume_with_lost_metrics_refuses_unless_forced(tmp_path):
    run = tmp_path / "run"
    train(load_config(None, SHORT), run, quiet=True)
    rows = (run / "metrics.jsonl").read_text().splitlines()
    (run / "metrics.jsonl").write_text(rows[2] + "\n")       # epochs 0 and 1 lost
    assert_one_line_error(sat("train", "--resume", str(run)), "lacks 2 epochs (0..1) of the 3 the checkpoint has done")
    r = sat("train", "--resume", str(run), "--force", "--quiet")
    assert r.returncode == 0, r.stderr


def test_a_full_disk_keeps_the_last_checkpoint_and_the_run_resumes_bit_identically(tmp_path, monkeypatch):
    cfg = load_config(None, SHORT)
    reference = train(cfg, tmp_path / "reference", quiet=True)
    real_save, calls = torch.save, []

    def fills_the_disk(obj, fh, *a, **k):
        calls.append(1)
        if len(calls) == 2:         # the checkpoint after epoch 1
            fh.write(b"PK\x03\x04")
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 4 vs 0")
        return real_save(obj, fh, *a, **k)
    monkeypatch.setattr(torch, "save", fills_the_disk)
    run = tmp_path / "run"
    with pytest.raises(UserError, match="checkpoint.pt: the write failed part-way"):
        train(cfg, run, quiet=True)
    monkeypatch.setattr(torch, "save", real_save)
    assert torch.load(run / "checkpoint.pt", weights_only=True)["epoch"] == 1 and not list(run.glob(".*.tmp"))
    resumed = train(cfg, run, resume=True, quiet=True)
    assert resumed["test_acc_last"] == reference["test_acc_last"]
    a = torch.load(run / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "reference" / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("case", ["out_is_a_file", "out_under_a_file"])
def test_an_unusable_out_path_is_one_line(tmp_path, case):
    (tmp_path / "f").write_text("x")
    out = tmp_path / "f" if case == "out_is_a_file" else tmp_path / "f" / "run"
    r = sat("train", *SHORT, "--out", str(out))
    assert_one_line_error(r, str(tmp_path / "f"))
    assert (tmp_path / "f").read_text() == "x"


@pytest.mark.parametrize("case", ["symlink_loop", "under_proc", "read_only_sysfs"])
def test_out_paths_the_system_refuses_are_one_line(tmp_path, case):
    if case == "symlink_loop":
        (tmp_path / "a").symlink_to(tmp_path / "b")
        (tmp_path / "b").symlink_to(tmp_path / "a")
        out, reason = tmp_path / "a" / "run", "Too many levels of symbolic links"
    else:
        root = "/proc" if case == "under_proc" else "/sys"
        if not os.path.isdir(root):
            pytest.skip(f"no {root} on this system")
        out, reason = f"{root}/sat-run", "cannot create run folder"
    assert_one_line_error(sat("train", *SHORT, "--out", str(out)), reason)


def test_a_lost_selected_model_leaves_the_finished_run_its_summary_and_the_last_model(tmp_path):
    over = ["loss.name=ce", "optim.epochs=12", "data.val_fraction=0.1", "log.progress=false", "model.base_width=64",
            "optim.lr=0.05", "optim.schedule=constant", "data.batch_size=32"]        # selects epoch 3 of 12
    first = train(load_config(None, over), tmp_path / "r", quiet=True)
    assert "selection_p_value" in first
    (tmp_path / "r" / "selected_model.pt").unlink()
    again = train(load_config(None, over), tmp_path / "r", resume=True, quiet=True)      # the summary rebuilt
    assert again["model_to_use"] == "last" and "selected_model.pt" in again["selection_error"]
    assert again["test_acc_last"] == first["test_acc_last"] and "selection_p_value" not in again
