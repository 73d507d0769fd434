"""The pure rules behind ``start_epoch="auto"`` (``auto_start``): when a curve of per-epoch figures
says the early-learning phase is over, and how each class's predictions compare with its labels.

No state: ``AutoStart`` keeps the curves and the predictions and calls these.  The rules it offers:

* ``prediction_changes`` (after Label Wave, Yuan, Feng & Liu, ICLR 2025): PC_e is the
  fraction of training samples whose predicted class at epoch e differs from epoch e - 1, read
  from the training passes themselves.  While the network learns the clean patterns PC falls;
  when it starts fitting the wrong labels their predictions begin to flip and PC rises again.
  The rule smooths PC with a trailing moving average of ``window`` epochs and fires at its first
  local minimum, once the next smoothed value is higher.
* ``changes_slowdown``: the same PC curve, read earlier.  While the network learns the clean
  patterns PC falls steeply (0.6 to 0.2 within two epochs of digits); once its fall from one epoch
  to the next has slowed to at most half its steepest fall so far (or PC has turned up), the
  early-learning phase is over.  The rule fires there, a few epochs before the Label Wave minimum,
  and it also fires on curves that keep falling slowly without ever turning up (a cooling learning
  rate), where the minimum never comes.
* ``noisy_val_plateau``: the accuracy on a validation split that carries the data's own (noisy)
  labels, fed in by the trainer (``observe_validation``), has not improved on its best for
  ``window`` epochs.  In adversarial training (``task=robust``) the trainer feeds the held-out
  PGD accuracy instead: robust overfitting is that figure turning down while the training
  attack is still fitted, so TRADES+SAT starts once it stops rising.
* ``lr_drop``: the learning rate fed in (``observe_learning_rate``) is at most half its peak so far,
  where robust overfitting begins; the default under ``task=robust`` (a constant rate: never).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

#: changes_slowdown fires once a fall is at most this fraction of the steepest fall so far
SLOWDOWN_FRACTION = 0.5
#: classes with fewer given labels than this are not checked by the collapse guard (too noisy)
MIN_CLASS_COUNT = 20
#: a start the collapse guard held comes once every class is predicted at this fraction of its given share
RESUME_CLASS_RATIO = 0.5


def moving_average(values: Sequence[float], window: int) -> list[float]:
    """Trailing mean of the last ``window`` values (fewer at the start): ``out[e] = mean(values[e-w+1 .. e])``."""
    out = []
    for e in range(len(values)):
        part = values[max(0, e - window + 1):e + 1]
        out.append(sum(part) / len(part))
    return out


def first_local_minimum(values: Sequence[float], window: int = 3) -> int | None:
    """The position of the first local minimum of the smoothed ``values``, confirmed by a strict
    rise right after it; None if there is none yet (a falling or flat curve never fires).

    Positions count within ``values``; the first ``window - 1`` smoothed points average fewer values
    and cannot be the minimum.
    """
    smooth = moving_average(list(values), window)
    for e in range(max(1, window - 1), len(smooth) - 1):
        if smooth[e] < smooth[e - 1] and smooth[e + 1] > smooth[e]:
            return e
    return None


def first_slowdown(values: Sequence[float], window: int = 1, fraction: float = SLOWDOWN_FRACTION) -> int | None:
    """The first position e at which the fall of the smoothed ``values``, s[e-1] - s[e], is at most
    ``fraction`` of the steepest fall before it (a rise counts as a fall <= 0); None before that.  A
    flat or rising curve has no fall to compare with and never fires.
    """
    smooth = moving_average(list(values), window)
    steepest = 0.0
    for e in range(max(1, window - 1), len(smooth)):
        fall = smooth[e - 1] - smooth[e]
        if steepest > 0 and fall <= fraction * steepest:
            return e
        steepest = max(steepest, fall)
    return None


def plateau(values: Sequence[float], patience: int = 3) -> int | None:
    """The first position at which ``values`` (higher is better) has not beaten its best so far for
    ``patience`` steps; None before that."""
    best, since = -math.inf, 0
    for e, v in enumerate(values):
        if v > best:
            best, since = v, 0
        else:
            since += 1
            if since >= patience:
                return e
    return None


def first_drop(values: Sequence[float], fraction: float = 0.5) -> int | None:
    """The first position at which ``values`` (a learning rate per epoch) is at most ``fraction`` of
    its highest value so far; None before that (a constant rate never fires).  The highest, not the
    first: after a linear warm-up the first rate is a fraction of the peak, and half of it would
    come only at the very end of the decay."""
    peak = -math.inf
    for e, v in enumerate(values):
        peak = max(peak, v)
        if v <= fraction * peak:
            return e
    return None


def under_fraction_of_peak(values: Sequence[float], fraction: float = 0.5) -> bool:
    """Whether the last of ``values`` (learning rates per epoch, NaN where none was fed) is under ``fraction`` of
    the highest so far; False when the last is missing.  Under, not at: ``first_drop``'s "at most" would count a
    cosine schedule's midpoint, which computes a hair over half, by rounding alone."""
    if not values or values[-1] != values[-1]:
        return False
    return values[-1] < fraction * max(v for v in values if v == v)


