"""start_epoch="auto": the rules on synthetic curves, the loss in a hand-written loop, exact resume
across the switch, and the run-level fields."""
import json
import math

import pytest
import torch
import torch.nn.functional as F
from helpers import ROBUST_OVERRIDES

from selfadaptive import SelfAdaptiveLoss, load_config, train
from selfadaptive.engine.selection import KEEP_SELECTED_P, sign_test_p
from selfadaptive.losses.auto_start import DEFAULT_WINDOW, RULES, AutoStart
from selfadaptive.losses.start_rules import (
    first_drop,
    first_local_minimum,
    first_slowdown,
    moving_average,
    plateau,
    under_fraction_of_peak,
)


def test_moving_average_is_trailing():
    assert moving_average([3, 1, 2, 6], 2) == [3, 2, 1.5, 4]


def test_first_local_minimum_fires_after_the_dip_and_never_on_flat_or_falling_curves():
    wave = [0.6, 0.3, 0.2, 0.15, 0.12, 0.14, 0.2, 0.3]
    assert first_local_minimum(wave, window=1) == 4
    # window 3: smoothed 0.6, .45, .367, .217, .157, .137, .153 -> the minimum is at position 5
    assert first_local_minimum(wave, window=3) == 5
    assert first_local_minimum(wave[:5], window=1) is None          # no rise seen yet
    assert first_local_minimum([0.1] * 30, window=1) is None        # a flat curve never fires
    assert first_local_minimum([1 / (e + 1) for e in range(30)], window=3) is None     # nor a falling one
    # a one-epoch blip inside a falling curve is smoothed away by the window
    blip = [0.5, 0.4, 0.3, 0.31, 0.2, 0.1, 0.05]
    assert first_local_minimum(blip, window=1) == 2 and first_local_minimum(blip, window=3) is None


def test_first_slowdown_fires_when_the_fall_halves_and_never_on_flat_or_rising_curves():
    # falls 0.4, 0.04: the second fall is below half the first -> position 2
    digits_like = [0.6, 0.2, 0.16, 0.15, 0.1]
    assert first_slowdown(digits_like) == 2
    assert first_slowdown(digits_like[:2]) is None                  # one fall: nothing to compare with yet
    # falls 0.1, 0.08, 0.06, 0.045 (ratio 0.75 per epoch): 0.045 <= 0.05 at position 4
    geometric = [0.5, 0.4, 0.32, 0.26, 0.215, 0.18]
    assert first_slowdown(geometric) == 4
    # a steadily falling curve whose falls never shrink does not fire; one that turns up does
    assert first_slowdown([0.5 - 0.04 * e for e in range(10)]) is None
    assert first_slowdown([0.5, 0.4, 0.3, 0.35]) == 3
    assert first_slowdown([0.1] * 30) is None                        # flat: no fall to compare with
    assert first_slowdown([0.1 + 0.01 * e for e in range(30)]) is None    # rising from the start
    # the fraction is the threshold: the falls 0.04 and 0.01 are 0.1 and 0.025 of the steepest
    assert first_slowdown(digits_like, fraction=0.05) == 3
    # smoothing over 2: 0.6, 0.4, 0.18, 0.155, 0.125 -> falls .2, .22, .025: fires at position 3
    assert first_slowdown(digits_like, window=2) == 3
    # every rule has a default window, and the slowdown is the default rule
    assert RULES[0] == "changes_slowdown" and set(DEFAULT_WINDOW) == set(RULES)


def test_under_fraction_of_peak_reads_the_last_rate_strictly():
    import math
    cosine = [0.5 * (1 + math.cos(math.pi * e / 30)) for e in range(17)]
    assert not under_fraction_of_peak(cosine[:16])          # epoch 15 of 30: a hair over half
    assert under_fraction_of_peak(cosine)                   # epoch 16
    assert not under_fraction_of_peak([1.0, 0.5]) and under_fraction_of_peak([1.0, float("nan"), 0.4])
    assert not under_fraction_of_peak([]) and not under_fraction_of_peak([1.0, 0.1, float("nan")])


def test_plateau():
    assert plateau([0.5, 0.6, 0.7, 0.7, 0.69, 0.68], patience=3) == 5
    assert plateau([0.1, 0.2, 0.3, 0.4], patience=1) is None
    assert plateau([0.5] * 3, patience=2) == 2


def _logits_for(pred: torch.Tensor, k: int) -> torch.Tensor:
    return F.one_hot(pred, k).float() * 5.0


def test_loss_in_a_hand_written_loop_switches_where_the_changes_turn_up():
    """N = 100 samples; from epoch to epoch the first m samples change their predicted class, with
    m = 50, 30, 10, 5, 20, 40: PC falls to epoch 4 and rises at 5 (window 1), so SAT starts at 6."""
    n, k = 100, 4
    labels = torch.arange(n) % k
    crit = SelfAdaptiveLoss(labels, k, momentum=0.9, start_epoch="auto", auto_rule="prediction_changes", auto_window=1)
    pred = labels.clone()
    flips = {1: 50, 2: 30, 3: 10, 4: 5, 5: 20, 6: 40, 7: 40}
    for epoch in range(8):
        m = flips.get(epoch, 0)
        pred[:m] = (pred[:m] + 1) % k
        for idx in torch.arange(n).split(25):
            logits = _logits_for(pred[idx], k).requires_grad_(True)
            loss = crit(logits, labels[idx], idx, epoch)
            if epoch < 6:       # plain cross-entropy, bank untouched
                assert loss.item() == pytest.approx(F.cross_entropy(logits, labels[idx]).item(), rel=1e-6)
                assert torch.equal(crit.soft_targets, F.one_hot(labels, k).float())
    assert crit.start_epoch_chosen == 6
    assert not torch.equal(crit.soft_targets, F.one_hot(labels, k).float())       # SAT ran in epochs 6-7
    assert crit.auto.prediction_changes() == pytest.approx([0.5, 0.3, 0.1, 0.05, 0.2])


