"""The CPU backend's where for large float arrays: bit operations instead of NumPy's where,
whose per-element branch mispredicts on random masks (10x slower). Bit for bit NumPy's."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.ops._select import _SELECT_MIN, select


def _bits(a):
    a = np.ascontiguousarray(a)
    return a.view(np.int32 if a.dtype == np.float32 else np.int64)


SPECIAL = [np.nan, -np.nan, 0.0, -0.0, np.inf, -np.inf, 1e-45, -1e-300]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", ["arrays", "scalar_a", "scalar_b", "row_bcast", "nhwc"])
def test_select_equals_numpys_where_bit_for_bit(dtype, case):
    rng = np.random.default_rng(3)
    shape = (8, 16, 12, 14)  # 21504 elements
    x = rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    with np.errstate(over="ignore"):
        x.reshape(-1)[:8] = np.array(SPECIAL, dtype=dtype)
        g.reshape(-1)[8:16] = np.array(SPECIAL, dtype=dtype)
    cond = x <= 0
    a, b = {"arrays": (x, g), "scalar_a": (0.0, g), "scalar_b": (g, 0.0),
            "row_bcast": (x[:, :, :, :1], g), "nhwc": (x, g)}[case]
    if case == "nhwc":
        a = np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
        cond = np.ascontiguousarray(cond.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    got, want = select(cond, a, b), np.where(cond, a, b)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.array_equal(_bits(got), _bits(want))
    out = np.empty(want.shape, want.dtype)
    assert select(cond, a, b, out) is out and np.array_equal(_bits(out), _bits(want))


def test_select_leaves_small_other_dtypes_and_aliasing_to_numpy():
    c = np.ones(_SELECT_MIN, bool)
    f = np.ones(_SELECT_MIN, np.float32)
    assert select(c[:-1], f[:-1], 0.0) is None                 # small
    assert select(c, f.astype(np.float16), 0.0) is None       # float16
    assert select(c, np.ones(_SELECT_MIN, np.int64), 0) is None  # integers
    assert select(c, 0.0, f, out=f) is None                    # out is b's memory


def test_where_op_and_compiled_where_use_it_and_agree():
    rng = np.random.default_rng(4)
    x = ember.tensor(rng.standard_normal((64, 700)).astype(np.float32))
    g = ember.tensor(rng.standard_normal((64, 700)).astype(np.float32))

    def f(x, g):
        return ember.where(x <= 0, 0.0, g) * 2.0

    fast = ember.jit(f)
    want = np.where(x.numpy() <= 0, 0.0, g.numpy()).astype(np.float32) * 2.0
    assert np.array_equal(f(x, g).numpy(), want)
    assert np.array_equal(fast(x, g).numpy(), want)
    assert "k_where(" in fast.compiled.source


@pytest.mark.parametrize("name", ["sigmoid", "leaky_relu", "elu", "selu"])
def test_forwards_choosing_per_element_equal_their_small_array_results(name):
    """The activations whose forwards pick one of two values per element give the same bits
    on a large array (bit operations) as on its pieces below the threshold (NumPy's where)."""
    F = ember.nn.functional
    fn = {"sigmoid": ember.sigmoid, "leaky_relu": F.leaky_relu, "elu": F.elu,
          "selu": F.selu}[name]
    x = np.random.default_rng(5).standard_normal(4 * _SELECT_MIN).astype(np.float32) * 4
    whole = fn(ember.tensor(x)).numpy()
    parts = np.concatenate([fn(ember.tensor(p)).numpy() for p in np.split(x, 8)])
    assert np.array_equal(_bits(whole), _bits(parts))
