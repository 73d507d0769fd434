"""Deep Gamblers (Liu et al., NeurIPS 2019): abstention as a bet with payoff o."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import IndexedLoss
from .registry import register_loss


@register_loss("gambler", tasks=("selective",), head="abstain", defaults={"reward": 2.2, "start_epoch": 0})
class DeepGamblersLoss(IndexedLoss):
    r"""The network outputs K + 1 logits, index K = abstain (the "reservation").

    * e < E_s (pretraining): ``loss = CE(f(x)[:, :K], y)``, as SAT's selective recipe does;
    * e >= E_s: ``loss = -mean_i log(p_{i,y_i} + p_{i,K} / o)`` with p = softmax over all K + 1.

    The reward o lies in (1, K]; smaller o makes abstaining cheaper.  Default o = 2.2 (CIFAR-10).
    """

    def __init__(self, num_classes: int, reward: float = 2.2, start_epoch: int = 0, reduce=None):
        super().__init__(reduce)
        if reward <= 1.0:
            raise ValueError(f"reward o must be > 1, got {reward}")
        self.num_classes, self.reward, self.start_epoch = int(num_classes), float(reward), int(start_epoch)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor, index: torch.Tensor, epoch: int) -> torch.Tensor:
        k = self.num_classes
        logits = logits.float()
        if epoch < self.start_epoch:
            return self.reduce(F.cross_entropy(logits[:, :k], targets, reduction="none"))
        p = F.softmax(logits, dim=1)
        p_y = p.gather(1, targets.view(-1, 1)).squeeze(1)
        return self.reduce(-(p_y + p[:, k] / self.reward).clamp_min(1e-12).log())

    @classmethod
    def from_config(cls, options, ctx):
        return cls(ctx.num_classes, reward=options["reward"], start_epoch=options["start_epoch"], reduce=ctx.reduce)

    def extra_repr(self) -> str:
        return f"K={self.num_classes}, reward={self.reward}, start_epoch={self.start_epoch}"
