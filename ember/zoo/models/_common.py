"""Argument checks and the weight initialisation shared by the zoo's model constructors."""

from __future__ import annotations

from ... import nn
from ...errors import EmberError


class ZooError(EmberError, ValueError):
    """A zoo model asked for with arguments it cannot take, or an unknown model name."""


def check_positive(model: str, **values: int) -> None:
    """Refuse non-positive or non-integer sizes, naming the model and the argument."""
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ZooError(f"{model}: {name} must be a positive integer, got {value!r}")


def check_dropout(model: str, p: float) -> None:
    """Refuse a dropout probability outside [0, 1)."""
    if not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
        raise ZooError(f"{model}: dropout must be a probability in [0, 1), got {p!r}")


def init_cnn(model: nn.Module, linear: bool = True) -> None:
    """torchvision's initialisation of a CNN: He-normal (fan_out, ReLU gain) convolutions,
    batch norms at weight 1 and bias 0, zero convolution biases and, with ``linear``,
    N(0, 0.01) linear weights with zero biases (without it, linear layers keep theirs)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif linear and isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)
