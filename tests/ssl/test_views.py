"""Batched random views: shapes, ranges, determinism, and each step against its plain definition."""
import torch

from selfadaptive.ssl.views import adjust_hue, color_jitter, crop_boxes, gaussian_blur, make_views, resized_crop


def _images(b=6, c=3, s=16, seed=0):
    return torch.rand(b, c, s, s, generator=torch.Generator().manual_seed(seed))


def test_views_are_in_range_shaped_and_a_pure_function_of_the_seed():
    x = _images()
    a = make_views(x, 12, torch.Generator().manual_seed(5), blur_p=0.5)
    b = make_views(x, 12, torch.Generator().manual_seed(5), blur_p=0.5)
    c = make_views(x, 12, torch.Generator().manual_seed(6), blur_p=0.5)
    assert a.shape == (6, 3, 12, 12) and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert make_views(_images(c=1), 8, torch.Generator().manual_seed(0)).shape == (6, 1, 8, 8)


def test_full_crop_is_the_identity_and_flip_mirrors():
    x = _images()
    full = torch.tensor([[0.5, 0.5, 1.0, 1.0]]).repeat(6, 1)
    no = torch.zeros(6, dtype=torch.bool)
    assert torch.allclose(resized_crop(x, full, 16, no), x, atol=1e-5)
    assert torch.allclose(resized_crop(x, full, 16, ~no), x.flip(-1), atol=1e-5)
    # the left half, upsampled 2x horizontally: column 0 of the view comes from column 0 of the image
    left = torch.tensor([[0.25, 0.5, 0.5, 1.0]]).repeat(6, 1)
    view = resized_crop(x, left, 16, no)
    assert view.shape == x.shape
    assert torch.allclose(view[..., 0], x[..., 0], atol=0.3 * x.std())


def test_crop_boxes_stay_inside_the_image():
    boxes = crop_boxes(1000, (0.08, 1.0), (3 / 4, 4 / 3), torch.Generator().manual_seed(0))
    cx, cy, w, h = boxes.T
    assert (cx - w / 2 >= -1e-6).all() and (cx + w / 2 <= 1 + 1e-6).all()
    assert (cy - h / 2 >= -1e-6).all() and (cy + h / 2 <= 1 + 1e-6).all()
    assert (w * h).min() >= 0.08 * 0.74 and (w <= 1).all() and (h <= 1).all()


def test_colour_steps():
    x = _images()
    ones, zero = torch.ones(6, 3), torch.zeros(6)
    # unit factors and no hue shift: the identity
    assert torch.allclose(color_jitter(x, ones, zero, torch.ones(6, dtype=torch.bool)), x, atol=1e-5)
    # brightness alone scales; samples not selected are untouched
    factors = torch.tensor([[0.5, 1.0, 1.0]]).repeat(6, 1)
    out = color_jitter(x, factors, zero, torch.tensor([True, False] * 3))
    assert torch.equal(out[1::2], x[1::2]) and torch.allclose(out[0::2], 0.5 * x[0::2], atol=1e-6)
    # saturation 0 gives gray images
    gray = color_jitter(x, torch.tensor([[1.0, 1.0, 0.0]]).repeat(6, 1), zero, torch.ones(6, dtype=torch.bool))
    assert torch.allclose(gray[:, 0], gray[:, 1], atol=1e-6) and torch.allclose(gray[:, 1], gray[:, 2], atol=1e-6)
    # a full turn of hue is the identity, half a turn is not; gray pixels have no hue
    assert torch.allclose(adjust_hue(x, torch.ones(6)), x, atol=1e-4)
    assert not torch.allclose(adjust_hue(x, torch.full((6,), 0.5)), x, atol=1e-2)
    flat = x[:, :1].expand(-1, 3, -1, -1)
    assert torch.allclose(adjust_hue(flat, torch.full((6,), 0.3)), flat, atol=1e-4)
    # grayscale with certainty: all channels equal
    v = make_views(x, 16, torch.Generator().manual_seed(1), gray_p=1.0)
    assert torch.allclose(v[:, 0], v[:, 1]) and torch.allclose(v[:, 1], v[:, 2])


def test_a_shard_of_a_global_batch_gets_the_same_views():
    x = _images(b=7)
    whole = make_views(x, 12, torch.Generator().manual_seed(3), blur_p=0.5)
    for rank in range(2):
        rows = torch.arange(7)[rank::2]
        part = make_views(x[rows], 12, torch.Generator().manual_seed(3), rows=rows, draws=7, blur_p=0.5)
        assert torch.allclose(part, whole[rows], atol=1e-6)


def test_blur_keeps_constants_and_smooths_noise():
    flat = torch.full((2, 3, 16, 16), 0.3)
    assert torch.allclose(gaussian_blur(flat, torch.tensor([1.0, 2.0]), 5), flat, atol=1e-6)
    x = _images(b=2)
    blurred = gaussian_blur(x, torch.tensor([2.0, 2.0]), 7)
    assert blurred.std() < 0.6 * x.std()
    assert torch.allclose(gaussian_blur(x, torch.tensor([0.01, 0.01]), 5), x, atol=1e-5)
