"""The memorisation gate of ``start_epoch="auto"``: under disagreements spread like uniform noise, SAT
waits for Label Wave's minimum of the prediction changes; under concentrated ones it starts where the rule fires."""
import itertools
import json

import pytest
import torch

from selfadaptive import SelfAdaptiveLoss, load_config, train
from selfadaptive.errors import UserError
from selfadaptive.losses.auto_start import AutoStart
from selfadaptive.losses.start_rules import disagreement_concentration, first_local_minimum, first_slowdown, plateau


def reference_concentration(given, pred, k):
    """(K - 1) x the share of pairs of distinct disagreeing samples with the same given label that are
    also predicted as the same class, counted pair by pair."""
    same = total = 0
    off = [(g, p) for g, p in zip(given.tolist(), pred.tolist()) if g != p]
    for (g1, p1), (g2, p2) in itertools.combinations(off, 2):
        if g1 == g2:
            total += 1
            same += p1 == p2
    return None if total == 0 else same / total * (k - 1)


def test_disagreement_concentration_matches_the_pair_count_and_reads_uniform_as_1_and_pairs_as_k_minus_1():
    gen = torch.Generator().manual_seed(0)
    for k in (3, 5, 10):
        given = torch.randint(0, k, (300,), generator=gen)
        pred = torch.where(torch.rand(300, generator=gen) < 0.5, given, torch.randint(0, k, (300,), generator=gen))
        assert disagreement_concentration(given, pred, k) == pytest.approx(reference_concentration(given, pred, k),
                                                                            rel=1e-12)
    given = torch.randint(0, 10, (200_000,), generator=gen)
    spread = (given + torch.randint(1, 10, (200_000,), generator=gen)) % 10     # uniform over the other 9
    assert disagreement_concentration(given, spread, 10) == pytest.approx(1.0, abs=0.01)
    assert disagreement_concentration(given, (given + 1) % 10, 10) == 9.0      # pair noise: all to one class
    assert disagreement_concentration(given, given, 10) is None                 # no disagreement
    assert disagreement_concentration(given % 2, (given + 1) % 2, 2) is None    # one other class: nothing to spread
    # unbiased in the counts: few disagreements per class do not inflate it (a maximum share would)
    small = [disagreement_concentration(given[:m], spread[:m], 10) for m in (60, 600, 60_000)]
    assert max(small) - min(small) < 0.35 and all(abs(v - 1) < 0.35 for v in small)


def _drive(auto: AutoStart, labels: torch.Tensor, unsettled: list[int], spread: bool) -> None:
    """Epoch e predicts the first ``unsettled[e]`` samples off their label, changing class every epoch,
    so PC_e = max(unsettled[e - 1], unsettled[e]) / N; ``spread``: the wrong classes are spread evenly
    over the other K - 1 (uniform-like), else all go to one class (pair-like)."""
    k = int(labels.max()) + 1
    for e, m in enumerate(unsettled):
        pred = labels.clone()
        i = torch.arange(m)
        offset = 1 + (i + e) % (k - 1) if spread else torch.full((m,), 1 + e % 2)
        pred[:m] = (labels[:m] + offset) % k
        auto.begin(e)
        auto.record(torch.arange(len(labels)), pred)


UNSETTLED = [360, 200, 120, 100, 90, 70, 60, 100, 130, 160, 190]


def _expected_starts():
    pcs = [max(a, b) / 400 for a, b in zip(UNSETTLED, UNSETTLED[1:])]
    slowdown = first_slowdown(pcs) + 2           # PC index p closes epoch p + 1; SAT starts at the next
    wave = next(p for p in range(len(pcs)) if first_local_minimum(pcs[:p + 1], 3) is not None) + 2
    return pcs, slowdown, wave


def test_spread_disagreements_wait_for_the_label_wave_minimum_concentrated_ones_do_not():
    labels = torch.arange(400) % 10
    pcs, slowdown, wave = _expected_starts()
    assert slowdown < wave <= len(UNSETTLED) - 1                # the test curve separates the two rules
    off = AutoStart(400, labels=labels, num_classes=10)
    _drive(off, labels, UNSETTLED, spread=True)
    assert off.min_concentration == 0 and off.start_epoch() == slowdown and int(off.gated_at) == -1
    gated = AutoStart(400, labels=labels, num_classes=10, min_concentration=1.5)
    _drive(gated, labels, UNSETTLED, spread=True)
    assert gated.prediction_changes() == pytest.approx(pcs[:len(gated.prediction_changes())])
    assert float(gated.concentration) < 1.5 and int(gated.gated_at) == slowdown
    assert gated.start_epoch() == wave
    pair = AutoStart(400, labels=labels, num_classes=10, min_concentration=1.5)
    _drive(pair, labels, UNSETTLED, spread=False)
    assert float(pair.concentration) == 9.0 and pair.start_epoch() == slowdown and int(pair.gated_at) == -1


