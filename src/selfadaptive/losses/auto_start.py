"""Choosing SAT's start epoch E_s from training itself (``start_epoch="auto"``), without clean labels.

Start too early and the targets copy an unfinished model; too late and the network has memorised the wrong labels.
Four rules (``start_rules``, where each is described) read the moment from signals a run has anyway:
``changes_slowdown`` (the default) and ``prediction_changes`` (after Label Wave) from PC_e, the fraction of
training samples whose predicted class in epoch e's training pass differs from epoch e - 1's;
``noisy_val_plateau`` from a noisy validation split (or held-out PGD accuracy under ``task=robust``), and
``lr_drop`` from the learning rate (the default under ``task=robust``).

**The class-collapse guard** (``collapse_guard``) holds the start back while a class the network merged into
a similar one is predicted far under its given share; see that module.  **A late start under pair-like
disagreements** (``late_under_pairs``: the concentration below at 2 or more, and the starting epoch's learning
rate under half its peak) runs in SAT's CE form whatever the loss's variant: late in a cooling schedule the SCE
form's reverse term pushes the given labels harder (docs/benchmarks.md §12l).

**Three gates** keep a fired rule from counting until the network is ready.  The fit gate (``min_fit``: 0,
off, by default; ``ROBUST_MIN_FIT`` 0.9 under ``task=robust``): the latest training passes predict the
given label for that share of samples.  Adversarial training takes its labels as clean, and TRADES+SAT
lost 1.2-1.9 PGD-20 points on a network fitting 68-82% of them (docs/benchmarks.md §7).  The stability
gate (``max_changes``, ``MAX_CHANGES`` 0.4; 1: off): the latest PC is at most that; SAT's targets average
the model's predictions, worth copying only once they settle (the rule fired at PC 0.48-0.53 in the short
augmented CIFAR-10 runs, where SAT lost at every start, and at 0.06-0.41 where it gained: §12f, in-sample).
The memorisation gate (``min_concentration``; ``SelfAdaptiveLoss``'s default ``MIN_CONCENTRATION`` 1.3, 0:
off): when the training passes' disagreements with the given labels spread almost evenly over the other
classes (``start_rules.disagreement_concentration`` under it: 1 for uniform noise, K - 1 for pair noise),
SAT waits until the network shows that it begins to memorise (``start_rules.memorisation_shown``: Label
Wave's minimum, or the noisy validation accuracy's plateau), and never starts if it does not.  Under
uniform noise SAT has nothing to correct until then and its soft targets only slow the fit of the clean
samples: it lost up to 1.2 points in the short runs where CE never memorises (docs/benchmarks.md §12h,
§12i).  Under pair and input-dependent noise an early start wins even there.  On the regime map the
concentration at the firing read 1.01-1.26 under uniform noise, 1.36-1.60 under instance noise (CIFAR-10's
1.24-1.35), 3.0-3.9 under pair noise (in-sample; §12i).

A rule fires at the end of epoch e for SAT to start at e + 1; if it never fires, the run is CE.  Why
``changes_slowdown`` is the default: it needs no held-out data, and on the regime map (§12) the best E_s was
early (2-5) in most cells, where the Label Wave minimum came at epochs 6-16 or never; the slowdown starts
SAT at 4-5 there.  The operational details (windows, thresholds, confirmation by one rise, start at the
next epoch) are ours.
"""
from __future__ import annotations

import torch
from torch import nn

from . import start_rules
from .collapse_guard import MIN_CLASS_RATIO, PAIR_LIKE_CONCENTRATION, CollapseGuard  # noqa: F401 (re-exported)
from .pass_record import PassRecord
from .start_rules import first_drop, first_local_minimum, first_slowdown, memorisation_shown, plateau

