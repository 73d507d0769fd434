"""Data sources.  ``build_data(cfg.data)`` returns a checked, split ``DataBundle``.

Every dataset yields ``(x, y, index)``.  Sources: ``digits`` (scikit-learn, the built-in
default), ``npz`` (``x_train``/``y_train``/``x_test``/``y_test``), ``csv`` (feature columns plus
a named label column), the IDX, CIFAR, SVHN and STL-10 files, and image folders.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from .base import ArrayDataset, DataBundle, batches, input_stats, to_float
from .cifar import CIFAR10_CLASSES, load_cifar
from .home import PREPARED, prepared_copy, source_root
from .idx import FASHION_CLASSES, find_idx_folder, load_idx_folder
from .image_folder import dogs_vs_cats_root, load_image_folder
from .labels import read_label_file
from .sources import encode_labels, images_to_nchw, load_digits_arrays, load_npz_arrays, read_csv_table
from .stl10 import CLASSES as STL10_CLASSES
from .stl10 import load_stl10
from .streaming import ImageFiles, read_batches, take_rows
from .svhn import CLASSES as SVHN_CLASSES
from .svhn import load_svhn

#: class names of the named data sets, for prepared copies that carry none
KNOWN_CLASSES = {"mnist": [str(i) for i in range(10)], "fashion_mnist": FASHION_CLASSES, "cifar10": CIFAR10_CLASSES,
                 "svhn": SVHN_CLASSES, "stl10": STL10_CLASSES}


def _check_labels(y: np.ndarray, where: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise UserError(f"{where}: labels must be a 1-d array, got shape {y.shape}")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise UserError(f"{where}: labels must be whole numbers")
    elif y.dtype.kind not in "iu":
        raise UserError(f"{where}: labels must be integers, got dtype {y.dtype}")
    if y.size and y.min() < 0:
        raise UserError(f"{where}: labels must be >= 0, found {int(y.min())} (at row {int(np.argmin(y))})")
    if y.size and y.max() >= MAX_CLASSES:   # before anything allocates one slot per class
        raise UserError(f"{where}: label {int(y.max())} (at row {int(np.argmax(y))}) is not a class number; labels "
                        f"must be 0..K-1 with K at most {MAX_CLASSES:,}")
    return y.astype(np.int64)


#: labels at or above this are a broken file, not a class (data.num_classes has the same bound)
MAX_CLASSES = 1_000_000
#: float images beyond this magnitude are not pixels (0..1, 0..255 or normalised values)
MAX_PIXEL = 1e4
#: float table features beyond this overflow the float32 statistics used to normalise them
MAX_FEATURE = 1e15


def _check_inputs(x, where: str, split: str) -> None:
    """Finite values in range, with the first bad sample named; uint8 images are fine by their dtype."""
    if isinstance(x, ImageFiles) or x.dtype.kind not in "f" or x.size == 0:
        return
    flat = x.reshape(len(x), -1)
    bad = ~np.isfinite(flat).all(axis=1)
    if bad.any():
        raise UserError(f"{where}: {split} sample {int(np.argmax(bad))} holds NaN or infinite values "
                        f"({int(bad.sum())} such samples)")
    limit, what = (MAX_PIXEL, "pixel values") if x.ndim >= 3 else (MAX_FEATURE, "feature values")
    big = (np.abs(flat) > limit).any(axis=1)
    if big.any():
        i = int(np.argmax(big))
        raise UserError(f"{where}: {split} sample {i} has {what} up to {float(np.abs(flat[i]).max()):.3g}, beyond "
                        f"{limit:g}; scale the data (images: 0..1 or 0..255)")


def _split(n: int, fraction: float, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (stratified where every class has 2+ samples) split of range(n): (kept, held_out)."""
    counts = np.bincount(y)
    stratify = y if counts[counts > 0].min() >= 2 and round(fraction * n) >= (counts > 0).sum() else None
    from sklearn.model_selection import train_test_split  # here: scikit-learn takes seconds to import
    kept, held = train_test_split(np.arange(n), test_size=fraction, random_state=seed, stratify=stratify)
    return np.sort(kept), np.sort(held)


