"""The interface every training loss in this package follows."""
from __future__ import annotations

import torch
from torch import nn

from ..distributed import local_mean, local_rows


class IndexedLoss(nn.Module):
    """A loss called as ``loss(logits, targets, index, epoch)``.

    logits: (B, K) raw scores; targets: (B,) given labels; index: (B,) dataset indices of the
    samples; epoch: the current epoch, counted from 0.  Losses that keep per-sample state hold it
    in a registered buffer so that ``.to()``, ``state_dict()`` and checkpoints carry it.
    """

    #: name of the per-sample target buffer, or None when the loss keeps none
    bank_name: str | None = None
    #: ``reduce(values (B,), weights (B,) | None) -> scalar``: the batch mean every loss ends with, and
    #: ``gather(index (B,), rows (B, K)) -> (index, rows, own slice)``: the rows a bank update applies.
    #: Swappable: ``distributed.Distributed.attach`` installs the global (all-rank) versions.
    reduce = staticmethod(local_mean)
    gather = staticmethod(local_rows)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor, index: torch.Tensor, epoch: int) -> torch.Tensor:
        raise NotImplementedError

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


def host_bank(bank: torch.Tensor) -> torch.Tensor:
    """``bank`` (N, K) in host memory, pinned when CUDA is present so that rows can go up asynchronously."""
    bank = bank.cpu()
    return bank.pin_memory() if torch.cuda.is_available() else bank
