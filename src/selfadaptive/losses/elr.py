"""Early-learning regularisation (Liu et al., NeurIPS 2020): SAT's closest relative."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import BankLoss
from .registry import register_loss

PROB_CLAMP = 1e-4


@register_loss("elr", tasks=("classify", "robust"), defaults={"lam": 3.0, "momentum": 0.7})
class EarlyLearningRegularizationLoss(BankLoss):
    r"""ELR keeps a target bank T (N, K), starting at zero, and regularises towards it.

    Per batch (x, y, idx), with p = clamp(softmax(f(x)), 1e-4, 1 - 1e-4):

    1. T[idx] <- beta * T[idx] + (1 - beta) * p.detach() / sum_j p.detach()_j
    2. loss = CE(f(x), y) + lambda * mean_i log(1 - <T[idx]_i, p_i>)

    Defaults lambda = 3, beta = 0.7 (the paper's CIFAR-10 setting).  Unlike SAT, the given label
    is always kept in the loss and the targets only enter through the regulariser.
    """

    def __init__(self, num_samples: int, num_classes: int, lam: float = 3.0, momentum: float = 0.7,
                 bank_dtype: torch.dtype = torch.float32, reduce=None, gather=None):
        super().__init__(torch.zeros(num_samples, num_classes, dtype=bank_dtype), reduce, gather)
        self.lam, self.momentum = float(lam), float(momentum)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor, index: torch.Tensor, epoch: int) -> torch.Tensor:
        logits = logits.float()
        p = F.softmax(logits, dim=1).clamp(PROB_CLAMP, 1.0 - PROB_CLAMP)
        p_det = p.detach()
        rows = self.update_bank(index, p_det / p_det.sum(1, keepdim=True),
                                lambda old, new: self.momentum * old + (1.0 - self.momentum) * new)
        reg = (1.0 - (rows * p).sum(dim=1)).log()
        return self.reduce(F.cross_entropy(logits, targets, reduction="none") + self.lam * reg)

    @classmethod
    def from_config(cls, options, ctx):
        return cls(ctx.num_samples, ctx.num_classes, lam=options["lam"], momentum=options["momentum"],
                   bank_dtype=ctx.bank_dtype, reduce=ctx.reduce, gather=ctx.gather)
