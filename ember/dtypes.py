"""ember's data types and the type-promotion rule.

A ``DType`` names one element type and carries the backend's NumPy dtype. Promotion follows
the array API standard within a kind (bool < integers < floating) and PyTorch across kinds:
an integer tensor combined with a floating tensor takes the floating dtype, and a Python
float combined with an integer tensor gives the default float dtype.

Example:
    >>> import ember
    >>> ember.result_type(ember.int32, ember.float16)
    ember.float16
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np

from .errors import DTypeError

# bfloat16 on the CPU comes from ml_dtypes (an optional extra), imported on first use: its
# import takes most of a second (ml_dtypes 0.7), which every ``import ember`` would pay
_HAS_BF16 = importlib.util.find_spec("ml_dtypes") is not None


class DType:
    """One element type: ``ember.float32``, ``ember.int64``, ``ember.bool`` …"""

    __slots__ = ("name", "np", "itemsize", "kind", "is_floating_point", "is_signed")

    def __init__(self, name: str, np_dtype) -> None:
        self.name = name
        self.np = np.dtype(np_dtype) if np_dtype is not None else None
        self.itemsize = self.np.itemsize if self.np is not None else 2
        self.kind = "f" if name in _FLOAT_NAMES else ("b" if name == "bool" else "i")
        self.is_floating_point = self.kind == "f"
        self.is_signed = name not in ("bool", "uint8")

    def __repr__(self) -> str:
        return f"ember.{self.name}"

    def __reduce__(self):
        return (to_dtype, (self.name,))


class _LazyBFloat16(DType):
    """``ember.bfloat16``: its NumPy dtype (ml_dtypes') is imported when first asked for."""

    __slots__ = ()

    def __init__(self) -> None:
        self.name = "bfloat16"
        self.itemsize = 2
        self.kind = "f"
        self.is_floating_point = True
        self.is_signed = True

    @property
    def np(self):
        if not _BF16_NP:  # once: later reads are a list lookup (ops read dtype.np often)
            import ml_dtypes

            _BF16_NP.append(np.dtype(ml_dtypes.bfloat16))
            _BY_NP.setdefault(_BF16_NP[0], self)
        return _BF16_NP[0]


_BF16_NP: list = []  # ml_dtypes' bfloat16, once imported


_FLOAT_NAMES = ("float16", "bfloat16", "float32", "float64")

bool_ = DType("bool", np.bool_)
uint8 = DType("uint8", np.uint8)
int8 = DType("int8", np.int8)
int16 = DType("int16", np.int16)
int32 = DType("int32", np.int32)
int64 = DType("int64", np.int64)
float16 = DType("float16", np.float16)
float32 = DType("float32", np.float32)
float64 = DType("float64", np.float64)
bfloat16 = _LazyBFloat16() if _HAS_BF16 else None

ALL = [d for d in (bool_, uint8, int8, int16, int32, int64, float16, bfloat16, float32, float64)
       if d is not None]
FLOATING = [d for d in ALL if d.is_floating_point]

_BY_NAME = {d.name: d for d in ALL}
_BY_NAME.update({"float": float32, "double": float64, "half": float16, "long": int64,
                 "int": int32, "short": int16, "bool_": bool_, "uint": uint8})
_BY_NP = {d.np: d for d in ALL if d is not bfloat16}  # bfloat16 joins on first use

default_float = float32
default_int = int64


def from_numpy_dtype(np_dtype) -> DType:
    """The ember dtype of a backend array's dtype (raises for types ember does not support)."""
    try:
        return _BY_NP[np_dtype]
    except KeyError:
        d = _BY_NP.get(np.dtype(np_dtype))
        if d is None and bfloat16 is not None and "ml_dtypes" in sys.modules \
                and np.dtype(np_dtype) == bfloat16.np:  # an array made outside ember
            d = bfloat16
        if d is None:
            raise DTypeError(
                f"ember does not support the array dtype {np_dtype}; supported: "
                + ", ".join(x.name for x in ALL)
            ) from None
        return d


def to_dtype(dtype) -> DType:
    """Normalise a dtype: ``ember.float32``, ``"float32"``, ``numpy.float32`` or ``float``."""
    if isinstance(dtype, DType):
        return dtype
    if dtype is bool:
        return bool_
    if dtype is int:
        return default_int
    if dtype is float:
        return default_float
    if isinstance(dtype, str):
        d = _BY_NAME.get(dtype)
        if d is None:
            raise DTypeError(
                f"unknown dtype {dtype!r}; choose one of " + ", ".join(x.name for x in ALL)
            )
        return d
    np_dtype = getattr(dtype, "np", None)
    try:
        return from_numpy_dtype(np.dtype(np_dtype if np_dtype is not None else dtype))
    except TypeError:
        raise DTypeError(
            f"unknown dtype {dtype!r}; choose one of " + ", ".join(x.name for x in ALL)
        ) from None


_INT_ORDER = {"bool": 0, "uint8": 1, "int8": 1, "int16": 2, "int32": 3, "int64": 4}
_FLOAT_ORDER = {"float16": 1, "bfloat16": 1, "float32": 2, "float64": 3}


def result_type(a: DType, b: DType) -> DType:
    """The dtype two tensors of dtypes ``a`` and ``b`` promote to."""
    if a is b:
        return a
    if a.is_floating_point and b.is_floating_point:
        if {a.name, b.name} == {"float16", "bfloat16"}:
            return float32
        return a if _FLOAT_ORDER[a.name] >= _FLOAT_ORDER[b.name] else b
    if a.is_floating_point:
        return a
    if b.is_floating_point:
        return b
    if a is bool_:
        return b
    if b is bool_:
        return a
    if {a.name, b.name} == {"uint8", "int8"}:
        return int16
    if a.name == "uint8":
        return b if _INT_ORDER[b.name] > 1 else int16
    if b.name == "uint8":
        return a if _INT_ORDER[a.name] > 1 else int16
    return a if _INT_ORDER[a.name] >= _INT_ORDER[b.name] else b
