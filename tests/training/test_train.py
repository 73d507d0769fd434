"""Small end-to-end CPU runs: the run folder, resume, interruption and divergence."""
import json
import threading
import time

import numpy as np
import pytest
import torch
from torch import nn

import selfadaptive.engine.checkpoint as checkpoint_module
import selfadaptive.training.loop as train_mod
from selfadaptive import TrainingDiverged, load_config, train
from selfadaptive.engine.checkpoint import load_checkpoint
from selfadaptive.errors import Interrupted, UserError


def test_run_folder_is_self_describing(tmp_path, tiny_overrides):
    cfg = load_config(None, tiny_overrides)
    summary = train(cfg, tmp_path / "run", quiet=True)
    run = tmp_path / "run"
    assert {"config.yaml", "metrics.jsonl", "noise.npz", "soft_targets.npy", "checkpoint.pt", "summary.json"} <= {
        p.name for p in run.iterdir()}
    rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1, 2, 3]
    for key in ("train_loss", "train_acc", "test_acc", "train_acc_clean", "train_acc_noisy",
                "train_memorised_noisy", "target_recovery", "lr"):
        assert key in rows[-1]
    assert rows[0]["target_recovery"] == 0.0        # before E_s the targets are the given labels
    for key in ("test_acc_last", "test_acc_best", "best_epoch", "noise_rate_realised", "wall_time_s"):
        assert key in summary
    assert json.loads((run / "summary.json").read_text())["test_acc_last"] == rows[-1]["test_acc"]
    bank = np.load(run / "soft_targets.npy")
    assert bank.shape == (1347, 10) and np.allclose(bank.sum(1), 1, atol=1e-5)
    with np.load(run / "noise.npz") as z:
        assert z["noisy_mask"].sum() == summary["num_noisy"] == int(0.4 * 1347)
    assert summary["test_acc_last"] > 0.5


def test_validation_split_reported(tmp_path, tiny_overrides):
    s = train(load_config(None, tiny_overrides + ["data.val_fraction=0.2", "loss.name=ce"]), tmp_path / "r", quiet=True)
    assert {"val_acc_best", "test_acc_at_best_val", "best_val_epoch"} <= set(s)
    assert "target_recovery" not in s                # CE keeps no targets


def test_existing_run_is_never_overwritten(tmp_path, tiny_overrides):
    cfg = load_config(None, tiny_overrides + ["optim.epochs=1"])
    train(cfg, tmp_path / "r", quiet=True)
    before = (tmp_path / "r" / "checkpoint.pt").read_bytes()
    with pytest.raises(UserError, match="already holds a run"):
        train(cfg, tmp_path / "r", quiet=True)
    assert (tmp_path / "r" / "checkpoint.pt").read_bytes() == before


def _final_state(run):
    state = load_checkpoint(run / "checkpoint.pt")
    return state["model"], state["loss"]


def _assert_identical(run_a, run_b):
    (ma, la), (mb, lb) = _final_state(run_a), _final_state(run_b)
    assert ma.keys() == mb.keys()
    for k in ma:
        assert torch.equal(ma[k], mb[k]), k
    assert torch.equal(la["soft_targets"], lb["soft_targets"])
    ra = [json.loads(l) for l in (run_a / "metrics.jsonl").read_text().splitlines()]
    rb = [json.loads(l) for l in (run_b / "metrics.jsonl").read_text().splitlines()]
    strip = lambda rows: [{k: v for k, v in r.items() if k != "time_s"} for r in rows]
    assert strip(ra) == strip(rb)


from helpers import StopAfter as _StopAfter  # noqa: E402


