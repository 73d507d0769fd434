"""MNIST-style IDX files (MNIST, Fashion-MNIST), raw or gzipped, from one folder.

Debian's ``dataset-fashion-mnist`` package installs them in ``/usr/share/datasets/fashion-mnist``.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ..errors import UserError

FILES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
         "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]
DEFAULT_ROOTS = {"fashion_mnist": "/usr/share/datasets/fashion-mnist", "mnist": "/usr/share/datasets/mnist"}


def read_idx(path: Path) -> np.ndarray:
    """One IDX file of unsigned bytes: magic 0x0000 08 NDIM, NDIM big-endian sizes, then the data."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as e:
        raise UserError(f"{path} is not readable: {e}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise UserError(f"{path} is not an unsigned-byte IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise UserError(f"{path} is truncated (header)")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(dims))
    if len(raw) - header != expected:
        raise UserError(f"{path} holds {len(raw) - header} bytes of data, its header promises {expected}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()   # writable for torch


def find_file(root: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (root / name).is_file():
            return root / name
    raise UserError(f"{root} has no {stem}[.gz]")


def load_idx_folder(root: str | Path) -> dict[str, np.ndarray]:
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"IDX data folder not found: {root}")
    out = {key: read_idx(find_file(root, stem)) for key, stem in FILES.items()}
    for k in ("train", "test"):
        if out[f"x_{k}"].ndim != 3 or out[f"y_{k}"].ndim != 1 or len(out[f"x_{k}"]) != len(out[f"y_{k}"]):
            raise UserError(f"{root}: {k} images {out[f'x_{k}'].shape} and labels {out[f'y_{k}'].shape} do not match")
    return out
