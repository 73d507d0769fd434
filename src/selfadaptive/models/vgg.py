"""VGG-16 with batch norm, in the variant Deep Gamblers and SAT's selective classification use:
conv-ReLU-BN, dropout 0.3 after the first conv and 0.4 after the other non-final convs of each
block, and a 512-512-K classifier with BN and dropout 0.5."""
from __future__ import annotations

from torch import nn

from . import register_model
from .resnet import _image_channels

# ints: conv widths; "M": 2x2 max-pool; floats: dropout rates
PLAN = [64, 0.3, 64, "M", 128, 0.4, 128, "M", 256, 0.4, 256, 0.4, 256, "M",
        512, 0.4, 512, 0.4, 512, "M", 512, 0.4, 512, 0.4, 512, "M", 0.5]


class VGG16BN(nn.Module):
    """(B, C, 32, 32) -> (B, K); any input size works through the final adaptive pool."""

    def __init__(self, num_classes: int, in_channels: int = 3, width_mult: float = 1.0):
        super().__init__()
        layers, cin = [], in_channels
        for v in PLAN:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            elif isinstance(v, float):
                layers.append(nn.Dropout(v))
            else:
                cout = max(1, int(v * width_mult))
                layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True), nn.BatchNorm2d(cout)]
                cin = cout
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Sequential(nn.Linear(cin, 512), nn.ReLU(inplace=True), nn.BatchNorm1d(512),
                                        nn.Dropout(0.5), nn.Linear(512, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


@register_model("vgg16_bn")
def vgg16_bn(num_classes, input_shape, cfg):
    return VGG16BN(num_classes, _image_channels(input_shape, "vgg16_bn"), (cfg.base_width or 64) / 64)