def test_default_rule_in_a_hand_written_loop_starts_once_the_changes_slow_down():
    """The README's loop with the default rule: m = 60, 20, 16, 12 of N = 100 samples change class
    at epochs 1-4, so PC = 0.6, 0.2, 0.16 (falls 0.4, then 0.04 <= 0.2): the rule fires when epoch 3
    closes and SAT starts at epoch 4, while the changes are still falling (the Label Wave minimum
    would not have come yet)."""
    n, k = 100, 4
    labels = torch.arange(n) % k
    crit = SelfAdaptiveLoss(labels, k, momentum=0.9, start_epoch="auto")
    assert crit.auto.rule == "changes_slowdown" and crit.auto.window == 1
    pred = labels.clone()
    flips = {1: 60, 2: 20, 3: 16, 4: 12, 5: 8}
    for epoch in range(6):
        pred[:flips.get(epoch, 0)] = (pred[:flips.get(epoch, 0)] + 1) % k
        for idx in torch.arange(n).split(25):
            logits = _logits_for(pred[idx], k).requires_grad_(True)
            loss = crit(logits, labels[idx], idx, epoch)
            if epoch < 4:
                assert loss.item() == pytest.approx(F.cross_entropy(logits, labels[idx]).item(), rel=1e-6)
                assert torch.equal(crit.soft_targets, F.one_hot(labels, k).float())
            loss.backward()
    assert crit.start_epoch_chosen == 4
    assert crit.auto.prediction_changes() == pytest.approx([0.6, 0.2, 0.16])
    assert not torch.equal(crit.soft_targets, F.one_hot(labels, k).float())


def test_a_rule_that_never_fires_is_plain_cross_entropy():
    labels = torch.tensor([0, 1, 2, 0])
    crit = SelfAdaptiveLoss(labels, 3, start_epoch="auto")
    for epoch in range(12):
        logits = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))    # the same every epoch: PC = 0
        assert crit(logits, labels, torch.arange(4), epoch).item() == pytest.approx(
            F.cross_entropy(logits, labels).item(), rel=1e-6)
    assert crit.start_epoch_chosen is None and crit.auto.prediction_changes() == [0.0] * 10     # epochs 1-10 closed


def test_noisy_validation_plateau_rule():
    labels = torch.tensor([0, 1])
    crit = SelfAdaptiveLoss(labels, 2, start_epoch="auto", auto_rule="noisy_val_plateau", auto_window=2)
    for epoch, acc in enumerate([0.5, 0.6, 0.7, 0.7, 0.65, 0.9]):
        crit(torch.zeros(2, 2), labels, torch.arange(2), epoch)
        crit.observe_validation(epoch, acc)
    # no gain over 0.7 at epochs 3 and 4 -> fires when epoch 5 begins
    assert crit.start_epoch_chosen == 5


def test_exact_resume_across_the_switch():
    """A copy restored from a state_dict taken mid-epoch, before the rule fired, continues exactly."""
    n, k = 60, 3
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, k, (n,), generator=g)
    steps = [(epoch, idx) for epoch in range(10) for idx in torch.randperm(n, generator=g).split(20)]
    logits = [torch.randn(len(idx), k, generator=g) * (1 + e) for e, idx in steps]

    def run(crit, part):
        return [crit(logits[i], labels[steps[i][1]], steps[i][1], steps[i][0]).item() for i in part]

    # random logits change most predictions every epoch: the stability gate is off to let the rule decide
    a = SelfAdaptiveLoss(labels, k, start_epoch="auto", auto_window=1, auto_max_changes=1.0)
    full = run(a, range(len(steps)))
    b = SelfAdaptiveLoss(labels, k, start_epoch="auto", auto_window=1, auto_max_changes=1.0)
    first = run(b, range(7))                            # stop in the middle of epoch 2
    c = SelfAdaptiveLoss(labels, k, start_epoch="auto", auto_window=1, auto_max_changes=1.0)
    c.load_state_dict(b.state_dict())
    rest = run(c, range(7, len(steps)))
    assert a.start_epoch_chosen is not None and a.start_epoch_chosen > 2      # the switch came after the stop
    assert first + rest == full
    assert c.start_epoch_chosen == a.start_epoch_chosen and torch.equal(c.soft_targets, a.soft_targets)


