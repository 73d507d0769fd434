"""Streamed image folders (data.stream=true): the same pixels, batches, training and resume as in memory."""
import json

import numpy as np
import pytest
import torch
from helpers import StopAfter, write_image_folder

import selfadaptive.training.loop as train_mod
from selfadaptive import load_config, train
from selfadaptive.config import DataConfig
from selfadaptive.data import ImageFiles, build_data, input_stats, read_batches
from selfadaptive.errors import Interrupted, UserError

pytest.importorskip("PIL")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    # 2 x 12 training images of uneven sizes (the resize is part of what must match), 2 x 4 test
    root = write_image_folder(tmp_path_factory.mktemp("stream"), per_class=12, size=18, seed=3)
    for cls in ("cat", "dog"):
        for f in sorted((root / "train" / cls).iterdir())[8:]:
            f.rename(root / "test" / cls / ("extra-" + f.name))
    return root


def _data(folder, stream, workers=2, **kw):
    return build_data(DataConfig(name="image_folder", root=str(folder), image_size=12, stream=stream,
                                 workers=workers, **kw))


def test_streamed_folder_decodes_the_in_memory_pixels(folder):
    mem, lazy = _data(folder, False), _data(folder, True)
    assert isinstance(lazy.train.x, ImageFiles) and isinstance(lazy.test.x, ImageFiles)
    assert lazy.train.x.shape == tuple(mem.train.x.shape) == (16, 3, 12, 12)
    assert lazy.input_shape == mem.input_shape
    assert torch.equal(lazy.train.x[torch.arange(16)], mem.train.x)
    assert torch.equal(lazy.train.x[5], mem.train.x[5])
    assert torch.equal(lazy.test.x[:], mem.test.x)
    assert torch.equal(lazy.train.y, mem.train.y)
    # the statistics sample covers all 16 images here, so they equal the in-memory ones
    for a, b in zip(input_stats(lazy.train.x), (mem.mean, mem.std)):
        assert torch.allclose(a, b, atol=1e-6)
    # splits stay lazy and pick the same rows
    mem_v, lazy_v = _data(folder, False, val_fraction=0.25), _data(folder, True, val_fraction=0.25)
    assert isinstance(lazy_v.val.x, ImageFiles)
    assert torch.equal(lazy_v.val.x[:], mem_v.val.x) and torch.equal(lazy_v.train.x[:], mem_v.train.x)


@pytest.mark.parametrize("workers", [0, 2])
def test_read_batches_in_order_with_workers(folder, workers):
    mem, lazy = _data(folder, False), _data(folder, True, workers=workers)
    order = torch.randperm(16, generator=torch.Generator().manual_seed(0))
    index_batches = [order[:5], order[5:5], order[5:11], order[11:]]     # an empty share, as under DDP
    got = list(read_batches(lazy.train.x, index_batches))
    assert [len(b) for b in got] == [5, 0, 6, 5]
    for idx, xb in zip(index_batches, got):
        assert xb.dtype == torch.uint8 and torch.equal(xb, mem.train.x[idx])


def _overrides(folder, stream):
    return [f"data.root={folder}", "data.name=image_folder", "data.image_size=12", f"data.stream={str(stream).lower()}",
            "data.workers=2", "data.augment=crop_flip", "data.batch_size=4", "model.name=cnn", "model.base_width=4",
            "optim.epochs=3", "loss.start_epoch=1", "noise.rate=0.25", "log.progress=false", "model.dropout=0.2"]


def _rows(run):
    return [{k: v for k, v in json.loads(l).items() if k != "time_s"} for l in (run / "metrics.jsonl").read_text().splitlines()]


def test_streamed_training_equals_in_memory_training(folder, tmp_path):
    train(load_config(None, _overrides(folder, False)), tmp_path / "mem", quiet=True)
    train(load_config(None, _overrides(folder, True)), tmp_path / "stream", quiet=True)
    assert _rows(tmp_path / "mem") == _rows(tmp_path / "stream")
    assert np.array_equal(np.load(tmp_path / "mem" / "soft_targets.npy"), np.load(tmp_path / "stream" / "soft_targets.npy"))


@pytest.mark.slow
def test_streamed_run_resumes_mid_epoch_exactly(folder, tmp_path, monkeypatch):
    cfg = load_config(None, _overrides(folder, True))
    train(cfg, tmp_path / "full", quiet=True)
    StopAfter.n = 6         # 4 steps an epoch: stop in the middle of epoch 1
    monkeypatch.setattr(train_mod, "StopSignals", StopAfter)
    with pytest.raises(Interrupted):
        train(cfg, tmp_path / "cut", quiet=True)
    monkeypatch.undo()
    train(cfg, tmp_path / "cut", resume=True, quiet=True)
    assert _rows(tmp_path / "full") == _rows(tmp_path / "cut")
    assert np.array_equal(np.load(tmp_path / "full" / "soft_targets.npy"), np.load(tmp_path / "cut" / "soft_targets.npy"))


def test_stream_errors(folder, tmp_path):
    with pytest.raises(UserError, match="data.stream=true reads image folders"):
        load_config(None, ["data.stream=true"])
    with pytest.raises(UserError, match="needs data.stream=false"):
        load_config(None, _overrides(folder, True) + ["noise.kind=gaussian"])
    with pytest.raises(UserError, match="data.workers must be >= 0"):
        load_config(None, _overrides(folder, True) + ["data.workers=-1"])


def test_a_broken_file_met_in_a_worker_is_one_clear_line(tmp_path):
    root = write_image_folder(tmp_path / "f", per_class=6, size=12, seed=1)
    bad = root / "train" / "dog" / "dog.5.png"
    bad.write_bytes(b"not an image")
    cfg = load_config(None, _overrides(root, True))
    with pytest.raises(UserError) as e:
        train(cfg, tmp_path / "run", quiet=True)
    assert str(bad) in str(e.value) and "not a readable image" in str(e.value) and "\n" not in str(e.value)
