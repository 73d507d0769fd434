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


def strip_head(model: nn.Module) -> tuple[nn.Module, int]:
    """Turn a classifier of this package into an encoder: its last ``nn.Linear`` (the class head)
    becomes the identity.  Returns (model, feature dimension)."""
    last = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last = name
    if last is None:
        raise ValueError("the model has no linear head to remove")
    parent_name, _, attr = last.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    dim = getattr(parent, attr).in_features
    setattr(parent, attr, nn.Identity())
    return model, dim


class SelectionHeads(nn.Module):
    """SelectiveNet's three heads on one encoder (Geifman & El-Yaniv, 2019): prediction f (linear, K),
    selection g (FC 512 - ReLU - BN - FC 1, as in the paper; a logit, sigmoid applied by the loss),
    auxiliary h (linear, K).  (B, ...) -> (B, 2K + 1) = [f, g, h]."""

    def __init__(self, encoder: nn.Module, feature_dim: int, num_classes: int, hidden: int = 512):
        super().__init__()
        self.encoder = encoder
        self.predict = nn.Linear(feature_dim, num_classes)
        self.select = nn.Sequential(nn.Linear(feature_dim, hidden), nn.ReLU(inplace=True), nn.BatchNorm1d(hidden),
                                    nn.Linear(hidden, 1))
        self.auxiliary = nn.Linear(feature_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.encoder(x)
        return torch.cat([self.predict(features), self.select(features), self.auxiliary(features)], dim=1)


#: the network heads ``build_classifier`` makes, and their output width for K classes
HEAD_OUTPUTS = {"classes": lambda k: k, "abstain": lambda k: k + 1, "selection": lambda k: 2 * k + 1}


def build_classifier(cfg, head: str, num_classes: int, input_shape: tuple[int, ...], mean: torch.Tensor,
                     std: torch.Tensor) -> nn.Module:
    """The network for an output ``head`` (a loss declares the one it trains, ``losses.registry``):
    ``build_model`` with K outputs ("classes"), K + 1 ("abstain": an extra abstain class), or the
    model's encoder under SelectiveNet's ``SelectionHeads`` ("selection", 2K + 1 columns)."""
    if head not in HEAD_OUTPUTS:
        raise ValueError(f"a classifier head is one of {', '.join(HEAD_OUTPUTS)}; got {head!r}")
    if head == "selection":
        encoder, dim = strip_head(build_model(cfg, num_classes, input_shape, mean, std))
        return SelectionHeads(encoder, dim, num_classes)
    return build_model(cfg, HEAD_OUTPUTS[head](num_classes), input_shape, mean, std)


from . import cnn, mlp, resnet, vgg, wide_resnet  # noqa: E402,F401  (register the built-in models)

__all__ = ["register_model", "build_model", "build_classifier", "model_names", "strip_head", "SelectionHeads",
           "Normalize", "NormalizedModel"]
