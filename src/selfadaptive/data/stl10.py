"""STL-10 in the official binary format (``stl10_binary``), with an MD5-checked download.

``root/stl10_binary/`` (or ``root`` itself) holds ``train_X.bin`` / ``train_y.bin`` (5,000
labelled), ``test_X.bin`` / ``test_y.bin`` (8,000) and ``unlabeled_X.bin`` (100,000), each image
96x96x3 uint8 stored column-major, labels 1..10 as uint8; ``class_names.txt`` names the classes.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UserError
from .download import fetch

URL = "http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz"
MD5 = "91f7769df0f17e558f3565bffb0c7dfb"
CLASSES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]
SIDE = 96


def read_images(path: Path) -> np.ndarray:
    """(N, 3, 96, 96) uint8 from an STL-10 ``*_X.bin`` (each image stored channel by channel, column-major)."""
    raw = np.fromfile(path, dtype=np.uint8)
    per_image = 3 * SIDE * SIDE
    if raw.size == 0 or raw.size % per_image:
        raise UserError(f"{path}: {raw.size} bytes is not a whole number of 96x96x3 images")
    return np.ascontiguousarray(raw.reshape(-1, 3, SIDE, SIDE).transpose(0, 1, 3, 2))


def read_labels(path: Path, count: int) -> np.ndarray:
    y = np.fromfile(path, dtype=np.uint8).astype(np.int64) - 1
    if y.size != count:
        raise UserError(f"{path}: {y.size} labels for {count} images")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise UserError(f"{path}: labels must be 1..10, found {int(y.min()) + 1}..{int(y.max()) + 1}")
    return y


def find_folder(root: Path) -> Path | None:
    for cand in (root / "stl10_binary", root):
        if (cand / "train_X.bin").is_file():
            return cand
    return None


def download_stl10(root: Path, timeout: float = 30.0) -> Path:
    import tarfile
    archive = fetch(URL, MD5, root / "stl10_binary.tar.gz", timeout)
    with tarfile.open(archive) as tar:
        tar.extractall(root, filter="data")
    return root / "stl10_binary"


def load_stl10(root: str | Path, download: bool = False, unlabeled: bool = False) -> dict:
    """x_train (5000, 3, 96, 96) uint8, y_train, x_test, y_test, classes; with ``unlabeled`` also
    x_unlabeled (100000, 3, 96, 96), for self-supervised pretraining."""
    root = Path(root)
    folder = find_folder(root)
    if folder is None and download:
        folder = download_stl10(root)
    if folder is None:
        raise UserError(f"STL-10 not found under {root} (expected stl10_binary/train_X.bin); "
                        f"set data.download=true or fetch {URL} (md5 {MD5})")
    out = {"classes": CLASSES}
    names = folder / "class_names.txt"
    if names.is_file():
        out["classes"] = [line.strip() for line in names.read_text().splitlines() if line.strip()]
    for split in ("train", "test"):
        x_path, y_path = folder / f"{split}_X.bin", folder / f"{split}_y.bin"
        if not x_path.is_file() or not y_path.is_file():
            raise UserError(f"{folder} lacks {x_path.name} or {y_path.name}")
        out[f"x_{split}"] = read_images(x_path)
        out[f"y_{split}"] = read_labels(y_path, len(out[f"x_{split}"]))
    if unlabeled:
        path = folder / "unlabeled_X.bin"
        if not path.is_file():
            raise UserError(f"{folder} lacks unlabeled_X.bin (needed by data.unlabeled=true)")
        out["x_unlabeled"] = read_images(path)
    return out
