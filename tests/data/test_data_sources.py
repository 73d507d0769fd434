"""Readers on real files: the CIFAR python format (built from the shared data) and Fashion-MNIST IDX."""
import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from selfadaptive.config import DataConfig
from selfadaptive.data import build_data
from selfadaptive.data.cifar import download_cifar, load_cifar
from selfadaptive.data.idx import load_idx_folder, read_idx
from selfadaptive.errors import UserError

FMNIST = Path("/usr/share/datasets/fashion-mnist")


def test_cifar10_reader_round_trips_the_shared_copy(tiny_cifar10_dir, shared_cifar10):
    d = build_data(DataConfig(name="cifar10", root=str(tiny_cifar10_dir)))
    assert len(d.train) == 100 and len(d.test) == 20 and d.input_shape == (3, 32, 32)
    assert d.class_names[:3] == ["airplane", "automobile", "bird"]
    # pixel-exact: the first training image is the right image of the shared file, in CHW layout
    rng = np.random.default_rng(0)
    first = np.sort(rng.choice(len(shared_cifar10["y_train"]), 100, replace=False))[0]
    assert np.array_equal(d.train.x[0].numpy(), shared_cifar10["x_train"][first].transpose(2, 0, 1))
    assert int(d.train.y[0]) == int(shared_cifar10["y_train"][first])


def test_cifar100_reader_gives_fine_labels_and_superclasses(tiny_cifar100_dir):
    d = build_data(DataConfig(name="cifar100", root=str(tiny_cifar100_dir)))
    assert d.num_classes == 100 and len(d.train) == 40
    coarse = d.info["coarse_of_class"]
    assert len(coarse) == 100 and coarse[int(d.train.y[0])] == int(d.train.y[0]) % 20


def test_validation_split_45k_5k_style(tiny_cifar10_dir):
    d = build_data(DataConfig(name="cifar10", root=str(tiny_cifar10_dir), val_size=10))
    assert len(d.train) == 90 and len(d.val) == 10
    assert d.val.source_index.tolist() == list(range(90, 100))     # the last rows, as the authors split


def test_hostile_pickle_is_refused_not_run(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()

    class Payload:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))
    for i in range(1, 6):
        with open(folder / f"data_batch_{i}", "wb") as fh:
            pickle.dump({b"data": Payload(), b"labels": [0]}, fh)
    with pytest.raises(UserError, match="not a readable CIFAR batch"):
        load_cifar("cifar10", tmp_path)
    assert not (tmp_path / "pwned").exists()


def test_missing_folder_and_offline_download(tmp_path, monkeypatch):
    with pytest.raises(UserError, match="data.download=true"):
        build_data(DataConfig(name="cifar10", root=str(tmp_path)))
    # no network here (and none in CI): the download fails with one clear line, no partial file left
    import urllib.request

    def offline(*a, **k):
        raise urllib.error.URLError("network is unreachable")
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(UserError, match="could not download .*cifar-10-python.tar.gz.*md5 c58f30108f718f92721af3b95e74349a"):
        download_cifar("cifar10", tmp_path / "dl")
    assert not list((tmp_path / "dl").glob("*.part"))


def test_download_checks_md5_of_an_existing_archive(tmp_path, monkeypatch):
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"not the archive")
    import urllib.request
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: __import__("io").BytesIO(b"still wrong"))
    with pytest.raises(UserError, match="wrong MD5"):
        download_cifar("cifar10", tmp_path)


def _require_fmnist():
    if not FMNIST.is_dir():
        if os.environ.get("SAT_REQUIRE_FMNIST"):
            pytest.fail(f"{FMNIST} missing: apt-get install dataset-fashion-mnist")
        pytest.skip("Debian package dataset-fashion-mnist not installed")


