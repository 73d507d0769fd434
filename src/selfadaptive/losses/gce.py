"""Generalized cross-entropy (Zhang & Sabuncu, NeurIPS 2018)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import IndexedLoss
from .registry import register_loss


@register_loss("gce", tasks=("classify", "robust"), defaults={"q": 0.7})
class GeneralizedCrossEntropyLoss(IndexedLoss):
    """``L_q = mean_i (1 - p_{i,y_i}^q) / q``; q -> 0 recovers CE, q = 1 gives MAE.  Default q = 0.7."""

    def __init__(self, q: float = 0.7, reduce=None):
        super().__init__(reduce)
        if not 0.0 < q <= 1.0:
            raise ValueError(f"q must be in (0, 1], got {q}")
        self.q = float(q)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor, index: torch.Tensor, epoch: int) -> torch.Tensor:
        p_y = F.softmax(logits.float(), dim=1).gather(1, targets[:, None]).squeeze(1)
        return self.reduce((1.0 - p_y.clamp_min(1e-7) ** self.q) / self.q)

    @classmethod
    def from_config(cls, options, ctx):
        return cls(q=options["q"], reduce=ctx.reduce)
