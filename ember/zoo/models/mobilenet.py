"""MobileNetV2 (Sandler et al., 2018) with torchvision's module names (``features.N``,
``classifier``), so torchvision's state dicts load one to one."""

from __future__ import annotations

from ... import nn
from ...nn import functional as F
from ._common import ZooError, check_dropout, check_positive, init_cnn

__all__ = ["MobileNetV2", "InvertedResidual", "ConvBNActivation", "mobilenet_v2"]

#: expansion t, output channels c, repeats n, first stride s (the paper's Table 2).
SETTING = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1],
           [6, 160, 3, 2], [6, 320, 1, 1]]


def make_divisible(v: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of ``divisor``, never more than 10% below ``v``."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


class ConvBNActivation(nn.Sequential):
    """Conv2d (no bias, "same" padding) + BatchNorm2d + ReLU6, as torchvision's
    ``Conv2dNormActivation``; children ``0``, ``1``, ``2``."""

    def __init__(self, cin: int, cout: int, kernel_size: int = 3, stride: int = 1,
                 groups: int = 1) -> None:
        super().__init__(nn.Conv2d(cin, cout, kernel_size, stride, (kernel_size - 1) // 2,
                                   groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    """1x1 expansion, 3x3 depthwise convolution, linear 1x1 projection; a shortcut when the
    stride is 1 and the channel counts agree."""

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        self.stride = stride
        hidden = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNActivation(inp, hidden, kernel_size=1))
        layers += [ConvBNActivation(hidden, hidden, stride=stride, groups=hidden),
                   nn.Conv2d(hidden, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup)]
        self.conv = nn.Sequential(*layers)
        self.out_channels = oup

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2: a stem, 17 inverted residual blocks, a 1x1 conv to 1280, a classifier.

    Args:
        num_classes: the size of the output.
        width_mult: scales every layer's channel count (rounded to multiples of 8).
        in_channels: channels of the input images.
        dropout: the dropout probability before the last linear layer.

    Shape:
        ``(N, in_channels, H, W)`` -> ``(N, num_classes)`` (logits); any H, W >= 32.

    Example:
        >>> import ember
        >>> from ember.zoo import mobilenet_v2
        >>> mobilenet_v2(num_classes=4, width_mult=0.5)(ember.randn(2, 3, 32, 32)).shape
        (2, 4)
    """

    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0, in_channels: int = 3,
                 dropout: float = 0.2) -> None:
        super().__init__()
        check_positive("MobileNetV2", num_classes=num_classes, in_channels=in_channels)
        check_dropout("MobileNetV2", dropout)
        if not isinstance(width_mult, (int, float)) or width_mult <= 0:
            raise ZooError(f"MobileNetV2: width_mult must be a positive number, got "
                           f"{width_mult!r}")
        input_channel = make_divisible(32 * width_mult)
        self.last_channel = make_divisible(1280 * max(1.0, width_mult))
        features: list[nn.Module] = [ConvBNActivation(in_channels, input_channel, stride=2)]
        for t, c, n, s in SETTING:
            output_channel = make_divisible(c * width_mult)
            for i in range(n):
                features.append(InvertedResidual(input_channel, output_channel,
                                                 s if i == 0 else 1, t))
                input_channel = output_channel
        features.append(ConvBNActivation(input_channel, self.last_channel, kernel_size=1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout),
                                        nn.Linear(self.last_channel, num_classes))
        init_cnn(self)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(x.flatten(1))


def mobilenet_v2(**kwargs) -> MobileNetV2:
    """MobileNetV2; keyword arguments as ``MobileNetV2``."""
    return MobileNetV2(**kwargs)
