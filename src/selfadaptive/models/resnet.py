"""CIFAR-style ResNet-18/34 (He et al. 2016) as used by SAT: 3x3 stem, no max-pool, basic blocks.

``base_width`` k sets the stage widths k, 2k, 4k, 8k (64 is the standard network; the
double-descent study sweeps k).
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from ..errors import UserError
from . import register_model


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """Input (B, C, H, W) -> (B, K).  ``blocks``: blocks per stage, e.g. (2, 2, 2, 2) for ResNet-18."""

    def __init__(self, blocks: tuple[int, ...], num_classes: int, in_channels: int = 3, base_width: int = 64):
        super().__init__()
        k = base_width
        self.stem = nn.Sequential(nn.Conv2d(in_channels, k, 3, 1, 1, bias=False), nn.BatchNorm2d(k), nn.ReLU(inplace=True))
        layers, cin = [], k
        for i, n in enumerate(blocks):
            cout = k * 2 ** i
            for j in range(n):
                layers.append(BasicBlock(cin, cout, stride=2 if (i > 0 and j == 0) else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        return self.fc(self.pool(self.layers(self.stem(x))).flatten(1))


def _image_channels(input_shape, name):
    if len(input_shape) != 3:
        raise UserError(f"model.name={name} needs images (C, H, W); got input shape {input_shape}")
    return input_shape[0]


@register_model("resnet18")
def resnet18(num_classes, input_shape, cfg):
    return CifarResNet((2, 2, 2, 2), num_classes, _image_channels(input_shape, "resnet18"), cfg.base_width or 64)


@register_model("resnet34")
def resnet34(num_classes, input_shape, cfg):
    return CifarResNet((3, 4, 6, 3), num_classes, _image_channels(input_shape, "resnet34"), cfg.base_width or 64)
