"""CIFAR-10 / CIFAR-100 in the official python format, with an MD5-checked download.

Layout read from ``root`` (or ``root`` itself being the extracted folder)::

    cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}
    cifar-100-python/{train, test, meta}

The batches are Python-2 pickles of dicts holding a (10000, 3072) uint8 ``data`` array; they are
read with a numpy-only unpickler, never plain ``pickle.load``.
"""
from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np

from ..errors import UserError, first_line
from . import safe_pickle
from .download import fetch

ARCHIVES = {
    "cifar10": ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a",
                "cifar-10-batches-py"),
    "cifar100": ("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85",
                 "cifar-100-python"),
}

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def download_cifar(name: str, root: str | Path, timeout: float = 30.0) -> Path:
    """Fetch and extract the official archive into ``root``, checking its MD5.  Offline: a UserError."""
    url, md5, folder = ARCHIVES[name]
    root = Path(root)
    archive = fetch(url, md5, root / url.rsplit("/", 1)[1], timeout)
    with tarfile.open(archive) as tar:
        tar.extractall(root, filter="data")
    return root / folder


def _batch(path: Path) -> dict:
    if not path.is_file():
        raise UserError(f"CIFAR file missing: {path}")
    try:
        with open(path, "rb") as fh:
            d = safe_pickle.load(fh)
    except Exception as e:  # a damaged or hostile pickle can fail in many ways; all mean "bad file"
        raise UserError(f"{path} is not a readable CIFAR batch: {first_line(e, 160)}") from None
    if not isinstance(d, dict):
        raise UserError(f"{path} is not a CIFAR batch (no dict inside)")
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in d.items()}


def _images(d: dict, path: Path) -> np.ndarray:
    data = np.asarray(d.get("data"))
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise UserError(f"{path}: 'data' must be (N, 3072) uint8, got {data.shape} {data.dtype}")
    return data.reshape(-1, 3, 32, 32)


def _names(values) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def find_folder(name: str, root: str | Path) -> Path | None:
    root = Path(root)
    folder = ARCHIVES[name][2]
    for cand in (root / folder, root):
        marker = "data_batch_1" if name == "cifar10" else "train"
        if (cand / marker).is_file():
            return cand
    return None


def load_cifar(name: str, root: str | Path, download: bool = False) -> dict:
    """Arrays x_train (N, 3, 32, 32) uint8, y_train, x_test, y_test and class names.

    CIFAR-100 also returns ``coarse_train``/``coarse_test`` (super-class labels), which the
    asymmetric noise uses.
    """
    folder = find_folder(name, root)
    if folder is None:
        if not download:
            raise UserError(f"no {ARCHIVES[name][2]} under {root}; set data.root to the folder that holds it, "
                            f"or data.download=true")
        folder = download_cifar(name, root)
    if name == "cifar10":
        parts = [_batch(folder / f"data_batch_{i}") for i in range(1, 6)]
        test = _batch(folder / "test_batch")
        meta_path = folder / "batches.meta"
        names = _names(_batch(meta_path)["label_names"]) if meta_path.is_file() else [str(i) for i in range(10)]
        x_train = np.concatenate([_images(p, folder) for p in parts])
        y_train = np.concatenate([np.asarray(p["labels"], dtype=np.int64) for p in parts])
        out = dict(x_train=x_train, y_train=y_train, x_test=_images(test, folder / "test_batch"),
                   y_test=np.asarray(test["labels"], dtype=np.int64), classes=names)
    else:
        train, test = _batch(folder / "train"), _batch(folder / "test")
        meta_path = folder / "meta"
        names = _names(_batch(meta_path)["fine_label_names"]) if meta_path.is_file() else [str(i) for i in range(100)]
        out = dict(x_train=_images(train, folder / "train"), y_train=np.asarray(train["fine_labels"], dtype=np.int64),
                   x_test=_images(test, folder / "test"), y_test=np.asarray(test["fine_labels"], dtype=np.int64),
                   classes=names, coarse_train=np.asarray(train["coarse_labels"], dtype=np.int64),
                   coarse_test=np.asarray(test["coarse_labels"], dtype=np.int64))
    for k in ("train", "test"):
        if len(out[f"x_{k}"]) != len(out[f"y_{k}"]):
            raise UserError(f"{folder}: {k} images and labels differ in number")
    return out