# 1347 samples / batch 32 = 43 steps an epoch; stop mid-epoch, and on the very last step of epoch 1
@pytest.mark.parametrize("stop_after", [30, 43 * 2 - 1])
def test_resume_is_bit_identical(tmp_path, tiny_overrides, monkeypatch, stop_after):
    over = tiny_overrides + ["model.dropout=0.2"]          # dropout draws from the global RNG
    cfg = load_config(None, over)
    train(cfg, tmp_path / "full", quiet=True)
    _StopAfter.n = stop_after
    monkeypatch.setattr(train_mod, "StopSignals", _StopAfter)
    with pytest.raises(Interrupted) as e:
        train(cfg, tmp_path / "cut", quiet=True)
    assert e.value.exit_code == 143
    monkeypatch.undo()
    train(cfg, tmp_path / "cut", resume=True, quiet=True)
    _assert_identical(tmp_path / "full", tmp_path / "cut")


def test_resume_of_a_finished_run_changes_nothing(tmp_path, tiny_overrides):
    cfg = load_config(None, tiny_overrides + ["optim.epochs=2"])
    s1 = train(cfg, tmp_path / "r", quiet=True)
    s2 = train(cfg, tmp_path / "r", resume=True, quiet=True)
    assert s1["test_acc_last"] == s2["test_acc_last"] and s1["best_epoch"] == s2["best_epoch"]


class _GoesNaN(nn.Module):
    """A user model (any nn.Module works) whose output turns NaN after ``after`` calls in train mode."""

    def __init__(self, after):
        super().__init__()
        self.lin = nn.Linear(64, 10)
        self.calls, self.after = 0, after

    def forward(self, x):
        out = self.lin(x.flatten(1))
        if self.training:
            self.calls += 1
            if self.calls > self.after:
                return out * float("nan")
        return out


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, tiny_overrides):
    cfg = load_config(None, tiny_overrides + ["loss.name=ce"])
    with pytest.raises(TrainingDiverged, match="loss became nan at epoch 1 step 8"):
        train(cfg, tmp_path / "r", model=_GoesNaN(after=43 + 8), quiet=True)
    state = load_checkpoint(tmp_path / "r" / "checkpoint.pt")
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def _slow_disk(monkeypatch, seconds=0.3):
    """Checkpoints' fsync, made in the background, takes ``seconds`` (the run folder's other files are written
    as before): what reads a checkpoint must wait for it."""
    real = checkpoint_module.os.fsync

    def fsync(fd):
        if threading.current_thread().name == "durable-write":
            time.sleep(seconds)
        real(fd)
    monkeypatch.setattr(checkpoint_module.os, "fsync", fsync)


def test_a_slow_disk_still_leaves_the_last_checkpoint_in_place_when_train_returns(tmp_path, tiny_overrides,
                                                                                   monkeypatch):
    _slow_disk(monkeypatch)
    train(load_config(None, tiny_overrides + ["optim.epochs=2", "loss.name=ce"]), tmp_path / "r", quiet=True)
    assert load_checkpoint(tmp_path / "r" / "checkpoint.pt")["epoch"] == 2
    assert not list((tmp_path / "r").glob(".*.tmp"))


def test_divergence_names_a_checkpoint_whose_fsync_was_still_running(tmp_path, tiny_overrides, monkeypatch):
    _slow_disk(monkeypatch)
    cfg = load_config(None, tiny_overrides + ["loss.name=ce"])
    with pytest.raises(TrainingDiverged, match="The last good checkpoint is kept"):
        train(cfg, tmp_path / "r", model=_GoesNaN(after=43 + 8), quiet=True)
    assert load_checkpoint(tmp_path / "r" / "checkpoint.pt")["epoch"] == 1


def _image_npz(path, n=120):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, n)
    x = (rng.integers(0, 60, (n, 8, 8, 3)) + 60 * y[:, None, None, None]).astype(np.uint8)   # learnable
    np.savez(path, x_train=x, y_train=y, x_test=x[:20], y_test=y[:20])
    return str(path)


