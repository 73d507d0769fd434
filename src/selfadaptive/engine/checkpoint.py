"""Atomic checkpoints that load with ``weights_only=True`` (no arbitrary unpickling)."""
from __future__ import annotations

import contextlib
import os
import pickle
import random
import tempfile
import threading
import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError, first_line


def atomic_write(path: str | Path, write) -> None:
    """Call ``write(fileobj)`` on a temp file beside ``path``, fsync, then rename over ``path``.

    A crash at any point leaves either the old file or the new one, never a torn file.
    """
    path = Path(path)
    fh, tmp = _open_temp(path)
    with _cleanup(path, tmp):
        with fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)


class DurableWriter:
    """``atomic_write`` whose fsync and rename run in a background thread: the file's bytes are written
    in the caller's thread (a consistent snapshot of the state), and training goes on while the disk makes
    them durable.  A per-epoch checkpoint's fsync is the larger part of its cost on a small model (about
    6 ms of an 8.5 ms save on a 2.5 MB checkpoint, docs/benchmarks.md §13), and on a network file system it can
    take longer than an epoch.

    Writes stay ordered and atomic: a write first waits for the previous one, so the file is always the
    old one or the new one, and a crash leaves at most a temp file (``RunDir.remove_partial_writes``).
    ``wait()`` returns once the last write is in place (call it before the file is read, or the process
    ends) and raises what went wrong in the background as the ``UserError`` ``atomic_write`` would raise.
    """

    def __init__(self):
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def write(self, path: str | Path, write) -> None:
        self.wait()
        path = Path(path)
        fh, tmp = _open_temp(path)
        with _cleanup(path, tmp):
            try:
                write(fh)
                fh.flush()
            except BaseException:
                fh.close()
                raise
        # not a daemon: an interpreter that exits while the thread runs waits for the rename
        thread = threading.Thread(target=self._finish, args=(path, fh, tmp), name="durable-write")
        try:
            thread.start()
        except RuntimeError:        # no thread to be had: finish here, as atomic_write does
            self._finish(path, fh, tmp)
            self.wait()
            return
        self._thread = thread

    def _finish(self, path: Path, fh, tmp: str) -> None:
        try:
            with _cleanup(path, tmp):
                with fh:
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
        except BaseException as e:      # raised in the training thread by the next wait()
            self._error = e

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error


def _open_temp(path: Path):
    """A new temp file beside ``path``, open for writing: (file object, its name)."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror or first_line(e)}") from None
    return os.fdopen(fd, "wb"), tmp


@contextlib.contextmanager
def _cleanup(path: Path, tmp: str):
    """On any error, delete the temp file and say what happened in one line (the old file is kept)."""
    try:
        yield
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise UserError(f"cannot write {path}: {e.strerror or first_line(e)}; the previous file, if any, "
                            f"is kept") from None
        if isinstance(e, RuntimeError) and _STREAM_WRITER_FAILED in str(e):    # torch.save on a full disk
            raise UserError(f"cannot write {path}: the write failed part-way (is the disk full?); the previous "
                            f"file, if any, is kept") from None
        raise


#: what torch's zip writer says when the file system refuses a write (e.g. a full disk)
_STREAM_WRITER_FAILED = "inline_container"


def save_checkpoint(path: str | Path, state: dict, writer: DurableWriter | None = None) -> None:
    """``torch.save(state)`` to ``path`` atomically; with ``writer``, made durable in the background."""
    if writer is None:
        atomic_write(path, lambda fh: torch.save(state, fh))
    else:
        writer.write(path, lambda fh: torch.save(state, fh))


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    try:
        with warnings.catch_warnings():     # torch's notes on pickle protocols are not the user's business
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights only load failed" in str(e).lower():
            raise UserError(f"checkpoint {path} is not loadable safely: it holds objects other than tensors and "
                            f"plain values (a pickle that could run code), so it was refused without running it"
                            ) from None
        raise UserError(f"checkpoint {path} is corrupt or not loadable safely: {first_line(e)}") from None
    except Exception as e:  # a damaged file can fail anywhere inside the unpickler (IndexError, KeyError...)
        raise UserError(f"checkpoint {path} is corrupt or not loadable safely: {first_line(e)}") from None
    if not isinstance(state, dict) or "model" not in state:
        raise UserError(f"checkpoint {path} is not a selfadaptive checkpoint")
    return state


def rng_state() -> dict:
    """Every RNG a training step may draw from, as tensors and ints (weights_only-safe)."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_meta": [int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "python": torch.tensor(py_state[1], dtype=torch.int64),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    pos, has_gauss, cached = state["numpy_meta"]
    np.random.set_state(("MT19937", state["numpy_keys"].numpy().astype(np.uint32), int(pos), int(has_gauss), float(cached)))
    random.setstate((3, tuple(int(v) for v in state["python"].tolist()), None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
