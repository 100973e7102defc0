"""NumPy's protocols on tensors: __array__ with NumPy 2's copy=, __array_ufunc__ and
__array_function__ returning ember tensors (differentiable), and the documented fallback."""

import numpy as np
import pytest
import torch

import ember
from ember.autograd import gradcheck
from ember.interop import FUNCTIONS, UFUNCS


def _t(*shape, rg=False, seed=0):
    a = np.random.default_rng(seed).uniform(0.5, 2.0, size=shape)
    return ember.tensor(a, dtype=ember.float64, requires_grad=rg)


# ---------------------------------------------------------------- __array__ and copy=
def test_asarray_shares_memory_and_array_copies():
    t = ember.arange(4.0)
    assert np.asarray(t) is t.data
    assert np.array(t, copy=False) is t.data
    c = np.array(t)
    assert not np.shares_memory(c, t.data)
    c2 = np.array(t, copy=True)
    c2[0] = 5
    assert t.data[0] == 0


def test_array_dtype_change_copies_or_refuses():
    t = ember.arange(4.0)
    d = np.asarray(t, dtype=np.float64)
    assert d.dtype == np.float64 and not np.shares_memory(d, t.data)
    assert np.asarray(t, dtype=np.float32) is t.data  # same dtype: no copy
    with pytest.raises(ValueError, match=r"__array__: converting float32 to float64 needs a "
                                         r"copy, which copy=False forbids"):
        np.array(t, dtype=np.float64, copy=False)


def test_asarray_works_for_tensors_that_require_grad():
    x = ember.ones(3, requires_grad=True)
    np.testing.assert_array_equal(np.asarray(x), [1.0, 1.0, 1.0])


# ---------------------------------------------------------------- ufuncs
UNARY = [np.exp, np.log, np.sqrt, np.sin, np.cos, np.tanh, np.negative, np.absolute,
         np.square, np.reciprocal, np.expm1, np.log1p]
BINARY = [np.add, np.subtract, np.multiply, np.divide, np.power, np.maximum, np.minimum]


@pytest.mark.parametrize("ufunc", UNARY, ids=lambda u: u.__name__)
def test_unary_ufunc_returns_differentiable_tensor(ufunc):
    x = _t(2, 3, rg=True)
    y = ufunc(x)
    assert isinstance(y, ember.Tensor) and y.grad_fn is not None
    np.testing.assert_allclose(y.detach().numpy(), ufunc(x.detach().numpy()), rtol=1e-12)
    assert gradcheck(ufunc, [x])


@pytest.mark.parametrize("ufunc", BINARY, ids=lambda u: u.__name__)
def test_binary_ufunc_matches_torch_gradients(ufunc):
    a, b = _t(2, 3, rg=True, seed=1), _t(3, rg=True, seed=2)
    ufunc(a, b).sum().backward()
    ta = torch.tensor(a.detach().numpy(), requires_grad=True)
    tb = torch.tensor(b.detach().numpy(), requires_grad=True)
    torch_fn = {"add": torch.add, "subtract": torch.sub, "multiply": torch.mul,
                "divide": torch.div, "power": torch.pow, "maximum": torch.maximum,
                "minimum": torch.minimum}[ufunc.__name__]
    torch_fn(ta, tb).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-12)


def test_ndarray_operands_and_comparisons_give_tensors():
    t = ember.tensor([1.0, 2.0, 3.0])
    a = np.array([1.0, 0.0, 3.0], dtype=np.float32)
    s = a + t
    assert isinstance(s, ember.Tensor) and s.tolist() == [2.0, 2.0, 6.0]
    eq = a == t
    assert isinstance(eq, ember.Tensor) and eq.tolist() == [True, False, True]
    assert isinstance(np.float32(2.0) * t, ember.Tensor)
    m = np.matmul(ember.ones(2, 3), np.ones((3, 4), dtype=np.float32))
    assert isinstance(m, ember.Tensor) and m.shape == (2, 4)
    inv = np.invert(ember.tensor([True, False]))
    assert inv.tolist() == [False, True]


def test_ufunc_results_follow_ember_dtype_rules():
    assert np.exp(ember.tensor([1, 2])).dtype is ember.float32  # NumPy would give float64


