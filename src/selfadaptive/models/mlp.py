"""A multilayer perceptron for tables and small images."""
from __future__ import annotations

import math

from torch import nn

from . import register_model


class MLP(nn.Module):
    """Flatten -> depth x [Linear(width) -> ReLU -> Dropout] -> Linear(K).  Input (B, ...) -> (B, K)."""

    def __init__(self, in_features: int, num_classes: int, width: int = 256, depth: int = 2, dropout: float = 0.0):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        d = in_features
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.ReLU(inplace=True)]
            if dropout:
                layers.append(nn.Dropout(dropout))
            d = width
        layers.append(nn.Linear(d, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)


@register_model("mlp")
def mlp(num_classes, input_shape, cfg):
    return MLP(math.prod(input_shape), num_classes, width=cfg.base_width or 256, depth=cfg.depth,
               dropout=cfg.dropout)
