import math

import pytest

from selfadaptive.schedules import epoch_seed, learning_rate


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
