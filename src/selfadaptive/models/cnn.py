"""A small CNN for MNIST-, CIFAR- and digits-sized images on CPU budgets."""
from __future__ import annotations

from torch import nn

from ..errors import UserError
from . import register_model


def _block(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class SmallCNN(nn.Module):
    """[conv-BN-ReLU x2, maxpool] at widths w, 2w, then 4w, global average pool, linear.

    Input (B, C, H, W) with H, W >= 4 -> (B, K).  About 0.3M parameters at w = 32.
    """

    def __init__(self, in_channels: int, num_classes: int, width: int = 32, dropout: float = 0.0):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            *_block(in_channels, w), *_block(w, w), nn.MaxPool2d(2),
            *_block(w, 2 * w), *_block(2 * w, 2 * w), nn.MaxPool2d(2),
            *_block(2 * w, 4 * w), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Dropout(dropout) if dropout else nn.Identity(), nn.Linear(4 * w, num_classes))

    def forward(self, x):
        return self.head(self.features(x))


@register_model("cnn")
def cnn(num_classes, input_shape, cfg):
    if len(input_shape) != 3 or min(input_shape[1:]) < 4:
        raise UserError(f"model.name=cnn needs images of at least 4x4 as (C, H, W); got input shape {input_shape}")
    return SmallCNN(input_shape[0], num_classes, width=cfg.base_width or 32, dropout=cfg.dropout)


class TradesSmallCNN(nn.Module):
    """The SmallCNN of the TRADES MNIST experiments: conv(w)-conv(w)-pool-conv(2w)-conv(2w)-pool,
    then fc(6.25w)-dropout-fc(6.25w)-fc(K), ReLU, no batch norm, 3x3 valid convolutions.

    Input (B, C, H, W) with H, W >= 12 -> (B, K).  At w = 32 (fc 200) on 28x28: 0.31M parameters,
    as in TRADES.  The last layer starts at zero, as there.
    """

    def __init__(self, in_channels: int, num_classes: int, image_hw: tuple[int, int], width: int = 32,
                 dropout: float = 0.5):
        super().__init__()
        w, hidden = width, max(1, round(200 * width / 32))
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, w, 3), nn.ReLU(inplace=True), nn.Conv2d(w, w, 3), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3), nn.ReLU(inplace=True), nn.Conv2d(2 * w, 2 * w, 3), nn.ReLU(inplace=True),
            nn.MaxPool2d(2), nn.Flatten())
        h, v = (((s - 4) // 2 - 4) // 2 for s in image_hw)
        self.head = nn.Sequential(
            nn.Linear(2 * w * h * v, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, num_classes))
        for m in self.features:
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def forward(self, x):
        return self.head(self.features(x))


@register_model("trades_cnn")
def trades_cnn(num_classes, input_shape, cfg):
    if len(input_shape) != 3 or min(input_shape[1:]) < 12:
        raise UserError(f"model.name=trades_cnn needs images of at least 12x12 as (C, H, W); got input shape {input_shape}")
    return TradesSmallCNN(input_shape[0], num_classes, tuple(input_shape[1:]), width=cfg.base_width or 32,
                          dropout=cfg.dropout)