def test_unsupported_ufunc_falls_back_to_numpy():
    t = ember.tensor([1.0, 2.0])
    r = np.arctan2(t, t)
    assert isinstance(r, np.ndarray)
    np.testing.assert_allclose(r, np.arctan2([1.0, 2.0], [1.0, 2.0]), rtol=1e-6)
    red = np.add.reduce(t)
    assert isinstance(red, np.floating) and red == 3.0
    out = np.zeros(2, dtype=np.float32)
    np.exp(t, out=out)
    np.testing.assert_allclose(out, np.exp([1.0, 2.0]), rtol=1e-6)


def test_fallback_refuses_to_drop_a_gradient():
    x = ember.ones(2, requires_grad=True)
    with pytest.raises(TypeError, match=r"np.arctan2 on a tensor that requires grad.*"
                                        r"t.detach\(\)"):
        np.arctan2(x, x)
    with pytest.raises(TypeError, match=r"np.sort on a tensor that requires grad"):
        np.sort(x)
    with ember.no_grad():
        assert isinstance(np.sort(x), np.ndarray)
    # results that carry no gradient pass: shapes, dtypes, indices, booleans
    assert np.shape(x) == (2,) and np.ndim(x) == 1 and np.size(x) == 2
    assert np.result_type(x) == np.float32
    assert np.argsort(x).tolist() == [0, 1] and np.array_equal(x, [1.0, 1.0])
    w = ember.ones(2, 2, requires_grad=True)
    assert isinstance(np.dot(w, x), ember.Tensor)  # the adapter itself asks np.ndim
    assert isinstance(np.sort(x.detach()), np.ndarray)


def test_out_tensor_is_refused():
    t = ember.ones(2)
    with pytest.raises(TypeError, match=r"np.exp: out= an ember tensor is not supported.*"
                                        r"in-place"):
        np.exp(t, out=t)
    with pytest.raises(TypeError, match=r"out= an ember tensor"):
        np.sum(ember.ones(2, 2), axis=0, out=t)


# ---------------------------------------------------------------- functions
def test_reductions_match_numpy_and_record():
    x = _t(3, 4, rg=True)
    a = x.detach().numpy()
    for fn, kw in [(np.sum, {}), (np.sum, {"axis": 0}), (np.mean, {"axis": 1, "keepdims": True}),
                   (np.prod, {"axis": (0, 1)}), (np.max, {"axis": 1}), (np.amin, {}),
                   (np.var, {"axis": 0, "ddof": 1}), (np.std, {}), (np.argmax, {"axis": 1})]:
        r = fn(x, **kw)
        assert isinstance(r, ember.Tensor), fn.__name__
        np.testing.assert_allclose(r.detach().numpy(), fn(a, **kw), rtol=1e-12,
                                   err_msg=f"{fn.__name__} {kw}")
    np.mean(x, axis=0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full((3, 4), 1 / 3), rtol=1e-12)


def test_shape_functions_match_numpy():
    x = _t(2, 3, 4)
    a = x.numpy()
    cases = [
        (np.concatenate, ([x, x],), {"axis": 1}), (np.concatenate, ([x, x],), {"axis": None}),
        (np.stack, ([x, x],), {"axis": 2}), (np.reshape, (x, (4, 6)), {}),
        (np.transpose, (x,), {}), (np.transpose, (x, (1, 0, 2)), {}),
        (np.squeeze, (x[:1],), {}), (np.expand_dims, (x, 1), {}),
        (np.swapaxes, (x, 0, 2), {}), (np.moveaxis, (x, 0, -1), {}),
        (np.clip, (x, 0.8, 1.5), {}), (np.cumsum, (x,), {"axis": 2}), (np.cumsum, (x,), {}),
        (np.flip, (x,), {"axis": 1}), (np.roll, (x, 2), {"axis": 2}),
        (np.tile, (x, (1, 2, 1)), {}), (np.broadcast_to, (x[0], (5, 3, 4)), {}),
        (np.ravel, (x,), {}), (np.round, (x,), {"decimals": 2}),
        (np.zeros_like, (x,), {}), (np.full_like, (x, 7.0), {}),
        (np.einsum, ("ijk,ijk->k", x, x), {}), (np.tril, (x[0],), {"k": 1}),
        (np.trace, (x[0, :, :3],), {}), (np.diagonal, (x[0],), {"offset": 1}),
        (np.dot, (x[0], x[0, 0]), {}), (np.outer, (x[0, 0], x[1, 1]), {}),
    ]
    for fn, args, kw in cases:
        r = fn(*args, **kw)
        np_args = [np.asarray(v) if isinstance(v, ember.Tensor) else
                   [np.asarray(u) for u in v] if isinstance(v, list) else v for v in args]
        assert isinstance(r, ember.Tensor), fn.__name__
        np.testing.assert_allclose(r.numpy(), fn(*np_args, **kw), rtol=1e-12,
                                   err_msg=f"{fn.__name__} {kw}")
    w = np.where(x > 1.0, x, 0.0)
    assert isinstance(w, ember.Tensor)
    np.testing.assert_array_equal(w.numpy(), np.where(a > 1.0, a, 0.0))
    assert np.allclose(x, a) is True and isinstance(np.isclose(x, a), ember.Tensor)


