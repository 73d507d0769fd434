import math

import pytest

from selfadaptive.engine.schedules import epoch_seed, learning_rate, rescale_for_width


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
