"""The runtime both loops (``training.loop.train`` and ``ssl.pretrain.pretrain``) share: opening a
run (process group, device, folder, seed), placing the model (precision, memory layout, DDP,
compile), a checkpointer that saves and restores with every rank's RNG, signals, TensorBoard."""
from __future__ import annotations

import random
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import Interrupted, UserError, first_line
from .checkpoint import DurableWriter, load_checkpoint, save_checkpoint
from .devices import resolve_device, uses_bf16, uses_channels_last
from .distributed import Distributed
from .runfolder import RunDir


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def join_processes(device_name: str) -> tuple[Distributed, torch.device]:
    """The process group (if torchrun-style variables describe one) and this process's device:
    ``cuda:LOCAL_RANK`` for data-parallel CUDA runs."""
    device = resolve_device(device_name)
    dist = Distributed.from_env(device.type)
    if dist.enabled and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
        torch.cuda.set_device(device)
    dist.device = device
    return dist, device


def open_run(cfg, out, resume: bool, quiet: bool = False) -> tuple[RunDir, Distributed, torch.device, bool]:
    """Join the process group, check the run folder (an existing run with a checkpoint to resume,
    locked by rank 0 from here to the end, or a new folder) and seed every generator.  Returns (run, dist, device, quiet); ``quiet`` is true
    on every rank but 0.  Nothing is written yet: rank 0 creates the folder once the run is built."""
    dist, device = join_processes(cfg.device)
    run = RunDir(out)
    if resume:
        run.require()
        if dist.is_main:
            run.lock()
            run.remove_partial_writes()
        if not run.checkpoint.is_file():
            raise UserError(f"{run.path} has no checkpoint.pt to resume from")
    else:
        run.require_new()
    dist.barrier()      # every rank has looked before rank 0 creates the folder
    seed_everything(cfg.seed)
    return run, dist, device, quiet or not dist.is_main


def kept_checkpoint(run: RunDir, checkpointer: Checkpointer) -> str:
    """What a stopped run leaves, told truthfully: its last good checkpoint (once the one being written is in
    place), or none yet."""
    checkpointer.wait()
    if run.checkpoint.is_file():
        return f"The last good checkpoint is kept in {run.checkpoint} (--resume continues from it)"
    return (f"No checkpoint was written yet; `sat train --out {run.path}` starts the run again in the same "
            f"folder")


@dataclass
class Placement:
    """A model placed for training: ``model`` holds the parameters (checkpoints and evaluation use
    it); ``net`` is what the training step calls (``model``, or its DDP wrapper, compiled or not)."""

    model: nn.Module
    net: nn.Module
    amp: bool               # bf16 autocast (CUDA by default)
    channels_last: bool     # NHWC inputs and weights (CUDA conv nets)

    def layout(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.dim() == 4 else x


def place_model(model: nn.Module, cfg, device: torch.device, dist: Distributed, input_shape, quiet: bool = True) -> Placement:
    """Move ``model`` to ``device`` and apply the config's precision, ``channels_last`` and
    ``compile``; wrap it in DDP when several processes train.  Parameters stay shared between
    ``model`` and ``net``, so checkpoints never carry DDP or compile prefixes."""
    model = model.to(device)
    amp = uses_bf16(cfg.precision, device)
    if amp and device.type == "cpu" and cfg.precision == "bf16" and not quiet:
        print("note: bf16 autocast on CPU is slow on most processors; precision=fp32 is the usual choice")
    channels_last = uses_channels_last(cfg.channels_last, device, input_shape)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    net = model
    if dist.enabled:
        from torch.nn.parallel import DistributedDataParallel
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.compile:     # the first steps pay for compilation
        net = torch.compile(net)
    return Placement(model, net, amp, channels_last)


class Checkpointer:
    """Saves and restores a run's state: the ``parts`` (objects with ``state_dict``/``load_state_dict``,
    e.g. model, optimizer, loss), every rank's RNG, the epoch and step, and any extra fields.
    Rank 0 writes, atomically; every rank takes part (the RNG gather is a collective).  The bytes are
    written when ``save`` is called; the fsync and the rename finish in the background (``DurableWriter``),
    so ``wait()`` before reading the file or ending the process."""

    def __init__(self, path: Path, dist: Distributed, parts: dict, what: str = "this run's model and loss"):
        self.path, self.dist, self.parts, self.what = Path(path), dist, parts, what
        self.writer = DurableWriter()

    def save(self, epoch: int, step: int, **extra) -> None:
        rngs = self.dist.gather_rng()
        if self.dist.is_main:
            save_checkpoint(self.path, {**{name: part.state_dict() for name, part in self.parts.items()},
                                        **rngs, "epoch": epoch, "step": step, **extra}, self.writer)
        self.dist.barrier()

    def wait(self) -> None:
        """Return once the last checkpoint is in place; raises what went wrong writing it."""
        self.writer.wait()

    def restore(self, map_location) -> dict:
        """Load every part and this rank's RNG; returns the whole checkpoint (its epoch, step and
        extra fields).  A checkpoint of other networks is one line naming the file."""
        state = load_checkpoint(self.path, map_location=map_location)
        try:
            for name, part in self.parts.items():
                part.load_state_dict(state[name])
        except (RuntimeError, KeyError, ValueError) as e:
            raise UserError(f"{self.path} does not match {self.what}: {first_line(e)}") from None
        self.dist.restore_rng(state)
        return state


def close_run(checkpointer: Checkpointer, dist: Distributed, run: RunDir) -> None:
    """A run's end, or any error: put the last checkpoint in place, then, whatever happened, leave the process
    group and release the run folder."""
    try:
        checkpointer.wait()
    finally:
        dist.close()
        run.unlock()


def tensorboard_writer(run: RunDir, first_epoch: int):
    """A SummaryWriter on RUN/tensorboard; a resumed run drops events from ``first_epoch`` on,
    as metrics.jsonl does."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UserError("log.tensorboard=true needs the tensorboard package: pip install tensorboard") from None
    return SummaryWriter(str(run.path / "tensorboard"), purge_step=first_epoch if first_epoch else None)


class StopSignals:
    """Turn SIGINT/SIGTERM into a flag the loop checks after each step; a second signal aborts at once."""

    def __init__(self, on_error=None):
        self.signum: int | None = None
        self._old: dict = {}
        # called when the block ends in an exception (a checkpointed stop, divergence, a bad file):
        # data-parallel loops leave the process group there, so that no communication thread
        # outlives the interpreter (gloo's would abort the process on exit)
        self.on_error = on_error

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handle(self, signum, frame):
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

    def interrupted(self, checkpoint: Path, command: str = "sat train") -> Interrupted:
        if self.signum is None:     # another rank of a data-parallel run was signalled
            self.signum = signal.SIGTERM
        name = signal.Signals(self.signum).name
        return Interrupted(self.signum, f"{name} received: checkpoint saved to {checkpoint}; "
                                        f"continue with: {command} --resume {checkpoint.parent}")

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, exc_type, exc, tb):
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
        if exc_type is not None and self.on_error is not None:
            self.on_error()
        return False
