"""The STL-10 binary reader, on small files written in the official layout."""
import numpy as np
import pytest
from helpers import write_stl10

from selfadaptive import load_config
from selfadaptive.config import DataConfig
from selfadaptive.data import build_data
from selfadaptive.errors import UserError


def test_stl10_reader_orientation_labels_and_unlabeled(tmp_path):
    images = write_stl10(tmp_path)
    d = build_data(DataConfig(name="stl10", root=str(tmp_path)))
    assert d.train.x.shape == (20, 3, 96, 96) and d.test.x.shape == (10, 3, 96, 96)
    assert np.array_equal(d.train.x.numpy(), images["train"]) and np.array_equal(d.test.x.numpy(), images["test"])
    assert d.train.y.tolist() == [i % 10 for i in range(20)] and d.num_classes == 10
    assert d.class_names[2] == "car" and d.unlabeled is None
    d = build_data(DataConfig(name="stl10", root=str(tmp_path), unlabeled=True))
    assert np.array_equal(d.unlabeled.numpy(), images["unlabeled"])


def test_stl10_errors(tmp_path):
    with pytest.raises(UserError, match="STL-10 not found"):
        build_data(DataConfig(name="stl10", root=str(tmp_path / "none")))
    write_stl10(tmp_path)
    (tmp_path / "stl10_binary" / "test_X.bin").write_bytes(b"\0" * 1000)
    with pytest.raises(UserError, match="not a whole number of 96x96x3 images"):
        build_data(DataConfig(name="stl10", root=str(tmp_path)))
    with pytest.raises(UserError, match="data.unlabeled=true adds STL-10's unlabeled images"):
        load_config(None, ["data.name=stl10", "data.unlabeled=true"])


def test_pretraining_on_stl10_uses_the_unlabeled_images(tmp_path):
    from selfadaptive.ssl.pretrain import pretrain
    write_stl10(tmp_path / "data")
    cfg = load_config(None, [f"data.root={tmp_path / 'data'}", "data.name=stl10", "data.unlabeled=true", "task=ssl",
                             "loss.name=sat_ssl", "noise.kind=none", "model.name=cnn", "model.base_width=2",
                             "ssl.view_size=32", "ssl.dim=8", "ssl.hidden=16", "ssl.knn_k=5", "ssl.monitor_size=16",
                             "data.batch_size=25", "optim.epochs=1", "loss.start_epoch=0", "log.progress=false"])
    summary = pretrain(cfg, tmp_path / "run", quiet=True)
    assert summary["num_pretrain"] == 50 and summary["num_train"] == 20
    assert np.load(tmp_path / "run" / "soft_targets.npy").shape == (50, 8)
