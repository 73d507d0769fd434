import errno
import os
import random
import threading

import numpy as np
import pytest
import torch

import selfadaptive.engine.checkpoint as checkpoint_module
from selfadaptive.engine.checkpoint import atomic_write, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from selfadaptive.errors import UserError


def test_round_trip_and_weights_only(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"model": {"w": torch.ones(2)}, "epoch": 3, "rng": rng_state()})
    state = load_checkpoint(path)
    assert state["epoch"] == 3 and torch.equal(state["model"]["w"], torch.ones(2))
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.slow
def test_arbitrary_pickles_are_refused(tmp_path, capsys, recwarn):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))
    path = tmp_path / "evil.pt"
    torch.save({"model": Evil()}, path)
    with pytest.raises(UserError, match="not loadable safely") as err:
        load_checkpoint(path)
    # our own line, not torch's paragraph about weights_only defaults; nothing printed before it, nothing run
    assert "refused without running it" in str(err.value) and "PyTorch 2.6" not in str(err.value)
    assert "\n" not in str(err.value) and len(recwarn) == 0 and "pwned" not in capsys.readouterr().out


def test_corrupt_and_missing(tmp_path):
    (tmp_path / "c.pt").write_bytes(b"garbage")
    with pytest.raises(UserError, match="corrupt"):
        load_checkpoint(tmp_path / "c.pt")
    with pytest.raises(UserError, match="not found"):
        load_checkpoint(tmp_path / "none.pt")


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")

    def boom(fh):
        fh.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(UserError, match=r"cannot write .*f.bin: No space left on device; the previous file.*kept"):
        atomic_write(path, boom)
    assert path.read_bytes() == b"old" and not list(tmp_path.glob(".*tmp"))


def test_torch_writer_failing_part_way_is_our_line_and_keeps_the_old_file(tmp_path, monkeypatch):
    """On a full disk torch.save reports only "[enforce fail at inline_container.cc:...] unexpected pos"."""
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"model": {"w": torch.ones(2)}})
    old = path.read_bytes()

    def full_disk(obj, fh):
        fh.write(b"PK")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")
    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(UserError, match="the write failed part-way .is the disk full"):
        save_checkpoint(path, {"model": {"w": torch.zeros(2)}})
    assert path.read_bytes() == old and not list(tmp_path.glob(".*tmp"))


def test_a_folder_that_cannot_be_written_is_our_line(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="cannot write .*file/out.bin"):
        atomic_write(tmp_path / "file" / "out.bin", lambda fh: fh.write(b"x"))


def test_rng_state_round_trip(tmp_path):
    state = rng_state()
    a = (torch.rand(3), np.random.rand(3), random.random())
    save_checkpoint(tmp_path / "r.pt", {"model": {}, "rng": state})
    set_rng_state(load_checkpoint(tmp_path / "r.pt")["rng"])
    b = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]


def _held_fsync(monkeypatch):
    """Make the writer's fsync wait until the returned event is set (the disk "busy")."""
    release, entered = threading.Event(), threading.Event()
    real = os.fsync

    def fsync(fd):
        entered.set()
        release.wait()
        real(fd)
    monkeypatch.setattr(checkpoint_module.os, "fsync", fsync)
    return release, entered


def test_durable_writer_renames_only_after_the_fsync(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"model": {"w": torch.ones(2)}})
    release, entered = _held_fsync(monkeypatch)
    writer = checkpoint_module.DurableWriter()
    save_checkpoint(path, {"model": {"w": torch.zeros(2)}}, writer)
    entered.wait()
    # the caller goes on while the disk works; the file is still the old one, the new bytes wait beside it
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(2))
    (tmp,) = tmp_path.glob(".checkpoint.pt.*.tmp")
    release.set()
    writer.wait()
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.zeros(2)) and not tmp.exists()


def test_durable_writer_keeps_the_order_of_writes(tmp_path):
    path, writer = tmp_path / "c.pt", checkpoint_module.DurableWriter()
    for value in range(4):
        save_checkpoint(path, {"model": {"w": torch.full((2,), float(value))}}, writer)
    writer.wait()
    assert load_checkpoint(path)["model"]["w"].tolist() == [3.0, 3.0] and not list(tmp_path.glob(".*tmp"))


def test_durable_writer_reports_a_failed_fsync_at_the_next_wait_and_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(checkpoint_module.os, "fsync", full)
    writer = checkpoint_module.DurableWriter()
    writer.write(path, lambda fh: fh.write(b"new"))
    with pytest.raises(UserError, match=r"cannot write .*f.bin: No space left on device; the previous file.*kept"):
        writer.wait()
    assert path.read_bytes() == b"old" and not list(tmp_path.glob(".*tmp"))
    monkeypatch.undo()
    writer.write(path, lambda fh: fh.write(b"newer"))    # reported once; the writer works on
    writer.wait()
    assert path.read_bytes() == b"newer"


def test_durable_writer_raises_a_failed_write_at_once(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")
    writer = checkpoint_module.DurableWriter()

    def boom(fh):
        fh.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(UserError, match="No space left on device"):
        writer.write(path, boom)
    writer.wait()
    assert path.read_bytes() == b"old" and not list(tmp_path.glob(".*tmp"))


def test_durable_writer_finishes_in_the_caller_when_no_thread_can_start(tmp_path, monkeypatch):
    def refuse(self):
        raise RuntimeError("can't start new thread")
    monkeypatch.setattr(threading.Thread, "start", refuse)
    path = tmp_path / "f.bin"
    checkpoint_module.DurableWriter().write(path, lambda fh: fh.write(b"new"))
    assert path.read_bytes() == b"new" and not list(tmp_path.glob(".*tmp"))
