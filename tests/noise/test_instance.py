"""Instance-dependent label noise: its rate, its dependence on the input, and its replay from noise.npz."""
import numpy as np
import pytest
from sklearn.datasets import load_digits

from selfadaptive.errors import UserError
from selfadaptive.noise.instance import flip_rates, instance_noisy_labels, instance_transition
from selfadaptive.noise.labels import LabelNoise, corrupt_labels


@pytest.fixture(scope="module")
def digits():
    return load_digits(return_X_y=True)


def test_transition_rows_follow_the_generator(digits):
    x, y = digits
    probs = instance_transition(x, y, 10, 0.4, seed=0)
    assert probs.shape == (len(y), 10) and np.allclose(probs.sum(1), 1.0)
    q = 1.0 - probs[np.arange(len(y)), y]                   # each sample's own flip rate
    assert 0.0 <= q.min() and q.max() <= 1.0 and abs(q.mean() - 0.4) < 0.02 and q.std() > 0.05
    rates = flip_rates(20000, 0.4, np.random.default_rng(0))
    assert abs(rates.mean() - 0.4) < 0.01 and 0.08 < rates.std() < 0.1     # truncated N(0.4, 0.1^2)


@pytest.mark.parametrize("rate", [0.2, 0.4])
def test_realised_rate_is_near_r(digits, rate):
    x, y = digits
    noise = corrupt_labels(y, 10, rate, "instance", seed=1, features=x)
    # 1,797 Bernoulli draws with mean r: 5 standard errors is under 0.06
    assert abs(noise.realised_rate - rate) < 5 * np.sqrt(rate * (1 - rate) / len(y))
    assert np.array_equal(noise.noisy_mask, noise.noisy_labels != y)
    assert np.array_equal(noise.corrupted_indices, np.flatnonzero(noise.noisy_mask))


def test_the_flips_depend_on_the_input(digits):
    x, y = digits
    probs = instance_transition(x, y, 10, 0.4, seed=0)
    # where a wrong label goes follows the sample's features: within one class the most likely wrong
    # class differs from sample to sample (uniform or pair noise would give one answer per class)
    off = probs.copy()
    off[np.arange(len(y)), y] = 0
    for c in range(10):
        assert len(set(off[y == c].argmax(1))) > 1
    # the same input with the same label gets the same wrong-class distribution (up to its own rate)
    twice = np.concatenate([x[:50], x[:50]])
    p2 = instance_transition(twice, np.concatenate([y[:50], y[:50]]), 10, 0.4, seed=3)
    o2 = p2.copy()
    o2[np.arange(100), np.concatenate([y[:50], y[:50]])] = 0
    first, second = o2[:50] / o2[:50].sum(1, keepdims=True), o2[50:] / o2[50:].sum(1, keepdims=True)
    assert np.allclose(first, second, atol=1e-6)
    # and a different input draws differently: shuffling the inputs within class 0 moves the flips
    order = np.flatnonzero(y == 0)
    shuffled = x.copy()
    shuffled[order] = x[np.random.default_rng(0).permutation(order)]
    assert not np.array_equal(instance_noisy_labels(x, y, 10, 0.4, seed=5)[order],
                              instance_noisy_labels(shuffled, y, 10, 0.4, seed=5)[order])


def test_seeded_and_replayed_through_noise_npz(tmp_path, digits):
    x, y = digits
    a = corrupt_labels(y, 10, 0.3, "instance", seed=7, features=x)
    assert np.array_equal(a.noisy_labels, corrupt_labels(y, 10, 0.3, "instance", seed=7, features=x).noisy_labels)
    a.save(tmp_path / "noise.npz")
    b = LabelNoise.load(tmp_path / "noise.npz")
    assert b.kind == "instance" and np.array_equal(a.noisy_labels, b.noisy_labels)


def test_needs_features():
    with pytest.raises(UserError, match="features"):
        corrupt_labels(np.array([0, 1, 2]), 3, 0.4, "instance")