def _npz_source(path: str):
    """x_train, y_train, x_test, y_test, class names (or None) and the coarse class of each fine class
    (or None) from a .npz of arrays; images come out (N, C, H, W)."""
    arrays = load_npz_arrays(path)
    x_tr, x_te = (images_to_nchw(arrays[k], f"{path} {k}") for k in ("x_train", "x_test"))
    y_tr = _check_labels(arrays["y_train"], f"{path} y_train")
    y_te = _check_labels(arrays["y_test"], f"{path} y_test")
    names = [str(c) for c in arrays["classes"]] if "classes" in arrays else None
    if x_tr.shape[1:] != x_te.shape[1:]:
        raise UserError(f"{path}: x_train has sample shape {x_tr.shape[1:]} but x_test has {x_te.shape[1:]}")
    for k, xx, yy in (("train", x_tr, y_tr), ("test", x_te, y_te)):
        if len(xx) != len(yy):
            raise UserError(f"{path}: x_{k} has {len(xx)} rows but y_{k} has {len(yy)}")
    coarse = None
    if "coarse_train" in arrays:        # CIFAR-100's super-classes, for the asymmetric noise
        coarse_train = _check_labels(arrays["coarse_train"], f"{path} coarse_train")
        if len(coarse_train) != len(y_tr):
            raise UserError(f"{path}: coarse_train has {len(coarse_train)} rows but y_train has {len(y_tr)}")
        table = np.zeros(int(y_tr.max()) + 1, dtype=np.int64)
        table[y_tr] = coarse_train
        coarse = table.tolist()
    return x_tr, y_tr, x_te, y_te, names, coarse


