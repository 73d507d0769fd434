"""Model registry.  Every model takes inputs in [0, 1] and normalises them in its first layer.

Register a new architecture with ``@register_model("name")`` on a function
``(num_classes, input_shape, cfg) -> nn.Module``; any ``nn.Module`` also works through the
Python API (``selfadaptive.train(..., model=my_module)``).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..errors import UserError

_REGISTRY: dict[str, Callable] = {}


def register_model(name: str):
    def deco(fn):
        _REGISTRY[name] = fn
        return fn
    return deco


class Normalize(nn.Module):
    """``(x - mean) / std`` with per-channel (images) or per-feature (tables) buffers."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, image: bool):
        super().__init__()
        shape = (1, -1, 1, 1) if image else (1, -1)
        self.register_buffer("mean", mean.detach().float().reshape(shape).clone())
        self.register_buffer("std", std.detach().float().reshape(shape).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class NormalizedModel(nn.Module):
    """A network behind a ``Normalize`` layer, so callers (and attacks) always work in [0, 1]."""

    def __init__(self, net: nn.Module, mean: torch.Tensor, std: torch.Tensor, image: bool):
        super().__init__()
        self.normalize = Normalize(mean, std, image)
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(x))


def model_names() -> list[str]:
    return sorted(_REGISTRY)


def build_model(cfg, num_classes: int, input_shape: tuple[int, ...], mean: torch.Tensor, std: torch.Tensor) -> nn.Module:
    """The registered model ``cfg.name`` (a ``ModelConfig``) behind a normalisation layer."""
    if cfg.name not in _REGISTRY:
        raise UserError(f"unknown model.name {cfg.name!r}; registered: {', '.join(model_names())}")
    net = _REGISTRY[cfg.name](num_classes, tuple(input_shape), cfg)
    return NormalizedModel(net, mean, std, image=len(input_shape) == 3)


from . import cnn, mlp, resnet, vgg, wide_resnet  # noqa: E402,F401  (register the built-in models)

__all__ = ["register_model", "build_model", "model_names", "Normalize", "NormalizedModel"]