def test_fashion_mnist_idx_from_the_debian_package():
    _require_fmnist()
    d = build_data(DataConfig(name="fashion_mnist"))
    assert (len(d.train), len(d.test), d.input_shape) == (60000, 10000, (1, 28, 28))
    assert np.bincount(d.train.y.numpy()).tolist() == [6000] * 10
    assert d.class_names[9] == "Ankle boot"


def test_idx_raw_and_gz_agree_and_bad_files(tmp_path):
    _require_fmnist()
    gz = FMNIST / "t10k-labels-idx1-ubyte.gz"
    raw = tmp_path / "t10k-labels-idx1-ubyte"
    raw.write_bytes(gzip.decompress(gz.read_bytes()))
    assert np.array_equal(read_idx(gz), read_idx(raw))
    (tmp_path / "trunc").write_bytes(raw.read_bytes()[:100])
    with pytest.raises(UserError, match="header promises"):
        read_idx(tmp_path / "trunc")
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(UserError, match="bad magic"):
        read_idx(tmp_path / "bad")
    with pytest.raises(UserError, match="has no train-images"):
        load_idx_folder(tmp_path)


def test_svhn_reader_maps_digit_zero_and_layout(tiny_svhn_dir):
    from scipy.io import loadmat
    d = build_data(DataConfig(name="svhn", root=str(tiny_svhn_dir)))
    raw = loadmat(tiny_svhn_dir / "train_32x32.mat")
    assert d.input_shape == (3, 32, 32) and len(d.train) == 12 and d.num_classes == 10
    assert d.train.y.tolist() == [(v % 10) for v in raw["y"].ravel().tolist()]     # label 10 is the digit 0
    assert np.array_equal(d.train.x[3].numpy(), raw["X"][:, :, :, 3].transpose(2, 0, 1))


def test_svhn_errors(tmp_path):
    with pytest.raises(UserError, match="data.download=true"):
        build_data(DataConfig(name="svhn", root=str(tmp_path)))
    (tmp_path / "train_32x32.mat").write_bytes(b"junk")
    (tmp_path / "test_32x32.mat").write_bytes(b"junk")
    with pytest.raises(UserError, match="not a readable SVHN"):
        build_data(DataConfig(name="svhn", root=str(tmp_path)))


def test_image_folder_layouts(tiny_image_dir, tmp_path):
    from helpers import write_image_folder
    d = build_data(DataConfig(name="image_folder", root=str(tiny_image_dir), image_size=16))
    assert d.class_names == ["cat", "dog"] and d.input_shape == (3, 16, 16)
    assert len(d.train) == 8 and len(d.test) == 8 and d.train.y.tolist() == [0] * 4 + [1] * 4
    # Kaggle's flat layout: the class is the file-name prefix; no test folder -> a held-out split
    flat = write_image_folder(tmp_path / "nested", per_class=4, split_test=False)
    kaggle = tmp_path / "kaggle"
    kaggle.mkdir()
    for f in flat.glob("train/*/*.png"):
        f.rename(kaggle / f.name)
    d = build_data(DataConfig(name="image_folder", root=str(kaggle), image_size=8, test_fraction=0.25))
    assert d.class_names == ["cat", "dog"] and len(d.train) + len(d.test) == 8


def test_image_folder_errors(tmp_path):
    pytest.importorskip("PIL")
    with pytest.raises(UserError, match="not found"):
        build_data(DataConfig(name="image_folder", root=str(tmp_path / "nope")))
    (tmp_path / "one" / "train" / "cat").mkdir(parents=True)
    from PIL import Image
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "one" / "train" / "cat" / "a.png")
    with pytest.raises(UserError, match="one class"):
        build_data(DataConfig(name="image_folder", root=str(tmp_path / "one")))
    (tmp_path / "one" / "train" / "dog").mkdir()
    (tmp_path / "one" / "train" / "dog" / "b.png").write_bytes(b"not an image")
    with pytest.raises(UserError, match="not a readable image"):
        build_data(DataConfig(name="image_folder", root=str(tmp_path / "one")))