def test_noise_file_gives_a_second_method_the_same_corrupted_images(tmp_path):
    root = _image_npz(tmp_path / "img.npz")
    base = ["data.name=npz", f"data.root={root}", "model.name=cnn", "model.base_width=8", "optim.epochs=1",
            "log.progress=false", "noise.kind=random_pixels", "noise.rate=0.5", "data.batch_size=32"]
    train(load_config(None, base + ["loss.name=sat", "loss.start_epoch=0"]), tmp_path / "a", quiet=True)
    # a different seed would draw a different corruption, unless the file is reused
    train(load_config(None, base + ["loss.name=ce", "seed=9", f"noise.file={tmp_path / 'a' / 'noise.npz'}"]),
          tmp_path / "b", quiet=True)
    with np.load(tmp_path / "a" / "noise.npz") as a, np.load(tmp_path / "b" / "noise.npz") as b:
        assert a["corrupted_indices"].size == 60
        assert np.array_equal(a["corrupted_indices"], b["corrupted_indices"])
        assert np.array_equal(a["corrupted_images"], b["corrupted_images"])
    # a noise file made for other data is refused
    other = _image_npz(tmp_path / "other.npz", n=90)
    with pytest.raises(UserError, match="was made for another training set"):
        train(load_config(None, [*base, f"data.root={other}", f"noise.file={tmp_path / 'a' / 'noise.npz'}"]),
              tmp_path / "c", quiet=True)


def test_image_corruption_on_float_data_is_a_clear_error(tmp_path, tiny_overrides):
    with pytest.raises(UserError, match="needs uint8 images"):
        train(load_config(None, tiny_overrides + ["noise.kind=gaussian"]), tmp_path / "r", quiet=True)


def test_bf16_autocast_path_runs_and_keeps_a_float32_bank(tmp_path):
    root = _image_npz(tmp_path / "img.npz")
    cfg = load_config(None, ["data.name=npz", f"data.root={root}", "model.name=cnn", "model.base_width=8",
                             "optim.epochs=2", "loss.start_epoch=0", "log.progress=false", "precision=bf16",
                             "data.augment=crop_flip", "data.batch_size=32"])
    summary = train(cfg, tmp_path / "r", quiet=True)
    assert np.isfinite(summary["test_acc_last"])
    bank = load_checkpoint(tmp_path / "r" / "checkpoint.pt")["loss"]["soft_targets"]
    assert bank.dtype == torch.float32 and torch.allclose(bank.sum(1), torch.ones(len(bank)), atol=1e-5)


def test_width_rescaled_sat_equals_the_explicit_schedule(tmp_path, tiny_overrides):
    # base_width 32 tuned at 64: r = 2, so E_s 1 -> 2 and alpha 0.9 -> 0.9 ** 0.5
    rescaled = train(load_config(None, tiny_overrides + ["model.base_width=32", "loss.momentum=0.9",
                                                         "loss.reference_width=64"]), tmp_path / "a", quiet=True)
    explicit = train(load_config(None, tiny_overrides + ["model.base_width=32", f"loss.momentum={0.9 ** 0.5!r}",
                                                         "loss.start_epoch=2"]), tmp_path / "b", quiet=True)
    assert (rescaled["start_epoch"], rescaled["momentum"]) == (2, pytest.approx(0.9 ** 0.5))
    assert np.array_equal(np.load(tmp_path / "a" / "soft_targets.npy"), np.load(tmp_path / "b" / "soft_targets.npy"))
    assert rescaled["test_acc_last"] == explicit["test_acc_last"]


def test_the_headline_names_balanced_accuracy_only_when_the_test_set_makes_it_differ():
    from selfadaptive.training.records import headline

    base = {"loss": "sat", "test_acc_last": 0.9, "test_acc_best": 0.9, "best_epoch": 3}
    imbalanced = headline({**base, "test_balanced_acc_last": 0.55, "test_acc_per_class_last": [1.0, 0.1, None]})
    assert "balanced accuracy (mean over classes) 55.00%" in imbalanced and "worst class 10.00%" in imbalanced
    assert "balanced" not in headline({**base, "test_balanced_acc_last": 0.901, "test_acc_per_class_last": [0.9, 0.9]})
    assert "balanced" not in headline(base)          # a summary written before it was logged