def class_ratios(pred: torch.Tensor, given_counts: torch.Tensor, min_count: int = MIN_CLASS_COUNT) -> torch.Tensor | None:
    """Each class's share of ``pred`` over its share of the given labels.

    pred: (M,) predicted classes; given_counts: (K,) how many samples carry each given label.
    Returns (K,) float64, NaN for classes with fewer than ``min_count`` given labels; None when
    ``pred`` is empty.
    """
    if pred.numel() == 0:
        return None
    k = given_counts.numel()
    pred_share = torch.bincount(pred.long().clamp_max(k - 1), minlength=k).double() / pred.numel()
    given_share = given_counts.double() / given_counts.sum()
    ratios = pred_share / given_share.clamp_min(1e-300)
    return ratios.masked_fill(given_counts < min_count, float("nan"))


def disagreement_concentration(given: torch.Tensor, pred: torch.Tensor, num_classes: int) -> float | None:
    """How concentrated the disagreements between predictions and given labels are: (K - 1) times the
    chance that two distinct samples of one given class, both predicted as some other class, are predicted
    as the same one.  1 when each class's disagreements spread evenly over the other K - 1 classes
    (uniform label noise on a network that learned the clean pattern); K - 1 when they all go to one
    class (pair noise); in between for noise that depends on the input and for a network's own confusions.

    given, pred: (M,) class indices.  Per given class y with D[y, c] samples predicted c != y and
    n_y = sum_c D[y, c], the pair count sum_c D[y, c] (D[y, c] - 1) over n_y (n_y - 1) is unbiased for
    the collision probability whatever n_y (a plain maximum share would grow as the counts shrink);
    classes are pooled by their pairs.  None for K < 3 (one other class: nothing to spread over) or
    without two disagreements in any class.
    """
    k = int(num_classes)
    if k < 3:
        return None
    given, pred = given.long().flatten().cpu(), pred.long().flatten().cpu()
    off = given != pred
    counts = torch.bincount(given[off] * k + pred[off], minlength=k * k).view(k, k).double()
    n = counts.sum(dim=1)
    pairs = (n * (n - 1)).sum()
    if pairs <= 0:
        return None
    return float((counts * (counts - 1)).sum() / pairs * (k - 1))


def memorisation_shown(changes: Sequence[float], val_acc: Sequence[float], window: int = 3, patience: int = 3) -> bool:
    """Whether the curves show the network beginning to fit the wrong labels: PC (``changes``) past its
    first smoothed minimum (Label Wave's point, ``first_local_minimum``), or the accuracy on a noisy
    validation split (``val_acc``; empty without one) not beating its best for ``patience`` epochs."""
    return first_local_minimum(changes, window) is not None or plateau(val_acc, patience) is not None
