"""What a supervised task adds to the training loop: its step, its end-of-epoch work, its finish.

The base class is plain classification (``task=classify``); ``selective.task.SelectiveTask`` and
``robust.task.RobustTask`` supply the others.  The loop (``training.loop``) calls the same hooks
for every task, so a new task is a subclass, not a branch in the loop.
"""
from __future__ import annotations

from typing import Callable

import torch


class Task:
    """Plain classification: one forward pass, the loss on its logits, nothing more."""

    #: extra scores of every evaluation pass, ``fn(logits (N, C) numpy, labels (N,) numpy, K) -> dict``
    eval_metrics: Callable | None = None
    #: the metrics-row field whose plateau ``loss.auto_rule=noisy_val_plateau`` waits for; None: the
    #: field that selects the model without clean labels (accuracy on the validation split's own labels)
    plateau_field: str | None = None

    def step(self, forward: Callable, loss_fn, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor, epoch: int,
             step: int, global_batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, logits) of one training step.  ``forward`` is the model as the step calls it (DDP,
        memory layout); x: (b, ...) this process's share of a global batch of ``global_batch``."""
        logits = forward(x)
        return loss_fn(logits, y, index, epoch), logits

    def end_epoch(self, epoch: int, row: dict) -> None:
        """Add this task's fields to the epoch's metrics row (runs on every process)."""

    def resume(self, rows: list[dict]) -> None:
        """Rebuild running state from the metrics rows a resumed run kept."""

    def finish(self) -> dict:
        """Final scores for summary.json (rank 0 only)."""
        return {}
