"""Symmetric cross-entropy (Wang et al., ICCV 2019)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import IndexedLoss
from .registry import register_loss

# log(0) of the one-hot label is replaced by log(1e-4), as in the paper (A = -4 in log10 terms).
LOG_CLAMP = 1e-4


@register_loss("sce", tasks=("classify", "robust"), defaults={"alpha": 0.1, "beta": 1.0})
class SymmetricCrossEntropyLoss(IndexedLoss):
    """``loss = alpha * CE(y, p) + beta * RCE`` with ``RCE_i = -sum_j p_ij log clamp(y_ij, 1e-4)``.

    Defaults alpha = 0.1, beta = 1.0 (the paper's CIFAR-10 setting).
    """

    def __init__(self, alpha: float = 0.1, beta: float = 1.0, reduce=None):
        super().__init__(reduce)
        self.alpha, self.beta = float(alpha), float(beta)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor, index: torch.Tensor, epoch: int) -> torch.Tensor:
        logits = logits.float()
        ce = F.cross_entropy(logits, targets, reduction="none")
        p = F.softmax(logits, dim=1).clamp(1e-7, 1.0)
        y = F.one_hot(targets, logits.shape[1]).float().clamp_min(LOG_CLAMP)
        rce = -(p * y.log()).sum(dim=1)
        return self.reduce(self.alpha * ce + self.beta * rce)

    @classmethod
    def from_config(cls, options, ctx):
        return cls(alpha=options["alpha"], beta=options["beta"], reduce=ctx.reduce)
