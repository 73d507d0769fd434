"""Self-Adaptive Training (Huang, Zhang & Zhang, NeurIPS 2020), supervised form."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import functional as SF
from .auto_start import AUTO, MAX_CHANGES, MIN_CLASS_RATIO, MIN_CONCENTRATION, RULES
from .base import BankLoss
from .registry import register_loss
from .warm_up import WarmUp

# SCE variant constants, as in the authors' code.  They take log T of the updated rows directly:
# after an update every entry is at least (1 - alpha) p_j > 0, so only a reduced-precision bank (or
# an underflow) can hold an exact zero; the guard is the smallest positive float32, which leaves
# every representable positive entry as it is (a floor such as 1e-4 would change the loss as soon
# as the model is confident, docs/method.md §1).
SCE_ALPHA, SCE_BETA = 1.0, 0.3
SCE_LOG_GUARD = torch.finfo(torch.float32).tiny


@register_loss("sat", tasks=("classify", "robust"),
               defaults={"momentum": 0.9, "start_epoch": AUTO, "variant": "sce", "auto_rule": RULES[0],
                         "auto_window": None, "auto_min_class_ratio": MIN_CLASS_RATIO, "auto_min_fit": 0.0,
                         "auto_max_changes": MAX_CHANGES, "auto_min_concentration": MIN_CONCENTRATION})
class SelfAdaptiveLoss(WarmUp, BankLoss):
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
    ``a * CE(T, p) - b * sum_j p_j log T_j`` with a = 1, b = 0.3 and p *not* detached in the loss
    (log T of exact zeros, possible only in a low-precision bank, is guarded).

    The bank may be stored in float16/bfloat16 to halve its memory; the arithmetic above always
    runs in float32 and only the stored rows are rounded.

    Args:
        labels: (N,) given (possibly noisy) labels, indexed by dataset index.
        num_classes: K.
        momentum: alpha, the EMA momentum.
        start_epoch: E_s, or ``"auto"``: decided during training by ``auto_rule`` over ``auto_window``
            epochs (``auto_start``; None: the rule's own window), from the predictions this loss sees
            anyway; until the rule fires (and if it never does) the loss is plain cross-entropy.  If,
            when it fires, a class is predicted at under ``auto_min_class_ratio`` of its given
            frequency, the start waits until every class is back at 0.5 of its own, for the whole run if
            need be (the collapse guard; 0: off).  ``start_epoch_chosen`` tells the epoch.  The
            ``noisy_val_plateau`` rule needs ``observe_validation`` each epoch, ``lr_drop``
            ``observe_learning_rate`` (our trainer calls both).  With ``auto_min_fit`` > 0
            the rule counts only once the training passes predict the given label for that share of
            the samples (the fit gate, for clean labels: ``task=robust``); and only once at most
            ``auto_max_changes`` of the training predictions changed class in the last epoch (the
            stability gate; 1: off); and, when the training passes' disagreements with the given labels
            spread almost evenly over the other classes (a concentration under ``auto_min_concentration``,
            as under uniform noise), only once the network begins to fit the wrong labels: Label Wave's
            PC minimum, or the plateau of the validation accuracy fed in (the memorisation gate; 0: off).  A start
            that comes under pair-like disagreements after the learning rates fed in have halved runs in the CE
            form (``AutoStart.late_under_pairs``; ``summary.json``: ``start_variant``).
        variant: "ce" or "sce".
        bank_dtype: storage dtype of ``soft_targets``.
    """

    starts_one_hot = True       # the bank begins at onehot(y): label_issues removes that prior

    def __init__(self, labels: torch.Tensor, num_classes: int, momentum: float = 0.9, start_epoch: int | str = 60,
                 variant: str = "ce", bank_dtype: torch.dtype = torch.float32, reduce=None, gather=None,
                 auto_rule: str = RULES[0], auto_window: int | None = None,
                 auto_min_class_ratio: float = MIN_CLASS_RATIO, auto_min_fit: float = 0.0,
                 auto_max_changes: float = MAX_CHANGES, auto_min_concentration: float = MIN_CONCENTRATION):
        labels = torch.as_tensor(labels)
        super().__init__(SF.one_hot_bank(labels, int(num_classes), bank_dtype), reduce, gather)
        if variant not in ("ce", "sce"):
            raise ValueError(f"variant must be 'ce' or 'sce', got {variant!r}")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        self.num_classes = int(num_classes)
        self.momentum = float(momentum)
        self.variant = variant
        self._init_start(start_epoch, labels, num_classes, auto_rule, auto_window, auto_min_class_ratio, auto_min_fit,
                         auto_max_changes, min_concentration=auto_min_concentration)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor, index: torch.Tensor, epoch: int) -> torch.Tensor:
        if self.warming_up(logits, index, epoch):
            return self.reduce(F.cross_entropy(logits.float(), targets, reduction="none"))
        # One log-softmax and one exp serve the bank's p (detached) and the loss (the SCE form's p keeps
        # its gradient): a softmax of a (64, 10) batch costs as much as the whole moving average (docs §13).
        variant = "ce" if self.auto is not None and self.auto.plain else self.variant
        log_probs = F.log_softmax(logits.float(), dim=1)
        probs = log_probs.detach().exp() if variant == "ce" else log_probs.exp()
        rows = self.update_bank(index, probs.detach(), lambda old, new: SF.ema_update(old, new, self.momentum))
        weights = SF.confidence_weights(rows)
        if variant == "ce":
            per_sample = SF.soft_nll(log_probs, rows)
        else:
            per_sample = SF.symmetric_soft_nll(log_probs, probs, rows, SCE_ALPHA, SCE_BETA, SCE_LOG_GUARD)
        return self.reduce(per_sample, weights)

    @classmethod
    def from_config(cls, options, ctx):
        return cls(ctx.labels, ctx.num_classes, momentum=options["momentum"], start_epoch=options["start_epoch"],
                   variant=options["variant"], bank_dtype=ctx.bank_dtype, reduce=ctx.reduce, gather=ctx.gather,
                   auto_rule=options["auto_rule"], auto_window=options["auto_window"],
                   auto_min_class_ratio=options["auto_min_class_ratio"], auto_min_fit=options["auto_min_fit"],
                   auto_max_changes=options["auto_max_changes"],
                   auto_min_concentration=options["auto_min_concentration"])

    def extra_repr(self) -> str:
        return (f"N={self.soft_targets.shape[0]}, K={self.num_classes}, momentum={self.momentum}, "
                f"start_epoch={self.start_epoch}, variant={self.variant!r}, bank_dtype={self.soft_targets.dtype}")
