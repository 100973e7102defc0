"""Argument checks shared by the zoo's model constructors."""

from __future__ import annotations

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
