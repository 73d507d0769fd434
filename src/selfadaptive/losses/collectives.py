"""How a loss sees the global batch: the two functions every ``IndexedLoss`` is built with.

* ``reduce(values, weights)``: the batch mean every loss ends with;
* ``gather(index, rows)``: the rows a bank update applies, from every process.

One process: ``local_mean`` and ``local_rows``.  Data-parallel processes: ``global_mean`` and
``gather_rows`` (torch.distributed), so that every rank applies every bank update (the banks stay
identical) and the step equals the single-process step on the global batch.  The defaults,
``auto_mean`` and ``auto_rows``, choose at each call: global under an initialised default process
group of more than one process (torchrun, Lightning, Accelerate, your own ``init_process_group``),
local otherwise, so a loss built before the group exists still does the right thing.  Pass
``local_mean``/``local_rows`` explicitly to keep a loss per process.
"""
from __future__ import annotations

import torch
import torch.distributed as dist


def local_mean(values: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean (or ``weights``-weighted mean) over this batch.  values, weights: (B,) -> scalar."""
    if weights is None:
        return values.mean()
    return (weights * values).sum() / weights.sum()


def local_rows(index: torch.Tensor, rows: torch.Tensor):
    """Single process: the batch is the global batch.  Returns (index, rows, local positions)."""
    return index, rows, slice(None)


def global_mean(values: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """This rank's share of the weighted mean over the global batch, scaled by the world size so
    that DDP's gradient averaging yields the global mean's gradient.  values, weights: (b,) -> scalar."""
    world = dist.get_world_size()
    w = torch.ones_like(values) if weights is None else weights
    total = w.detach().sum().reshape(1).clone()
    dist.all_reduce(total)
    return (w * values).sum() * world / total.squeeze(0)


def gather_rows(index: torch.Tensor, rows: torch.Tensor):
    """All-gather (index (b,), rows (b, K)) from every rank, ranks in order; shards may differ in
    size by one.  Returns (index (B,), rows (B, K), slice of this rank's rows in them)."""
    world, rank = dist.get_world_size(), dist.get_rank()
    sizes = torch.tensor([len(index)], device=index.device)
    all_sizes = [torch.zeros_like(sizes) for _ in range(world)]
    dist.all_gather(all_sizes, sizes)
    sizes = [int(s) for s in all_sizes]
    top = max(sizes)
    pad_idx = torch.zeros(top, dtype=index.dtype, device=index.device)
    pad_rows = torch.zeros(top, *rows.shape[1:], dtype=rows.dtype, device=rows.device)
    pad_idx[:len(index)], pad_rows[:len(rows)] = index, rows
    got_idx = [torch.empty_like(pad_idx) for _ in range(world)]
    got_rows = [torch.empty_like(pad_rows) for _ in range(world)]
    dist.all_gather(got_idx, pad_idx)
    dist.all_gather(got_rows, pad_rows)
    all_index = torch.cat([g[:s] for g, s in zip(got_idx, sizes)])
    all_rows = torch.cat([g[:s] for g, s in zip(got_rows, sizes)])
    start = sum(sizes[:rank])
    return all_index, all_rows, slice(start, start + sizes[rank])


def data_parallel() -> bool:
    """Whether a default process group of more than one process is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def auto_mean(values: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """``global_mean`` under a process group of several processes, ``local_mean`` otherwise."""
    return (global_mean if data_parallel() else local_mean)(values, weights)


def auto_rows(index: torch.Tensor, rows: torch.Tensor):
    """``gather_rows`` under a process group of several processes, ``local_rows`` otherwise."""
    return (gather_rows if data_parallel() else local_rows)(index, rows)
