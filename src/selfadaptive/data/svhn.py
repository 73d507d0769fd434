"""SVHN (Street View House Numbers) from the official ``train_32x32.mat`` / ``test_32x32.mat``.

The files hold ``X`` (32, 32, 3, N) uint8 and ``y`` (N, 1) with digits 1-9 as 1-9 and the digit
0 as 10; labels are mapped to the digit itself (10 -> 0).  Read with scipy (MATLAB v5 format, no
pickles); ``data.download=true`` fetches them from the official site with an MD5 check.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UserError, first_line
from .download import fetch

URL = "http://ufldl.stanford.edu/housenumbers/"
FILES = {"train": ("train_32x32.mat", "e26dedcc434d2e4c54c9b2d4a06d8373"),
         "test": ("test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3")}
CLASSES = [str(i) for i in range(10)]


def read_svhn_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 3, 32, 32) uint8, labels (N,) int64 in 0..9) from one .mat file."""
    from scipy.io import loadmat

    try:
        mat = loadmat(path)
    except Exception as e:
        raise UserError(f"{path} is not a readable SVHN .mat file ({type(e).__name__}: {first_line(e, 100)})") from None
    x, y = mat.get("X"), mat.get("y")
    if x is None or y is None:
        raise UserError(f"{path}: expected arrays 'X' and 'y'")
    x, y = np.asarray(x), np.asarray(y).reshape(-1)
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.shape[3] != y.shape[0]:
        raise UserError(f"{path}: 'X' must be (32, 32, 3, N) for N labels, got {x.shape} and {y.shape[0]} labels")
    y = y.astype(np.int64)
    if y.size and (y.min() < 1 or y.max() > 10):
        raise UserError(f"{path}: SVHN labels must be 1-10, found {int(y.min())}..{int(y.max())}")
    return np.ascontiguousarray(x.transpose(3, 2, 0, 1).astype(np.uint8)), y % 10


def load_svhn(root: str | Path, download: bool = False) -> dict:
    """The .mat files in ``root`` itself or in ``root/svhn`` (where the download puts them)."""
    root = Path(root)
    out = {"classes": CLASSES}
    for split, (name, md5) in FILES.items():
        path = next((p for p in (root / name, root / "svhn" / name) if p.is_file()), root / "svhn" / name)
        if not path.is_file():
            if not download:
                raise UserError(f"no {name} under {root} or {root / 'svhn'}; set data.root to the folder that "
                                f"holds it, or data.download=true")
            fetch(URL + name, md5, path)
        out[f"x_{split}"], out[f"y_{split}"] = read_svhn_mat(path)
    return out
