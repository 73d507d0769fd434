"""Plain cross-entropy (empirical risk minimisation), the baseline every method is compared to."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import IndexedLoss
from .registry import register_loss


@register_loss("ce", tasks=("classify", "robust", "selective"))
class CrossEntropyLoss(IndexedLoss):
    """``loss = mean_i -log softmax(f(x_i))_{y_i}``; ignores ``index`` and ``epoch``."""

    def forward(self, logits: torch.Tensor, targets: torch.Tensor, index: torch.Tensor, epoch: int) -> torch.Tensor:
        return self.reduce(F.cross_entropy(logits.float(), targets, reduction="none"))

    @classmethod
    def from_config(cls, options, ctx):
        return cls(reduce=ctx.reduce)
