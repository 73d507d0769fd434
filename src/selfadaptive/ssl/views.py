"""Batched random views for self-supervised learning, in torch on the inputs' device (no torchvision).

``make_views(x, size, generator, ...)`` gives one augmented view of every image of a batch:
random resized crop (with the flip folded into the same resampling), colour jitter (brightness,
contrast, saturation, hue) with probability ``jitter_p``, grayscale with probability ``gray_p``,
and optionally Gaussian blur.  Every random number comes from ``generator`` (a CPU generator),
so a view is a pure function of its seed: a resumed run redraws the same views.
Input and output are float images in [0, 1], (B, C, H, W) -> (B, C, size, size).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

#: ITU-R 601 luma weights, for grayscale and saturation
LUMA = (0.299, 0.587, 0.114)


def _uniform(n: int, low: float, high: float, g: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=g)


def crop_boxes(n: int, scale: tuple[float, float], ratio: tuple[float, float], g: torch.Generator) -> torch.Tensor:
    """(n, 4) boxes (center x, center y, width, height) as fractions of the image side.

    Area fraction ~ U(scale), aspect ratio log-uniform in ``ratio``; sides are clipped to the image,
    and the centre is drawn so that the box lies inside it."""
    area = _uniform(n, *scale, g)
    log_r = _uniform(n, math.log(ratio[0]), math.log(ratio[1]), g)
    w = torch.sqrt(area * torch.exp(log_r)).clamp(max=1.0)
    h = torch.sqrt(area / torch.exp(log_r)).clamp(max=1.0)
    cx = w / 2 + (1 - w) * torch.rand(n, generator=g)
    cy = h / 2 + (1 - h) * torch.rand(n, generator=g)
    return torch.stack([cx, cy, w, h], dim=1)


def resized_crop(x: torch.Tensor, boxes: torch.Tensor, size: int, flip: torch.Tensor) -> torch.Tensor:
    """Bilinear resampling of each box of ``x`` (B, C, H, W) to (size, size); ``flip`` (B,) bool mirrors it."""
    b = x.shape[0]
    boxes = boxes.to(x.device, x.dtype)
    theta = torch.zeros(b, 2, 3, device=x.device, dtype=x.dtype)
    sign = 1.0 - 2.0 * flip.to(x.device, x.dtype)
    theta[:, 0, 0] = boxes[:, 2] * sign
    theta[:, 1, 1] = boxes[:, 3]
    theta[:, 0, 2] = 2 * boxes[:, 0] - 1
    theta[:, 1, 2] = 2 * boxes[:, 1] - 1
    grid = F.affine_grid(theta, [b, x.shape[1], size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _gray(x: torch.Tensor) -> torch.Tensor:
    w = torch.tensor(LUMA, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(dim=1, keepdim=True)


def adjust_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate the chroma of RGB images by ``shift`` (B,) turns in YIQ space (a close, cheap stand-in
    for an HSV hue shift)."""
    to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
                          device=x.device, dtype=x.dtype)
    yiq = torch.einsum("ij,bjhw->bihw", to_yiq, x)
    angle = 2 * math.pi * shift.to(x.device, x.dtype)
    cos, sin = torch.cos(angle).view(-1, 1, 1), torch.sin(angle).view(-1, 1, 1)
    i, q = yiq[:, 1], yiq[:, 2]
    yiq = torch.stack([yiq[:, 0], cos * i - sin * q, sin * i + cos * q], dim=1)
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(to_yiq), yiq)


def color_jitter(x: torch.Tensor, strength: tuple[float, float, float, float], apply: torch.Tensor,
                 g: torch.Generator) -> torch.Tensor:
    """Brightness, contrast, saturation (factors in [1-s, 1+s]) and hue (shift in [-h, h] turns), in
    that order, on the samples where ``apply`` (B,) is true.  Colour images only; result clamped to [0, 1]."""
    b = x.shape[0]
    bri, con, sat, hue = strength
    shape = (b, 1, 1, 1)
    factor = lambda s: _uniform(b, 1 - s, 1 + s, g).to(x.device, x.dtype).view(shape)     # noqa: E731
    f_b, f_c, f_s = factor(bri), factor(con), factor(sat)
    shift = _uniform(b, -hue, hue, g)
    keep = ~apply.to(x.device).view(shape)
    y = (x * f_b).clamp(0, 1)
    mean = _gray(y).mean(dim=(2, 3), keepdim=True)
    y = ((y - mean) * f_c + mean).clamp(0, 1)
    gray = _gray(y)
    y = ((y - gray) * f_s + gray).clamp(0, 1)
    if hue > 0:
        y = adjust_hue(y, shift).clamp(0, 1)
    return torch.where(keep, x, y)


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Per-sample Gaussian blur with standard deviation ``sigma`` (B,) pixels, separable, reflect padding."""
    b, c, h, w = x.shape
    half = kernel_size // 2
    t = torch.arange(-half, half + 1, device=x.device, dtype=x.dtype)
    k = torch.exp(-t.view(1, -1) ** 2 / (2 * sigma.to(x.device, x.dtype).view(-1, 1) ** 2))
    k = (k / k.sum(dim=1, keepdim=True)).repeat_interleave(c, dim=0)          # (B*C, ks)
    y = F.pad(x.reshape(1, b * c, h, w), (half, half, half, half), mode="reflect")
    y = F.conv2d(y, k.view(b * c, 1, 1, -1), groups=b * c)
    y = F.conv2d(y, k.view(b * c, 1, -1, 1), groups=b * c)
    return y.view(b, c, h, w)


def make_views(x: torch.Tensor, size: int, generator: torch.Generator, scale: tuple[float, float] = (0.2, 1.0),
               ratio: tuple[float, float] = (3 / 4, 4 / 3), jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.4, 0.1),
               jitter_p: float = 0.8, gray_p: float = 0.2, blur_p: float = 0.0) -> torch.Tensor:
    """One random view of each image of ``x`` (B, C, H, W) in [0, 1] -> (B, C, size, size) in [0, 1].

    The usual SimCLR/BYOL CIFAR recipe by default (crop scale 0.2-1, flip 1/2, jitter 0.4/0.4/0.4/0.1
    with p 0.8, grayscale p 0.2, no blur).  Colour steps apply to 3-channel images only.
    """
    b = x.shape[0]
    g = generator
    boxes = crop_boxes(b, scale, ratio, g)
    flip = torch.rand(b, generator=g) < 0.5
    y = resized_crop(x, boxes, size, flip)
    if x.shape[1] == 3:
        y = color_jitter(y, jitter, torch.rand(b, generator=g) < jitter_p, g)
        gray = (torch.rand(b, generator=g) < gray_p).to(x.device).view(-1, 1, 1, 1)
        y = torch.where(gray, _gray(y).expand_as(y), y)
    if blur_p > 0:
        sigma = _uniform(b, 0.1, 2.0, g)
        blurred = gaussian_blur(y, sigma, kernel_size=2 * (size // 20) + 1)
        y = torch.where((torch.rand(b, generator=g) < blur_p).to(x.device).view(-1, 1, 1, 1), blurred, y)
    return y
