"""Images in class folders (Dogs vs Cats and any other photo collection)::

    root/train/<class>/*.{png,jpg,jpeg,bmp}
    root/test/<class>/*...          (optional; without it, data.test_fraction is held out)

Class names are the sorted folder names of ``train``.  Every image is converted to RGB and
resized to ``image_size`` x ``image_size`` (bilinear): once, at load time, into one uint8 array, or
with ``stream=True`` batch by batch in DataLoader workers (``streaming.ImageFiles``), for
collections that do not fit in memory.
Needs Pillow (``pip install 'selfadaptive[images]'``).  Kaggle's Dogs vs Cats ``train`` folder
(``cat.0.jpg``, ``dog.0.jpg``, ...) is accepted as is: with no class folders, the class is the
file name up to the first dot.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UserError
from .streaming import ImageFiles, decode_image

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}


def _listing(folder: Path) -> list[tuple[Path, str]]:
    subdirs = sorted(p for p in folder.iterdir() if p.is_dir())
    if subdirs:
        return [(f, d.name) for d in subdirs for f in sorted(d.iterdir()) if f.suffix.lower() in EXTENSIONS]
    return [(f, f.name.split(".", 1)[0]) for f in sorted(folder.iterdir()) if f.suffix.lower() in EXTENSIONS]


def _read(files: list[tuple[Path, str]], size: int, stream: bool, workers: int):
    if stream:
        return ImageFiles([path for path, _ in files], size, workers)
    out = np.empty((len(files), 3, size, size), dtype=np.uint8)
    for i, (path, _) in enumerate(files):
        out[i] = decode_image(path, size)
    return out


def load_image_folder(root: str | Path, image_size: int = 64, stream: bool = False, workers: int = 0) -> dict:
    """x_train (N, 3, S, S) uint8, y_train, classes, and x_test/y_test when ``root/test`` exists.

    With ``stream`` the x arrays are ``ImageFiles`` read later by ``workers`` processes; one file is
    decoded now, so that a folder of unreadable files fails at once.
    """
    root = Path(root)
    train_dir = root / "train" if (root / "train").is_dir() else root
    if not train_dir.is_dir():
        raise UserError(f"image folder not found: {root}")
    train = _listing(train_dir)
    if not train:
        raise UserError(f"{train_dir} holds no images ({', '.join(sorted(EXTENSIONS))})")
    classes = sorted({c for _, c in train})
    if len(classes) < 2:
        raise UserError(f"{train_dir}: found one class ({classes[0]}); need class folders or class-prefixed names")
    index = {c: i for i, c in enumerate(classes)}
    out = {"classes": classes, "x_train": _read(train, image_size, stream, workers),
           "y_train": np.array([index[c] for _, c in train], dtype=np.int64),
           "paths": [path.relative_to(root).as_posix() for path, _ in train]}     # for label_issues.csv
    test_dir = root / "test"
    if test_dir.is_dir() and train_dir != root:
        test = _listing(test_dir)
        unknown = sorted({c for _, c in test} - set(classes))
        if unknown:
            raise UserError(f"{test_dir}: classes {', '.join(unknown[:5])} do not occur in {train_dir}")
        if test:
            out["x_test"] = _read(test, image_size, stream, workers)
            out["y_test"] = np.array([index[c] for _, c in test], dtype=np.int64)
    if stream:
        decode_image(train[0][0], image_size)
    return out


DOGS_VS_CATS = "https://www.kaggle.com/c/dogs-vs-cats/data"


def dogs_vs_cats_root(home: Path) -> Path:
    """Kaggle's Dogs vs Cats (``data.name=dogs_vs_cats``): ``home/dogs-vs-cats``, or ``home`` itself when
    it holds ``train/``.  Kaggle needs a login, so there is no download: the error says what to fetch."""
    for folder in (home / "dogs-vs-cats", home):
        if (folder / "train").is_dir():
            return folder
    raise UserError(f"no dogs-vs-cats/train under {home}: download train.zip from {DOGS_VS_CATS} (a Kaggle login), "
                    f"unzip it into {home / 'dogs-vs-cats'}, or set data.root to the folder that holds train/")
