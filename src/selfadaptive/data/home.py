"""Where named data sets live on disk, so that presets name data sets and never paths.

``data.root`` empty means the *data home*: the folder in the environment variable
``SAT_DATA_ROOT``, else ``./data``.  Under it each named data set is found in one of two forms:

- its official files, as the download writes them (``cifar-10-batches-py/``, ``mnist/`` with
  the four IDX files, ``fashion-mnist/``, ``svhn/``, ``stl10_binary/``);
- a *prepared copy*: ``<name>.npz`` (``mnist.npz``, ``fashion_mnist.npz``, ``cifar10.npz``, ...)
  holding uint8 arrays ``x_train``, ``y_train``, ``x_test``, ``y_test``, images as (N, H, W) or
  (N, H, W, C).  Keras' ``mnist.npz`` has this layout; so does any copy a lab keeps offline.

A machine without internet points ``SAT_DATA_ROOT`` at a folder of such files (CI does, with
links to its local copies); a user with internet sets ``data.download=true``.
"""
from __future__ import annotations

import os
from pathlib import Path

ENV = "SAT_DATA_ROOT"

#: data sets that a prepared ``<name>.npz`` can stand in for
PREPARED = ("mnist", "fashion_mnist", "cifar10", "cifar100", "svhn", "stl10")


def data_home() -> Path:
    """``$SAT_DATA_ROOT``, else ``./data`` (relative to the working directory)."""
    return Path(os.environ.get(ENV) or "data")


def source_root(root: str) -> Path:
    """The folder a named source reads: ``data.root`` when given, else the data home."""
    return Path(root) if root else data_home()


def prepared_copy(name: str, root: Path) -> Path | None:
    """``root/<name>.npz`` when it exists (``name`` one of PREPARED), else None."""
    path = root / f"{name}.npz"
    return path if name in PREPARED and path.is_file() else None
