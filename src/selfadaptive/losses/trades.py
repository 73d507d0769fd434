"""TRADES (Zhang et al., ICML 2019), and TRADES+SAT (Huang, Zhang & Zhang, 2020) when the natural
term is the SAT loss."""
from __future__ import annotations

import torch

from .. import functional as SF
from .base import IndexedLoss


class TradesLoss(IndexedLoss):
    r"""``L = L_nat(f(x), y) + beta * (1/B) sum_i KL(p(x_i) || p(x'_i))``.

    x' is the TRADES attack of x (``attacks.pgd`` with ``objective="kl"``, run in eval mode);
    p = softmax(f(.)) in train mode.  ``L_nat`` is any ``IndexedLoss`` on the *clean* logits:
    cross-entropy gives TRADES; ``SelfAdaptiveLoss`` gives TRADES+SAT, whose bank is then the EMA
    of clean-input predictions, T[idx] <- alpha T[idx] + (1 - alpha) softmax(f(x)), from epoch E_s
    (the paper: E_s = 70, alpha = 0.9, beta = 6).

    Called as ``loss(logits, targets, index, epoch, logits_adv)`` with logits, logits_adv (B, K).
    The natural loss is a submodule, so its bank rides in ``state_dict()`` as ``natural.<name>``.
    """

    def __init__(self, natural: IndexedLoss, beta: float = 6.0, reduce=None):
        super().__init__(reduce)
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        self.natural = natural
        self.beta = float(beta)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor, index: torch.Tensor, epoch: int,
                logits_adv: torch.Tensor) -> torch.Tensor:
        return self.natural(logits, targets, index, epoch) + self.beta * self.reduce(SF.kl_rows(logits, logits_adv))

    def bank(self) -> torch.Tensor | None:
        return self.natural.bank()

    @property
    def starts_one_hot(self) -> bool:
        return bool(getattr(self.natural, "starts_one_hot", False))

    @property
    def momentum(self) -> float | None:
        return getattr(self.natural, "momentum", None)

    def extra_repr(self) -> str:
        return f"beta={self.beta}"
