"""The class-collapse guard of ``start_epoch="auto"`` (``auto_start``).

When the rule of ``start_epoch="auto"`` fires, SAT is held back if some class is predicted in
that epoch's training passes at under ``min_class_ratio`` (0.3) of its given-label frequency: the
network has absorbed that class into a similar one (CIFAR-10's truck into automobile under pair
noise; on long-tailed data a rare class into a common neighbour), and SAT's targets would erase it.
SAT then starts at the first epoch at which every class is predicted at
``start_rules.RESUME_CLASS_RATIO`` (0.5) of its given share or more, and never if that does not come.
Chosen on CIFAR-10 pair noise and long-tailed Fashion-MNIST (docs/benchmarks.md §12b, §12d); every
balanced cell of the regime map had ratios of 0.35 or more when the rule fired (in-sample).  Classes
with fewer than ``start_rules.MIN_CLASS_COUNT`` (20) given labels are not checked.  ``summary.json``
names the classes (``start_held_classes``); ``loss.auto_min_class_ratio=0`` turns the guard off.
**Under pair-like disagreements** (the training passes' disagreements with the given labels, over the
classes that did not collapse, pile up on partner classes: ``start_rules.disagreement_concentration`` at
``PAIR_LIKE_CONCENTRATION`` or more, as under pair noise) the guard looks from the epoch the rule fires, even
while a gate keeps the rule from counting.  Otherwise a gate that opens a little later may find the merged
class just over ``min_class_ratio`` and far under the level at which a hold would let SAT start: on a CIFAR-10
seed under pair noise the stability gate held the firing epoch with truck at 0.23 of its given share and
opened one epoch later with it at 0.32, SAT started, and the run ended 3.7 points under CE's
(docs/benchmarks.md §12b, §12l).  Under spread disagreements the gates come first, as before: the
memorisation gate may wait for many epochs, and a hold released on the class counts alone would skip it.
"""
from __future__ import annotations

import torch

from . import start_rules
from .start_rules import RESUME_CLASS_RATIO, class_ratios

#: SAT is held back if, when the rule fires, a class is predicted at under this fraction of its given frequency
MIN_CLASS_RATIO = 0.3
#: a disagreement concentration from which the training passes read as pair-like (1: uniform noise; K - 1: every
#: disagreement of a class on one partner): read 2.44-4.39 under pair noise, at most 1.75 under instance and 1.48
#: under uniform noise, over the regime map's runs (docs/benchmarks.md §12i-§12k); the guard then looks from the
#: firing on, and ``sat sweep``'s verdict warns that noisy labels reward the flips
PAIR_LIKE_CONCENTRATION = 2.0


class CollapseGuard:
    """Mixed into ``AutoStart`` (an ``nn.Module`` with ``PassRecord``'s ``latest_pred``, ``given_labels``,
    ``given_counts``, ``min_class_ratio``, ``min_concentration`` and the ``concentration`` buffer);
    ``_init_guard(K)`` in ``__init__`` registers its buffers: ``held_at`` (), the epoch the guard held the start
    back (-1: it has not); ``held`` (K,) bool, the classes it found collapsed then."""

    def _init_guard(self, num_classes: int) -> None:
        self.register_buffer("held_at", torch.tensor(-1, dtype=torch.int64))
        self.register_buffer("held", torch.zeros(int(num_classes), dtype=torch.bool))

    @property
    def was_held(self) -> bool:
        """Whether the collapse guard held the start back (SAT may have started later, or never)."""
        return int(self.held_at) >= 0

    def class_ratios(self) -> torch.Tensor | None:
        """(K,) float64: each class's share of the latest training passes' predictions over its share
        of the given labels; NaN for classes with fewer than ``start_rules.MIN_CLASS_COUNT`` given labels.  None
        without labels or before any pass."""
        if self.given_counts is None:
            return None
        latest = self.latest_pred()
        return class_ratios(latest[latest >= 0].cpu(), self.given_counts.cpu())

    def collapsed_classes(self) -> list[int]:
        """Classes predicted in the latest training passes at under ``min_class_ratio`` of their given
        frequency (``class_ratios``).  Empty without labels, with the guard off, or before any pass."""
        ratios = self.class_ratios()
        if ratios is None or self.min_class_ratio <= 0:
            return []
        return (ratios < self.min_class_ratio).nonzero().flatten().tolist()     # NaN compares False

    def classes_back(self) -> bool:
        """Whether every class (with ``MIN_CLASS_COUNT`` given labels) is predicted in the latest training
        passes at ``RESUME_CLASS_RATIO`` or more of its given frequency: not only the classes held for,
        since another may have been absorbed meanwhile."""
        ratios = self.class_ratios()
        return ratios is not None and not bool((ratios < RESUME_CLASS_RATIO).any())     # NaN compares False

    def measure_concentration(self, leave_out: list[int] | None = None) -> float:
        """``start_rules.disagreement_concentration`` of the latest training passes against the given labels,
        over the samples whose given class is not in ``leave_out`` (inf when there is nothing to measure, as with
        two classes)."""
        latest = self.latest_pred()
        given = self.given_labels.to(latest.device)
        seen = latest >= 0
        if leave_out:
            seen &= ~torch.isin(given, torch.tensor(leave_out, dtype=given.dtype, device=given.device))
        value = start_rules.disagreement_concentration(given[seen], latest[seen], len(self.given_counts))
        return float("inf") if value is None else value

    def pair_like(self, collapsed: list[int]) -> bool:
        """Whether the latest training passes' disagreements read as pair-like (``PAIR_LIKE_CONCENTRATION``) over
        the classes that did not collapse (a class absorbed whole piles its own disagreements on its absorbers,
        whatever the noise); False with the memorisation gate off (``min_concentration`` 0, as under
        ``task=robust``) or without labels.  A pair-like reading is kept in ``concentration`` if none was (the memorisation gate
        reads an unmeasured one when the gates are asked)."""
        if self.min_concentration <= 0 or self.given_labels is None:
            return False
        value = self.measure_concentration(collapsed)
        if value < PAIR_LIKE_CONCENTRATION or value == float("inf"):
            return False
        if bool(self.concentration.isnan()):
            self.concentration.fill_(value)
        return True
