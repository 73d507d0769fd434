"""SAT for selective classification (Huang, Zhang & Zhang, NeurIPS 2020, §4): learn to abstain."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import functional as SF
from .auto_start import MIN_CLASS_RATIO, RULES
from .base import BankLoss
from .registry import register_loss
from .warm_up import WarmUp


@register_loss("sat_selective", tasks=("selective",), head="abstain",
               defaults={"momentum": 0.9, "start_epoch": 0, "auto_rule": RULES[0], "auto_window": None,
                         "auto_min_class_ratio": MIN_CLASS_RATIO, "auto_max_changes": 1.0})
class SelectiveSATLoss(WarmUp, BankLoss):
    r"""SAT with an extra abstain class; the network outputs K + 1 logits, index K = abstain.

    Keeps ``soft_targets`` T (N, K), starting at onehot(y_i) (the authors start it lazily at the
    first post-pretraining step, which is the same thing).  For a batch (x, y, idx) at epoch e:

    * e < E_s (``pretrain``): ``loss = CE(f(x)[:, :K], y)``; T is not touched.
    * e >= E_s:

      1. p = softmax(f(x)[:, :K]).detach()                 (the first K logits only)
      2. T[idx] <- alpha * T[idx] + (1 - alpha) * p        (update first)
      3. target over K + 1 classes: T_iy on y_i, 1 - T_iy on abstain, 0 elsewhere
      4. loss = mean_i -sum_j target_ij log softmax(f(x_i))_j    (over all K + 1; no re-weighting)

    A sample whose label the model keeps contradicting moves its mass to "abstain", so the
    abstain probability learns where the model's own predictions are unreliable.

    Args:
        labels: (N,) given labels; num_classes: K (the network outputs K + 1);
        momentum: alpha (0.9); start_epoch: the pretraining epochs E_s, or ``"auto"``: the end of
            pretraining read from the prediction changes of the first K outputs, by ``auto_rule``
            over ``auto_window`` epochs, with its collapse guard (``auto_min_class_ratio``), as in
            ``SelfAdaptiveLoss`` (``auto_start``).  Its stability gate (``auto_max_changes``) is off (1) here:
            it was measured on label noise (docs/benchmarks.md §12f), not on the end of pretraining (§6b).
    """

    starts_one_hot = True

    def __init__(self, labels: torch.Tensor, num_classes: int, momentum: float = 0.9, start_epoch: int | str = 0,
                 bank_dtype: torch.dtype = torch.float32, reduce=None, gather=None, auto_rule: str = RULES[0],
                 auto_window: int | None = None, auto_min_class_ratio: float = MIN_CLASS_RATIO,
                 auto_max_changes: float = 1.0):
        labels = torch.as_tensor(labels)
        super().__init__(SF.one_hot_bank(labels, int(num_classes), bank_dtype), reduce, gather)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        self.num_classes, self.momentum = int(num_classes), float(momentum)
        self._init_start(start_epoch, labels, num_classes, auto_rule, auto_window, auto_min_class_ratio,
                         max_changes=auto_max_changes)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor, index: torch.Tensor, epoch: int) -> torch.Tensor:
        k = self.num_classes
        logits = logits.float()
        if self.warming_up(logits, index, epoch, k):
            return self.reduce(F.cross_entropy(logits[:, :k], targets, reduction="none"))
        probs = F.softmax(logits.detach()[:, :k], dim=1)
        rows = self.update_bank(index, probs, lambda old, new: SF.ema_update(old, new, self.momentum))
        on_label = rows.gather(1, targets.view(-1, 1)).squeeze(1)
        target = torch.zeros_like(logits)
        target.scatter_(1, targets.view(-1, 1), on_label.view(-1, 1))
        target[:, k] = 1.0 - on_label
        return self.reduce(SF.soft_cross_entropy(logits, target))

    @classmethod
    def from_config(cls, options, ctx):
        return cls(ctx.labels, ctx.num_classes, momentum=options["momentum"], start_epoch=options["start_epoch"],
                   bank_dtype=ctx.bank_dtype, reduce=ctx.reduce, gather=ctx.gather, auto_rule=options["auto_rule"],
                   auto_window=options["auto_window"],
                   auto_min_class_ratio=options["auto_min_class_ratio"], auto_max_changes=options["auto_max_changes"])

    def extra_repr(self) -> str:
        return f"N={self.soft_targets.shape[0]}, K={self.num_classes}, momentum={self.momentum}, start_epoch={self.start_epoch}"
