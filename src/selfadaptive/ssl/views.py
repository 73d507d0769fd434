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


def color_jitter(x: torch.Tensor, factors: torch.Tensor, hue: torch.Tensor, apply: torch.Tensor) -> torch.Tensor:
    """Brightness, contrast and saturation (``factors`` (B, 3), multiplicative) then a hue shift
    (``hue`` (B,) turns), in that order, on the samples where ``apply`` (B,) is true.  Colour images
    only; the result is clamped to [0, 1]."""
    shape = (x.shape[0], 1, 1, 1)
    f = factors.to(x.device, x.dtype)
    keep = ~apply.to(x.device).view(shape)
    y = (x * f[:, 0].view(shape)).clamp(0, 1)
    mean = _gray(y).mean(dim=(2, 3), keepdim=True)
    y = ((y - mean) * f[:, 1].view(shape) + mean).clamp(0, 1)
    gray = _gray(y)
    y = ((y - gray) * f[:, 2].view(shape) + gray).clamp(0, 1)
    if bool((hue != 0).any()):
        y = adjust_hue(y, hue).clamp(0, 1)
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


def draw_view_params(n: int, g: torch.Generator, scale: tuple[float, float] = (0.2, 1.0),
                     ratio: tuple[float, float] = (3 / 4, 4 / 3),
                     jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.4, 0.1), jitter_p: float = 0.8,
                     gray_p: float = 0.2, blur_p: float = 0.0) -> dict[str, torch.Tensor]:
    """Every random number of n views, in a fixed order: crop boxes (n, 4), flips, colour-jitter
    factors (n, 3) and hue shifts, which samples are jittered, grayed and blurred, blur sigmas."""
    bri, con, sat, hue = jitter
    return {
        "boxes": crop_boxes(n, scale, ratio, g),
        "flip": torch.rand(n, generator=g) < 0.5,
        "factors": torch.stack([_uniform(n, 1 - s, 1 + s, g) for s in (bri, con, sat)], dim=1),
        "hue": _uniform(n, -hue, hue, g),
        "jitter": torch.rand(n, generator=g) < jitter_p,
        "gray": torch.rand(n, generator=g) < gray_p,
        "sigma": _uniform(n, 0.1, 2.0, g),
        "blur": torch.rand(n, generator=g) < blur_p,
    }


def apply_views(x: torch.Tensor, params: dict[str, torch.Tensor], size: int) -> torch.Tensor:
    """The views described by ``params`` (one row per image of ``x``)."""
    y = resized_crop(x, params["boxes"], size, params["flip"])
    if x.shape[1] == 3:
        y = color_jitter(y, params["factors"], params["hue"], params["jitter"])
        gray = params["gray"].to(x.device).view(-1, 1, 1, 1)
        y = torch.where(gray, _gray(y).expand_as(y), y)
    if bool(params["blur"].any()):
        blurred = gaussian_blur(y, params["sigma"], kernel_size=2 * (size // 20) + 1)
        y = torch.where(params["blur"].to(x.device).view(-1, 1, 1, 1), blurred, y)
    return y


def make_views(x: torch.Tensor, size: int, generator: torch.Generator, rows: torch.Tensor | None = None,
               draws: int | None = None, **kwargs) -> torch.Tensor:
    """One random view of each image of ``x`` (B, C, H, W) in [0, 1] -> (B, C, size, size) in [0, 1].

    The usual SimCLR/BYOL CIFAR recipe by default (crop scale 0.2-1, aspect 3/4-4/3, flip 1/2,
    jitter 0.4/0.4/0.4/0.1 with p 0.8, grayscale p 0.2, no blur; see ``draw_view_params`` for the
    keywords).  Colour steps apply to 3-channel images only.  Under data parallelism ``x`` is this
    process's ``rows`` of a global batch of ``draws`` images: the random numbers are drawn for the
    whole global batch and this process's rows kept, so the views equal one process's.
    """
    params = draw_view_params(draws or x.shape[0], generator, **kwargs)
    if rows is not None:
        params = {k: v[rows] for k, v in params.items()}
    return apply_views(x, params, size)
