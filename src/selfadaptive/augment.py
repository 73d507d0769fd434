"""Batched data augmentation on the training device, no torchvision.

Inputs and outputs are float images in [0, 1] of shape (B, C, H, W); randomness comes from the
global torch RNG of the batch's device, which checkpoints save, so a resumed run replays it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def random_crop(x: torch.Tensor, padding: int) -> torch.Tensor:
    """Zero-pad by ``padding`` on every side, then cut a random HxW window per image."""
    if padding <= 0:
        return x
    b, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    top = torch.randint(0, 2 * padding + 1, (b,), device=x.device)
    left = torch.randint(0, 2 * padding + 1, (b,), device=x.device)
    rows = (top[:, None] + torch.arange(h, device=x.device))[:, None, :, None]     # (B, 1, H, 1)
    cols = (left[:, None] + torch.arange(w, device=x.device))[:, None, None, :]    # (B, 1, 1, W)
    batch = torch.arange(b, device=x.device)[:, None, None, None]
    chan = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chan, rows, cols]


def random_hflip(x: torch.Tensor) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2."""
    flip = torch.rand(x.shape[0], device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def crop_flip(x: torch.Tensor, padding: int = 4) -> torch.Tensor:
    """The CIFAR recipe: random crop with ``padding`` then horizontal flip."""
    return random_hflip(random_crop(x, padding))


def build_augment(name: str, padding: int = 4):
    """``none`` -> None; ``crop_flip`` -> the CIFAR recipe; ``crop`` -> crops only (digits, MNIST)."""
    if name == "none":
        return None
    if name == "crop_flip":
        return lambda x: crop_flip(x, padding)
    if name == "crop":
        return lambda x: random_crop(x, padding)
    raise ValueError(f"unknown augmentation {name!r}")
