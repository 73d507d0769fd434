"""Label files: corrected labels (``data.labels``), known true labels (``data.clean_labels``) and the
human-annotated CIFAR-10N / CIFAR-100N label sets (``noise.kind=cifar10n|cifar100n``).

All of them address training samples by *source row*: the sample's row in the file it was read
from (``ArrayDataset.source_index``), so a file stays valid whatever subset or validation split a
run takes.
"""
from __future__ import annotations

import csv
import io
import pickle
import zipfile
from pathlib import Path

import numpy as np

from ..errors import UserError, first_line
from . import safe_pickle

#: CIFAR-N label sets: short name -> key in the published file
CIFAR_N_SETS = {
    "cifar10n": {"aggre": "aggre_label", "worse": "worse_label", "random1": "random_label1",
                 "random2": "random_label2", "random3": "random_label3", "clean": "clean_label"},
    "cifar100n": {"noisy": "noisy_label", "clean": "clean_label"},
}
CIFAR_N_FILES = {"cifar10n": "CIFAR-10_human.pt", "cifar100n": "CIFAR-100_human.pt"}
CIFAR_N_DEFAULT_SET = {"cifar10n": "worse", "cifar100n": "noisy"}


def read_label_file(path: str | Path, class_names: list[str], num_rows: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Read (source rows, label ids, whether the file covers every row) from a label file.

    * ``.csv`` with a header holding ``source_index`` (or ``index``) and ``label``; other columns
      are ignored.  A label is a class name (matched first) or a class id.  Only the listed rows
      are changed.
    * ``.npy`` (or ``.npz`` with one array): one integer label per source row, ``num_rows`` long
      (rows outside the training set, e.g. a held-out test split of the same file, are ignored).
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"label file not found: {path}")
    k = len(class_names)
    if path.suffix in (".npy", ".npz"):
        try:
            arr = np.load(path, allow_pickle=False)
            if isinstance(arr, np.lib.npyio.NpzFile):
                with arr:
                    if len(arr.files) != 1:
                        raise UserError(f"{path}: expected one array, found {', '.join(arr.files)}")
                    arr = arr[arr.files[0]]
        except UserError:
            raise
        except Exception as e:
            raise UserError(f"{path} is not a readable numpy file ({type(e).__name__}: {first_line(e, 100)})") from None
        if arr.ndim != 1 or arr.shape[0] != num_rows:
            raise UserError(f"{path}: expected {num_rows} labels (one per training row), got shape {arr.shape}")
        if arr.dtype.kind not in "iu":
            raise UserError(f"{path}: labels must be integers, got dtype {arr.dtype}")
        rows, labels, complete = np.arange(num_rows), arr.astype(np.int64), True
    else:
        complete = False
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            raise UserError(f"{path} is not a text CSV file") from None
        reader = csv.DictReader(io.StringIO(text))
        fields = reader.fieldnames or []
        row_col = "source_index" if "source_index" in fields else "index" if "index" in fields else None
        if row_col is None or "label" not in fields:
            raise UserError(f"{path}: needs a header with 'source_index' (or 'index') and 'label' columns; "
                            f"found {', '.join(fields) or 'none'}")
        by_name = {name: i for i, name in enumerate(class_names)}
        rows_l, labels_l = [], []
        for line, rec in enumerate(reader, start=2):
            raw_row, raw_label = (rec.get(row_col) or "").strip(), (rec.get("label") or "").strip()
            try:
                rows_l.append(int(raw_row))
            except ValueError:
                raise UserError(f"{path} line {line}: {row_col} {raw_row!r} is not an integer") from None
            if not 0 <= rows_l[-1] < num_rows:      # before numpy, which cannot hold 10**23
                raise UserError(f"{path} line {line}: source row {rows_l[-1]} is outside the training file's "
                                f"{num_rows} rows")
            if raw_label in by_name:
                labels_l.append(by_name[raw_label])
                continue
            try:
                labels_l.append(int(raw_label))
                if not 0 <= labels_l[-1] < k:
                    raise UserError(f"{path} line {line}: label {labels_l[-1]} is out of range for {k} classes")
            except ValueError:
                raise UserError(f"{path} line {line}: label {raw_label!r} is neither a class name nor a class id "
                                f"(classes: {', '.join(class_names[:12])}{' ...' if k > 12 else ''})") from None
        rows, labels = np.asarray(rows_l, dtype=np.int64), np.asarray(labels_l, dtype=np.int64)
        if rows.size == 0:
            raise UserError(f"{path} lists no rows")
    if rows.size and (rows.min() < 0 or rows.max() >= num_rows):
        bad = int(rows[(rows < 0) | (rows >= num_rows)][0])
        raise UserError(f"{path}: source row {bad} is outside the training file's {num_rows} rows")
    if np.unique(rows).size != rows.size:
        raise UserError(f"{path}: some source rows are listed more than once")
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        bad = int(labels[(labels < 0) | (labels >= k)][0])
        raise UserError(f"{path}: label {bad} is out of range for {k} classes")
    return rows, labels, complete


