"""Named data sets found without a path: the data home ($SAT_DATA_ROOT), prepared .npz copies, the
official IDX files in their folder, MD5-checked downloads of MNIST and Fashion-MNIST, Kaggle's
Dogs vs Cats, and one clear line when none of these is there."""
import gzip
import hashlib
import io
import subprocess
import sys
import urllib.error
import urllib.request

import numpy as np
import pytest
from helpers import write_image_folder

from selfadaptive.config import DataConfig
from selfadaptive.data import build_data
from selfadaptive.data import idx as idx_module
from selfadaptive.data.cifar import CIFAR10_CLASSES
from selfadaptive.data.idx import FILES
from selfadaptive.errors import UserError


def _idx_bytes(a: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, a.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in a.shape)
    return header + a.astype(np.uint8).tobytes()


def _tiny_idx(rng, n_train=30, n_test=10) -> dict[str, bytes]:
    """The four gzipped IDX files of a tiny 28x28 10-class set, by official file name."""
    arrays = {"x_train": rng.integers(0, 256, (n_train, 28, 28)), "y_train": np.arange(n_train) % 10,
              "x_test": rng.integers(0, 256, (n_test, 28, 28)), "y_test": np.arange(n_test) % 10}
    return {FILES[k] + ".gz": gzip.compress(_idx_bytes(a)) for k, a in arrays.items()}


@pytest.fixture
def home(tmp_path, monkeypatch):
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("SAT_DATA_ROOT", str(folder))
    monkeypatch.chdir(tmp_path)
    return folder


def test_a_prepared_npz_copy_in_the_data_home_is_found_by_name(home):
    rng = np.random.default_rng(0)
    np.savez(home / "cifar10.npz", x_train=rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8),
             y_train=np.arange(40) % 10, x_test=rng.integers(0, 256, (10, 32, 32, 3), dtype=np.uint8),
             y_test=np.arange(10) % 10)
    d = build_data(DataConfig(name="cifar10"))
    assert (len(d.train), len(d.test), d.input_shape) == (40, 10, (3, 32, 32))
    assert d.class_names == CIFAR10_CLASSES         # a copy without names gets the data set's own
    assert d.info["source"] == str(home / "cifar10.npz")


def test_a_prepared_cifar100_copy_keeps_its_superclasses(home):
    y = np.arange(100)
    np.savez(home / "cifar100.npz", x_train=np.zeros((100, 32, 32, 3), np.uint8), y_train=y,
             x_test=np.zeros((5, 32, 32, 3), np.uint8), y_test=y[:5], coarse_train=y % 20)
    d = build_data(DataConfig(name="cifar100"))
    assert d.info["coarse_of_class"] == (y % 20).tolist()


def test_idx_files_in_their_folder_under_the_home_and_in_data_root_itself(home, tmp_path):
    files = _tiny_idx(np.random.default_rng(1))
    for folder in (home / "mnist", tmp_path / "elsewhere"):
        folder.mkdir()
        for name, blob in files.items():
            (folder / name).write_bytes(blob)
    a = build_data(DataConfig(name="mnist"))
    b = build_data(DataConfig(name="mnist", root=str(tmp_path / "elsewhere")))
    assert a.info["source"] == str(home / "mnist") and len(a.train) == 30
    assert np.array_equal(a.train.x.numpy(), b.train.x.numpy())


def test_nothing_there_says_where_it_looked_and_what_to_set(home):
    with pytest.raises(UserError, match=r"no mnist IDX files under .*home.*data.download=true.*SAT_DATA_ROOT"):
        build_data(DataConfig(name="mnist"))


def test_mnist_download_checks_every_md5_and_lands_in_the_home(home, monkeypatch):
    files = _tiny_idx(np.random.default_rng(2))
    served = []

    def urlopen(url, timeout=None):
        served.append(url)
        return io.BytesIO(files[url.rsplit("/", 1)[1]])
    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    base, _ = idx_module.DOWNLOADS["mnist"]
    # the real checksums belong to the real files: our stand-ins fail them, and the error says so
    with pytest.raises(UserError, match="wrong MD5"):
        build_data(DataConfig(name="mnist", download=True))
    monkeypatch.setitem(idx_module.DOWNLOADS, "mnist",
                        (base, {name: hashlib.md5(blob).hexdigest() for name, blob in files.items()}))
    served.clear()
    d = build_data(DataConfig(name="mnist", download=True))
    assert sorted(u.rsplit("/", 1)[1] for u in served) == sorted(files) and all(u.startswith(base) for u in served)
    assert len(d.train) == 30 and (home / "mnist" / "t10k-labels-idx1-ubyte.gz").is_file()
    served.clear()
    build_data(DataConfig(name="mnist", download=True))       # already there: no second download
    assert served == []


def test_offline_download_is_one_line_naming_the_url_and_checksum(home, monkeypatch):
    def offline(*a, **k):
        raise urllib.error.URLError("network is unreachable")
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(UserError, match=r"could not download http.*fashion.*train-images-idx3-ubyte.gz "
                                        r"\(network is unreachable\).*md5 8d4fb7e6c68d591d4c3dfef9ec88bf0d"):
        build_data(DataConfig(name="fashion_mnist", root=str(home), download=True))
    assert not list(home.rglob("*.part"))


def test_dogs_vs_cats_by_name_and_a_pointer_to_kaggle_without_it(home):
    pytest.importorskip("PIL")
    with pytest.raises(UserError, match="kaggle.com/c/dogs-vs-cats"):
        build_data(DataConfig(name="dogs_vs_cats"))
    write_image_folder(home / "dogs-vs-cats")
    d = build_data(DataConfig(name="dogs_vs_cats", image_size=16))
    assert d.class_names == ["cat", "dog"] and len(d.train) == 8 and len(d.test) == 8


def test_image_folder_without_a_root_never_reads_the_working_folder(home):
    with pytest.raises(UserError, match="data.name=image_folder needs data.root"):
        build_data(DataConfig(name="image_folder"))


def test_cli_on_a_missing_named_set_is_one_line_and_exit_2(home, tmp_path):
    r = subprocess.run([sys.executable, "-m", "selfadaptive", "train", "data.name=mnist", "--out",
                        str(tmp_path / "run")], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "data.download=true" in r.stderr, r.stderr
    assert not (tmp_path / "run").exists()
