"""Readers for the data sources of the core: scikit-learn digits, a generic .npz, and CSV tables.

Each reader returns raw arrays; ``build_data`` in ``__init__`` splits, subsets and checks them.
Every problem with a user's file is raised as one ``UserError`` line naming the file.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import UserError, first_line


def load_digits_arrays() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """scikit-learn's 1,797 8x8 digits (ships offline): x (N, 1, 8, 8) float32 in [0, 1], y (N,)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None]
    return x, d.target.astype(np.int64), [str(c) for c in d.target_names]


def _check_file(path: Path) -> None:
    if not path.exists():
        raise UserError(f"data file not found: {path}")
    if not path.is_file():
        raise UserError(f"data path is not a file: {path}")


def load_npz_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """A .npz with ``x_train``, ``y_train``, ``x_test``, ``y_test`` (no pickles are executed)."""
    path = Path(path)
    _check_file(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in z.files]
            if missing:
                raise UserError(f"{path} lacks array(s) {', '.join(missing)}; it has {', '.join(z.files) or 'none'}")
            return {k: z[k] for k in ("x_train", "y_train", "x_test", "y_test")} | {
                k: z[k] for k in ("classes", "coarse_train") if k in z.files}
    except UserError:
        raise
    except Exception as e:  # a damaged archive can fail in zipfile, zlib or the array header parser
        raise UserError(f"{path} is not a readable .npz file ({type(e).__name__}: {first_line(e)})") from None


def images_to_nchw(x: np.ndarray, where: str) -> np.ndarray:
    """(N, H, W) or (N, H, W, C) images -> (N, C, H, W); (N, D) tables pass through."""
    if x.ndim == 2:
        return x
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4:
        # channels-last is the usual file layout; a small trailing axis says so
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if x.shape[-1] in (1, 3, 4) else x
    raise UserError(f"{where}: inputs must be (N, D), (N, H, W) or (N, H, W, C); got shape {x.shape}")


def read_csv_table(path: str | Path, label_column: str, with_lines: bool = False):
    """A CSV with a header row: numeric feature columns plus ``label_column``; UTF-8 with or without a
    byte-order mark (as Excel saves it).

    Returns features (N, D) float32, raw labels (N,) as strings, and the feature names; with
    ``with_lines`` also each row's line number in the file (the header is line 1).
    """
    path = Path(path)
    _check_file(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except (UnicodeDecodeError, csv.Error) as e:
        raise UserError(f"{path} is not a readable CSV file: {e}") from None
    if not rows or not rows[0]:
        raise UserError(f"{path} is empty")
    header = [h.strip() for h in rows[0]]
    if label_column not in header:
        raise UserError(f"{path} has no label column '{label_column}' (columns: {', '.join(header)}); "
                        f"set data.label_column")
    li = header.index(label_column)
    feat_names = [h for i, h in enumerate(header) if i != li]
    if not feat_names:
        raise UserError(f"{path} has no feature columns besides '{label_column}'")
    numbered = [(i + 1, r) for i, r in enumerate(rows) if i and any(c.strip() for c in r)]
    body = [r for _, r in numbered]
    if not body:
        raise UserError(f"{path} has a header but no data rows")
    feats = np.empty((len(body), len(feat_names)), dtype=np.float32)
    labels = []
    for n, r in enumerate(body, start=2):
        if len(r) != len(header):
            raise UserError(f"{path} line {n}: {len(r)} fields, the header has {len(header)}")
        vals = [c for i, c in enumerate(r) if i != li]
        for j, c in enumerate(vals):
            try:
                feats[n - 2, j] = float(c)
            except ValueError:
                raise UserError(f"{path} line {n}: column '{feat_names[j]}' is not a number: {c!r}") from None
        label = r[li].strip()
        if label == "":
            raise UserError(f"{path} line {n}: empty label")
        labels.append(label)
    if not np.isfinite(feats).all():
        raise UserError(f"{path} holds NaN or infinite feature values")
    if with_lines:
        return feats, labels, feat_names, [line for line, _ in numbered]
    return feats, labels, feat_names


def encode_labels(train: list[str], test: list[str], where: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """String labels -> class ids.  All-integer labels keep their values; others are sorted names."""
    def as_int(s: str):
        try:
            f = float(s)
        except ValueError:
            return None
        return int(f) if f.is_integer() else None
    ints = [as_int(s) for s in train + test]
    if all(v is not None for v in ints):
        if min(ints) < 0:
            raise UserError(f"{where}: labels must be >= 0, found {min(ints)}")
        arr = np.array(ints, dtype=np.int64)
        k = int(arr.max()) + 1
        return arr[:len(train)], arr[len(train):], [str(i) for i in range(k)]
    names = sorted(set(train) | set(test))
    lookup = {s: i for i, s in enumerate(names)}
    return (np.array([lookup[s] for s in train], dtype=np.int64),
            np.array([lookup[s] for s in test], dtype=np.int64), names)
