"""The warm-up every SAT loss shares: plain cross-entropy until its start epoch, which may be ``"auto"``
(``auto_start.AutoStart`` then decides it during training)."""
from __future__ import annotations

import torch

from .auto_start import AUTO, MAX_CHANGES, MIN_CLASS_RATIO, AutoStart


class WarmUp:
    """A loss with a plain cross-entropy warm-up of E_s epochs (SAT before its targets move, SAT's
    selective form before it may abstain), where ``start_epoch`` may be ``"auto"``.  Mixed into an
    ``IndexedLoss``: ``_init_start`` in ``__init__``, ``warming_up`` first in ``forward``."""

    def _init_start(self, start_epoch, labels: torch.Tensor, num_classes: int, rule: str, window: int | None,
                    min_class_ratio: float = MIN_CLASS_RATIO, min_fit: float = 0.0,
                    max_changes: float = MAX_CHANGES) -> None:
        self.auto = None
        if start_epoch == AUTO:
            self.start_epoch = AUTO
            self.auto = AutoStart(len(labels), rule, window, labels, num_classes, min_class_ratio, min_fit, max_changes)
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
        """The learning rate of ``epoch``, for the ``lr_drop`` rule; ignored otherwise."""
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
            pred = logits.detach()[:, :num_classes].argmax(dim=1, keepdim=True).float()
            all_index, all_pred, _ = self.gather(index, pred)
            self.auto.record(all_index, all_pred.squeeze(1))
        return True

    @classmethod
    def within(cls, loss):
        """The loss of this class in a run's loss (itself, or the natural term of TRADES+SAT), or None:
        ``WarmUp.within`` finds any warm-up loss, ``SelfAdaptiveLoss.within`` SAT only."""
        loss = getattr(loss, "natural", loss)
        return loss if isinstance(loss, cls) else None
