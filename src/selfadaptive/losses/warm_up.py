"""The warm-up every SAT loss shares: its start epoch, which may be ``"auto"`` (``auto_start.AutoStart``
then decides it during training), and before it plain cross-entropy (SAT-SSL: BYOL's loss)."""
from __future__ import annotations

import torch

from .auto_start import AUTO, MAX_CHANGES, MIN_CLASS_RATIO, RULES, AutoStart


class WarmUp:
    """A loss with a warm-up of E_s epochs (SAT before its targets move, SAT's selective form before it
    may abstain: plain cross-entropy; SAT-SSL before its bank averages: BYOL's loss), where
    ``start_epoch`` may be ``"auto"``.  Mixed into an ``IndexedLoss``: ``_init_start`` in ``__init__``;
    the supervised losses call ``warming_up`` first in ``forward``."""

    #: the rules ``start_epoch="auto"`` may use with this loss (``auto_start.RULES``)
    auto_rules: tuple[str, ...] = RULES

    def _init_start(self, start_epoch, labels: torch.Tensor | None, num_classes: int | None, rule: str,
                    window: int | None, min_class_ratio: float = MIN_CLASS_RATIO, min_fit: float = 0.0,
                    max_changes: float = MAX_CHANGES, num_samples: int | None = None,
                    min_concentration: float = 0.0) -> None:
        """``labels`` (N,), or None without labels (then ``num_samples`` gives N)."""
        self.auto = None
        if start_epoch == AUTO:
            if rule not in self.auto_rules:
                raise ValueError(f"auto_rule must be one of {self.auto_rules} for {type(self).__name__}, got {rule!r}")
            self.start_epoch = AUTO
            n = len(labels) if labels is not None else int(num_samples)
            self.auto = AutoStart(n, rule, window, labels, num_classes, min_class_ratio, min_fit, max_changes,
                                  min_concentration)
        elif isinstance(start_epoch, str) or int(start_epoch) < 0:
            raise ValueError(f"start_epoch must be an epoch >= 0 or {AUTO!r}, got {start_epoch!r}")
        else:
            self.start_epoch = int(start_epoch)

    @property
    def start_epoch_chosen(self) -> int | None:
        """The epoch the warm-up ended (or ends) at: E_s, or what the automatic rule chose (None until it fires)."""
        return self.auto.start_epoch() if self.auto is not None else self.start_epoch

    def observe_validation(self, epoch: int, accuracy: float) -> None:
        """Accuracy on a validation split with the data's own (noisy) labels at the end of ``epoch``,
        for the ``noisy_val_plateau`` rule; ignored otherwise."""
        if self.auto is not None:
            self.auto.observe_validation(epoch, accuracy)

    def observe_learning_rate(self, epoch: int, lr: float) -> None:
        """The learning rate of ``epoch``, for the ``lr_drop`` rule and, fed before the epoch's first step, for
        ``AutoStart.late_under_pairs``; ignored otherwise."""
        if self.auto is not None:
            self.auto.observe_learning_rate(epoch, lr)

    def warming_up(self, logits: torch.Tensor, index: torch.Tensor, epoch: int, num_classes: int | None = None) -> bool:
        """Whether this step is still in the warm-up (the caller then returns plain cross-entropy).
        Under ``"auto"`` it closes the previous epoch when a new one begins, applies the rule, and
        records the step's predicted classes (argmax of the first ``num_classes`` logits, (B, C))."""
        if self.auto is not None and not self.auto.started:
            self.auto.begin(epoch)
        start = self.start_epoch_chosen
        if start is not None and epoch >= start:
            return False
        if self.auto is not None and not self.auto.started:
            scores = logits.detach() if num_classes is None else logits.detach()[:, :num_classes]
            all_index, all_pred, _ = self.gather(index, scores.argmax(dim=1, keepdim=True))   # (B, 1) int64 rows
            self.auto.record(all_index, all_pred.view(-1))
        return True

    @classmethod
    def within(cls, loss):
        """The loss of this class in a run's loss (itself, or the natural term of TRADES+SAT), or None:
        ``WarmUp.within`` finds any warm-up loss, ``SelfAdaptiveLoss.within`` SAT only."""
        loss = getattr(loss, "natural", loss)
        return loss if isinstance(loss, cls) else None