def test_prediction_changes_counted_at_the_epoch_end_equal_a_step_by_step_count_and_old_checkpoints_resume():
    """PC_e is counted once per epoch from the stored classes; a reference counts it step by step, as the
    loss did before (and as its checkpoints taken mid-epoch still hold: per-step counts, no ``epoch_pred``)."""
    n, k, epochs = 90, 4, 5
    g = torch.Generator().manual_seed(3)
    labels = torch.randint(0, k, (n,), generator=g)
    steps = [(e, idx) for e in range(epochs) for idx in torch.randperm(n, generator=g).split(25)]
    preds = [torch.randint(0, k, (len(idx),), generator=g) for _, idx in steps]

    last, reference = torch.full((n,), -1), []        # the definition, one step at a time
    for e in range(epochs):
        changed = compared = 0
        for (epoch, idx), pred in zip(steps, preds):
            if epoch == e:
                seen = last[idx] >= 0
                changed, compared = changed + int((seen & (last[idx] != pred)).sum()), compared + int(seen.sum())
                last[idx] = pred
        reference.append(changed / compared if compared else None)

    def drive(auto, part):
        for i in part:
            auto.begin(steps[i][0])
            auto.record(steps[i][1], preds[i])

    auto = AutoStart(n, labels=labels, num_classes=k)
    drive(auto, range(len(steps)))
    auto.begin(epochs)                              # closes the last epoch
    assert auto.prediction_changes() == pytest.approx([r for r in reference if r is not None], abs=0)
    assert auto.epoch_counts() == (0, 0) and torch.equal(auto.last_pred, last.int())

    half = AutoStart(n, labels=labels, num_classes=k)       # stopped after 2 of epoch 2's 4 steps
    drive(half, range(10))
    assert half.epoch_counts()[1] == 50 and torch.equal(half.latest_pred()[steps[9][1]], preds[9].int())
    legacy = dict(half.state_dict())                    # the same moment as the per-step code saved it
    legacy["last_pred"], counts = half.latest_pred(), half.epoch_counts()
    legacy["counts"] = torch.tensor(counts)
    del legacy["epoch_pred"]
    for state in (half.state_dict(), legacy):
        again = AutoStart(n, labels=labels, num_classes=k)
        again.load_state_dict(state)
        assert again.epoch_counts() == counts
        drive(again, range(10, len(steps)))
        again.begin(epochs)
        assert again.prediction_changes() == auto.prediction_changes()
        assert torch.equal(again.last_pred, auto.last_pred)


def test_bad_arguments():
    with pytest.raises(ValueError, match="start_epoch"):
        SelfAdaptiveLoss(torch.tensor([0, 1]), 2, start_epoch="later")
    with pytest.raises(ValueError, match="rule"):
        AutoStart(3, rule="magic")


@pytest.mark.slow
def test_sat_train_auto_writes_the_chosen_epoch_and_the_selected_model(tmp_path):
    over = ["model.base_width=64", "optim.lr=0.05", "data.batch_size=32", "optim.epochs=8",
            "optim.schedule=constant", "loss.start_epoch=auto", "loss.auto_window=1", "data.val_fraction=0.1",
            "log.progress=false"]
    summary = train(load_config(None, over), tmp_path / "run", quiet=True)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    chosen = summary["start_epoch_chosen"]
    assert summary["start_epoch"] == "auto" and chosen is not None and 2 < chosen < 8
    assert summary["variant"] == "sce"                          # the default form for noisy labels
    assert [r["sat_started"] for r in rows] == [e >= chosen for e in range(8)]
    assert all(r["prediction_changes"] is not None for r in rows[1:chosen])
    # the collapse guard's reading is logged until SAT starts, and it did not hold the start
    assert all(r["min_class_ratio"] >= 0.3 for r in rows[:chosen]) and "min_class_ratio" not in rows[-1]
    # model selection on the noisy validation labels: the epoch with the best val_acc_noisy, its weights kept
    best = max(rows, key=lambda r: r["val_acc_noisy"])
    assert summary["selected_by"] == "val_acc_noisy" and summary["selected_epoch"] == best["epoch"]
    assert summary["test_acc_at_selected"] == best["test_acc"]
    # what a user compares runs by: accuracy on the validation split's own labels
    assert summary["selection_val_acc_at_selected"] == best["val_acc_noisy"]
    assert summary["selection_val_acc_last"] == rows[-1]["val_acc_noisy"] != rows[-1]["val_acc"]
    kept = torch.load(tmp_path / "run" / "selected_model.pt", weights_only=True)
    assert kept["epoch"] == best["epoch"] and not math.isnan(kept["val_acc_noisy"])
    # which model to use: the disagreements between the two models on the same split add up to the
    # accuracy gap the epoch rows recorded, and the verdict follows the sign test's level
    if best["epoch"] == 7:
        assert summary["model_to_use"] == "last" and "selection_p_value" not in summary
    else:
        m = summary["selection_val_size"]
        gap = summary["selection_val_acc_at_selected"] - summary["selection_val_acc_last"]
        assert round(gap * m) == summary["selection_wins"] - summary["selection_losses"]
        assert summary["selection_p_value"] == pytest.approx(sign_test_p(summary["selection_wins"],
                                                                         summary["selection_losses"]))
        assert summary["model_to_use"] == ("selected" if summary["selection_p_value"] < KEEP_SELECTED_P else "last")


# ---- the class-collapse guard ------------------------------------------------------------------


def _drive(auto: AutoStart, labels: torch.Tensor, epochs: int, class_3_found) -> list[bool]:
    """N = 200 samples, 4 classes of 50.  Epoch e flips the first c_e of the class-0/1 samples between
    0 and 1 (c = 0, 60, 80, 96, 100, ...: PC = 0.3, 0.1, 0.08, 0.02, 0, so the default rule fires when
    epoch 3 closes), and predicts only the first ``class_3_found(e)`` class-3 samples as 3, the rest
    as class 2.  Returns whether the start had been chosen as each epoch began."""
    low = (labels < 2).nonzero().flatten()
    three = (labels == 3).nonzero().flatten()
    cuts = [0, 60, 80, 96] + [100] * epochs
    started = []
    for e in range(epochs):
        pred = labels.clone()
        pred[low[:cuts[e]]] = 1 - pred[low[:cuts[e]]]
        pred[three[class_3_found(e):]] = 2
        auto.begin(e)
        started.append(auto.started)
        auto.record(torch.arange(len(labels)), pred)
    return started


