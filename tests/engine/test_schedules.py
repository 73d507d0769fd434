import math

import pytest

from selfadaptive.engine.schedules import bank_momentum, epoch_seed, learning_rate, rescale_for_width


def test_cosine_matches_closed_form_and_ends_near_zero():
    assert learning_rate(0, 0.1, 200) == pytest.approx(0.1)
    assert learning_rate(100, 0.1, 200) == pytest.approx(0.05)
    assert learning_rate(199, 0.1, 200) == pytest.approx(0.05 * (1 + math.cos(math.pi * 199 / 200)))


def test_step_and_warmup():
    assert [learning_rate(e, 1.0, 100, "step", (75, 90), 0.1) for e in (0, 74, 75, 90)] == pytest.approx([1, 1, 0.1, 0.01])
    assert learning_rate(0, 1.0, 10, "constant", warmup_epochs=4) == pytest.approx(0.25)
    assert learning_rate(5, 1.0, 10, "constant", warmup_epochs=4) == 1.0


def test_epoch_seed_is_pure_and_distinct():
    assert epoch_seed(0, 3) == epoch_seed(0, 3)
    assert len({epoch_seed(s, e) for s in range(5) for e in range(50)}) == 250


def test_width_rescaling_stretches_sat_clock():
    # at the reference width nothing changes
    assert rescale_for_width(0.9, 40, 64, 64) == (pytest.approx(0.9), 40)
    # 4x narrower: start 4x later, EMA time constant 1/(1-alpha) about 4x longer
    alpha, es = rescale_for_width(0.9, 40, 16, 64)
    assert es == 160
    assert alpha == pytest.approx(0.9 ** 0.25)
    assert 3.5 < (1 - 0.9) / (1 - alpha) < 4.5
    # 2x wider: start at half the epoch, move faster
    alpha, es = rescale_for_width(0.9, 40, 128, 64)
    assert (alpha, es) == (pytest.approx(0.81), 20)
    with pytest.raises(ValueError):
        rescale_for_width(0.9, 40, 0, 64)


def test_bank_momentum_cosine_rises_from_base_at_the_start_toward_one():
    assert [bank_momentum(e, 0.8, 20, 40) for e in (0, 20, 39)] == [0.8, 0.8, 0.8]     # constant
    assert [bank_momentum(e, 0.8, 20, 40, "cosine") for e in (0, 19, 20)] == [0.8, 0.8, 0.8]
    assert bank_momentum(30, 0.8, 20, 40, "cosine") == pytest.approx(0.9)               # half way: half the gap
    assert bank_momentum(39, 0.8, 20, 40, "cosine") == pytest.approx(1 - 0.2 * (math.cos(math.pi * 19 / 20) + 1) / 2)
    assert bank_momentum(40, 0.8, 20, 40, "cosine") == pytest.approx(1.0)
    values = [bank_momentum(e, 0.8, 20, 40, "cosine") for e in range(20, 41)]
    assert values == sorted(values) and len(set(values)) == len(values)
    with pytest.raises(ValueError, match="schedule"):
        bank_momentum(25, 0.8, 20, 40, "linear")
