"""Data types and the array API's data type functions: ``astype``, ``can_cast``, ``finfo``,
``iinfo``, ``isdtype``, ``result_type``.

The dtype objects are ember's own (``ember.float32`` …), so ``x.dtype == xp.float32`` holds for
every ember tensor. Promotion within a kind follows the standard's table; across kinds
(which the standard leaves unspecified) ember's PyTorch rule applies.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass

import numpy as np

from .. import dtypes as _dt
from ..errors import DTypeError
from ..ops import elementwise as _ew
from ..tensor import Tensor

bool = _dt.bool_  # noqa: A001 - the standard's name
int8, int16, int32, int64 = _dt.int8, _dt.int16, _dt.int32, _dt.int64
uint8 = _dt.uint8
float32, float64 = _dt.float32, _dt.float64

DTYPES = {"bool": bool, "int8": int8, "int16": int16, "int32": int32, "int64": int64,
          "uint8": uint8, "float32": float32, "float64": float64}
_KINDS = {
    "bool": ("bool",),
    "signed integer": ("int8", "int16", "int32", "int64"),
    "unsigned integer": ("uint8",),
    "integral": ("int8", "int16", "int32", "int64", "uint8"),
    "real floating": ("float32", "float64"),
    "complex floating": (),
    "numeric": ("int8", "int16", "int32", "int64", "uint8", "float32", "float64"),
}


def _dtype(dtype) -> _dt.DType:
    """An ember dtype from a dtype-like; the standard's dtypes only (no float16/bfloat16)."""
    d = _dt.to_dtype(dtype)
    if d.name not in DTYPES:
        raise DTypeError(f"array API: {d.name} is not an array API dtype; use one of "
                         + ", ".join(DTYPES))
    return d


def astype(x: Tensor, dtype, /, *, copy: bool = True, device=None) -> Tensor:
    """``x`` converted to ``dtype`` (a copy unless ``copy=False`` and nothing changes)."""
    if device is not None:
        x = x.to(device)
    return _ew.astype(x, _dtype(dtype), copy=copy)


def _as_dtype(a) -> _dt.DType:
    return a.dtype if isinstance(a, Tensor) else _dtype(a)


def result_type(*arrays_and_dtypes) -> _dt.DType:
    """The dtype the arguments (tensors, dtypes or Python scalars) promote to.

    Example:
        >>> import ember.array_api as xp
        >>> xp.result_type(xp.int8, xp.uint8)
        ember.int16
    """
    if not arrays_and_dtypes:
        raise ValueError("result_type: give at least one array or dtype")
    scalars = [a for a in arrays_and_dtypes if isinstance(a, (builtins.bool, int, float))]
    typed = [_as_dtype(a) for a in arrays_and_dtypes
             if not isinstance(a, (builtins.bool, int, float))]
    if not typed:  # Python scalars alone: their default dtypes
        typed = [_dt.bool_ if isinstance(a, builtins.bool) else
                 _dt.default_int if isinstance(a, int) else _dt.default_float for a in scalars]
        scalars = []
    out = typed[0]
    for d in typed[1:]:
        out = _dt.result_type(out, d)
    # Python scalars are weak (2024.12): they take the arrays' dtype unless of a higher kind
    if any(isinstance(a, float) for a in scalars) and not out.is_floating_point:
        return _dt.default_float
    if any(not isinstance(a, builtins.bool) for a in scalars) and out is _dt.bool_:
        return _dt.default_int
    return out


def can_cast(from_, to, /) -> bool:
    """True when ``from_`` (a dtype or tensor) promotes to ``to`` within its kind."""
    f, t = _as_dtype(from_), _dtype(to)
    if f is t:
        return True
    if (f.kind == "b") != (t.kind == "b") or f.is_floating_point != t.is_floating_point:
        return False
    return _dt.result_type(f, t) is t


@dataclass(frozen=True)
class finfo_object:  # noqa: N801 - the standard's name
    """Limits of a floating dtype."""

    bits: int
    eps: float
    max: float
    min: float
    smallest_normal: float
    dtype: _dt.DType


@dataclass(frozen=True)
class iinfo_object:  # noqa: N801 - the standard's name
    """Limits of an integer dtype."""

    bits: int
    max: int
    min: int
    dtype: _dt.DType


def finfo(type, /) -> finfo_object:  # noqa: A002 - the standard's name
    """Machine limits of a floating dtype (or a tensor's dtype).

    Example:
        >>> import ember.array_api as xp
        >>> xp.finfo(xp.float32).bits
        32
    """
    d = _as_dtype(type)
    if not d.is_floating_point:
        raise DTypeError(f"finfo: {d.name} is not a floating dtype; use iinfo for integers")
    f = np.finfo(d.np)
    return finfo_object(f.bits, float(f.eps), float(f.max), float(f.min),
                        float(f.smallest_normal), d)


def iinfo(type, /) -> iinfo_object:  # noqa: A002 - the standard's name
    """Machine limits of an integer dtype (or a tensor's dtype)."""
    d = _as_dtype(type)
    if d.is_floating_point or d.kind == "b":
        raise DTypeError(f"iinfo: {d.name} is not an integer dtype; use finfo for floats")
    i = np.iinfo(d.np)
    return iinfo_object(i.bits, int(i.max), int(i.min), d)


def isdtype(dtype, kind) -> bool:
    """True when ``dtype`` is ``kind``: a dtype, a kind name ("bool", "signed integer",
    "unsigned integer", "integral", "real floating", "complex floating", "numeric") or a
    tuple of them."""
    d = _dt.to_dtype(dtype)
    if isinstance(kind, tuple):
        return any(isdtype(d, k) for k in kind)
    if isinstance(kind, str):
        if kind not in _KINDS:
            raise ValueError(f"isdtype: unknown kind {kind!r}; use one of " + ", ".join(_KINDS))
        return d.name in _KINDS[kind]
    return d is _dt.to_dtype(kind)
