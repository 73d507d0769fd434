"""SelectiveNet (Geifman & El-Yaniv, ICML 2019): a selection head trained for a target coverage."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import IndexedLoss
from .registry import register_loss


@register_loss("selectivenet", tasks=("selective",), head="selection",
               defaults={"coverage": 0.8, "lam": 32.0, "alpha": 0.5})
class SelectiveNetLoss(IndexedLoss):
    r"""The network outputs 2K + 1 columns: prediction logits f (K), the selection logit (1),
    and auxiliary logits h (K).  With g = sigmoid(selection logit) and l_i = CE(f(x_i), y_i):

        coverage   phi(g) = mean_i g_i
        risk       r(f, g) = mean_i l_i g_i / phi(g)
        L_(f,g)    = r(f, g) + lambda * max(0, c - phi(g))^2
        loss       = alpha * L_(f,g) + (1 - alpha) * mean_i CE(h(x_i), y_i)

    with target coverage c, lambda = 32 and alpha = 0.5 as in the paper.  At test time a sample is
    accepted when g is above a threshold (``selective.selective_outputs`` scores by g).

    The network is ``models.SelectionHeads`` (the paper's three heads on the model's encoder).  The
    batch ratios make this loss exact for one process only (under DDP each process uses its own
    batch).
    """

    def __init__(self, num_classes: int, coverage: float = 0.8, lam: float = 32.0, alpha: float = 0.5):
        super().__init__()
        if not 0.0 < coverage <= 1.0:
            raise ValueError(f"coverage must be in (0, 1], got {coverage}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.num_classes, self.coverage, self.lam, self.alpha = int(num_classes), float(coverage), float(lam), float(alpha)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor, index: torch.Tensor, epoch: int) -> torch.Tensor:
        k = self.num_classes
        logits = logits.float()
        g = torch.sigmoid(logits[:, k])
        per_sample = F.cross_entropy(logits[:, :k], targets, reduction="none")
        phi = g.mean()
        risk = (per_sample * g).mean() / phi.clamp_min(1e-12)
        selective = risk + self.lam * torch.clamp(self.coverage - phi, min=0.0) ** 2
        auxiliary = F.cross_entropy(logits[:, k + 1:], targets)
        return self.alpha * selective + (1.0 - self.alpha) * auxiliary

    @classmethod
    def from_config(cls, options, ctx):
        return cls(ctx.num_classes, coverage=options["coverage"], lam=options["lam"], alpha=options["alpha"])

    def extra_repr(self) -> str:
        return f"K={self.num_classes}, coverage={self.coverage}, lambda={self.lam}, alpha={self.alpha}"
