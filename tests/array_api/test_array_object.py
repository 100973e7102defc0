"""The array object: operators, attributes and conversions of ember tensors against
array-api-strict arrays (operands of one dtype; see docs/array_api.md for mixed dtypes)."""

from __future__ import annotations

import operator

import numpy as np
import pytest
from hypothesis import given, reject
from hypothesis import strategies as st

import ember

from ._harness import (
    ANY,
    FLOAT,
    INT,
    INT_OR_BOOL,
    REAL,
    SETTINGS,
    SHAPE,
    arrays,
    assert_same,
    hx,
    to_ember,
    xs,
)

OPERATORS = {
    "__add__": (operator.add, REAL), "__sub__": (operator.sub, REAL),
    "__mul__": (operator.mul, REAL), "__truediv__": (operator.truediv, FLOAT),
    "__floordiv__": (operator.floordiv, REAL), "__mod__": (operator.mod, REAL),
    "__pow__": (operator.pow, REAL), "__and__": (operator.and_, INT_OR_BOOL),
    "__or__": (operator.or_, INT_OR_BOOL), "__xor__": (operator.xor, INT_OR_BOOL),
    "__lshift__": (operator.lshift, INT), "__rshift__": (operator.rshift, INT),
    "__eq__": (operator.eq, ANY), "__ne__": (operator.ne, ANY), "__lt__": (operator.lt, REAL),
    "__le__": (operator.le, REAL), "__gt__": (operator.gt, REAL), "__ge__": (operator.ge, REAL),
}
UNARY = {"__neg__": (operator.neg, REAL), "__pos__": (operator.pos, REAL),
         "__abs__": (operator.abs, REAL), "__invert__": (operator.invert, INT_OR_BOOL)}


def _both(fn, *args):
    try:
        with np.errstate(all="ignore"):
            ref = fn(*args)
    except Exception:  # outside the standard
        reject()
    with np.errstate(all="ignore"):
        return ref, fn(*to_ember(args))


@pytest.mark.parametrize("name", sorted(OPERATORS))
@SETTINGS
@given(data=st.data())
def test_binary_operators(name, data):
    fn, dtypes = OPERATORS[name]
    dtype = data.draw(dtypes, label="dtype")
    s1, s2 = data.draw(hx.mutually_broadcastable_shapes(2, max_dims=3), label="shapes") \
        .input_shapes
    bound = 8 if "shift" in name else None
    x1 = data.draw(arrays(dtype, s1), label="x1")
    x2 = data.draw(arrays(dtype, s2, bound=bound), label="x2")
    if "shift" in name:
        x2 = xs.abs(x2)
    assert_same(*_both(fn, x1, x2), name)
    scalar = (x2[(0,) * x2.ndim] if x2.size else None)
    if scalar is not None:
        kind = np.asarray(scalar).dtype.kind
        value = {"b": bool, "f": float}.get(kind, int)(np.asarray(scalar))
        assert_same(*_both(fn, x1, value), name + " scalar")
        assert_same(*_both(fn, value, x1), name + " reflected")


@pytest.mark.parametrize("name", sorted(UNARY))
@SETTINGS
@given(data=st.data())
def test_unary_operators(name, data):
    fn, dtypes = UNARY[name]
    assert_same(*_both(fn, data.draw(arrays(dtypes, SHAPE), label="x")), name)


@SETTINGS
@given(data=st.data())
def test_matmul_operator(data):
    dtype = data.draw(FLOAT, label="dtype")
    a = data.draw(arrays(dtype, (2, 3), bound=5))
    b = data.draw(arrays(dtype, (3,), bound=5))
    ref, out = _both(operator.matmul, a, b)
    np.testing.assert_allclose(out.numpy(), np.asarray(ref), rtol=1e-5)


@SETTINGS
@given(data=st.data())
def test_attributes_and_conversions(data):
    x = data.draw(arrays(ANY, SHAPE), label="x")
    e = to_ember(x)
    assert e.dtype is to_ember(x.dtype) and e.shape == x.shape and e.ndim == x.ndim
    assert e.device == ember.array_api.__array_namespace_info__().default_device()
    assert_same(x.mT, e.mT, "mT") if x.ndim >= 2 else None
    assert_same(x.T, e.T, "T") if x.ndim == 2 else None
    if x.size == 1 and x.ndim == 0:
        kind = np.asarray(x).dtype.kind
        assert bool(e) == bool(x)
        if kind != "b":
            assert float(e) == float(x) or np.isnan(float(x))
            assert complex(e) == complex(float(x)) or np.isnan(float(x))
        if kind in "iu":
            assert int(e) == int(x) and operator.index(e) == operator.index(x)


@SETTINGS
@given(data=st.data())
def test_setitem(data):
    x = data.draw(arrays(ANY, hx.array_shapes(min_dims=1, max_dims=3)), label="x")
    idx = data.draw(hx.indices(x.shape), label="index")
    value = data.draw(arrays(x.dtype, ()), label="value")
    e = to_ember(x)
    ref = xs.asarray(x, copy=True)
    ref[idx] = value
    e[idx] = to_ember(value)
    assert_same(ref, e, "__setitem__")


INPLACE = ["__add__", "__sub__", "__mul__", "__truediv__", "__floordiv__", "__mod__",
           "__pow__", "__and__", "__or__", "__xor__", "__lshift__", "__rshift__"]


@pytest.mark.parametrize("name", INPLACE)
@SETTINGS
@given(data=st.data())
def test_inplace_operators(name, data):
    fn, dtypes = OPERATORS[name]
    ifn = getattr(operator, "i" + fn.__name__.strip("_"))
    dtype = data.draw(dtypes, label="dtype")
    shape = data.draw(hx.array_shapes(min_dims=1, max_dims=3), label="shape")
    x1 = data.draw(arrays(dtype, shape), label="x1")
    x2 = data.draw(arrays(dtype, shape[1:], bound=8 if "shift" in name else None), label="x2")
    if "shift" in name:
        x2 = xs.abs(x2)
    ref = xs.asarray(x1, copy=True)
    try:
        with np.errstate(all="ignore"):
            ref = ifn(ref, x2)
    except Exception:  # outside the standard
        reject()
    base = to_ember(x1)
    view = base[...]  # writes through the view reach the base: the operator is in place
    with np.errstate(all="ignore"):
        out = ifn(view, to_ember(x2))
    assert out is view
    assert_same(ref, base, "i" + name)
