"""MNIST-style IDX files (MNIST, Fashion-MNIST), raw or gzipped, from one folder, with an
MD5-checked download of the official files.

Debian's ``dataset-fashion-mnist`` package installs them in ``/usr/share/datasets/fashion-mnist``.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ..errors import UserError
from .download import fetch

FILES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
         "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]
#: where the IDX files sit under a data home, as the download writes them
FOLDERS = {"mnist": "mnist", "fashion_mnist": "fashion-mnist"}
#: system-wide copies, tried when ``data.root`` is not set and the data home has none
SYSTEM_ROOTS = {"fashion_mnist": "/usr/share/datasets/fashion-mnist", "mnist": "/usr/share/datasets/mnist"}
#: the official gzipped files and their MD5 checksums (the ones torchvision checks)
DOWNLOADS = {
    "mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/", {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"}),
    "fashion_mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"}),
}


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


def holds_idx(folder: Path) -> bool:
    """Whether ``folder`` holds the four IDX files (raw or gzipped)."""
    try:
        for stem in FILES.values():
            find_file(folder, stem)
    except UserError:
        return False
    return True


def find_idx_folder(name: str, root: Path, explicit: bool, download: bool) -> Path:
    """The folder with ``name``'s IDX files: ``root`` itself, ``root/<FOLDERS[name]>``, the system copy
    (only when ``data.root`` was not given), or a fresh MD5-checked download into ``root/<folder>``."""
    candidates = [root, root / FOLDERS[name]] + ([] if explicit else [Path(SYSTEM_ROOTS[name])])
    for folder in candidates:
        if folder.is_dir() and holds_idx(folder):
            return folder
    if not download:
        raise UserError(f"no {name} IDX files under {root} (looked in {', '.join(str(c) for c in candidates)}); "
                        f"set data.download=true, or data.root (or $SAT_DATA_ROOT) to a folder that holds them "
                        f"or a prepared {name}.npz")
    url, files = DOWNLOADS[name]
    target = root / FOLDERS[name]
    for filename, md5 in files.items():
        fetch(url + filename, md5, target / filename)
    return target