def _unpickle_numpy_dict(raw: bytes, where: Path) -> dict:
    """A pickled dict of numpy arrays, as a plain pickle or inside a ``torch.save`` zip archive."""
    if raw[:2] == b"PK":        # torch.save's zip format: the pickle is <archive>/data.pkl
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as z:
                name = next((n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl"), None)
                if name is None:
                    raise UserError(f"{where}: a zip archive without data.pkl is not a label file")
                raw = z.read(name)
        except zipfile.BadZipFile:
            raise UserError(f"{where} is a damaged zip archive") from None
    try:
        obj = safe_pickle.load(io.BytesIO(raw), encoding="latin1")
    except pickle.UnpicklingError as e:
        raise UserError(f"{where}: {first_line(e)} (the file is not a plain dict of label arrays)") from None
    except Exception as e:
        raise UserError(f"{where} is not a readable label file ({type(e).__name__}: {first_line(e, 100)})") from None
    if not isinstance(obj, dict):
        raise UserError(f"{where}: expected a dict of label arrays, got {type(obj).__name__}")
    return obj


def load_label_sets(path: str | Path) -> dict[str, np.ndarray]:
    """All label arrays of a CIFAR-N style file: ``.pt`` (pickled dict, read with a numpy-only
    unpickler), ``.npz`` (one array per key) or ``.npy`` (a single array, returned as ``{"labels": ...}``)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"CIFAR-N label file not found: {path} (get CIFAR-10_human.pt / CIFAR-100_human.pt "
                        f"from github.com/UCSC-REAL/cifar-10-100n, folder data/)")
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                sets = {k: z[k] for k in z.files}
        except Exception as e:
            raise UserError(f"{path} is not a readable .npz ({type(e).__name__}: {first_line(e, 100)})") from None
    elif path.suffix == ".npy":
        try:
            sets = {"labels": np.load(path, allow_pickle=False)}
        except Exception as e:
            raise UserError(f"{path} is not a readable .npy ({type(e).__name__}: {first_line(e, 100)})") from None
    else:
        sets = _unpickle_numpy_dict(path.read_bytes(), path)
    out = {}
    for key, arr in sets.items():
        key = key.decode() if isinstance(key, bytes) else str(key)
        arr = np.asarray(arr)
        if arr.ndim != 1 or arr.dtype.kind not in "iu":
            raise UserError(f"{path}: '{key}' must be a 1-d integer array, got {arr.dtype} {arr.shape}")
        out[key] = arr.astype(np.int64)
    return out


def cifar_n_labels(kind: str, path: str | Path, label_set: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(noisy labels, clean labels or None) of one CIFAR-N label set, indexed by training row."""
    sets = load_label_sets(path)
    names = CIFAR_N_SETS[kind]
    key = names.get(label_set, label_set)
    if key not in sets:
        if len(sets) == 1 and "labels" in sets:     # a bare .npy holds the chosen set
            key = "labels"
        else:
            raise UserError(f"{path} has no label set '{label_set}'; it holds {', '.join(sorted(sets))} "
                            f"(short names for {kind}: {', '.join(names)})")
    return sets[key], sets.get("clean_label")
