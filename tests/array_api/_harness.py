"""The differential harness: Hypothesis draws inputs as array-api-strict arrays (the
standard's reference implementation), the same call runs on array-api-strict and on
``ember.array_api``, and the results must agree in values, dtype and shape.

Each test declares the standard functions it exercises with ``covers``; test_coverage.py
checks that every function of the claimed version is covered or listed as unsupported.
"""

from __future__ import annotations

import math
import warnings

import array_api_strict as xs
import numpy as np
from array_api_strict._array_object import Array as StrictArray
from hypothesis import HealthCheck, reject, settings
from hypothesis import strategies as st
from hypothesis.extra.array_api import make_strategies_namespace

import ember
import ember.array_api as ea

VERSION = "2024.12"
xs.set_array_api_strict_flags(api_version=VERSION)
hx = make_strategies_namespace(xs, api_version=VERSION)

SETTINGS = settings(max_examples=25, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.data_too_large])

TESTED: set[str] = set()


def covers(*names: str):
    """Record that the decorated test checks these standard functions."""
    TESTED.update(names)
    return lambda fn: fn


# dtypes ember has (no uint16/32/64, no complex)
BOOL = hx.boolean_dtypes()
INT = st.one_of(hx.integer_dtypes(), hx.unsigned_integer_dtypes(sizes=8))
FLOAT = hx.floating_dtypes()
REAL = st.one_of(INT, FLOAT)
ANY = st.one_of(BOOL, REAL)
INT_OR_BOOL = st.one_of(INT, BOOL)
SIGNED = hx.integer_dtypes()
SHAPE = hx.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
NONEMPTY = hx.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)

DTYPE_PAIRS = {  # strict dtype -> ember dtype
    getattr(xs, n): getattr(ea, n)
    for n in ("bool", "int8", "int16", "int32", "int64", "uint8", "float32", "float64")
}


def _elements(dtype, bound: float):
    if dtype in (xs.float32, xs.float64):
        return {"min_value": -bound, "max_value": bound, "allow_nan": False,
                "allow_subnormal": False}
    if dtype == xs.bool:
        return None
    info = xs.iinfo(dtype)
    return {"min_value": int(max(-bound, info.min)), "max_value": int(min(bound, info.max))}


def arrays(dtype, shape, *, bound: float | None = None, **kw):
    """A strategy of strict arrays; ``bound`` limits elements to finite ``[-bound, bound]``."""
    if bound is None:
        return hx.arrays(dtype, shape, **kw)
    if isinstance(dtype, st.SearchStrategy):
        return dtype.flatmap(lambda d: arrays(d, shape, bound=bound, **kw))
    return hx.arrays(dtype, shape, elements=_elements(dtype, bound), **kw)


def to_ember(v):
    """Strict arrays to ember tensors, strict dtypes to ember dtypes, recursively."""
    if isinstance(v, StrictArray):
        return ember.from_numpy(np.array(np.asarray(v)))
    if isinstance(v, (list, tuple)):
        return type(v)(to_ember(a) for a in v)
    if isinstance(v, dict):
        return {k: to_ember(a) for k, a in v.items()}
    try:
        return DTYPE_PAIRS.get(v, v)
    except TypeError:  # unhashable
        return v


def run(name: str, *args, module: str = "", float_default: bool = False, rtol=None,
        **kwargs):
    """Call ``name`` on strict and on ember with the same arguments and compare."""
    ref_ns = xs if not module else getattr(xs, module)
    our_ns = ea if not module else getattr(ea, module)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            ref = getattr(ref_ns, name)(*args, **kwargs)
        except Exception:  # the standard does not define this input: nothing to compare
            reject()
        out = getattr(our_ns, name)(*to_ember(args), **to_ember(kwargs))
    assert_same(ref, out, name, float_default=float_default, rtol=rtol)
    return ref, out


def _np_of(ref) -> np.ndarray:
    return np.asarray(ref)


def assert_same(ref, out, name: str, *, float_default: bool = False, rtol=None):
    """Same structure, dtypes, shapes and values (NaNs in the same places)."""
    if isinstance(ref, (tuple, list)):
        assert isinstance(out, (tuple, list)) and len(out) == len(ref), (name, out)
        if hasattr(ref, "_fields"):
            assert tuple(getattr(out, "_fields", ())) == ref._fields, name
        for r, o in zip(ref, out):
            assert_same(r, o, name, float_default=float_default, rtol=rtol)
        return
    if not isinstance(ref, StrictArray):
        assert to_ember(ref) == out, (name, ref, out)
        return
    assert isinstance(out, ember.Tensor), (name, type(out))
    want = _np_of(ref)
    got = out.detach().numpy()
    want_dtype = want.dtype.name
    if float_default and want_dtype == "float64":  # the default float differs (see docs)
        want_dtype, want = "float32", want.astype(np.float32)
    assert out.dtype.name == want_dtype, (name, out.dtype, want_dtype)
    assert tuple(out.shape) == want.shape, (name, out.shape, want.shape)
    if want.dtype.kind == "f":
        if rtol is None:
            np.testing.assert_array_equal(got, want, err_msg=name)
        else:
            scale = max(1.0, float(np.max(np.abs(want[np.isfinite(want)]), initial=0.0)))
            np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale,
                                       equal_nan=True, err_msg=name)
    else:
        np.testing.assert_array_equal(got, want, err_msg=name)


def tol(dtype) -> float:
    """A tolerance for results whose summation order may differ from NumPy's."""
    return 1e-5 if dtype in (xs.float32, ea.float32) else 1e-11


def size(shape) -> int:
    return math.prod(shape)
