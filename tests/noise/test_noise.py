import numpy as np
import pytest

from selfadaptive.errors import UserError
from selfadaptive.noise.labels import corrupt_labels


@pytest.fixture
def labels():
    return np.random.default_rng(0).integers(0, 10, 5000)


def test_flip_changes_exactly_floor_rN_labels_to_other_classes(labels):
    noise = corrupt_labels(labels, 10, 0.4, "flip", seed=1)
    assert noise.noisy_mask.sum() == 2000 == noise.corrupted_indices.size
    assert noise.realised_rate == 0.4
    assert np.all(noise.noisy_labels[noise.corrupted_indices] != labels[noise.corrupted_indices])
    # the new class is uniform over the K - 1 others: every offset appears about equally often
    offsets = (noise.noisy_labels - labels)[noise.noisy_mask] % 10
    counts = np.bincount(offsets, minlength=10)[1:]
    assert counts.min() > 2000 / 9 * 0.75 and counts.max() < 2000 / 9 * 1.25


def test_uniform_redraws_from_all_classes(labels):
    noise = corrupt_labels(labels, 10, 0.4, "uniform", seed=1)
    assert noise.corrupted_indices.size == 2000
    # about 1/K of the redrawn labels land on their own class: realised ~ r (K-1)/K = 0.36
    assert 0.34 < noise.realised_rate < 0.38
    assert np.all(noise.noisy_labels[~np.isin(np.arange(5000), noise.corrupted_indices)] ==
                  labels[~np.isin(np.arange(5000), noise.corrupted_indices)])


def test_seeded_and_reproducible(labels):
    a = corrupt_labels(labels, 10, 0.3, "flip", seed=5)
    b = corrupt_labels(labels, 10, 0.3, "flip", seed=5)
    c = corrupt_labels(labels, 10, 0.3, "flip", seed=6)
    assert np.array_equal(a.noisy_labels, b.noisy_labels)
    assert not np.array_equal(a.noisy_labels, c.noisy_labels)


def test_zero_and_none(labels):
    assert corrupt_labels(labels, 10, 0.0, "flip").noisy_mask.sum() == 0
    none = corrupt_labels(labels, 10, 0.9, "none")
    assert none.noisy_mask.sum() == 0 and none.rate == 0.0      # summary.json must not claim 90% noise


def test_rate_out_of_range():
    with pytest.raises(UserError, match="noise rate"):
        corrupt_labels(np.zeros(3, int), 2, 1.2)


def test_saved_file_has_the_documented_arrays(labels, tmp_path):
    corrupt_labels(labels, 10, 0.2, "flip", seed=0).save(tmp_path / "noise.npz")
    with np.load(tmp_path / "noise.npz") as z:
        assert {"clean_labels", "noisy_labels", "noisy_mask"} <= set(z.files)
        assert z["noisy_mask"].dtype == bool and z["noisy_mask"].sum() == 1000
