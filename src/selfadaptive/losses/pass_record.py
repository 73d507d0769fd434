"""The training passes' predicted class for every sample, as ``start_epoch="auto"`` reads them: what changed
from one epoch to the next (Label Wave's PC), and the latest class of each sample (the guard and the gates)."""
from __future__ import annotations

import torch


class PassRecord:
    """Mixed into an ``nn.Module`` (``AutoStart``); ``_init_pass_record(N)`` in ``__init__`` registers its buffers,
    so the module's checkpoints carry them under the module's own names.

    Buffers: ``last_pred`` (N,) int32, each sample's predicted class in the training pass of the latest closed
    epoch (-1: unseen); ``epoch_pred`` (N,) int32, the same for the epoch in progress so far; ``counts`` (2,)
    int64, changed and compared samples of the epoch in progress that older checkpoints counted step by step
    (now zero).  A step stores its classes (``record``); the changes are counted when the epoch closes
    (``merge_epoch``): one pass over N then costs less than the small ops it would take at every step
    (docs/benchmarks.md §13).
    """

    def _init_pass_record(self, num_samples: int) -> None:
        self.register_buffer("last_pred", torch.full((int(num_samples),), -1, dtype=torch.int32))
        self.register_buffer("epoch_pred", torch.full((int(num_samples),), -1, dtype=torch.int32))
        self.register_buffer("counts", torch.zeros(2, dtype=torch.int64))

    def record(self, index: torch.Tensor, pred: torch.Tensor) -> None:
        """This step's predictions: index, pred (B,) over the *global* batch (every process applies every update)."""
        into = self.epoch_pred       # no autograd here: neither argument carries a gradient
        into.index_copy_(0, index.to(into.device, torch.long), pred.detach().to(into.device, torch.int32))

    def latest_pred(self) -> torch.Tensor:
        """(N,) int32: each sample's class in its latest training pass (this epoch's where it had one; -1: unseen)."""
        return torch.where(self.epoch_pred >= 0, self.epoch_pred, self.last_pred)

    def epoch_counts(self) -> tuple[int, int]:
        """(changed, compared): samples of the epoch in progress whose class changed since their previous pass."""
        both = (self.epoch_pred >= 0) & (self.last_pred >= 0)
        changed = self.counts[0] + (both & (self.epoch_pred != self.last_pred)).sum()
        return int(changed), int(self.counts[1] + both.sum())

    def merge_epoch(self) -> tuple[int, int]:
        """Close the epoch in progress: its classes become the latest; returns its ``epoch_counts``."""
        changed, compared = self.epoch_counts()
        self.last_pred.copy_(self.latest_pred())
        self.epoch_pred.fill_(-1)
        self.counts.zero_()
        return changed, compared
