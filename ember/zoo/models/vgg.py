"""VGG (Simonyan and Zisserman, 2014), with and without batch norm, as torchvision builds it."""

from __future__ import annotations

from ... import nn
from ._common import check_dropout, check_positive, init_cnn

__all__ = ["VGG", "make_vgg_features", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16",
           "vgg16_bn", "vgg19", "vgg19_bn", "CONFIGS"]

#: Output channels of each 3x3 convolution, "M" for a 2x2 max pool (torchvision's cfgs).
CONFIGS: dict[str, list] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512,
          512, 512, "M"],
}
_DEPTH = {11: "A", 13: "B", 16: "D", 19: "E"}


def make_vgg_features(cfg: list, batch_norm: bool = False, in_channels: int = 3) -> nn.Sequential:
    """The convolutional part: conv 3x3 (+ batch norm) + ReLU per number, max pool per "M"."""
    layers: list[nn.Module] = []
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers.append(nn.Conv2d(in_channels, v, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(v))
        layers.append(nn.ReLU(inplace=True))
        in_channels = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """VGG: ``features`` (conv blocks), ``avgpool`` to 7x7, ``classifier`` (three Linear).

    Args:
        features: the convolutional part (``make_vgg_features``).
        num_classes: the size of the output.
        dropout: the dropout probability in the classifier.
        hidden: the width of the two hidden classifier layers (4096 in the paper; smaller
            values make light models for small images).
        init_weights: torchvision's initialisation (Kaiming normal convolutions, N(0, 0.01)
            linear layers).

    Shape:
        ``(N, C, H, W)`` with H, W >= 32 -> ``(N, num_classes)`` (logits).

    Example:
        >>> import ember
        >>> from ember.zoo import vgg11
        >>> vgg11(num_classes=5, hidden=64)(ember.randn(1, 3, 32, 32)).shape
        (1, 5)
    """

    def __init__(self, features: nn.Module, num_classes: int = 1000, init_weights: bool = True,
                 dropout: float = 0.5, hidden: int = 4096) -> None:
        super().__init__()
        check_positive("VGG", num_classes=num_classes, hidden=hidden)
        check_dropout("VGG", dropout)
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, hidden), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(hidden, num_classes))
        if init_weights:
            init_cnn(self)

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


def _vgg(depth: int, batch_norm: bool, in_channels: int = 3, **kwargs) -> VGG:
    check_positive(f"vgg{depth}", in_channels=in_channels)
    return VGG(make_vgg_features(CONFIGS[_DEPTH[depth]], batch_norm, in_channels), **kwargs)


def vgg11(**kwargs) -> VGG:
    """VGG-11 (configuration "A"); keyword arguments as ``VGG`` plus ``in_channels``."""
    return _vgg(11, False, **kwargs)


def vgg11_bn(**kwargs) -> VGG:
    """VGG-11 with batch normalisation."""
    return _vgg(11, True, **kwargs)


def vgg13(**kwargs) -> VGG:
    """VGG-13 (configuration "B")."""
    return _vgg(13, False, **kwargs)


def vgg13_bn(**kwargs) -> VGG:
    """VGG-13 with batch normalisation."""
    return _vgg(13, True, **kwargs)


def vgg16(**kwargs) -> VGG:
    """VGG-16 (configuration "D"), the network of seed 004's transfer-learning example.

    Example:
        >>> import ember
        >>> from ember.zoo import vgg16
        >>> vgg16(num_classes=10, hidden=32, init_weights=False)(ember.randn(1, 3, 32, 32)).shape
        (1, 10)
    """
    return _vgg(16, False, **kwargs)


def vgg16_bn(**kwargs) -> VGG:
    """VGG-16 with batch normalisation."""
    return _vgg(16, True, **kwargs)


def vgg19(**kwargs) -> VGG:
    """VGG-19 (configuration "E")."""
    return _vgg(19, False, **kwargs)


def vgg19_bn(**kwargs) -> VGG:
    """VGG-19 with batch normalisation."""
    return _vgg(19, True, **kwargs)
