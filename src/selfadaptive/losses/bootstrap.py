"""Soft bootstrapping (Reed et al., ICLR 2015 workshop)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import IndexedLoss
from .registry import register_loss


@register_loss("bootstrap", tasks=("classify", "robust"), defaults={"beta": 0.95})
class SoftBootstrapLoss(IndexedLoss):
    """``loss_i = -sum_j (beta * y_ij + (1 - beta) * p_ij) log p_ij`` with beta = 0.95.

    As in the paper, p is not detached, so the (1 - beta) part acts as an entropy penalty that
    pushes the model towards confident predictions.  Unlike SAT, nothing is remembered across steps.
    """

    def __init__(self, beta: float = 0.95, reduce=None):
        super().__init__(reduce)
        self.beta = float(beta)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor, index: torch.Tensor, epoch: int) -> torch.Tensor:
        log_p = F.log_softmax(logits.float(), dim=1)
        y = F.one_hot(targets, logits.shape[1]).float()
        target = self.beta * y + (1.0 - self.beta) * log_p.exp()
        return self.reduce(-(target * log_p).sum(dim=1))

    @classmethod
    def from_config(cls, options, ctx):
        return cls(beta=options["beta"], reduce=ctx.reduce)