AUTO = "auto"
RULES = ("changes_slowdown", "prediction_changes", "noisy_val_plateau", "lr_drop")
#: each rule's window when none is given: smoothing for the PC rules, patience for the plateau (lr_drop: unused)
DEFAULT_WINDOW = {"changes_slowdown": 1, "prediction_changes": 3, "noisy_val_plateau": 3, "lr_drop": 1}
#: epochs of history kept; a rule that has not fired by then never fires
MAX_EPOCHS = 10_000
#: the per-epoch histories start this long and double when a run outgrows them (up to MAX_EPOCHS)
HISTORY = 64
HISTORIES = ("changes", "val_acc", "learning_rate")
#: task=robust: the rule counts once the training passes agree with this share of the given labels
ROBUST_MIN_FIT = 0.9
#: the stability gate: the rule counts once at most this share of training predictions changed in the last epoch
MAX_CHANGES = 0.4
#: the memorisation gate (SelfAdaptiveLoss's default; AutoStart's own is 0, off): below this disagreement
#: concentration (1: spread as by uniform noise) SAT waits for signs of memorisation
MIN_CONCENTRATION = 1.3


class AutoStart(CollapseGuard, PassRecord, nn.Module):
    """Per-sample and per-epoch state of the automatic start; buffers, so checkpoints carry it and a
    resumed run decides exactly as an uninterrupted one.

    Buffers: ``PassRecord``'s (``last_pred``, ``epoch_pred``, ``counts``: each sample's latest predicted class);
    ``changes`` (E,) float64, PC_e (NaN where not measured); ``val_acc`` and ``learning_rate`` (E,) float64,
    the figures fed in (NaN where absent), E growing with the run; ``epoch`` (), the epoch in progress (-1
    before the first step); ``chosen`` (), the start epoch once a rule has fired and the guard let it (-1
    until then); ``CollapseGuard``'s (``held_at``, ``held``);
    ``gated_at`` (), the first epoch at which the rule had fired but a gate kept it (-1: none);
    ``concentration`` (), the disagreement concentration the memorisation gate measured, or the guard's pair-like
    reading (NaN: not yet); ``plain_form`` (), whether SAT runs in its CE form once started (``late_under_pairs``).
    ``given_counts`` (K,) int64 and ``given_labels`` (N,), from ``labels`` when given (not saved: they are
    the labels'): the guard and the fit gate need them.
    """

    def __init__(self, num_samples: int, rule: str = RULES[0], window: int | None = None,
                 labels: torch.Tensor | None = None, num_classes: int | None = None,
                 min_class_ratio: float = MIN_CLASS_RATIO, min_fit: float = 0.0, max_changes: float = MAX_CHANGES,
                 min_concentration: float = 0.0):
        super().__init__()
        if rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
        window = DEFAULT_WINDOW[rule] if window is None else window
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        if not 0.0 <= min_class_ratio <= 1.0:
            raise ValueError(f"min_class_ratio must be in [0, 1], got {min_class_ratio}")
        if not 0.0 <= min_fit <= 1.0 or (min_fit > 0 and labels is None):
            raise ValueError(f"min_fit must be in [0, 1] (and needs labels), got {min_fit}")
        if not 0.0 <= max_changes <= 1.0:
            raise ValueError(f"max_changes must be in [0, 1], got {max_changes}")
        self.rule, self.window, self.min_class_ratio = rule, int(window), float(min_class_ratio)
        if not min_concentration >= 0.0:
            raise ValueError(f"min_concentration must be >= 0, got {min_concentration}")
        self.min_fit, self.max_changes, self.min_concentration = float(min_fit), float(max_changes), float(min_concentration)
        counts = None
        if labels is not None:
            labels = torch.as_tensor(labels).long().cpu()
            k = int(num_classes) if num_classes is not None else int(labels.max()) + 1
            counts = torch.bincount(labels, minlength=k)
        self.register_buffer("given_counts", counts, persistent=False)
        self.register_buffer("given_labels", None if labels is None else labels.int(), persistent=False)
        self._init_pass_record(num_samples)
        for name in HISTORIES:
            self.register_buffer(name, torch.full((HISTORY,), float("nan"), dtype=torch.float64))
        self.register_buffer("epoch", torch.tensor(-1, dtype=torch.int64))
        self.register_buffer("chosen", torch.tensor(-1, dtype=torch.int64))
        self.register_buffer("gated_at", torch.tensor(-1, dtype=torch.int64))
        self.register_buffer("concentration", torch.tensor(float("nan"), dtype=torch.float64))
        self.register_buffer("plain_form", torch.tensor(False))
        self._init_guard(0 if counts is None else len(counts))
        self._epoch = self._chosen = -1     # host copies of the two buffers read at every step (no device sync)
        self._plain = False                 # host copy of plain_form

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        if prefix + "called_off_at" in state_dict:      # the guard's first form called SAT off; now it holds
            state_dict[prefix + "held_at"] = state_dict.pop(prefix + "called_off_at")
        for name in ("held_at", "held", "gated_at", "learning_rate", "concentration", "epoch_pred",
                     "plain_form"):     # not in older ones
            state_dict.setdefault(prefix + name, getattr(self, name).clone())
        for name in HISTORIES:          # a history of another length (a longer run, or MAX_EPOCHS before)
            saved, own = state_dict.get(prefix + name), getattr(self, name)
            if saved is not None and saved.shape != own.shape:
                self._buffers[name] = torch.full(saved.shape, float("nan"), dtype=own.dtype, device=own.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._epoch, self._chosen, self._plain = int(self.epoch), int(self.chosen), bool(self.plain_form)

    def _put(self, name: str, epoch: int, value: float) -> None:
        """History ``name``[epoch] = value, doubling the buffer (NaN-padded) when the run outgrows it."""
        history = getattr(self, name)
        if not 0 <= epoch < MAX_EPOCHS:
            return
        if epoch >= len(history):
            grown = min(MAX_EPOCHS, max(2 * len(history), epoch + 1))
            self._buffers[name] = history = torch.cat([history, history.new_full((grown - len(history),), float("nan"))])
        history[epoch] = value

    def _choose(self, epoch: int) -> None:
        self.chosen.fill_(epoch)
        self._chosen = epoch
        self._plain = self.late_under_pairs()
        self.plain_form.fill_(self._plain)

    @property
    def plain(self) -> bool:
        """Whether SAT, once started, runs in its plain (CE) form whatever the loss's variant: the start came
        after the learning rate had halved (``late_under_pairs``)."""
        return self._plain

    def late_under_pairs(self) -> bool:
        """Whether a start now comes late under pair-like disagreements: the concentration measured (by the
        memorisation gate, or the guard) is at least ``PAIR_LIKE_CONCENTRATION``, and the learning rate fed in
        for the starting epoch (``observe_learning_rate``, which our trainers call before an epoch's first step)
        is under half the peak of those fed so far (under, not at: a cosine schedule's midpoint computes a hair
        over half).  SAT's SCE form then meets targets still close to the one-hot labels in a cooling schedule,
        and its reverse term pushes the given labels, flips included, harder: on CIFAR-10's pair-noise cells it
        lost 1.9 and 2.7 points from such starts where the CE form lost 0.2 and 0.4 (docs/benchmarks.md §12h,
        §12l).  Without the starting epoch's rate (a loop that feeds none, or feeds it after the epoch) the
        start keeps the loss's form."""
        if not float(self.concentration) >= PAIR_LIKE_CONCENTRATION:      # NaN: not measured
            return False
        return start_rules.under_fraction_of_peak(self.learning_rate[:max(0, self._epoch + 1)].tolist())

    @property
    def started(self) -> bool:
        return self._chosen >= 0

    def start_epoch(self) -> int | None:
        return self._chosen if self.started else None

    def begin(self, epoch: int) -> None:
        """Called at every step with its epoch: when a new epoch begins, close the previous one and
        apply the rule; when it fires, start SAT at this epoch, or hold it back if a class has
        collapsed, until every class is predicted again (``RESUME_CLASS_RATIO``; ``collapse_guard``)."""
        current = self._epoch
        if epoch == current:
            return
        if current >= 0:
            self._close(current)
        self.epoch.fill_(epoch)
        self._epoch = epoch
        if self.started or current < 0:
            return
        if self.was_held:
            if self.classes_back():
                self._choose(epoch)
        elif self.rule_fired():
            collapsed = self.collapsed_classes()
            # under pair-like disagreements the guard looks from the firing on, gates or not (``collapse_guard``)
            gates = self.fitted() and self.settled() and self.memorising()
            if collapsed and (gates or self.pair_like(collapsed)):
                self.held[collapsed] = True
                self.held_at.fill_(epoch)
            elif not gates:
                if int(self.gated_at) < 0:
                    self.gated_at.fill_(epoch)
            else:
                self._choose(epoch)

    def observe_validation(self, epoch: int, accuracy: float) -> None:
        """Accuracy on a validation split with the data's own (noisy) labels at the end of ``epoch``."""
        self._put("val_acc", epoch, float(accuracy))

    def observe_learning_rate(self, epoch: int, lr: float) -> None:
        """The learning rate of ``epoch`` (before its first step), for the ``lr_drop`` rule and a late start."""
        self._put("learning_rate", epoch, float(lr))

    def prediction_changes(self) -> list[float]:
        """PC_e of every closed epoch with a measurement (epoch 0 has no previous prediction)."""
        values = self.changes[:max(0, self._epoch)].tolist()
        return [v for v in values if v == v]

    def _close(self, epoch: int) -> None:
        changed, compared = self.merge_epoch()
        if compared:
            self._put("changes", epoch, changed / compared)

    def fit(self) -> float | None:
        """The share of samples whose latest training pass predicted the given label (None without labels or passes)."""
        latest = self.latest_pred()
        seen = latest >= 0
        if self.given_labels is None or not bool(seen.any()):
            return None
        return (latest[seen] == self.given_labels.to(seen.device)[seen]).double().mean().item()

    def fitted(self) -> bool:
        """Whether the fit gate lets the rule count: off (``min_fit`` 0), or ``fit() >= min_fit``."""
        return self.min_fit <= 0 or (self.fit() or 0.0) >= self.min_fit

    def settled(self) -> bool:
        """Whether the stability gate lets the rule count: the latest measured PC is at most ``max_changes``
        (1: off; no measurement yet: open)."""
        changes = self.prediction_changes()
        return not changes or changes[-1] <= self.max_changes

    def memorising(self) -> bool:
        """Whether the memorisation gate (module docstring) lets the rule count: off (``min_concentration`` 0, no
        labels, or a rule other than ``changes_slowdown``, the one that fires before memorisation by design);
        the disagreements concentrated enough (measured once, the first time this is asked: when the rule
        would otherwise start SAT; none to measure, as with two classes: open); or
        ``start_rules.memorisation_shown`` on PC and the noisy validation accuracy fed in."""
        if self.min_concentration <= 0 or self.given_labels is None or self.rule != "changes_slowdown":
            return True
        if bool(self.concentration.isnan()):
            self.concentration.fill_(self.measure_concentration())
        if float(self.concentration) >= self.min_concentration:
            return True
        val_acc = [v for v in self.val_acc[:max(0, self._epoch)].tolist() if v == v]
        return memorisation_shown(self.prediction_changes(), val_acc)

    def rule_fired(self) -> bool:
        """Whether the rule itself has fired on the epochs closed so far (the guard aside)."""
        if self.rule == "changes_slowdown":
            return first_slowdown(self.prediction_changes(), self.window) is not None
        if self.rule == "prediction_changes":
            return first_local_minimum(self.prediction_changes(), self.window) is not None
        fed = self.learning_rate if self.rule == "lr_drop" else self.val_acc
        values = [v for v in fed[:max(0, self._epoch)].tolist() if v == v]     # closed epochs, fed in
        return (first_drop(values) if self.rule == "lr_drop" else plateau(values, self.window)) is not None

    def extra_repr(self) -> str:
        return (f"rule={self.rule!r}, window={self.window}, min_class_ratio={self.min_class_ratio}, "
                f"min_fit={self.min_fit}, max_changes={self.max_changes}, min_concentration={self.min_concentration}, "
                f"chosen={self.start_epoch()}, held_at={int(self.held_at)}")

