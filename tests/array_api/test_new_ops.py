"""The ops added for the array API: forward and gradients against PyTorch, float64 gradcheck
and gradgradcheck, and their errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from ember.autograd import gradcheck, gradgradcheck
from ember.errors import DTypeError, ShapeError

RNG = np.random.default_rng(0)

UNARY = {  # name: (sampler of valid inputs, torch function)
    "asin": (lambda s: RNG.uniform(-0.9, 0.9, s), torch.asin),
    "acos": (lambda s: RNG.uniform(-0.9, 0.9, s), torch.acos),
    "atan": (lambda s: RNG.standard_normal(s), torch.atan),
    "sinh": (lambda s: RNG.standard_normal(s), torch.sinh),
    "cosh": (lambda s: RNG.standard_normal(s), torch.cosh),
    "asinh": (lambda s: RNG.standard_normal(s), torch.asinh),
    "acosh": (lambda s: RNG.uniform(1.2, 3.0, s), torch.acosh),
    "atanh": (lambda s: RNG.uniform(-0.9, 0.9, s), torch.atanh),
}
BINARY = {
    "atan2": (lambda s: RNG.standard_normal(s), torch.atan2),
    "hypot": (lambda s: RNG.standard_normal(s), torch.hypot),
    "copysign": (lambda s: RNG.standard_normal(s) + 0.1, torch.copysign),
    "logaddexp": (lambda s: RNG.standard_normal(s), torch.logaddexp),
}
SHAPES = [((), ()), ((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3))]


def _check_against_torch(fn, tfn, arrays, dtype):
    xs = [ember.tensor(a, dtype=dtype, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, dtype=getattr(torch, dtype), requires_grad=True) for a in arrays]
    out, tout = fn(*xs), tfn(*ts)
    rtol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=rtol,
                               atol=rtol)
    assert out.dtype.name == dtype
    seed = np.linspace(-1.0, 1.0, max(out.numel(), 1)).reshape(tuple(out.shape))
    out.backward(ember.tensor(seed, dtype=dtype))
    tout.backward(torch.tensor(seed, dtype=getattr(torch, dtype)))
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_matches_torch(name, dtype):
    sample, tfn = UNARY[name]
    for shape in [(), (4,), (2, 3)]:
        _check_against_torch(getattr(ember, name), tfn, [sample(shape)], dtype)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_gradcheck(name):
    x = ember.tensor(UNARY[name][0]((2, 3)), dtype="float64", requires_grad=True)
    assert gradcheck(getattr(ember, name), (x,))
    assert gradgradcheck(getattr(ember, name), (x,))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_matches_torch(name, dtype):
    sample, tfn = BINARY[name]
    for sa, sb in SHAPES:
        _check_against_torch(getattr(ember, name), tfn, [sample(sa), sample(sb)], dtype)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_gradcheck(name):
    sample = BINARY[name][0]
    a = ember.tensor(sample((2, 3)), dtype="float64", requires_grad=True)
    b = ember.tensor(sample((3,)), dtype="float64", requires_grad=True)
    assert gradcheck(getattr(ember, name), (a, b))
    assert gradgradcheck(getattr(ember, name), (a, b))


def test_integer_input_becomes_float():
    assert ember.atan2(ember.tensor([1, -1]), ember.tensor([1, 1])).dtype is ember.float32
    assert ember.asin(ember.tensor([0])).dtype is ember.float32


def test_nondifferentiable_bits_match_torch():
    x = np.array([-0.0, 0.0, -1.5, 2.0, np.nan, -np.inf], dtype=np.float32)
    y = np.array([1.0, -1.0, 0.0, 2.0, 1.0, 0.0], dtype=np.float32)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    np.testing.assert_array_equal(ember.signbit(ember.tensor(x)).numpy(),
                                  torch.signbit(tx).numpy())
    np.testing.assert_array_equal(ember.nextafter(ember.tensor(x), ember.tensor(y)).numpy(),
                                  torch.nextafter(tx, ty).numpy())
    a = np.array([1, -8, 7, 255], dtype=np.int64)
    s = np.array([0, 1, 2, 3], dtype=np.int64)
    for name in ("bitwise_left_shift", "bitwise_right_shift"):
        np.testing.assert_array_equal(
            getattr(ember, name)(ember.tensor(a), ember.tensor(s)).numpy(),
            getattr(torch, name)(torch.from_numpy(a), torch.from_numpy(s)).numpy())
    assert ember.positive(ember.tensor([1.0])).tolist() == [1.0]


# ----------------------------------------------------------------------------- sorting


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_sort_matches_torch(dim, descending):
    x = RNG.integers(0, 4, (5, 6)).astype(np.float64)  # many ties: stability matters
    x[1, 2] = np.nan
    v, i = ember.sort(ember.tensor(x), dim, descending=descending, stable=True)
    tv, ti = torch.sort(torch.tensor(x), dim=dim, descending=descending, stable=True)
    np.testing.assert_array_equal(v.numpy(), tv.numpy())
    np.testing.assert_array_equal(i.numpy(), ti.numpy())
    assert not i.requires_grad and i.dtype is ember.int64
    ai = ember.argsort(ember.tensor(x), dim, descending=descending)
    np.testing.assert_array_equal(ai.numpy(), torch.argsort(
        torch.tensor(x), dim=dim, descending=descending, stable=True).numpy())


def test_sort_gradient_matches_torch():
    x = RNG.standard_normal((3, 5))
    _check_against_torch(lambda t: ember.sort(t, 1, descending=True).values,
                         lambda t: torch.sort(t, 1, descending=True).values, [x], "float64")
    xt = ember.tensor(x, requires_grad=True)
    assert gradcheck(lambda t: ember.sort(t, 0).values * 1.5, (xt,))
    assert gradgradcheck(lambda t: ember.sort(t, 0).values ** 2, (xt,))


def test_sort_0d_and_errors():
    v, i = ember.sort(ember.tensor(2.0))
    assert v.item() == 2.0 and i.item() == 0
    with pytest.raises(DTypeError, match="sort: cannot sort bool"):
        ember.sort(ember.tensor([True, False]))
    with pytest.raises(ShapeError, match="argsort: dim 3 is out of range"):
        ember.argsort(ember.tensor([1.0, 2.0]), 3)


@pytest.mark.parametrize("right", [False, True])
def test_searchsorted_matches_torch(right):
    seq = np.array([1.0, 2.0, 2.0, 3.0, 5.0])
    vals = np.array([[0.0, 2.0], [2.5, 6.0]])
    got = ember.searchsorted(ember.tensor(seq), ember.tensor(vals), right=right)
    want = torch.searchsorted(torch.tensor(seq), torch.tensor(vals), right=right)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    seq2 = np.sort(RNG.standard_normal((3, 6)), axis=1)
    vals2 = RNG.standard_normal((3, 4))
    got = ember.searchsorted(ember.tensor(seq2), ember.tensor(vals2), side="right" if right
                             else "left")
    np.testing.assert_array_equal(got.numpy(), torch.searchsorted(
        torch.tensor(seq2), torch.tensor(vals2), right=right).numpy())
    perm = RNG.permutation(5)
    got = ember.searchsorted(ember.tensor(seq[perm]), ember.tensor(vals), right=right,
                             sorter=ember.argsort(ember.tensor(seq[perm])))
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_searchsorted_errors():
    with pytest.raises(ShapeError, match="searchsorted: an N-d sorted sequence"):
        ember.searchsorted(ember.zeros(2, 3), ember.zeros(3, 1))
    with pytest.raises(ValueError, match="side must be 'left' or 'right'"):
        ember.searchsorted(ember.zeros(3), ember.zeros(1), side="middle")


# ----------------------------------------------------------------------------- sets


def test_unique_matches_torch():
    x = RNG.integers(-3, 3, (4, 5))
    v, inv, cnt = ember.unique(ember.tensor(x), return_inverse=True, return_counts=True)
    tv, tinv, tcnt = torch.unique(torch.tensor(x), return_inverse=True, return_counts=True)
    for a, b in ((v, tv), (inv, tinv), (cnt, tcnt)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert ember.unique(ember.tensor([2.0, 1.0])).tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="unique: dim=0"):
        ember.unique(ember.tensor(x), dim=0)


def test_unique_counts_each_nan():
    v, first, inv, cnt = ember.ops.sets.unique_all(ember.tensor([np.nan, 1.0, np.nan]))
    assert v.numpy()[0] == 1.0 and np.isnan(v.numpy()[1:]).all()
    assert cnt.tolist() == [1, 1, 1] and first.tolist() == [1, 0, 2]
    assert inv.tolist() == [1, 0, 2]


def test_nonzero_matches_torch():
    x = RNG.integers(0, 2, (3, 4))
    np.testing.assert_array_equal(ember.nonzero(ember.tensor(x)).numpy(),
                                  torch.nonzero(torch.tensor(x)).numpy())
    for a, b in zip(ember.nonzero(ember.tensor(x), as_tuple=True),
                    torch.nonzero(torch.tensor(x), as_tuple=True)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert ember.nonzero(ember.tensor(0)).shape == (0, 0)
    assert [t.tolist() for t in ember.nonzero(ember.tensor(5), as_tuple=True)] == [[0]]


# ----------------------------------------------------------------------------- namespace


NAMESPACE_GRADS = {  # composite functions of ember.array_api: their gradients flow
    "linalg.cross": lambda xp, a, b: xp.linalg.cross(a, b),
    "diff": lambda xp, a, b: xp.diff(a, axis=0, n=2, append=b[:1]),
    "cumulative_sum": lambda xp, a, b: xp.cumulative_sum(a, axis=1, include_initial=True),
    "cumulative_prod": lambda xp, a, b: xp.cumulative_prod(a, axis=0),
    "vecdot": lambda xp, a, b: xp.vecdot(a, b),
    "tensordot": lambda xp, a, b: xp.tensordot(a, b, axes=((0,), (0,))),
    "sort": lambda xp, a, b: xp.sort(a, axis=0, descending=True) * b,
    "take_along_axis": lambda xp, a, b: xp.take_along_axis(
        a, xp.argsort(b, axis=1), axis=1),
    "clip": lambda xp, a, b: xp.clip(a, -0.5, b),
    "meshgrid": lambda xp, a, b: xp.meshgrid(a[:, 0], b[0])[0],
    "linalg.trace": lambda xp, a, b: xp.linalg.trace(a[:, :3] @ b[:, :3].mT),
}


@pytest.mark.parametrize("name", sorted(NAMESPACE_GRADS))
def test_namespace_functions_are_differentiable(name):
    import ember.array_api as xp

    a = ember.tensor(RNG.standard_normal((4, 3)), dtype="float64", requires_grad=True)
    b = ember.tensor(RNG.standard_normal((4, 3)), dtype="float64", requires_grad=True)
    assert gradcheck(lambda s, t: NAMESPACE_GRADS[name](xp, s, t), (a, b))
