"""Self-Adaptive Training (Huang, Zhang & Zhang, NeurIPS 2020), supervised form."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import functional as SF
from .base import BankLoss
from .registry import register_loss

# SCE variant constants, as in the authors' code; the clamp keeps log(T) finite for the zeros of
# a one-hot row (the authors' code leaves them at -inf).
SCE_ALPHA, SCE_BETA, SCE_CLAMP = 1.0, 0.3, 1e-4


@register_loss("sat", tasks=("classify", "robust"), defaults={"momentum": 0.9, "start_epoch": 60, "variant": "ce"})
class SelfAdaptiveLoss(BankLoss):
    r"""SAT: train on a running average of the model's own predictions, weighted by confidence.

    Keeps a bank ``soft_targets`` T of shape (N, K), initialised to onehot(y_i) of the *given*
    labels.  For a batch (x, y, idx) at epoch e (counted from 0):

    * e < E_s: ``loss = CE(f(x), y)``; T is not touched.
    * e >= E_s:

      1. p = softmax(f(x)).detach()
      2. T[idx] <- alpha * T[idx] + (1 - alpha) * p          (update first)
      3. w_i = max_j T[idx]_ij                                (from the updated rows)
      4. loss = sum_i w_i * (-sum_j T_ij log softmax(f(x))_ij) / sum_i w_i

    ``variant="sce"`` replaces the per-sample term by
    ``a * CE(T, p) - b * sum_j p_j log clamp(T_j, 1e-4)`` with a = 1, b = 0.3 and p *not*
    detached in the loss.

    The bank may be stored in float16/bfloat16 to halve its memory; the arithmetic above always
    runs in float32 and only the stored rows are rounded.

    Args:
        labels: (N,) given (possibly noisy) labels, indexed by dataset index.
        num_classes: K.
        momentum: alpha, the EMA momentum.
        start_epoch: E_s.
        variant: "ce" or "sce".
        bank_dtype: storage dtype of ``soft_targets``.
    """

    starts_one_hot = True       # the bank begins at onehot(y): label_issues removes that prior

    def __init__(self, labels: torch.Tensor, num_classes: int, momentum: float = 0.9, start_epoch: int = 60,
                 variant: str = "ce", bank_dtype: torch.dtype = torch.float32, reduce=None, gather=None):
        labels = torch.as_tensor(labels)
        super().__init__(SF.one_hot_bank(labels, int(num_classes), bank_dtype), reduce, gather)
        if variant not in ("ce", "sce"):
            raise ValueError(f"variant must be 'ce' or 'sce', got {variant!r}")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        self.num_classes = int(num_classes)
        self.momentum = float(momentum)
        self.start_epoch = int(start_epoch)
        self.variant = variant

    def forward(self, logits: torch.Tensor, targets: torch.Tensor, index: torch.Tensor, epoch: int) -> torch.Tensor:
        if epoch < self.start_epoch:
            return self.reduce(F.cross_entropy(logits.float(), targets, reduction="none"))
        probs = F.softmax(logits.detach().float(), dim=1)
        rows = self.update_bank(index, probs, lambda old, new: SF.ema_update(old, new, self.momentum))
        weights = SF.confidence_weights(rows)
        if self.variant == "ce":
            per_sample = SF.soft_cross_entropy(logits, rows)
        else:
            p = F.softmax(logits.float(), dim=1)
            per_sample = (SCE_ALPHA * SF.soft_cross_entropy(logits, rows)
                          - SCE_BETA * (p * rows.clamp_min(SCE_CLAMP).log()).sum(dim=1))
        return self.reduce(per_sample, weights)

    @classmethod
    def from_config(cls, options, ctx):
        return cls(ctx.labels, ctx.num_classes, momentum=options["momentum"], start_epoch=options["start_epoch"],
                   variant=options["variant"], bank_dtype=ctx.bank_dtype, reduce=ctx.reduce, gather=ctx.gather)

    def extra_repr(self) -> str:
        return (f"N={self.soft_targets.shape[0]}, K={self.num_classes}, momentum={self.momentum}, "
                f"start_epoch={self.start_epoch}, variant={self.variant!r}, bank_dtype={self.soft_targets.dtype}")
