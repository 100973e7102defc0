"""Activation functions by Keras name (``activation='relu'``), over ember's ops.

``softmax`` and ``sigmoid`` remember the logits they were applied to, so that a
cross-entropy loss on their output can work on the logits instead (log-softmax / log-sigmoid),
which is exact where ``log(softmax(x))`` would underflow. This is what Keras does with
``from_logits=False``.

Example:
    >>> import ember
    >>> from ember.keras import activations
    >>> activations.get("relu")(ember.tensor([-1.0, 2.0]))
    tensor([0., 2.])
    >>> sorted(activations.ACTIVATIONS)[:4]
    ['elu', 'exponential', 'gelu', 'hard_sigmoid']
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

from .. import ops as _ops
from ..nn import functional as F
from ..tensor import Tensor

__all__ = ["get", "serialize", "ACTIVATIONS", "logits_of", "relu", "sigmoid", "tanh",
           "softmax", "log_softmax", "linear", "elu", "selu", "gelu", "softplus", "softsign",
           "swish", "silu", "leaky_relu", "relu6", "exponential", "hard_sigmoid", "mish"]

# (weak reference to the last softmax/sigmoid output, its logits, the kind)
_last: list = [None, None, None]


def _remember(out: Tensor, logits: Tensor, kind: str) -> Tensor:
    _last[0], _last[1], _last[2] = weakref.ref(out), logits, kind
    return out


def logits_of(y_pred: Tensor, kind: str) -> Tensor | None:
    """The logits behind ``y_pred`` if it is the latest ``softmax``/``sigmoid`` output."""
    ref, logits, last_kind = _last
    if ref is not None and last_kind == kind and ref() is y_pred:
        return logits
    return None


def forget_logits() -> None:
    """Drop the remembered logits (and the graph they hold)."""
    _last[0] = _last[1] = _last[2] = None


def relu(x: Tensor) -> Tensor:
    return _ops.relu(x)


def sigmoid(x: Tensor) -> Tensor:
    return _remember(_ops.sigmoid(x), x, "sigmoid")


def tanh(x: Tensor) -> Tensor:
    return _ops.tanh(x)


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    return _remember(F.softmax(x, dim=axis), x, "softmax") if axis == -1 else \
        F.softmax(x, dim=axis)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    return F.log_softmax(x, dim=axis)


def linear(x: Tensor) -> Tensor:
    return x


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    return F.elu(x, alpha=alpha)


def selu(x: Tensor) -> Tensor:
    return F.selu(x)


def gelu(x: Tensor, approximate: bool = False) -> Tensor:
    return F.gelu(x, approximate="tanh" if approximate else "none")


def softplus(x: Tensor) -> Tensor:
    return F.softplus(x)


def softsign(x: Tensor) -> Tensor:
    return F.softsign(x)


def silu(x: Tensor) -> Tensor:
    return F.silu(x)


swish = silu


def leaky_relu(x: Tensor, negative_slope: float = 0.2) -> Tensor:
    return F.leaky_relu(x, negative_slope=negative_slope)


def relu6(x: Tensor) -> Tensor:
    return F.relu6(x)


def exponential(x: Tensor) -> Tensor:
    return _ops.exp(x)


def hard_sigmoid(x: Tensor) -> Tensor:
    return F.relu6(x + 3.0) / 6.0


def mish(x: Tensor) -> Tensor:
    return F.mish(x)


ACTIVATIONS: dict[str, Callable] = {
    "relu": relu, "sigmoid": sigmoid, "tanh": tanh, "softmax": softmax,
    "log_softmax": log_softmax, "linear": linear, "elu": elu, "selu": selu, "gelu": gelu,
    "softplus": softplus, "softsign": softsign, "swish": swish, "silu": silu,
    "leaky_relu": leaky_relu, "relu6": relu6, "exponential": exponential,
    "hard_sigmoid": hard_sigmoid, "mish": mish,
}


def get(identifier) -> Callable:
    """The activation function for a Keras name, a callable, or None (linear).

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    if isinstance(identifier, str):
        fn = ACTIVATIONS.get(identifier.lower())
        if fn is None:
            raise ValueError(f"unknown activation {identifier!r}; known activations: "
                             + ", ".join(sorted(ACTIVATIONS)))
        return fn
    raise TypeError(f"activation must be a name or a callable, got {type(identifier).__name__}")


def serialize(fn: Callable) -> str:
    """The Keras name of an activation function (for ``get_config``)."""
    for name, f in ACTIVATIONS.items():
        if f is fn:
            return name
    raise ValueError(f"activation {getattr(fn, '__name__', fn)!r} has no Keras name, so the "
                     "layer cannot be saved to a config; use a named activation")
