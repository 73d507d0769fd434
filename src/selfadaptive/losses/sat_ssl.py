"""Self-supervised SAT (docs/method.md §6): regress onto a per-sample target bank in representation space."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import functional as SF
from .auto_start import AUTO
from .base import BankLoss
from .registry import register_loss
from .warm_up import WarmUp

VIEW_TARGETS = ("cross_view", "both_views")     # the first is the default (docs/benchmarks.md §11)
#: the start rules that need no labels; ``start_epoch="auto"`` uses the first
AUTO_RULES = ("lr_drop",)


@register_loss("sat_ssl", tasks=("ssl",), head="embedding",
               defaults={"momentum": 0.9, "start_epoch": AUTO, "view_target": VIEW_TARGETS[0], "auto_rule": AUTO_RULES[0]})
class SelfAdaptiveSSLLoss(WarmUp, BankLoss):
    r"""SAT without labels: every sample i keeps a unit target t_i of dimension D.

    For a batch with views 1 and 2 of samples idx at epoch e (counted from 0), with online
    predictions q1, q2 and stop-gradient target projections z1, z2 (B, D):

      zbar_i = normalise(z1_i + z2_i)                     (both views' evidence about sample i)

    * e < E_s:  t_i <- zbar_i (the bank follows the projections), and the loss is BYOL's:
                mean_i (2 - 2 cos(q1_i, z2_i)) + (2 - 2 cos(q2_i, z1_i))
    * e >= E_s: t_i <- normalise(alpha * t_i + (1 - alpha) * zbar_i)      (update first)
                loss = mean_i (2 - 2 cos(q1_i, t_i)) + (2 - 2 cos(q2_i, t_i))

    so each view is pulled toward a running average of the sample's representation across
    epochs rather than toward one augmented view.  The bank ``soft_targets`` (N, D) starts at zero;
    before E_s every row seen is overwritten with zbar_i, so with E_s >= 1 each row holds a real
    projection when the average starts (with E_s = 0 the first update gives
    normalise((1 - alpha) * zbar_i) = zbar_i).

    ``view_target="cross_view"`` (the default) keeps the bank update above but builds each view's
    target from the *other* view's projection only, as BYOL pairs them (t_i is the row before this
    batch's update):

    * e >= E_s: t1_i = normalise(alpha * t_i + (1 - alpha) * z2_i),  t2_i = normalise(alpha * t_i + (1 - alpha) * z1_i)
                loss = mean_i (2 - 2 cos(q1_i, t1_i)) + (2 - 2 cos(q2_i, t2_i))

    With ``both_views`` (the rule above as written) the target holds a share of the view's own
    projection, which makes it easier to predict and taught less: over 3 seeds of the 40-epoch CPU
    regime (docs/benchmarks.md §11) cross_view gained 1.04 linear-probe and 0.69 kNN points over it,
    on every seed, and ended 0.20 / 0.32 below BYOL.

    ``start_epoch="auto"`` starts SAT at the first epoch after the learning rate (fed in by
    ``observe_learning_rate``; ``sat pretrain`` does) has fallen to half its peak, the ``lr_drop``
    rule of ``auto_start``: the middle of a cosine schedule, whatever its length.  Why not a signal of the
    training itself, as for labels: the one this loss has for free, ``bank_agreement`` (below), rises
    steeply for 2-3 epochs and then creeps up for the rest of the run (Fashion-MNIST, 40 epochs: 0.75,
    0.90, 0.93, ..., 0.96 by epoch 9), so a slowdown rule fires at epoch 3-4, earlier than E_s 10, which
    already trailed E_s 20 of 40 (docs/benchmarks.md §11: the later the start, the closer to BYOL).

    Every epoch the loss measures ``bank_agreement``: the mean cosine between a sample's projection
    zbar_i and its bank row before the update (before E_s: the sample's projection one epoch earlier;
    after: its running target), over the samples with a row; ``epoch_agreement()`` reads and resets it.

    Args:
        num_samples: N; dim: D; momentum: alpha; start_epoch: E_s or ``"auto"``; view_target:
        both_views | cross_view; bank_dtype: storage dtype; auto_rule: the rule of ``"auto"``
        (``AUTO_RULES``).
    """

    auto_rules = AUTO_RULES

    def __init__(self, num_samples: int, dim: int, momentum: float = 0.9, start_epoch: int = 0,
                 bank_dtype: torch.dtype = torch.float32, reduce=None, gather=None,
                 view_target: str = VIEW_TARGETS[0], auto_rule: str = AUTO_RULES[0]):
        super().__init__(torch.zeros(int(num_samples), int(dim), dtype=bank_dtype), reduce, gather)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        if view_target not in VIEW_TARGETS:
            raise ValueError(f"view_target must be one of {VIEW_TARGETS}, got {view_target!r}")
        self.momentum = float(momentum)
        self.view_target = view_target
        self._init_start(start_epoch, None, None, auto_rule, None, num_samples=num_samples)     # no labels
        self.register_buffer("agreement_sums", torch.zeros(2, dtype=torch.float64))   # this epoch's sum of cosines, rows

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        state_dict.setdefault(prefix + "agreement_sums", self.agreement_sums.clone())   # older checkpoints
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def epoch_agreement(self) -> float | None:
        """The mean ``bank_agreement`` since the last call (None if no row had a target yet); resets it."""
        total, rows = self.agreement_sums.tolist()
        self.agreement_sums.zero_()
        return total / rows if rows else None

    def _agree(self, old: torch.Tensor, new: torch.Tensor) -> None:
        """Add cos(old_i, new_i) of the rows written before (the bank starts at zero) to this epoch's sums.
        old, new: (B, D) unit rows of the global batch, so every process keeps the same sums."""
        seen = old.ne(0).any(dim=1)
        cos = (old.float() * new).sum(dim=1) * seen        # a mask, not an index: no device sync per step
        self.agreement_sums += torch.stack([cos.sum().double(), seen.sum().double()])

    def _follow(self, old: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
        self._agree(old, new)
        return new

    def _average(self, old: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
        self._agree(old, new)
        return SF.normalized_ema_update(old, new, self.momentum)

    def forward(self, q1: torch.Tensor, q2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor,
                index: torch.Tensor, epoch: int) -> torch.Tensor:
        z1, z2 = z1.detach().float(), z2.detach().float()
        zbar = F.normalize(z1 + z2, dim=1)
        if self.auto is not None and not self.auto.started:
            self.auto.begin(epoch)
        start = self.start_epoch_chosen
        if start is None or epoch < start:        # the bank follows the projections
            self.update_bank(index, zbar, self._follow)
            return self.reduce(SF.cosine_regression(q1, z2) + SF.cosine_regression(q2, z1))
        t, old = self.update_bank(index, zbar, self._average, return_old=True)
        t1, t2 = (t, t) if self.view_target == "both_views" else \
            (SF.normalized_ema_update(old, z2, self.momentum), SF.normalized_ema_update(old, z1, self.momentum))
        return self.reduce(SF.cosine_regression(q1, t1) + SF.cosine_regression(q2, t2))

    @classmethod
    def from_config(cls, options, ctx):
        return cls(ctx.num_samples, ctx.dim, momentum=options["momentum"], start_epoch=options["start_epoch"],
                   bank_dtype=ctx.bank_dtype, reduce=ctx.reduce, gather=ctx.gather, view_target=options["view_target"],
                   auto_rule=options["auto_rule"])

    def extra_repr(self) -> str:
        n, d = self.soft_targets.shape
        return f"N={n}, D={d}, momentum={self.momentum}, start_epoch={self.start_epoch}, view_target={self.view_target!r}, bank_dtype={self.soft_targets.dtype}"
