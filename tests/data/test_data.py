import numpy as np
import pytest
import torch

from selfadaptive.config import DataConfig
from selfadaptive.data import build_data
from selfadaptive.errors import UserError


def test_digits_default_split_is_fixed_and_stratified():
    a, b = build_data(DataConfig()), build_data(DataConfig())
    assert len(a.train) + len(a.test) == 1797 and len(a.test) == 450
    assert torch.equal(a.test.y, b.test.y) and a.num_classes == 10
    assert a.input_shape == (1, 8, 8)
    assert 0.0 <= float(a.train.x.min()) and float(a.train.x.max()) <= 1.0
    assert np.bincount(a.test.y.numpy()).min() >= 40     # every class present in test


def test_test_subset_is_seeded_and_sampled():
    a = build_data(DataConfig(test_subset=100))
    b = build_data(DataConfig(test_subset=100))
    assert len(a.test) == 100 and torch.equal(a.test.y, b.test.y) and len(a.train) == 1347
    assert len(np.unique(a.test.y.numpy())) == 10


def test_items_are_x_y_index():
    d = build_data(DataConfig())
    x, y, i = d.train[5]
    assert x.shape == (1, 8, 8) and int(y) == int(d.train.y[5]) and i == 5


def test_subset_is_sampled_not_sliced_and_val_split(tmp_path):
    # class-sorted file: a slice of the first 100 rows would hold one class only
    x = np.random.default_rng(0).integers(0, 255, (1000, 4, 4, 3), dtype=np.uint8)
    y = np.repeat(np.arange(10), 100)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y, x_test=x[:50], y_test=y[:50])
    d = build_data(DataConfig(name="npz", root=str(tmp_path / "d.npz"), subset=100, val_fraction=0.2))
    assert len(d.train) == 80 and len(d.val) == 20
    assert len(np.unique(d.train.y.numpy())) == 10
    assert d.input_shape == (3, 4, 4) and d.train.x.dtype == torch.uint8
    # source_index points back to the rows of the file
    assert np.array_equal(y[d.train.source_index.numpy()], d.train.y.numpy())
    x0, _, _ = d.train[0]
    assert x0.dtype == torch.float32 and float(x0.max()) <= 1.0


def test_csv_with_string_labels_and_holdout(tmp_path):
    rng = np.random.default_rng(0)
    lines = ["f1,f2,species"] + [f"{rng.normal():.3f},{rng.normal():.3f},{'cat' if i % 2 else 'dog'}" for i in range(40)]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    d = build_data(DataConfig(name="csv", root=str(tmp_path / "t.csv"), label_column="species"))
    assert d.class_names == ["cat", "dog"] and d.input_shape == (2,)
    assert len(d.train) == 30 and len(d.test) == 10
    assert d.mean.shape == (2,)


def test_csv_with_separate_test_file(tmp_path):
    (tmp_path / "a.csv").write_text("x,label\n0.1,0\n0.2,1\n0.3,2\n")
    (tmp_path / "b.csv").write_text("x,label\n0.4,1\n")
    d = build_data(DataConfig(name="csv", root=str(tmp_path / "a.csv"), test_path=str(tmp_path / "b.csv")))
    assert len(d.train) == 3 and len(d.test) == 1 and d.num_classes == 3


@pytest.mark.parametrize("content, needle", [
    ("", "is empty"),
    ("a,b\n1,2\n", "no label column 'label'"),
    ("a,label\n", "no data rows"),
    ("a,label\n1,0\nx,1\n", "line 3: column 'a' is not a number"),
    ("a,label\n1,0\n2\n", "line 3: 1 fields"),
    ("a,label\n1,-1\n2,0\n", "labels must be >= 0"),
])
def test_csv_errors(tmp_path, content, needle):
    (tmp_path / "t.csv").write_text(content)
    with pytest.raises(UserError, match=needle):
        build_data(DataConfig(name="csv", root=str(tmp_path / "t.csv")))


def _npz(path, **arrays):
    base = dict(x_train=np.zeros((4, 3), np.float32), y_train=np.array([0, 1, 0, 1]),
                x_test=np.zeros((2, 3), np.float32), y_test=np.array([0, 1]))
    base.update(arrays)
    np.savez(path, **{k: v for k, v in base.items() if v is not None})
    return str(path)


@pytest.mark.parametrize("arrays, needle", [
    (dict(y_test=None), "lacks array"),
    (dict(y_train=np.array([0, 1, 0])), "x_train has 4 rows but y_train has 3"),
    (dict(x_test=np.zeros((2, 5), np.float32)), "sample shape"),
    (dict(y_train=np.array([0, 1, 0, -2])), "labels must be >= 0"),
    (dict(y_train=np.array([0, 1, 0.5, 1])), "whole numbers"),
    (dict(x_train=np.zeros((0, 3), np.float32), y_train=np.zeros(0, int)), "training set is empty"),
    (dict(y_train=np.zeros((4, 2), int)), "1-d array"),
])
def test_npz_errors(tmp_path, arrays, needle):
    with pytest.raises(UserError, match=needle):
        build_data(DataConfig(name="npz", root=_npz(tmp_path / "d.npz", **arrays)))


def test_labels_out_of_range_for_num_classes(tmp_path):
    root = _npz(tmp_path / "d.npz", y_train=np.array([0, 1, 2, 7]))
    with pytest.raises(UserError, match="label 7 is out of range for data.num_classes=3"):
        build_data(DataConfig(name="npz", root=root, num_classes=3))


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(UserError, match="not found"):
        build_data(DataConfig(name="npz", root=str(tmp_path / "nope.npz")))
    (tmp_path / "bad.npz").write_bytes(b"this is not a zip")
    with pytest.raises(UserError, match="not a readable .npz"):
        build_data(DataConfig(name="npz", root=str(tmp_path / "bad.npz")))


def test_configured_normalisation_constants_replace_computed_ones():
    d = build_data(DataConfig(mean=(0.5,), std=(0.25,)))
    assert d.mean.tolist() == [0.5] and d.std.tolist() == [0.25]
    with pytest.raises(UserError, match="data.mean has 2 values; this data has 1 channels"):
        build_data(DataConfig(mean=(0.5, 0.5), std=(0.25, 0.25)))
