"""Differential tests of the creation and data type functions and the inspection API."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ember
import ember.array_api as ea
from ember.errors import DTypeError

from ._harness import (
    ANY,
    FLOAT,
    INT,
    REAL,
    SETTINGS,
    SHAPE,
    arrays,
    assert_same,
    covers,
    run,
    to_ember,
    xs,
)

SMALL_SHAPE = st.lists(st.integers(0, 3), max_size=3).map(tuple)


@covers("zeros", "ones", "empty", "full")
@SETTINGS
@given(data=st.data())
def test_filled(data):
    shape = data.draw(st.one_of(SMALL_SHAPE, st.integers(0, 4)), label="shape")
    dtype = data.draw(st.one_of(st.none(), ANY), label="dtype")
    run("zeros", shape, dtype=dtype, float_default=dtype is None)
    run("ones", shape, dtype=dtype, float_default=dtype is None)
    ref = xs.empty(shape, dtype=dtype)
    out = ea.empty(shape, dtype=to_ember(dtype))
    assert tuple(out.shape) == ref.shape
    assert out.dtype is (to_ember(dtype) if dtype is not None else ea.float32)
    value = data.draw(st.one_of(st.booleans(), st.integers(-100, 100),
                                st.floats(-1e3, 1e3)), label="fill")
    run("full", shape, value, float_default=True)
    if dtype is not None:
        run("full", shape, value if isinstance(value, bool) else 1, dtype=dtype)


@covers("zeros_like", "ones_like", "empty_like", "full_like")
@SETTINGS
@given(data=st.data())
def test_like(data):
    x = data.draw(arrays(ANY, SHAPE), label="x")
    dtype = data.draw(st.one_of(st.none(), ANY), label="dtype")
    run("zeros_like", x, dtype=dtype)
    run("ones_like", x, dtype=dtype)
    run("full_like", x, True if (dtype or x.dtype) == xs.bool else 3, dtype=dtype)
    out = ea.empty_like(to_ember(x), dtype=to_ember(dtype))
    assert tuple(out.shape) == x.shape
    assert out.dtype is to_ember(dtype or x.dtype)


@covers("arange", "linspace", "eye")
@SETTINGS
@given(data=st.data())
def test_ranges(data):
    start, stop = (data.draw(st.integers(-10, 10)) for _ in range(2))
    step = data.draw(st.integers(-3, 3).filter(bool), label="step")
    run("arange", start, stop, step)
    run("arange", stop)
    run("arange", float(start), float(stop), 0.5, dtype=xs.float64)
    run("arange", start, stop, dtype=data.draw(FLOAT))
    num = data.draw(st.integers(0, 6), label="num")
    endpoint = data.draw(st.booleans(), label="endpoint")
    run("linspace", start, stop, num, endpoint=endpoint, dtype=xs.float64)
    run("linspace", start, stop, num, endpoint=endpoint, float_default=True, rtol=1e-6)
    n, m = data.draw(st.integers(0, 4)), data.draw(st.one_of(st.none(), st.integers(0, 4)))
    run("eye", n, m, k=data.draw(st.integers(-4, 4)), dtype=data.draw(ANY))
    run("eye", n, float_default=True)


@covers("asarray")
@SETTINGS
@given(data=st.data())
def test_asarray(data):
    x = data.draw(arrays(ANY, SHAPE), label="x")
    nested = np.asarray(x).tolist()
    ref, out = run("asarray", nested, dtype=x.dtype)
    run("asarray", nested, float_default=True)
    assert_same(xs.asarray(x, copy=True), ea.asarray(to_ember(x), copy=True), "asarray")
    e = to_ember(x)
    assert ea.asarray(e) is e
    shared = ea.asarray(np.asarray(x), copy=False)
    assert np.shares_memory(shared.numpy(), np.asarray(x)) or x.size == 0


def test_asarray_copy_false_refuses_copies():
    with pytest.raises(ValueError, match="asarray: copy=False, but Python objects"):
        ea.asarray([1, 2], copy=False)
    with pytest.raises(ValueError, match="asarray: copy=False, but converting the dtype"):
        ea.asarray(ea.asarray([1, 2]), dtype=ea.float64, copy=False)


@covers("from_dlpack")
@SETTINGS
@given(data=st.data())
def test_from_dlpack(data):
    x = data.draw(arrays(ANY, SHAPE), label="x")
    run("from_dlpack", x)
    arr = np.arange(6.0)
    t = ea.from_dlpack(arr)
    arr[0] = 42.0
    assert t[0].item() == 42.0  # zero-copy


@covers("meshgrid")
@SETTINGS
@given(data=st.data())
def test_meshgrid(data):
    dtype = data.draw(REAL, label="dtype")
    n = data.draw(st.integers(0, 3), label="n")
    vecs = [data.draw(arrays(dtype, (data.draw(st.integers(0, 3)),))) for _ in range(n)]
    run("meshgrid", *vecs, indexing=data.draw(st.sampled_from(["xy", "ij"])))


@covers("tril", "triu")
@SETTINGS
@given(data=st.data())
def test_triangles(data):
    x = data.draw(arrays(ANY, hxs_matrix()), label="x")
    k = data.draw(st.integers(-3, 3), label="k")
    run("tril", x, k=k)
    run("triu", x, k=k)


def hxs_matrix():
    return st.tuples(st.sampled_from([(), (2,)]), st.integers(0, 3), st.integers(0, 3)).map(
        lambda t: t[0] + (t[1], t[2]))


# ----------------------------------------------------------------------------- dtypes


@covers("astype")
@SETTINGS
@given(data=st.data())
def test_astype(data):
    x = data.draw(arrays(ANY, SHAPE, bound=100), label="x")
    run("astype", x, data.draw(ANY, label="dtype"), copy=data.draw(st.booleans()))


@covers("can_cast", "result_type", "isdtype")
@SETTINGS
@given(a=ANY, b=ANY, c=ANY)
def test_promotion(a, b, c):
    run("can_cast", a, b)
    kind = "b" if a == xs.bool else "f" if a in (xs.float32, xs.float64) else "i"
    run("result_type", a, {"b": True, "i": 3, "f": 2.5}[kind])  # 2024.12: weak scalars
    if kind == "f":
        run("result_type", a, 3)
    run("result_type", a, b)
    run("result_type", a, b, c)
    for kind in ("bool", "signed integer", "unsigned integer", "integral", "real floating",
                 "complex floating", "numeric", b, ("bool", a)):
        run("isdtype", a, kind)


@covers("finfo", "iinfo")
@SETTINGS
@given(f=FLOAT, i=st.one_of(INT))
def test_info(f, i):
    for ref, out in ((xs.finfo(f), ea.finfo(to_ember(f))), (xs.iinfo(i), ea.iinfo(to_ember(i)))):
        for field in ("bits", "max", "min", "eps", "smallest_normal"):
            if hasattr(ref, field):
                assert getattr(out, field) == getattr(ref, field), field
        assert out.dtype is to_ember(ref.dtype)
    assert ea.finfo(ea.ones(1, dtype=to_ember(f))).bits == xs.finfo(f).bits


def test_dtype_errors():
    with pytest.raises(DTypeError, match="finfo: int32 is not a floating dtype"):
        ea.finfo(ea.int32)
    with pytest.raises(DTypeError, match="iinfo: float32 is not an integer dtype"):
        ea.iinfo(ea.float32)
    with pytest.raises(DTypeError, match="float16 is not an array API dtype"):
        ea.zeros(2, dtype=ember.float16)
    with pytest.raises(ValueError, match="isdtype: unknown kind 'floating'"):
        ea.isdtype(ea.float32, "floating")


@covers("__array_namespace_info__")
def test_inspection():
    from ember.array_api import _unsupported

    ours, ref = ea.__array_namespace_info__(), xs.__array_namespace_info__()
    assert set(ours.dtypes()) == set(ref.dtypes()) - set(_unsupported.DTYPES)
    for kind in ("bool", "signed integer", "unsigned integer", "integral", "real floating",
                 "numeric"):
        want = {k for k in ref.dtypes(kind=kind) if k not in _unsupported.DTYPES}
        assert set(ours.dtypes(kind=kind)) == want, kind
    assert ours.capabilities() == ref.capabilities()
    assert ours.default_device() in ours.devices()
    defaults = ours.default_dtypes()
    assert set(defaults) == set(ref.default_dtypes())
    assert defaults["integral"] is ea.int64 and defaults["real floating"] is ea.float32


def test_constants_and_version():
    assert ea.__array_api_version__ == "2024.12"
    assert (ea.e, ea.pi, ea.inf) == (math.e, math.pi, math.inf) and math.isnan(ea.nan)
    assert ea.newaxis is None
    x = ember.tensor([1.0, 2.0])
    assert x.__array_namespace__() is ea
    assert x.__array_namespace__(api_version="2023.12") is ea
    assert x.__array_namespace__(api_version="2024.12") is ea
    with pytest.raises(ValueError, match="array API standard 2024.12"):
        x.__array_namespace__(api_version="2025.12")
    assert x.to_device("cpu").device == x.device
    assert x.dtype == ea.float32


