import torch

from selfadaptive.data.augment import crop_flip, random_crop, random_hflip


def test_crop_is_a_shifted_window_of_the_zero_padded_image():
    torch.manual_seed(0)
    x = torch.rand(64, 3, 8, 8)
    out = random_crop(x, 2)
    assert out.shape == x.shape
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(64):
        hits = [(t, l) for t in range(5) for l in range(5) if torch.equal(padded[i, :, t:t + 8, l:l + 8], out[i])]
        assert hits, i
    # offsets vary across the batch
    assert len({tuple(out[i].flatten()[:5].tolist()) for i in range(64)}) > 10


def test_flip_mirrors_about_half():
    torch.manual_seed(1)
    x = torch.rand(400, 1, 4, 4)
    out = random_hflip(x)
    flipped = torch.tensor([torch.equal(out[i], x[i].flip(2)) for i in range(400)])
    same = torch.tensor([torch.equal(out[i], x[i]) for i in range(400)])
    assert bool((flipped | same).all())
    assert 150 < int(flipped.sum()) < 250


def test_stays_in_unit_range_and_is_reproducible_from_the_rng():
    x = torch.rand(16, 3, 32, 32)
    torch.manual_seed(5)
    a = crop_flip(x)
    torch.manual_seed(5)
    b = crop_flip(x)
    assert torch.equal(a, b) and float(a.min()) >= 0 and float(a.max()) <= 1


def test_crop_matches_a_gather_reference_and_commutes_with_scaling():
    """The sliced crop equals a 4-D gather with the same draws, and uint8-then-scale equals scale-then-crop."""
    x = torch.randint(0, 256, (50, 3, 10, 12), dtype=torch.uint8)
    torch.manual_seed(3)
    out = random_crop(x, 3)
    torch.manual_seed(3)
    top, left = torch.randint(0, 7, (50,)), torch.randint(0, 7, (50,))
    padded = torch.nn.functional.pad(x, (3, 3, 3, 3))
    rows = (top[:, None] + torch.arange(10))[:, None, :, None]
    cols = (left[:, None] + torch.arange(12))[:, None, None, :]
    ref = padded[torch.arange(50)[:, None, None, None], torch.arange(3)[None, :, None, None], rows, cols]
    assert torch.equal(out, ref)
    torch.manual_seed(4)
    a = crop_flip(x).float() / 255
    torch.manual_seed(4)
    b = crop_flip(x.float() / 255)
    assert torch.equal(a, b)


def test_fused_crop_flip_equals_crop_then_flip():
    x = torch.randint(0, 256, (40, 3, 9, 7), dtype=torch.uint8)
    torch.manual_seed(8)
    fused = crop_flip(x, 2)
    torch.manual_seed(8)
    assert torch.equal(fused, random_hflip(random_crop(x, 2)))
