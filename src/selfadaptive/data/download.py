"""MD5-checked downloads of the official data files; offline, one clear line saying what to fetch."""
from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import UserError


def md5sum(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def fetch(url: str, md5: str, path: Path, timeout: float = 30.0) -> Path:
    """Download ``url`` to ``path`` (kept if it is already there with the right MD5), checking the
    MD5.  Offline or on a bad checksum: a UserError naming the URL, checksum and folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file() and md5sum(path) == md5:
        return path
    part = path.with_suffix(path.suffix + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(part, "wb") as fh:
            while block := resp.read(1 << 20):
                fh.write(block)
    except (urllib.error.URLError, OSError) as e:
        part.unlink(missing_ok=True)
        reason = getattr(e, "reason", e)
        raise UserError(f"could not download {url} ({reason}); without internet, fetch it elsewhere "
                        f"(md5 {md5}) and put it in {path.parent}") from None
    got = md5sum(part)
    if got != md5:      # a truncated or tampered download never takes the real file's name
        part.unlink()
        raise UserError(f"the download of {url} has the wrong MD5 checksum ({got}, expected {md5}); "
                        f"nothing was kept, retry later or fetch it by hand into {path.parent}")
    part.replace(path)
    return path
