"""Image corruptions: statistics, exact reproducibility, and reuse through noise.file."""
import numpy as np
import pytest

from selfadaptive.errors import UserError
from selfadaptive.noise.images import corrupt_images
from selfadaptive.noise.labels import CIFAR10_CLASSES, LabelNoise, asymmetric_map, corrupt_labels


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    # structured images: a smooth ramp per image plus per-channel offsets, so permutations are visible
    ramp = np.linspace(0, 200, 64).reshape(8, 8)
    x = (ramp[None, None] + rng.integers(0, 50, (300, 3, 1, 1))).astype(np.uint8)
    return x, rng.integers(0, 10, 300)


@pytest.mark.parametrize("kind", ["gaussian", "random_pixels", "shuffled_pixels"])
def test_rate_labels_and_reproducibility(images, kind):
    x, y = images
    a = corrupt_images(x, y, 0.4, kind, seed=3)
    b = corrupt_images(x, y, 0.4, kind, seed=3)
    c = corrupt_images(x, y, 0.4, kind, seed=4)
    assert a.corrupted_indices.size == 120 and a.noisy_mask.sum() == 120
    assert np.array_equal(a.noisy_labels, y)                      # labels are kept
    assert np.array_equal(a.corrupted_images, b.corrupted_images)
    assert not np.array_equal(a.corrupted_images, c.corrupted_images)
    new_x = a.apply_images(x)
    untouched = ~a.noisy_mask
    assert np.array_equal(new_x[untouched], x[untouched]) and not np.array_equal(new_x[a.noisy_mask], x[a.noisy_mask])


def test_pixel_permutations_keep_each_images_pixels_and_move_channels_together(images):
    x, y = images
    rnd = corrupt_images(x, y, 0.5, "random_pixels", seed=0)
    shuf = corrupt_images(x, y, 0.5, "shuffled_pixels", seed=0)
    for noise in (rnd, shuf):
        orig = x[noise.corrupted_indices].reshape(-1, 3, 64)
        new = noise.corrupted_images.reshape(-1, 3, 64)
        assert np.array_equal(np.sort(orig, axis=2), np.sort(new, axis=2))   # same pixel values per image
    # _perm asserts one pixel permutation explains all three channels (they move together)
    perms_rnd = [_perm(o, n) for o, n in zip(x[rnd.corrupted_indices], rnd.corrupted_images)]
    perms_shuf = [_perm(o, n) for o, n in zip(x[shuf.corrupted_indices], shuf.corrupted_images)]
    assert len({p.tobytes() for p in perms_shuf}) == 1                       # one permutation shared by all
    assert len({p.tobytes() for p in perms_rnd}) == len(perms_rnd)            # each image its own


def _perm(orig, new):
    """The pixel permutation p with new[:, i] == orig[:, p[i]] (pixels made unique by position in the ramp)."""
    flat_o, flat_n = orig.reshape(3, -1), new.reshape(3, -1)
    p = np.array([np.flatnonzero((flat_o == flat_n[:, [i]]).all(axis=0))[0] for i in range(flat_n.shape[1])])
    assert np.array_equal(flat_o[:, p], flat_n)
    return p


def test_gaussian_matches_dataset_channel_statistics(images):
    x, y = images
    g = corrupt_images(x, y, 1.0, "gaussian", seed=0).corrupted_images.astype(float)
    mean, std = x.mean(axis=(0, 2, 3)), x.std(axis=(0, 2, 3))
    assert np.allclose(g.mean(axis=(0, 2, 3)), mean, atol=2.0)
    assert np.allclose(g.std(axis=(0, 2, 3)), std, rtol=0.1)


def test_needs_uint8_images():
    with pytest.raises(UserError, match="needs uint8 images"):
        corrupt_images(np.zeros((4, 3), np.float32), np.zeros(4, int), 0.5, "gaussian")


def test_asymmetric_maps():
    assert asymmetric_map(10, CIFAR10_CLASSES) == {9: 1, 2: 0, 4: 7, 3: 5, 5: 3}
    coarse = [0, 1, 0, 1, 0, 1]                      # super-classes {0, 2, 4} and {1, 3, 5}
    assert asymmetric_map(6, coarse_of_class=coarse) == {0: 2, 2: 4, 4: 0, 1: 3, 3: 5, 5: 1}
    assert asymmetric_map(3) == {0: 1, 1: 2, 2: 0}


def test_asymmetric_flips_a_fraction_of_each_source_class():
    y = np.repeat(np.arange(10), 100)
    noise = corrupt_labels(y, 10, 0.4, "asymmetric", seed=0, class_map=asymmetric_map(10, CIFAR10_CLASSES))
    for src, dst in {9: 1, 2: 0, 4: 7, 3: 5, 5: 3}.items():
        moved = (y == src) & (noise.noisy_labels != src)
        assert moved.sum() == 40 and np.all(noise.noisy_labels[moved] == dst)
    assert np.all(noise.noisy_labels[np.isin(y, [0, 1, 6, 7, 8])] == y[np.isin(y, [0, 1, 6, 7, 8])])
    assert noise.realised_rate == pytest.approx(0.2)


def test_noise_file_round_trip(images, tmp_path):
    x, y = images
    a = corrupt_images(x, y, 0.3, "random_pixels", seed=1)
    a.save(tmp_path / "noise.npz")
    b = LabelNoise.load(tmp_path / "noise.npz")
    assert b.kind == "random_pixels" and np.array_equal(a.apply_images(x), b.apply_images(x))