def test_the_collapse_guard_holds_the_start_until_the_class_is_predicted_again():
    labels = torch.arange(200) % 4
    free = AutoStart(200, labels=labels, num_classes=4)
    _drive(free, labels, 9, lambda e: 50)
    assert free.start_epoch() == 4 and not free.was_held       # the rule alone: SAT from epoch 4
    early = AutoStart(200, labels=labels, num_classes=4)
    _drive(early, labels, 9, lambda e: 50 if e >= 3 else 0)    # class 3 is back in epoch 3, before the rule fires
    assert early.start_epoch() == 4 and not early.was_held
    # class 3 is missing when the rule fires (epoch 3 closes), at 0.4 of its share in epochs 4-5
    # (over the trip threshold, under the resume one) and at 0.5 from epoch 6: SAT starts at 7
    late = AutoStart(200, labels=labels, num_classes=4)
    started = _drive(late, labels, 9, lambda e: 0 if e < 4 else 20 if e < 6 else 25)
    assert int(late.held_at) == 4 and late.held.tolist() == [False, False, False, True]
    assert late.start_epoch() == 7 and started == [False] * 7 + [True] * 2
    never = AutoStart(200, labels=labels, num_classes=4)
    _drive(never, labels, 9, lambda e: 0 if e < 4 else 20)      # stays at 0.4: SAT never starts
    assert never.was_held and never.start_epoch() is None and never.collapsed_classes() == []
    off = AutoStart(200, labels=labels, num_classes=4, min_class_ratio=0.0)
    _drive(off, labels, 9, lambda e: 0)
    assert off.start_epoch() == 4 and off.collapsed_classes() == [] and not off.was_held


def test_under_pair_like_disagreements_the_guard_holds_while_a_gate_does():
    """The stability gate (``max_changes`` 0.05) keeps ``_drive``'s fired rule from counting at epoch 4 (PC 0.08);
    with class 3 collapsed, pair-like disagreements make the guard hold there, spread ones (gate's reading off)
    leave it to the gate, and the hold comes at 5, once the gate opens."""
    labels = torch.arange(200) % 4
    pair = AutoStart(200, labels=labels, num_classes=4, min_concentration=1.3, max_changes=0.05)
    _drive(pair, labels, 9, lambda e: 0 if e < 5 else 50)
    assert int(pair.held_at) == 4 and int(pair.gated_at) == -1 and pair.start_epoch() == 6
    plain = AutoStart(200, labels=labels, num_classes=4, max_changes=0.05)
    _drive(plain, labels, 9, lambda e: 0 if e < 5 else 50)
    assert int(plain.gated_at) == 4 and int(plain.held_at) == 5 and plain.start_epoch() == 6


def test_a_late_start_under_pair_like_disagreements_runs_in_the_ce_form():
    """``_drive``'s pair-like run starts at epoch 4.  With the rate fed in for epoch 4 under half the peak (0.03
    of 0.1), SAT runs in its CE form; at exactly half, or higher, or with the gate's reading off (no concentration
    measured), in the loss's own form.  The choice resumes with the state."""
    labels = torch.arange(200) % 4

    def started(rates, **kw):
        auto = AutoStart(200, labels=labels, num_classes=4, **kw)
        for e, lr in enumerate(rates):
            auto.observe_learning_rate(e, lr)           # later epochs' rates are not read before they close
        _drive(auto, labels, 6, lambda e: 50)
        assert auto.start_epoch() == 4
        return auto

    late = started([0.1, 0.09, 0.07, 0.05, 0.03, 0.01], min_concentration=1.3)
    assert late.plain and bool(late.plain_form) and float(late.concentration) == pytest.approx(3.0)
    assert not started([0.1, 0.09, 0.07, 0.06, 0.05, 0.01], min_concentration=1.3).plain      # half: not under
    assert not started([0.1] * 6, min_concentration=1.3).plain
    assert not started([0.1, 0.09, 0.07, 0.05, 0.03, 0.01]).plain           # gate off: nothing measured
    again = AutoStart(200, labels=labels, num_classes=4, min_concentration=1.3)
    again.load_state_dict(late.state_dict())
    assert again.plain
    old = {k: v for k, v in late.state_dict().items() if k != "plain_form"}
    before = AutoStart(200, labels=labels, num_classes=4, min_concentration=1.3)
    before.load_state_dict(old)                                         # checkpoints from before it load
    assert not before.plain


def test_the_plain_form_after_a_late_start_is_the_ce_variant_step_for_step():
    """Once ``AutoStart.plain`` holds, the SCE-form loss computes the CE form: loss, gradient and bank equal
    those of ``variant="ce"`` from the same state."""
    g = torch.Generator().manual_seed(3)
    labels = torch.randint(0, 5, (40,), generator=g)
    auto = SelfAdaptiveLoss(labels, 5, start_epoch="auto", variant="sce")
    plain = SelfAdaptiveLoss(labels, 5, start_epoch=0, variant="ce")
    auto.auto._choose(0)
    auto.auto._plain = True
    for step in range(3):
        index = torch.randperm(40, generator=g)[:8]
        z = torch.randn(8, 5, generator=g) * 3
        za, zp = z.clone().requires_grad_(), z.clone().requires_grad_()
        la, lp = auto(za, labels[index], index, 1), plain(zp, labels[index], index, 1)
        la.backward()
        lp.backward()
        assert torch.equal(la, lp) and torch.equal(za.grad, zp.grad)
    assert torch.equal(auto.soft_targets, plain.soft_targets)


