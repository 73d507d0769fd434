"""SimSiam (Chen & He, 2021): predict the stop-gradient projection of the other view, no momentum network."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import IndexedLoss
from .registry import register_loss


@register_loss("simsiam", tasks=("ssl",), head="embedding")
class SimSiamLoss(IndexedLoss):
    r"""Symmetric negative cosine with stop-gradient, averaged over the batch:

        loss = mean_i [ D(p1_i, z2_i) / 2 + D(p2_i, z1_i) / 2 ],   D(p, z) = -cos(p, stopgrad(z))

    p1, p2: (B, D) predictions of views 1 and 2; z1, z2: (B, D) projections of the same views by
    the online encoder and projector (SimSiam has no target network), treated as constants.
    In [-1, 1]; -1 when every prediction points along the other view's projection.  Keeps no
    per-sample state.  Up to the affine map loss = (BYOL - 4) / 4 it is BYOL's objective with
    tau = 0; the method is the network without a momentum copy.
    """

    def forward(self, q1: torch.Tensor, q2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor,
                index: torch.Tensor, epoch: int) -> torch.Tensor:
        z1, z2 = z1.detach().float(), z2.detach().float()
        d12 = -F.cosine_similarity(q1.float(), z2, dim=1)
        d21 = -F.cosine_similarity(q2.float(), z1, dim=1)
        return self.reduce(0.5 * d12 + 0.5 * d21)

    @classmethod
    def from_config(cls, options, ctx):
        return cls(reduce=ctx.reduce)
