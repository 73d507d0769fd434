"""Data-parallel training that gives the single-process answer.

Each global batch (the order is a pure function of seed and epoch, identical on every rank) is
split across ranks by stride, ``idx[rank::world]``: no sample is padded in or repeated, so no
target is updated twice in an epoch.  Two functions, handed to every loss when it is built
(``Distributed.loss_collectives``), make the losses global:

* ``gather_rows(index, rows)``: all-gathers the batch's indices and new target rows, so every rank
  applies every update and the banks stay identical;
* ``global_mean(values, weights)``: ``sum_local w_i v_i * world / sum_global w_i``; DDP averages
  gradients over ranks, so the step equals the single-process step on the global batch (SAT's
  confidence weights are normalised over the global batch).

``Distributed`` is a no-op for one process, so the training loop has one path.  Launch with
``sat train --nproc N`` (spawns the workers) or ``torchrun --nproc_per_node N -m selfadaptive train``.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..losses.collectives import gather_rows, global_mean, local_mean, local_rows
from .checkpoint import rng_state, set_rng_state


@dataclass
class Distributed:
    """Rank, world size and the few collectives the loop needs; all no-ops for one process."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")     # where collective tensors live (CUDA for NCCL)

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, device_type: str) -> "Distributed":
        """Join the process group described by torchrun's variables (RANK, WORLD_SIZE, ...), if any."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", os.environ["RANK"]))
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device_type == "cuda" else "gloo", rank=rank, world_size=world)
        return cls(rank=rank, world=world, local_rank=local)

    def shard(self, global_index: torch.Tensor) -> torch.Tensor:
        """This rank's part of a global batch (stride split; sizes differ by at most one)."""
        return global_index[self.rank::self.world] if self.enabled else global_index

    def loss_collectives(self) -> dict:
        """``reduce`` and ``gather`` for ``build_loss``: the global versions in a data-parallel run,
        the local ones (the loss's own batch) for one process, so that no step asks torch.distributed
        again."""
        if not self.enabled:
            return {"reduce": local_mean, "gather": local_rows}
        return {"reduce": global_mean, "gather": gather_rows}

    def any(self, flag: bool) -> bool:
        """True on every rank if ``flag`` is true on any (a stop request, a non-finite loss)."""
        if not self.enabled:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def sum_(self, t: torch.Tensor) -> torch.Tensor:
        if self.enabled:
            dist.all_reduce(t)
        return t

    def gather_objects(self, obj) -> list:
        if not self.enabled:
            return [obj]
        out = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def gather_rng(self) -> dict:
        """Checkpoint fields for every rank's generators (a collective): ``rng`` (this or rank 0's) and,
        data-parallel, ``rng_ranks`` (all of them), so that a resume is exact on every rank."""
        rngs = self.gather_objects(rng_state())
        return {"rng": rngs[0], **({"rng_ranks": rngs} if self.enabled else {})}

    def restore_rng(self, state: dict) -> None:
        """Set this rank's generators from a checkpoint written by ``gather_rng`` (a checkpoint of
        another world size falls back to rank 0's)."""
        ranks = state.get("rng_ranks")
        set_rng_state(ranks[self.rank] if ranks is not None and len(ranks) == self.world else state["rng"])

    def barrier(self) -> None:
        if self.enabled:        # NCCL wants the rank's GPU named, or it guesses
            dist.barrier(device_ids=[self.device.index]) if self.device.type == "cuda" else dist.barrier()

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(nproc: int, argv: list[str]) -> int:
    """Run ``python -m selfadaptive <argv>`` in ``nproc`` worker processes on this machine, with the
    environment torchrun would give them; returns the first non-zero exit code (0 if all succeed).

    If one worker fails the others are stopped, so that none waits forever in a collective.
    SIGTERM to the launcher is passed on (the workers checkpoint and exit); Ctrl-C reaches the
    workers from the terminal, so the launcher itself just waits for them.
    """
    port = free_port()
    # as torchrun does: unless told otherwise, share the cores instead of oversubscribing them
    # (N processes x all-core thread pools stall each other's parallel regions)
    threads = os.environ.get("OMP_NUM_THREADS") or str(max(1, (os.cpu_count() or 1) // nproc))
    procs = []
    for rank in range(nproc):
        env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                   LOCAL_RANK=str(rank), WORLD_SIZE=str(nproc), LOCAL_WORLD_SIZE=str(nproc), OMP_NUM_THREADS=threads)
        procs.append(subprocess.Popen([sys.executable, "-m", "selfadaptive", *argv], env=env))

    def forward(signum, frame):
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)
    old = {sig: signal.signal(sig, handler) for sig, handler in
           ((signal.SIGTERM, forward), (signal.SIGINT, lambda signum, frame: None))}
    code = 0
    try:
        pending = list(procs)
        while pending:
            for p in list(pending):
                rc = p.poll()
                if rc is None:
                    continue
                pending.remove(p)
                if rc != 0 and code == 0:
                    code = rc
                    if rc not in (130, 143):        # an interrupted worker's peers stop by themselves
                        for other in pending:
                            other.terminate()
            time.sleep(0.1)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    return code