def _to_tensor(x: np.ndarray) -> torch.Tensor:
    if isinstance(x, ImageFiles):       # streamed: stays on disk
        return x
    if x.dtype == np.uint8:
        return torch.from_numpy(np.ascontiguousarray(x))
    if x.dtype.kind not in "fiu":
        raise UserError(f"inputs must be numeric, got dtype {x.dtype}")
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def build_data(cfg) -> DataBundle:
    """Read the source named by ``cfg.name`` (a ``DataConfig``), then subset / split and check it."""
    info = {}
    unlabeled = None        # stl10 with data.unlabeled: images without labels, for pretraining
    train_rows = None       # file rows of the training samples, when the file also holds the test set
    if cfg.name == "digits":
        x, y, names = load_digits_arrays()
        train_rows, test_rows = _split(len(y), cfg.test_fraction, y, cfg.split_seed)
        x_tr, y_tr, x_te, y_te = x[train_rows], y[train_rows], x[test_rows], y[test_rows]
        where = "digits"
    elif cfg.name == "npz":
        where = cfg.root
        x_tr, y_tr, x_te, y_te, names, coarse = _npz_source(where)
        if coarse is not None:
            info["coarse_of_class"] = coarse
    elif cfg.name in PREPARED and (prepared := prepared_copy(cfg.name, source_root(cfg.root))) is not None:
        if cfg.name == "stl10" and cfg.unlabeled:
            raise UserError(f"{prepared} is a prepared copy without STL-10's unlabeled images; data.unlabeled=true "
                            f"needs the official stl10_binary folder")
        where = str(prepared)
        x_tr, y_tr, x_te, y_te, names, coarse = _npz_source(where)
        names = names or KNOWN_CLASSES.get(cfg.name)
        if coarse is not None:
            info["coarse_of_class"] = coarse
    elif cfg.name in ("mnist", "fashion_mnist"):
        where = str(find_idx_folder(cfg.name, source_root(cfg.root), explicit=bool(cfg.root), download=cfg.download))
        arrays = load_idx_folder(where)
        x_tr, x_te = arrays["x_train"][:, None], arrays["x_test"][:, None]
        y_tr, y_te = arrays["y_train"].astype(np.int64), arrays["y_test"].astype(np.int64)
        names = KNOWN_CLASSES[cfg.name]
    elif cfg.name in ("cifar10", "cifar100"):
        where = source_root(cfg.root)
        arrays = load_cifar(cfg.name, where, cfg.download)
        x_tr, y_tr, x_te, y_te, names = (arrays[k] for k in ("x_train", "y_train", "x_test", "y_test", "classes"))
        if cfg.name == "cifar100":
            coarse = np.zeros(100, dtype=np.int64)
            coarse[y_tr] = arrays["coarse_train"]
            info["coarse_of_class"] = coarse.tolist()
    elif cfg.name == "svhn":
        where = source_root(cfg.root)
        arrays = load_svhn(where, cfg.download)
        x_tr, y_tr, x_te, y_te, names = (arrays[k] for k in ("x_train", "y_train", "x_test", "y_test", "classes"))
    elif cfg.name == "stl10":
        where = source_root(cfg.root)
        arrays = load_stl10(where, cfg.download, unlabeled=cfg.unlabeled)
        x_tr, y_tr, x_te, y_te, names = (arrays[k] for k in ("x_train", "y_train", "x_test", "y_test", "classes"))
        if cfg.unlabeled:
            unlabeled = torch.from_numpy(arrays["x_unlabeled"])
    elif cfg.name in ("image_folder", "dogs_vs_cats"):
        where = cfg.root if cfg.name == "image_folder" else str(dogs_vs_cats_root(source_root(cfg.root)))
        if not where:
            raise UserError("data.name=image_folder needs data.root: the folder of class folders (or of train/ and test/)")
        arrays = load_image_folder(where, cfg.image_size, stream=cfg.stream, workers=cfg.workers)
        names = arrays["classes"]
        info["source_paths"] = arrays["paths"]
        if "x_test" in arrays:
            x_tr, y_tr, x_te, y_te = arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"]
        else:
            y_all = arrays["y_train"]
            train_rows, test_rows = _split(len(y_all), cfg.test_fraction, y_all, cfg.split_seed)
            x_tr, x_te = take_rows(arrays["x_train"], train_rows), take_rows(arrays["x_train"], test_rows)
            y_tr, y_te = y_all[train_rows], y_all[test_rows]
    elif cfg.name == "csv":
        where = cfg.root
        x_tr, raw_tr, _, lines = read_csv_table(cfg.root, cfg.label_column, with_lines=True)
        info["source_paths"] = [f"{Path(cfg.root).name}:{line}" for line in lines]
        if cfg.test_path:
            x_te, raw_te, feat_te = read_csv_table(cfg.test_path, cfg.label_column)
            if x_te.shape[1] != x_tr.shape[1]:
                raise UserError(f"{cfg.test_path} has {x_te.shape[1]} feature columns, {cfg.root} has {x_tr.shape[1]}")
            y_tr, y_te, names = encode_labels(raw_tr, raw_te, where)
        else:
            y_all, _, names = encode_labels(raw_tr, [], where)
            train_rows, test_rows = _split(len(y_all), cfg.test_fraction, y_all, cfg.split_seed)
            x_tr, x_te, y_tr, y_te = x_tr[train_rows], x_tr[test_rows], y_all[train_rows], y_all[test_rows]
    else:
        raise UserError(f"unknown data.name {cfg.name!r}")

    if len(y_tr) == 0:
        raise UserError(f"{where}: the training set is empty")
    if len(y_te) == 0:
        raise UserError(f"{where}: the test set is empty")
    y_tr, y_te = _check_labels(y_tr, f"{where} training labels"), _check_labels(y_te, f"{where} test labels")
    _check_inputs(x_tr, where, "training")
    _check_inputs(x_te, where, "test")
    k_seen = int(max(y_tr.max(), y_te.max())) + 1
    if names and k_seen > len(names) and not cfg.num_classes:
        split, y = ("training", y_tr) if y_tr.max() + 1 == k_seen else ("test", y_te)
        raise UserError(f"{where}: {split} label {k_seen - 1} (at row {int(np.argmax(y))}) is beyond the source's "
                        f"{len(names)} classes ({', '.join(map(str, names[:5]))}{', ...' if len(names) > 5 else ''})")
    # a known class list fixes K even when a subset misses some classes
    num_classes = cfg.num_classes or (len(names) if names else k_seen)
    if k_seen > num_classes:
        raise UserError(f"{where}: label {k_seen - 1} is out of range for data.num_classes={num_classes}")
    if num_classes < 2:
        raise UserError(f"{where}: need at least 2 classes, found {num_classes}")
    names = names if names and len(names) == num_classes else [str(i) for i in range(num_classes)]

    source_rows = len(y_tr) if train_rows is None else len(train_rows) + len(test_rows)
    train = ArrayDataset(_to_tensor(x_tr), torch.from_numpy(y_tr),
                         None if train_rows is None else torch.from_numpy(train_rows))
    split_y = y_tr         # splits follow the file's labels, so a relabelled run trains on the same rows
    relabel = lambda path: _label_file(path, train, names, source_rows)   # noqa: E731
    if cfg.labels:
        train = train.with_labels(relabel(cfg.labels))
        info["labels_file"] = cfg.labels
    clean = relabel(cfg.clean_labels) if cfg.clean_labels else None
    if cfg.subset:
        if cfg.subset > len(train):
            raise UserError(f"data.subset={cfg.subset} exceeds the {len(train)} training samples")
        # a seeded sample, never a slice: files sorted by class would give a few classes only
        rows = np.sort(np.random.default_rng(cfg.split_seed).choice(len(train), cfg.subset, replace=False))
        train, split_y = train.take(rows), split_y[rows]
        clean = None if clean is None else clean[rows]
    held = cfg.val_size or round(cfg.val_fraction * len(train))
    if held and len(train) - held < num_classes:
        raise UserError(f"{where}: data.val_{'size' if cfg.val_size else 'fraction'}={cfg.val_size or cfg.val_fraction} "
                        f"leaves {len(train) - held} training samples for {num_classes} classes; hold out fewer")
    if len(train) - held < 2:       # one sample has no spread to normalise by: the loss would be NaN
        raise UserError(f"{where}: {len(train) - held} training sample(s); need at least 2")
    val = None
    if cfg.val_size:
        if cfg.val_size >= len(train):
            raise UserError(f"data.val_size={cfg.val_size} leaves no training samples (of {len(train)})")
        kept, held = np.arange(len(train) - cfg.val_size), np.arange(len(train) - cfg.val_size, len(train))
    elif cfg.val_fraction > 0:
        kept, held = _split(len(train), cfg.val_fraction, split_y, cfg.split_seed + 1)
    if cfg.val_size or cfg.val_fraction > 0:
        train, val = train.take(kept), train.take(held)
        clean = None if clean is None else clean[kept]
    if cfg.mean:
        channels = train.x.shape[1]         # (N, C, H, W) images or (N, D) tables
        if len(cfg.mean) != channels:
            raise UserError(f"data.mean has {len(cfg.mean)} values; this data has {channels} channels/features")
        mean, std = torch.tensor(cfg.mean, dtype=torch.float32), torch.tensor(cfg.std, dtype=torch.float32)
    else:
        mean, std = input_stats(train.x)
    # a test split carved from the training file keeps its file rows (held-out samples can be named)
    test = ArrayDataset(_to_tensor(x_te), torch.from_numpy(y_te),
                        None if train_rows is None else torch.from_numpy(test_rows))
    if cfg.test_subset and cfg.test_subset < len(test):
        test = test.take(np.sort(np.random.default_rng(cfg.split_seed + 2).choice(len(test), cfg.test_subset, replace=False)))
    return DataBundle(train=train, test=test, val=val,
                      num_classes=num_classes, class_names=names, mean=mean, std=std,
                      info={"source": str(where), "source_rows": source_rows, "test_from_source": train_rows is not None,
                            **info}, train_clean_labels=clean,
                      unlabeled=unlabeled)


def _label_file(path: str, train: ArrayDataset, names: list[str], source_rows: int) -> np.ndarray:
    """The training labels (N,) with the rows listed in label file ``path`` replaced."""
    rows, labels, complete = read_label_file(path, names, source_rows)
    position = np.full(source_rows, -1, dtype=np.int64)
    src = train.source_index.numpy()
    position[src] = np.arange(len(src))
    at = position[rows]
    if complete:
        rows, labels, at = rows[at >= 0], labels[at >= 0], at[at >= 0]
    if (at < 0).any():
        raise UserError(f"{path}: source row {int(rows[at < 0][0])} is not a training sample (it is in the test split)")
    out = train.y.numpy().copy()
    out[at] = labels
    return out


__all__ = ["ArrayDataset", "DataBundle", "ImageFiles", "build_data", "batches", "to_float", "input_stats",
           "read_batches", "take_rows"]
