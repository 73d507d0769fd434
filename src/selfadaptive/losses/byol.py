"""BYOL (Grill et al., 2020): predict the target network's projection of the other view."""
from __future__ import annotations

import torch

from .. import functional as SF
from .base import IndexedLoss
from .registry import register_loss


@register_loss("byol", tasks=("ssl",), head="embedding")
class BYOLLoss(IndexedLoss):
    r"""Symmetric BYOL regression, averaged over the batch:

        loss = mean_i [ (2 - 2 cos(q1_i, z2_i)) + (2 - 2 cos(q2_i, z1_i)) ]

    q1, q2: (B, D) online predictions of views 1 and 2; z1, z2: (B, D) target projections of the
    same views (treated as constants).  Keeps no per-sample state: SAT-SSL with the bank off.
    """

    def forward(self, q1: torch.Tensor, q2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor,
                index: torch.Tensor, epoch: int) -> torch.Tensor:
        z1, z2 = z1.detach(), z2.detach()
        return self.reduce(SF.cosine_regression(q1, z2) + SF.cosine_regression(q2, z1))

    @classmethod
    def from_config(cls, options, ctx):
        return cls(reduce=ctx.reduce)