def test_a_run_whose_start_came_late_trains_the_ce_form_and_says_so(tmp_path, monkeypatch):
    """The trainer's side: a start read as late under pair-like disagreements (forced here) trains exactly as
    ``loss.variant=ce`` from the same epoch, and the summary and headline say which form ran."""
    from selfadaptive.training.records import headline

    over = ["model.base_width=64", "optim.epochs=6", "log.progress=false", "loss.auto_min_concentration=0",
            "loss.auto_min_class_ratio=0", "loss.auto_max_changes=1"]      # every gate off: the rule alone
    monkeypatch.setattr(AutoStart, "late_under_pairs", lambda self: True)
    summary = train(load_config(None, over + ["loss.start_epoch=auto"]), tmp_path / "auto", quiet=True)
    start = summary["start_epoch_chosen"]
    assert start is not None and summary["start_variant"] == "ce" and summary["variant"] == "sce"
    monkeypatch.undo()
    train(load_config(None, over + [f"loss.start_epoch={start}", "loss.variant=ce"]), tmp_path / "ce", quiet=True)
    rows, ce = ([json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
                for name in ("auto", "ce"))
    assert [(r["train_loss"], r["test_acc"]) for r in rows] == [(r["train_loss"], r["test_acc"]) for r in ce]
    assert "in its CE form" in headline(summary)


def test_a_collapse_under_spread_disagreements_is_read_after_the_gates():
    """Disagreements spread over the other classes (as under uniform noise, or a rare class absorbed by
    several neighbours) with a collapsed class: the reading over the classes that did not collapse is not
    pair-like, so the gates come first (here none holds) and the guard holds at the firing.  K = 5,
    100 samples a class; class 4 is predicted as 0-3 in turn until epoch 6; among the other classes the first
    c_e samples are predicted as one of their 3 other classes (c = 0, 60, 80, 96, 100, ...: PC falls, and the
    rule fires when epoch 3 closes).  The memorisation gate's level is set low so that its reading counts
    but never holds."""
    k, n = 5, 500
    labels = torch.arange(n) % k
    auto = AutoStart(n, labels=labels, num_classes=k, min_concentration=0.5)
    low = (labels < 4).nonzero().flatten()
    cuts = [0, 60, 80, 96] + [100] * 6
    for e in range(10):
        pred = labels.clone()
        w = low[:cuts[e]]
        pred[w] = (labels[w] + 1 + w % 3) % 4
        if e < 6:
            rare = (labels == 4).nonzero().flatten()
            pred[rare] = rare % 4
        auto.begin(e)
        auto.record(torch.arange(n), pred)
    assert auto.measure_concentration([4]) < 2.0 and not auto.pair_like([4])
    assert int(auto.held_at) == 4 and auto.held.tolist() == [False] * 4 + [True] and auto.start_epoch() == 7


def test_a_held_start_waits_for_every_class_not_only_the_ones_held_for():
    labels = torch.arange(200) % 4
    auto = AutoStart(200, labels=labels, num_classes=4)
    _drive(auto, labels, 4, lambda e: 0)                        # epochs 0-3: class 3 never predicted
    pred = labels.clone()
    pred[(labels == 0).nonzero().flatten()[20:]] = 1            # epoch 4: class 3 is back, class 0 at 0.4
    for epoch, epoch_pred in ((4, pred), (5, labels), (6, labels)):
        auto.begin(epoch)
        auto.record(torch.arange(200), epoch_pred)
    assert int(auto.held_at) == 4 and auto.held.tolist() == [False, False, False, True]
    assert auto.start_epoch() == 6                              # not 5: class 0 was under 0.5 in epoch 4


def test_collapsed_classes_compares_predicted_and_given_shares():
    labels = torch.cat([torch.zeros(100), torch.ones(100), torch.full((50,), 2), torch.full((10,), 3)]).long()
    auto = AutoStart(len(labels), labels=labels, num_classes=4)
    assert auto.collapsed_classes() == []                       # no pass yet
    pred = labels.clone()
    pred[200:236] = 0                                           # class 2: 14 of 50 predicted, 0.28 of its share
    pred[250:] = 0                                              # class 3 never predicted, but only 10 labels
    auto.record(torch.arange(len(labels)), pred)
    assert auto.collapsed_classes() == [2]
    pred[200:202] = 2                                           # 16 of 50: 0.32, above the ratio
    auto.record(torch.arange(len(labels)), pred)
    assert auto.collapsed_classes() == []
    assert AutoStart(len(labels)).collapsed_classes() == []     # without labels the guard is off
    with pytest.raises(ValueError, match="min_class_ratio"):
        AutoStart(10, labels=torch.zeros(10).long(), min_class_ratio=1.5)


def test_the_guard_state_resumes_and_checkpoints_from_before_it_still_load():
    labels = torch.arange(200) % 4
    auto = AutoStart(200, labels=labels, num_classes=4)
    _drive(auto, labels, 6, lambda e: 0)
    state = auto.state_dict()
    assert "given_counts" not in state                          # it is the labels', rebuilt at construction
    again = AutoStart(200, labels=labels, num_classes=4)
    again.load_state_dict(state)
    assert again.was_held and int(again.held_at) == 4 and again.held.tolist() == [False, False, False, True]
    for e in (6, 7):                                            # resumed: it goes on holding, then starts
        again.begin(e)
        again.record(torch.arange(200), labels)
    assert again.start_epoch() == 7
    old = {k: v for k, v in state.items() if k not in ("held", "held_at")}
    before = AutoStart(200, labels=labels, num_classes=4)
    before.load_state_dict(old)                                 # strict: the new buffers take their defaults
    assert not before.was_held and not before.held.any()
    first_form = {**old, "held": state["held"], "called_off_at": state["held_at"]}
    called_off = AutoStart(200, labels=labels, num_classes=4)
    called_off.load_state_dict(first_form)                      # session 16's name for the epoch
    assert int(called_off.held_at) == 4


def test_the_histories_grow_with_the_run_and_checkpoints_of_any_length_load():
    """The per-epoch histories start at HISTORY entries and double, NaN-padded, when a run outgrows them;
    a state of another length (a longer run, or the fixed MAX_EPOCHS of earlier versions) loads, and the
    host copies of ``epoch`` and ``chosen`` (read at every step) follow the loaded buffers."""
    from selfadaptive.losses.auto_start import HISTORY, MAX_EPOCHS
    labels = torch.arange(200) % 4
    auto = AutoStart(200, labels=labels, num_classes=4, rule="noisy_val_plateau", window=1000)   # never fires
    assert len(auto.val_acc) == HISTORY and state_bytes(auto) < 10_000
    for e in range(HISTORY + 3):
        auto.begin(e)
        auto.record(torch.arange(200), (labels + e) % 4)        # every prediction changes: PC = 1
        auto.observe_validation(e, e / 1000)
    assert len(auto.val_acc) == len(auto.changes) == 2 * HISTORY
    assert auto.val_acc[:HISTORY + 3].tolist() == [e / 1000 for e in range(HISTORY + 3)]
    assert auto.val_acc[HISTORY + 3:].isnan().all()
    assert auto.prediction_changes() == [1.0] * (HISTORY + 1)   # epochs 1..HISTORY+1 closed
    again = AutoStart(200, labels=labels, num_classes=4, rule="noisy_val_plateau", window=1000)
    again.load_state_dict(auto.state_dict())
    assert torch.equal(again.val_acc.nan_to_num(-1), auto.val_acc.nan_to_num(-1))
    assert again.prediction_changes() == auto.prediction_changes() and again._epoch == HISTORY + 2
    old = {k: v for k, v in auto.state_dict().items()}          # earlier versions kept MAX_EPOCHS entries
    for name in ("changes", "val_acc", "learning_rate"):
        old[name] = torch.cat([old[name], torch.full((MAX_EPOCHS - len(old[name]),), float("nan"), dtype=torch.float64)])
    old["chosen"] = torch.tensor(5)
    before = AutoStart(200, labels=labels, num_classes=4)
    before.load_state_dict(old)
    assert len(before.changes) == MAX_EPOCHS and before.started and before.start_epoch() == 5
    assert before.prediction_changes() == auto.prediction_changes()


def state_bytes(module) -> int:
    return sum(t.numel() * t.element_size() for t in module.state_dict().values())


def test_a_held_run_is_cross_entropy_until_sat_starts_and_says_which_classes(tmp_path):
    """With the ratio at 1.0 some class is always predicted less often than it is given, so the guard
    holds the start when the rule fires; until SAT starts the run is CE's, step for step."""
    from selfadaptive.training.records import headline

    over = ["model.base_width=64", "optim.epochs=6", "loss.start_epoch=auto", "loss.auto_min_class_ratio=1.0",
            "log.progress=false"]
    summary = train(load_config(None, over), tmp_path / "run", quiet=True)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert summary["start_held_classes"] and all(0 <= c < 10 for c in summary["start_held_classes"])
    assert 0 < summary["start_held_epoch"] < 6
    chosen = summary["start_epoch_chosen"]
    assert chosen is None or chosen > summary["start_held_epoch"]
    assert [r["sat_started"] for r in rows] == [chosen is not None and r["epoch"] >= chosen for r in rows]
    assert all(r["min_class_ratio"] < 1.0 for r in rows if not r["sat_started"])
    assert ("held back" if chosen is not None else "SAT never started") in headline(summary)
    train(load_config(None, over[:2] + ["loss.name=ce", "log.progress=false"]), tmp_path / "ce", quiet=True)
    ce = [json.loads(line) for line in (tmp_path / "ce" / "metrics.jsonl").read_text().splitlines()]
    until = len(rows) if chosen is None else chosen
    assert [(r["train_loss"], r["test_acc"]) for r in rows[:until]] == [(r["train_loss"], r["test_acc"]) for r in ce[:until]]


def test_the_headline_says_whether_a_held_start_came():
    from selfadaptive.training.records import headline

    base = {"loss": "sat", "test_acc_last": 0.5, "test_acc_best": 0.5, "best_epoch": 1, "start_epoch": "auto",
            "start_held_epoch": 4, "start_held_classes": [6], "auto_min_class_ratio": 0.3}
    assert "SAT started at epoch 9; it was held back" in headline({**base, "start_epoch_chosen": 9})
    assert "SAT never started" in headline({**base, "start_epoch_chosen": None})
    plain = {k: v for k, v in base.items() if not k.startswith("start_held")}
    assert "the rule never fired" in headline({**plain, "start_epoch_chosen": None})
    late = headline({**base, "start_epoch_chosen": 12, "start_variant": "ce", "start_concentration": 2.2})
    assert "SAT started at epoch 12 in its CE form" in late and "concentration 2.20" in late



# ---- the fit gate (task=robust) ---------------------------------------------------------------


def _drive_fit(auto: AutoStart, labels: torch.Tensor, wrong: list[int]) -> None:
    """Epoch e predicts the first ``wrong[e]`` samples as the next class and the rest as labelled: with
    N = 200 and wrong = 120, 60, 40, 30, 25, 18, 10, PC falls 0.3, 0.1, 0.05 (the default rule fires
    when epoch 3 closes) while the fit rises 0.40, 0.70, 0.80, 0.85, 0.875, 0.91, 0.95."""
    for e, m in enumerate(wrong):
        pred = labels.clone()
        pred[:m] = (labels[:m] + 1) % 4
        auto.begin(e)
        auto.record(torch.arange(len(labels)), pred)


def test_the_fit_gate_holds_the_rule_until_the_passes_fit_the_labels():
    labels = torch.arange(200) % 4
    wrong = [120, 60, 40, 30, 25, 18, 10, 10]
    free = AutoStart(200, labels=labels, num_classes=4)
    _drive_fit(free, labels, wrong)
    assert free.start_epoch() == 4 and int(free.gated_at) == -1     # the rule alone
    gated = AutoStart(200, labels=labels, num_classes=4, min_fit=0.9)
    _drive_fit(gated, labels, wrong)
    # epoch 4 begins: the rule has fired but epoch 3's passes fit 0.85; epoch 5's fit 0.91: SAT from 6
    assert int(gated.gated_at) == 4 and gated.start_epoch() == 6
    never = AutoStart(200, labels=labels, num_classes=4, min_fit=0.99)
    _drive_fit(never, labels, wrong)
    assert int(never.gated_at) == 4 and never.start_epoch() is None and never.fit() == pytest.approx(0.95)
    state = never.state_dict()                                      # it resumes, and older checkpoints load
    again = AutoStart(200, labels=labels, num_classes=4, min_fit=0.99)
    again.load_state_dict(state)
    assert int(again.gated_at) == 4 and again.fit() == pytest.approx(0.95)
    before = AutoStart(200, labels=labels, num_classes=4, min_fit=0.99)
    before.load_state_dict({k: v for k, v in state.items() if k != "gated_at"})
    assert int(before.gated_at) == -1
    with pytest.raises(ValueError, match="min_fit"):
        AutoStart(10, labels=torch.zeros(10).long(), min_fit=1.5)
    with pytest.raises(ValueError, match="min_fit"):
        AutoStart(10, min_fit=0.5)                                  # the gate needs the labels


def test_the_fit_gate_is_on_for_robust_runs_only_unless_set():
    from selfadaptive.losses.auto_start import ROBUST_MIN_FIT
    from selfadaptive.training.session import loss_config_for_task

    robust = ROBUST_OVERRIDES
    resolved = loss_config_for_task(load_config(None, robust))
    assert resolved.auto_min_fit == ROBUST_MIN_FIT and resolved.auto_rule == "lr_drop"
    plain = loss_config_for_task(load_config(None, []))
    assert not plain.auto_min_fit and plain.auto_rule is None       # the loss's own default, changes_slowdown
    assert SelfAdaptiveLoss(torch.arange(10) % 2, 2, start_epoch="auto").auto.rule == "changes_slowdown"
    chosen = loss_config_for_task(load_config(None, robust + ["loss.auto_min_fit=0", "loss.auto_rule=noisy_val_plateau"]))
    assert chosen.auto_min_fit == 0 and chosen.auto_rule == "noisy_val_plateau"
    loss = SelfAdaptiveLoss(torch.arange(10) % 2, 2, start_epoch="auto", auto_min_fit=0.5)
    assert loss.auto.min_fit == 0.5
    assert SelfAdaptiveLoss(torch.arange(10) % 2, 2, start_epoch="auto").auto.min_fit == 0.0


def test_the_headline_says_when_the_fit_gate_kept_sat_off():
    from selfadaptive.training.records import headline

    base = {"loss": "sat", "test_acc_last": 0.5, "test_acc_best": 0.5, "best_epoch": 1, "start_epoch": "auto",
            "start_gated_epoch": 3, "auto_min_fit": 0.9, "start_gate_fit_last": 0.71, "auto_max_changes": 0.4,
            "start_gate_changes_last": 0.05}
    never = headline({**base, "start_epoch_chosen": None})
    assert "SAT never started" in never and "the rule fired at epoch 3, but the training passes had to predict 0.9 " \
        "of the given labels" in never and "fit 0.710, changes 0.050" in never
    assert "SAT started at epoch 8; the rule fired at epoch 3" in headline({**base, "start_epoch_chosen": 8})
    unsettled = {**base, "auto_min_fit": 0.0, "start_gate_fit_last": None, "start_gate_changes_last": 0.47}
    assert "but at most 0.4 of the training predictions could change class in an epoch to the end (last epoch: " \
        "changes 0.470)" in headline({**unsettled, "start_epoch_chosen": None})


# ---- the stability gate (every run with start_epoch=auto) ----------------------------------------------


def _drive_changes(auto: AutoStart, labels: torch.Tensor, unsettled: list[int]) -> None:
    """Epoch e predicts the first ``unsettled[e]`` samples off their label, by 1 or 2 classes in turn, so
    that with a falling count PC_e = unsettled[e - 1] / N."""
    for e, m in enumerate(unsettled):
        pred = labels.clone()
        pred[:m] = (labels[:m] + 1 + e % 2) % 4
        auto.begin(e)
        auto.record(torch.arange(len(labels)), pred)


def test_the_stability_gate_holds_the_rule_until_few_predictions_change():
    from selfadaptive.losses.auto_start import MAX_CHANGES

    labels = torch.arange(200) % 4
    unsettled = [180, 120, 100, 90, 70, 50, 40, 30]
    free = AutoStart(200, labels=labels, num_classes=4, max_changes=1.0)
    _drive_changes(free, labels, unsettled)
    assert free.prediction_changes() == pytest.approx([0.9, 0.6, 0.5, 0.45, 0.35, 0.25])   # epochs 1-6 closed
    assert free.start_epoch() == 4 and int(free.gated_at) == -1        # the fall 0.1 after 0.3: fires as 4 begins
    gated = AutoStart(200, labels=labels, num_classes=4)
    assert gated.max_changes == MAX_CHANGES == 0.4
    _drive_changes(gated, labels, unsettled)
    # PC 0.5 (epoch 3) and 0.45 (epoch 4) hold it; 0.35 (epoch 5) lets it count: SAT from 6
    assert int(gated.gated_at) == 4 and gated.start_epoch() == 6
    again = AutoStart(200, labels=labels, num_classes=4)
    again.load_state_dict(gated.state_dict())
    assert again.start_epoch() == 6 and again.settled() and int(again.gated_at) == 4
    strict = AutoStart(200, labels=labels, num_classes=4, max_changes=0.2)
    _drive_changes(strict, labels, unsettled)
    assert int(strict.gated_at) == 4 and strict.start_epoch() is None and not strict.settled()
    assert AutoStart(10).settled()                                   # no measurement yet: the gate is open
    with pytest.raises(ValueError, match="max_changes"):
        AutoStart(10, max_changes=1.5)
    assert SelfAdaptiveLoss(torch.arange(10) % 2, 2, start_epoch="auto", auto_max_changes=0.3).auto.max_changes == 0.3
    assert load_config(None, ["loss.auto_max_changes=0.3"]).loss.auto_max_changes == 0.3


@pytest.mark.slow
def test_sat_train_reports_a_start_the_stability_gate_held(tmp_path):
    """A gate just under the PC at which the rule fired holds the start to the first epoch whose PC is at
    most the gate (or for the whole run); the run is CE-identical until then and the summary says so."""
    from selfadaptive.training.records import headline

    over = ["model.base_width=64", "optim.lr=0.05", "data.batch_size=32", "optim.epochs=8",
            "optim.schedule=constant", "loss.start_epoch=auto", "log.progress=false", "loss.auto_min_concentration=0"]
    free = train(load_config(None, over + ["loss.auto_max_changes=1"]), tmp_path / "free", quiet=True)
    rows = [json.loads(line) for line in (tmp_path / "free" / "metrics.jsonl").read_text().splitlines()]
    changes = [r["prediction_changes"] for r in rows[1:free["start_epoch_chosen"]]]
    fired = first_slowdown(changes) + 1                             # the epoch whose close fired the rule
    assert free["start_epoch_chosen"] == fired + 1 and "start_gated_epoch" not in free
    gate = round(changes[fired - 1] - 1e-3, 6)
    held = train(load_config(None, over + [f"loss.auto_max_changes={gate}"]), tmp_path / "held", quiet=True)
    rows = [json.loads(line) for line in (tmp_path / "held" / "metrics.jsonl").read_text().splitlines()]
    assert held["start_gated_epoch"] == fired + 1 and held["auto_max_changes"] == gate
    assert [r["train_loss"] for r in rows[:fired + 1]] == [json.loads(line)["train_loss"] for line in
                                                          (tmp_path / "free" / "metrics.jsonl").read_text().splitlines()[:fired + 1]]
    settled = next((e for e in range(fired, 8) if rows[e]["prediction_changes"] <= gate), None)
    if settled is None or settled == 7:
        assert held["start_epoch_chosen"] is None and held["start_gate_changes_last"] > gate
        assert "SAT never started" in headline(held) and f"at most {gate} of the training predictions" in headline(held)
    else:
        assert held["start_epoch_chosen"] == settled + 1 and held["start_gate_changes_last"] <= gate


def test_the_lr_drop_rule_fires_once_the_rate_has_halved():
    assert first_drop([0.05] * 15 + [0.005, 0.005]) == 15
    assert first_drop([0.1] * 30) is None                            # a constant rate never fires
    cosine = [0.05 * (1 + math.cos(math.pi * e / 40)) / 2 for e in range(40)]
    assert first_drop(cosine) == 20 and first_drop([]) is None
    warm = [0.05 * (e + 1) / 5 for e in range(5)] + cosine           # a 5-epoch warm-up: half the peak, not the first
    assert first_drop(warm) == 25
    labels = torch.arange(200) % 4
    for min_fit, start in ((0.0, 6), (0.9, 7)):
        auto = AutoStart(200, rule="lr_drop", labels=labels, num_classes=4, min_fit=min_fit)
        for e in range(9):                                        # lr 0.1 for 5 epochs, then 0.01
            auto.begin(e)
            pred = labels.clone()
            pred[:30 if e < 6 else 10] = (labels[:30 if e < 6 else 10] + 1) % 4     # fit 0.85, then 0.95
            auto.record(torch.arange(200), pred)
            auto.observe_learning_rate(e, 0.1 if e < 5 else 0.01)
        # the rate falls in epoch 5: the rule fires as 6 begins; the gate waits for epoch 6's fit
        assert auto.start_epoch() == start and int(auto.gated_at) == (-1 if min_fit == 0 else 6)
    state = auto.state_dict()
    again = AutoStart(200, rule="lr_drop", labels=labels, num_classes=4)
    again.load_state_dict({k: v for k, v in state.items() if k != "learning_rate"})      # an older checkpoint
    assert bool(again.learning_rate.isnan().all())