def test_two_classes_leave_nothing_to_measure_and_the_gate_open():
    labels = torch.arange(400) % 2
    off, auto = AutoStart(400, labels=labels, num_classes=2), AutoStart(400, labels=labels, num_classes=2,
                                                                      min_concentration=1.5)
    for a in (off, auto):
        _drive(a, labels, UNSETTLED, spread=True)
    assert off.start_epoch() is not None and auto.start_epoch() == off.start_epoch()
    assert auto.concentration.isinf() and int(auto.gated_at) == -1


def test_a_spread_run_whose_changes_keep_falling_never_starts():
    labels = torch.arange(400) % 10
    falling = [360, 200, 120, 100, 90, 80, 70, 60, 50, 40, 30]
    auto = AutoStart(400, labels=labels, num_classes=10, min_concentration=1.5)
    _drive(auto, labels, falling, spread=True)
    assert auto.start_epoch() is None and int(auto.gated_at) >= 0 and not auto.memorising()


def test_the_gate_resumes_exactly_and_older_checkpoints_load():
    labels = torch.arange(400) % 10
    _, slowdown, wave = _expected_starts()
    whole = AutoStart(400, labels=labels, num_classes=10, min_concentration=1.5)
    _drive(whole, labels, UNSETTLED, spread=True)
    first = AutoStart(400, labels=labels, num_classes=10, min_concentration=1.5)
    _drive(first, labels, UNSETTLED[:slowdown + 2], spread=True)       # measured, still gated
    assert first.start_epoch() is None and float(first.concentration) == float(whole.concentration)
    resumed = AutoStart(400, labels=labels, num_classes=10, min_concentration=1.5)
    resumed.load_state_dict(first.state_dict())
    for e in range(slowdown + 2, len(UNSETTLED)):
        m = UNSETTLED[e]
        pred = labels.clone()
        pred[:m] = (labels[:m] + 1 + (torch.arange(m) + e) % 9) % 10
        resumed.begin(e)
        resumed.record(torch.arange(400), pred)
    assert resumed.start_epoch() == whole.start_epoch() == wave
    for name, value in whole.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[name], value, rtol=0, atol=0, equal_nan=True)
    old = {k: v for k, v in first.state_dict().items() if k != "concentration"}
    fresh = AutoStart(400, labels=labels, num_classes=10, min_concentration=1.5)
    fresh.load_state_dict(old)                                         # a checkpoint from before the gate
    assert fresh.concentration.isnan()


def test_bad_values_and_the_config_key():
    with pytest.raises(ValueError, match="min_concentration"):
        AutoStart(10, min_concentration=-1)
    loss = SelfAdaptiveLoss(torch.arange(20) % 4, 4, start_epoch="auto", auto_min_concentration=1.4)
    assert loss.auto.min_concentration == 1.4
    assert load_config(None, ["loss.auto_min_concentration=1.4"]).loss.auto_min_concentration == 1.4
    with pytest.raises(UserError, match="auto_min_concentration"):
        load_config(None, ["loss.auto_min_concentration=-0.5"])


@pytest.mark.slow
def test_sat_train_reports_the_gate_and_is_cross_entropy_until_memorisation_shows(tmp_path):
    """On the digits default with uniform noise and a noisy validation split, a gate above any concentration
    holds the start until Label Wave's minimum or the validation plateau (or the whole run); the run is
    identical to the ungated one until the rule fired."""
    from selfadaptive.training.records import headline

    over = ["optim.epochs=24", "noise.kind=uniform", "data.val_fraction=0.1", "loss.start_epoch=auto",
            "log.progress=false"]
    free = train(load_config(None, over + ["loss.auto_min_concentration=0"]), tmp_path / "free", quiet=True)
    held = train(load_config(None, over + ["loss.auto_min_concentration=100"]), tmp_path / "held", quiet=True)
    rows = [json.loads(line) for line in (tmp_path / "held" / "metrics.jsonl").read_text().splitlines()]
    free_rows = [json.loads(line) for line in (tmp_path / "free" / "metrics.jsonl").read_text().splitlines()]
    fired = free["start_epoch_chosen"]
    assert fired is not None and "start_concentration" not in free
    assert held["start_gated_epoch"] == fired and 0 < held["start_concentration"] < 100
    assert [r["train_loss"] for r in rows[:fired]] == [r["train_loss"] for r in free_rows[:fired]]
    changes = {r["epoch"]: r["prediction_changes"] for r in rows if r.get("prediction_changes") is not None}
    val = [r["val_acc_noisy"] for r in rows]

    def shown(e):       # as epoch e begins, epochs < e closed
        return (first_local_minimum([changes[k] for k in range(1, e) if k in changes], 3) is not None
                or plateau(val[:e], 3) is not None)
    start = next((e for e in range(fired, len(rows)) if shown(e)), None)
    assert held["start_epoch_chosen"] == start
    if start is None:
        assert "SAT never started" in headline(held)
    else:
        assert start > fired and "spread almost evenly" in headline(held)
