"""The interface every loss in this package follows, and the base class of losses with a per-sample bank."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .. import functional as SF
from .collectives import auto_mean, auto_rows, local_mean, local_rows  # noqa: F401 (re-exported)

#: ``reduce(values (B,), weights (B,) | None) -> scalar``
Reduce = Callable[[torch.Tensor, "torch.Tensor | None"], torch.Tensor]
#: ``gather(index (B,), rows (B, K)) -> (index (B',), rows (B', K), slice of this process's rows)``
Gather = Callable[[torch.Tensor, torch.Tensor], tuple]


class IndexedLoss(nn.Module):
    """A loss called with the dataset indices of its batch.

    Supervised losses are called as ``loss(logits, targets, index, epoch)``: logits (B, K) raw
    scores; targets (B,) given labels; index (B,) dataset indices; epoch counted from 0.  The
    self-supervised ones as ``loss(q1, q2, z1, z2, index, epoch)``.

    ``reduce`` (the batch mean every loss ends with) and ``gather`` (the rows a bank update applies)
    are given at construction (``collectives``).  The defaults follow the default process group at
    each call: this process's batch alone, or, under torch.distributed with several processes, the
    global batch, so a loss in your own DDP, Lightning or Accelerate loop keeps one bank for all
    ranks.  Our trainer passes the global versions explicitly.
    """

    #: name of the per-sample target buffer, or None when the loss keeps none
    bank_name: str | None = None

    def __init__(self, reduce: Reduce | None = None, gather: Gather | None = None):
        super().__init__()
        self.reduce = reduce or auto_mean
        self.gather = gather or auto_rows

    def bank(self) -> torch.Tensor | None:
        """The (N, K) per-sample targets, if this loss keeps any."""
        return getattr(self, self.bank_name) if self.bank_name else None

    def keep_bank_on_host(self) -> None:
        """Move this loss's bank (and those of the losses inside it) to host memory, pinned when CUDA
        is present, so that a large bank stays off the GPU; rows travel per batch (``bank_rows``).
        Call after ``.to(device)``, which would move it back."""
        for m in self.modules():
            if isinstance(m, IndexedLoss) and m.bank_name:
                setattr(m, m.bank_name, host_bank(getattr(m, m.bank_name)))


class BankLoss(IndexedLoss):
    """A loss with a per-sample bank ``soft_targets`` (N, D), a registered buffer, so that ``.to()``,
    ``state_dict()`` and checkpoints carry it.

    ``update_bank(index, rows, rule)`` is the one data path of every bank: gather the batch's new
    evidence from every process, apply ``rule(old rows, new evidence) -> rows`` (a moving average,
    or a plain overwrite), store the rows in the bank's dtype, and return this process's rows in
    float32.
    """

    bank_name = "soft_targets"

    def __init__(self, bank: torch.Tensor, reduce: Reduce | None = None, gather: Gather | None = None):
        super().__init__(reduce, gather)
        self.register_buffer("soft_targets", bank)

    def update_bank(self, index: torch.Tensor, rows: torch.Tensor,
                    rule: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], return_old: bool = False):
        """index: (B,) dataset indices; rows: (B, D) new evidence.  Returns (B, D) updated rows, and with
        ``return_old`` also the (B, D) rows as they were before this update."""
        all_index, all_rows, own = self.gather(index, rows)      # every process applies every update
        old = SF.bank_rows(self.soft_targets, all_index)
        new = rule(old, all_rows)
        SF.store_rows(self.soft_targets, all_index, new)
        return (new[own], old[own]) if return_old else new[own]


def host_bank(bank: torch.Tensor) -> torch.Tensor:
    """``bank`` (N, K) in host memory, pinned when CUDA is present so that rows can go up asynchronously."""
    bank = bank.cpu()
    return bank.pin_memory() if torch.cuda.is_available() else bank
