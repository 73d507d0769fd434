"""The same data checks for every source: finite values in range (test set included), labels that
are class numbers (bounded before anything allocates per class), enough samples for the split
asked for, and text files in UTF-8 with or without a byte-order mark.  Each is one line naming
the file and, where there is one, the first bad sample."""
import pickle

import numpy as np
import pytest
from test_cli import assert_one_line_error, sat

from selfadaptive.config import DataConfig
from selfadaptive.data import build_data
from selfadaptive.errors import UserError


def _npz(path, **over):
    rng = np.random.default_rng(0)
    arrays = dict(x_train=rng.random((60, 8)).astype(np.float32), y_train=np.arange(60) % 3,
                  x_test=rng.random((20, 8)).astype(np.float32), y_test=np.arange(20) % 3)
    arrays.update(over)
    np.savez(path, **arrays)
    return str(path)


def _with(a, index, value):
    a = a.copy()
    a[index] = value
    return a


BASE = np.random.default_rng(1).random((60, 8)).astype(np.float32)
IMAGES = np.random.default_rng(2).random((60, 8, 8)).astype(np.float32)


@pytest.mark.parametrize("arrays, message", [
    ({"x_train": _with(BASE, (7, 3), np.nan)}, "training sample 7 holds NaN or infinite values"),
    ({"x_test": _with(BASE[:20], (4, 1), np.inf)}, "test sample 4 holds NaN or infinite values"),
    ({"x_train": _with(BASE, (9, 0), 1e30)}, "training sample 9 has feature values up to 1e+30"),
    ({"x_train": _with(IMAGES, (2, 1, 1), 5e5), "x_test": IMAGES[:20]}, "training sample 2 has pixel values up to 5e+05"),
    ({"y_train": _with(np.arange(60) % 3, 5, 10 ** 9)}, "label 1000000000 (at row 5) is not a class number"),
    ({"y_train": _with(np.arange(60) % 3, 5, 10 ** 12)}, "label 1000000000000 (at row 5) is not a class number"),
    ({"y_test": _with(np.arange(20) % 3, 3, -2)}, "labels must be >= 0, found -2 (at row 3)"),
    ({"y_train": _with(np.arange(60) % 3, 5, 7), "classes": np.array(["a", "b", "c"])},
     "training label 7 (at row 5) is beyond the source's 3 classes"),
])
def test_npz_values_and_labels(tmp_path, arrays, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        build_data(DataConfig(name="npz", root=_npz(tmp_path / "d.npz", **arrays)))


def _cifar(root, bad_label):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(1, 6):
        labels = list(range(10))
        labels[3] = bad_label if i == 2 else labels[3]
        with open(folder / f"data_batch_{i}", "wb") as fh:
            pickle.dump({b"data": rng.integers(0, 256, (10, 3072), dtype=np.uint8), b"labels": labels}, fh, protocol=2)
    with open(folder / "test_batch", "wb") as fh:
        pickle.dump({b"data": rng.integers(0, 256, (10, 3072), dtype=np.uint8), b"labels": list(range(10))}, fh, protocol=2)
    return str(root)


@pytest.mark.parametrize("bad, message", [(99, "training label 99 (at row 13) is beyond the source's 10 classes"),
                                          (-5, "labels must be >= 0, found -5 (at row 13)")])
def test_a_cifar_batch_with_a_stray_label_is_refused_not_trained_as_100_classes(tmp_path, bad, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_data(DataConfig(name="cifar10", root=_cifar(tmp_path, bad)))


def test_too_few_samples_for_the_classes_or_the_split(tmp_path):
    (tmp_path / "two.csv").write_text("a,b,label\n1,2,x\n3,4,y\n")
    with pytest.raises(UserError, match=r"1 training sample\(s\); need at least 2"):
        build_data(DataConfig(name="csv", root=str(tmp_path / "two.csv")))
    with pytest.raises(UserError, match=r"data.val_fraction=0.999 leaves 1 training samples for 10 classes"):
        build_data(DataConfig(val_fraction=0.999))


def test_label_file_rows_and_labels_are_checked_before_numpy_sees_them(tmp_path):
    (tmp_path / "l.csv").write_text("source_index,label\n99999999999999999999999,1\n")
    with pytest.raises(UserError, match="line 2: source row 99999999999999999999999 is outside"):
        build_data(DataConfig(labels=str(tmp_path / "l.csv")))
    (tmp_path / "m.csv").write_text("\ufeffsource_index,label\n3,99999999999999999999\n")     # Excel's BOM too
    with pytest.raises(UserError, match="line 2: label 99999999999999999999 is out of range for 10 classes"):
        build_data(DataConfig(labels=str(tmp_path / "m.csv")))


def test_a_config_that_is_not_utf8_is_one_line(tmp_path):
    (tmp_path / "c.yaml").write_bytes("optim: {lr: 0.1}\n# caf\xe9\n".encode("latin-1"))
    assert_one_line_error(sat("train", "--config", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "run")),
                          "is not UTF-8 text")
    (tmp_path / "bom.yaml").write_bytes("\ufeffoptim: {epochs: 1}\nlog: {progress: false}\n".encode("utf-8"))
    r = sat("train", "--config", str(tmp_path / "bom.yaml"), "--out", str(tmp_path / "ok"), "--quiet")
    assert r.returncode == 0, r.stderr


def test_nan_pixels_name_the_sample_not_the_learning_rate(tmp_path):
    """NaN inputs used to end in "loss became nan ... try a lower optim.lr": the wrong cause."""
    path = _npz(tmp_path / "d.npz", x_train=_with(BASE, (11, 2), np.nan))
    r = sat("train", "data.name=npz", f"data.root={path}", "--out", str(tmp_path / "run"))
    assert_one_line_error(r, "training sample 11 holds NaN")
    assert not (tmp_path / "run").exists()
