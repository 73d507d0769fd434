"""One process per run folder: an advisory lock on ``RUN/.lock``, held for the whole run.

The lock is ``flock`` on a file that records the holder's PID.  The operating system drops it
when the holder exits in any way (an exception, SIGTERM, kill -9), so a lock left by a dead
process is never stale: the next run simply takes it over.  A second live process gets one line
naming the holder's PID.  Where ``fcntl`` is missing (Windows) runs are not locked.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import UserError

try:
    import fcntl
except ImportError:     # pragma: no cover - Windows
    fcntl = None

_HELD: dict[Path, int] = {}     # this process's locks: a run that ended by an exception re-enters


class RunLock:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.path = self.folder / ".lock"

    def acquire(self) -> "RunLock":
        if fcntl is None:
            return self
        key = self.path.resolve()
        if key in _HELD:                # taken earlier by this very process (e.g. a run that raised)
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise UserError(f"{self.folder} is in use by another sat process (PID {holder}); wait for it to end or "
                            f"stop it, or choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _HELD[key] = fd
        return self

    def release(self) -> None:
        fd = _HELD.pop(self.path.resolve(), None)
        if fd is not None:
            os.close(fd)        # closing drops the flock; the file stays, naming the last holder
