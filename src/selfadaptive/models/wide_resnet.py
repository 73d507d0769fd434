"""Wide ResNets (Zagoruyko & Komodakis 2016): WRN-28-10 (label noise) and WRN-34-10 (TRADES)."""
from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from . import register_model
from .resnet import _image_channels


class WideBlock(nn.Module):
    """Pre-activation block: BN-ReLU-conv3x3-BN-ReLU-(dropout)-conv3x3, plus a 1x1 projection."""

    def __init__(self, cin: int, cout: int, stride: int, dropout: float):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2, self.conv2 = nn.BatchNorm2d(cout), nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.dropout = dropout
        self.project = None if (cin == cout and stride == 1) else nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x):
        a = F.relu(self.bn1(x))
        out = self.conv1(a)
        out = F.relu(self.bn2(out))
        if self.dropout:
            out = F.dropout(out, self.dropout, self.training)
        out = self.conv2(out)
        return out + (x if self.project is None else self.project(a))


class WideResNet(nn.Module):
    """WRN-depth-widen: stages of (depth - 4) / 6 blocks at widths 16k, 32k, 64k.  (B, C, H, W) -> (B, K)."""

    def __init__(self, depth: int, widen: int, num_classes: int, in_channels: int = 3, dropout: float = 0.0):
        super().__init__()
        assert (depth - 4) % 6 == 0, "WRN depth must be 6n + 4"
        n = (depth - 4) // 6
        widths = [16, 16 * widen, 32 * widen, 64 * widen]
        self.stem = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        blocks, cin = [], widths[0]
        for stage, cout in enumerate(widths[1:]):
            for j in range(n):
                blocks.append(WideBlock(cin, cout, stride=(1 if stage == 0 else 2) if j == 0 else 1, dropout=dropout))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(cin)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        out = F.relu(self.bn(self.blocks(self.stem(x))))
        return self.fc(F.adaptive_avg_pool2d(out, 1).flatten(1))


@register_model("wrn28_10")
def wrn28_10(num_classes, input_shape, cfg):
    return WideResNet(28, cfg.base_width or 10, num_classes, _image_channels(input_shape, "wrn28_10"), cfg.dropout)


@register_model("wrn34_10")
def wrn34_10(num_classes, input_shape, cfg):
    return WideResNet(34, cfg.base_width or 10, num_classes, _image_channels(input_shape, "wrn34_10"), cfg.dropout)