def test_function_gradients_flow_through_ember():
    x = _t(2, 3, rg=True)
    assert gradcheck(lambda v: np.concatenate([v, np.transpose(v).reshape(2, 3)], axis=0), [x])
    assert gradcheck(lambda v: np.sum(np.stack([v, v * 2.0]), axis=(0, 1)), [x])


def test_function_fallback_for_numpy_only_arguments_and_functions():
    t = ember.tensor([3.0, 1.0, 2.0])
    nz = np.where(t > 1.5)  # one-argument where is nonzero(): NumPy's result
    assert isinstance(nz, tuple) and nz[0].tolist() == [0, 2]
    assert isinstance(np.sum(t, where=np.array([True, False, True])), np.floating)
    assert isinstance(np.median(t), np.floating) and np.median(t) == 2.0
    assert np.sort(t).tolist() == [1.0, 2.0, 3.0]


def test_documented_tables_are_what_dispatch_uses():
    assert np.exp in UFUNCS and np.arctan2 not in UFUNCS
    assert np.concatenate in FUNCTIONS and np.sort not in FUNCTIONS
    assert len(FUNCTIONS) >= 30 and len(UFUNCS) >= 45


def test_numpy_calls_are_traced_by_jit():
    f = ember.jit(lambda x: np.exp(x) + np.sum(x, axis=0))
    for v in (0.0, 1.0):
        x = ember.full((2, 3), v)
        expected = np.exp(np.full((2, 3), v)) + 2 * v
        np.testing.assert_allclose(f(x).numpy(), expected, rtol=1e-6)


def test_functions_mixing_arrays_and_tensors():
    t = ember.arange(6.0).reshape(2, 3)
    a = np.ones((2, 3), dtype=np.float32)
    c = np.concatenate([a, t])
    assert isinstance(c, ember.Tensor) and c.shape == (4, 3)
    np.testing.assert_array_equal(c.numpy(), np.concatenate([a, t.numpy()]))
    s = np.stack([t, a], axis=1)
    np.testing.assert_array_equal(s.numpy(), np.stack([t.numpy(), a], axis=1))
    d = np.dot(a.T, t)
    assert isinstance(d, ember.Tensor)
    np.testing.assert_allclose(d.numpy(), a.T @ t.numpy())
    w = np.where(np.array([True, False, True]), t[0], a[0])
    assert w.tolist() == [0.0, 1.0, 2.0]


@pytest.mark.parametrize("ufunc", sorted(UFUNCS, key=lambda u: u.__name__),
                         ids=lambda u: u.__name__)
def test_every_table_ufunc_computes_what_numpy_computes(ufunc):
    rng = np.random.default_rng(3)
    name = ufunc.__name__
    if name.startswith(("bitwise", "logical", "invert")):
        inputs = [rng.integers(0, 2, 6).astype(bool) for _ in range(ufunc.nin)]
    elif name in ("floor_divide", "remainder", "fmod"):
        inputs = [rng.integers(-9, 9, 6), rng.integers(1, 5, 6)]
    elif name == "matmul":
        inputs = [rng.uniform(0.5, 2.0, (2, 3)), rng.uniform(0.5, 2.0, (3, 2))]
    else:
        inputs = [np.round(rng.uniform(0.5, 2.0, 6), 1) for _ in range(ufunc.nin)]
    got = ufunc(*[ember.tensor(x) for x in inputs])
    assert isinstance(got, ember.Tensor)
    np.testing.assert_allclose(got.numpy().astype(np.float64),
                               ufunc(*inputs).astype(np.float64), rtol=1e-6)
