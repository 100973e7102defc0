"""Differential tests of the element-wise functions against array-api-strict."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ._harness import (
    ANY,
    BOOL,
    FLOAT,
    INT,
    INT_OR_BOOL,
    REAL,
    SETTINGS,
    SHAPE,
    arrays,
    covers,
    hx,
    run,
    xs,
)

UNARY = {
    "abs": REAL, "acos": FLOAT, "acosh": FLOAT, "asin": FLOAT, "asinh": FLOAT, "atan": FLOAT,
    "atanh": FLOAT, "bitwise_invert": INT_OR_BOOL, "ceil": REAL, "conj": REAL, "cos": FLOAT,
    "cosh": FLOAT, "exp": FLOAT, "expm1": FLOAT, "floor": REAL, "isfinite": REAL,
    "isinf": REAL, "isnan": REAL, "log": FLOAT, "log10": FLOAT, "log1p": FLOAT, "log2": FLOAT,
    "logical_not": BOOL, "negative": REAL, "positive": REAL, "real": REAL,
    "reciprocal": FLOAT, "round": REAL,
    "sign": REAL, "signbit": FLOAT, "sin": FLOAT, "sinh": FLOAT, "sqrt": FLOAT, "square": REAL,
    "tan": FLOAT, "tanh": FLOAT, "trunc": REAL,
}
BINARY = {
    "add": REAL, "atan2": FLOAT, "bitwise_and": INT_OR_BOOL, "bitwise_left_shift": INT,
    "bitwise_or": INT_OR_BOOL, "bitwise_right_shift": INT, "bitwise_xor": INT_OR_BOOL,
    "copysign": FLOAT, "divide": FLOAT, "equal": ANY, "floor_divide": REAL, "greater": REAL,
    "greater_equal": REAL, "hypot": FLOAT, "less": REAL, "less_equal": REAL,
    "logaddexp": FLOAT, "logical_and": BOOL, "logical_or": BOOL, "logical_xor": BOOL,
    "maximum": REAL, "minimum": REAL, "multiply": REAL, "nextafter": FLOAT, "not_equal": ANY,
    "pow": REAL,
    "remainder": REAL, "subtract": REAL,
}
covers(*UNARY, *BINARY)

_PROMOTE_WITH = {  # dtypes a second operand may have so that the pair promotes
    "b": [xs.bool], "i": [xs.int8, xs.int16, xs.int32, xs.int64, xs.uint8],
    "u": [xs.int8, xs.int16, xs.int32, xs.int64, xs.uint8], "f": [xs.float32, xs.float64],
}


def _kind(dtype) -> str:
    return xs.asarray(0, dtype=dtype).__array__().dtype.kind if dtype != xs.bool else "b"


@pytest.mark.parametrize("name", sorted(UNARY))
@SETTINGS
@given(data=st.data())
def test_unary(name, data):
    x = data.draw(arrays(UNARY[name], SHAPE), label="x")
    run(name, x)


@pytest.mark.parametrize("name", sorted(BINARY))
@SETTINGS
@given(data=st.data())
def test_binary(name, data):
    d1 = data.draw(BINARY[name], label="dtype1")
    same = data.draw(st.booleans(), label="same dtype")
    d2 = d1 if same else data.draw(st.sampled_from(_PROMOTE_WITH[_kind(d1)]), label="dtype2")
    if BINARY[name] is FLOAT and d2 not in (xs.float32, xs.float64):
        d2 = d1
    s1, s2 = data.draw(hx.mutually_broadcastable_shapes(2, max_dims=3, max_side=4),
                       label="shapes").input_shapes
    x1 = data.draw(arrays(d1, s1), label="x1")
    if name.startswith("bitwise_") and "shift" in name:  # the standard: shifts >= 0 only
        x2 = data.draw(arrays(d2, s2, bound=8), label="x2")
    else:
        x2 = data.draw(arrays(d2, s2), label="x2")
    run(name, x1, x2)


def _scalar_for(data, dtype, name):
    """A Python scalar of dtype's kind (2024.12 allows one in a binary function)."""
    if dtype == xs.bool:
        return data.draw(st.booleans(), label="scalar")
    if dtype in (xs.float32, xs.float64):
        width = 32 if dtype == xs.float32 else 64
        return data.draw(st.floats(width=width), label="scalar")
    info = xs.iinfo(dtype)
    lo = 0 if "shift" in name else info.min
    return data.draw(st.integers(lo, min(info.max, 8) if "shift" in name else info.max),
                     label="scalar")


@pytest.mark.parametrize("name", sorted(BINARY))
@SETTINGS
@given(data=st.data())
def test_binary_with_a_python_scalar(name, data):
    dtype = data.draw(BINARY[name], label="dtype")
    x = data.draw(arrays(dtype, SHAPE), label="x")
    scalar = _scalar_for(data, dtype, name)
    if data.draw(st.booleans(), label="scalar first"):
        run(name, scalar, x)
    else:
        run(name, x, scalar)


@covers("clip")
@SETTINGS
@given(data=st.data())
def test_clip(data):
    dtype = data.draw(REAL, label="dtype")
    x = data.draw(arrays(dtype, SHAPE), label="x")
    kind = data.draw(st.sampled_from(["none", "scalars", "arrays", "min only"]), label="kind")
    if kind == "none":
        run("clip", x)
        return
    lo_hi = data.draw(arrays(dtype, (2,), bound=100), label="bounds")
    lo, hi = sorted(lo_hi.__array__().tolist())
    if kind == "scalars":
        run("clip", x, lo, hi)
    elif kind == "min only":
        run("clip", x, min=lo)
    else:
        shape = x.shape[-1:] if x.ndim else ()
        a = data.draw(arrays(dtype, shape, bound=100), label="min array")
        run("clip", x, a, max=xs.asarray(hi, dtype=dtype))
