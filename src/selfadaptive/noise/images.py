"""Image corruptions of the SAT paper's analyses (docs/method.md §2): the label is kept, the image
is replaced, for floor(r*N) seeded training samples.

* ``gaussian`` -- Gaussian noise with the dataset's per-channel mean and std, clipped to uint8;
* ``random_pixels`` -- each chosen image gets its own random pixel permutation (the channels of a
  pixel move together);
* ``shuffled_pixels`` -- one random permutation shared by all chosen images.
"""
from __future__ import annotations

import numpy as np

from ..errors import UserError
from .labels import LabelNoise


def corrupt_images(x: np.ndarray, labels: np.ndarray, rate: float, kind: str, seed: int = 0) -> LabelNoise:
    """x: (N, C, H, W) uint8 training images; labels: (N,).  Returns a ``LabelNoise`` whose
    ``corrupted_images`` hold the new images of ``corrupted_indices``."""
    if x.dtype != np.uint8 or x.ndim != 4:
        raise UserError(f"noise.kind={kind} needs uint8 images (N, C, H, W); this data is {x.dtype} {x.shape}")
    if not 0.0 <= rate <= 1.0:
        raise UserError(f"noise rate must be in [0, 1], got {rate}")
    n, c, h, w = x.shape
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(n, size=int(np.floor(rate * n)), replace=False))
    picked = x[chosen]
    if kind == "gaussian":
        mean = x.reshape(n, c, -1).mean(axis=(0, 2))
        std = x.reshape(n, c, -1).std(axis=(0, 2))
        noise = rng.normal(mean[None, :, None, None], std[None, :, None, None], size=picked.shape)
        new = np.clip(np.rint(noise), 0, 255).astype(np.uint8)
    elif kind == "random_pixels":
        flat = picked.reshape(len(chosen), c, h * w)
        perms = np.argsort(rng.random((len(chosen), h * w)), axis=1)       # one permutation per image
        new = np.take_along_axis(flat, perms[:, None, :], axis=2).reshape(picked.shape)
    elif kind == "shuffled_pixels":
        perm = rng.permutation(h * w)                                      # one permutation for all
        new = picked.reshape(len(chosen), c, h * w)[:, :, perm].reshape(picked.shape)
    else:
        raise UserError(f"unknown image corruption {kind!r}; choose gaussian, random_pixels or shuffled_pixels")
    labels = np.asarray(labels, dtype=np.int64)
    mask = np.zeros(n, dtype=bool)
    mask[chosen] = True
    return LabelNoise(clean_labels=labels, noisy_labels=labels.copy(), noisy_mask=mask, corrupted_indices=chosen,
                      kind=kind, rate=float(rate), corrupted_images=new)
