"""Helpers shared by the nn primitive modules (activation, layer_ops, normalization, loss)."""

from __future__ import annotations

import math

from ..errors import DTypeError, op_error
from ..tensor import Tensor
from ._select import where as _where

_SQRT1_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_PI = math.sqrt(2.0 / math.pi)


def _check_float(x, op: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected an ember Tensor, got {type(x).__name__}")
    if x.data.dtype.kind != "f" and x.dtype.kind != "f":
        raise op_error(DTypeError, op, f"expected a floating-point input, got {x.dtype.name}",
                       args=[x], hint="convert it first, e.g. x.float()")


def _sigmoid(xp, x):
    e = xp.exp(-xp.abs(x))
    r = 1.0 / (1.0 + e)
    return _where(xp, x >= 0, r, e * r)


def _autocasting(x) -> bool:
    """True inside an ``ember.amp.autocast`` block for x's device type: autocast casts mixed
    dtypes per op, so the layers' same-dtype checks stand aside."""
    from ..autograd.grad_mode import state

    if state.dispatch is None:
        return False
    from ..amp.autocast_mode import autocast_active

    return autocast_active(x)


def _check_same_dtype(op, *tensors):
    ts = [t for t in tensors if t is not None]
    if any(t.data.dtype != ts[0].data.dtype for t in ts) and not _autocasting(ts[0]):
        raise op_error(DTypeError, op, "expected the input and the parameters to have one "
                       "dtype, got " + ", ".join(t.dtype.name for t in ts), args=ts,
                       hint="cast the input (x.to(weight.dtype)) or the module (.float(), "
                       ".double())")
