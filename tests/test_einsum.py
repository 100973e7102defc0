"""ember.einsum against torch.einsum: forward, gradients, gradcheck, gradgradcheck, errors."""

import numpy as np
import pytest
import torch

import ember
from ember.autograd import gradcheck, gradgradcheck
from ember.errors import ShapeError

CASES = [  # (equation, operand shapes)
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),  # implicit output
    ("ik,jk", [(2, 3), (4, 3)]),  # implicit output, sorted letters
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 4)]),
    ("...ij,...jk->...ik", [(2, 1, 2, 3), (5, 3, 4)]),  # ellipsis broadcasting
    ("...ij,jk", [(2, 2, 3), (3, 2)]),  # implicit output with ellipsis
    ("...ij->ij", [(4, 2, 3)]),  # ellipsis summed
    ("b...,b...->b", [(2, 3, 2), (2, 1, 2)]),
    ("ij,ij->ij", [(1, 3), (2, 3)]),  # size-1 broadcasting of a named dimension
    ("ij->", [(2, 3)]),
    ("ij->ji", [(2, 3)]),
    ("ij,k->ijk", [(2, 3), (4,)]),
    ("i,i->", [(3,), (3,)]),
    (",ij->ij", [(), (2, 2)]),  # a 0-d operand
    ("ij,jk->", [(2, 3), (3, 4)]),
    ("ijk,jl->il", [(2, 3, 4), (3, 2)]),  # k only in operand 0: summed, broadcast back
    ("abc,cd,de->abe", [(2, 3, 4), (4, 5), (5, 2)]),
    ("ii->i", [(3, 3)]),  # diagonal
    ("ii", [(3, 3)]),  # trace
    ("ii->", [(3, 3)]),
    ("iii->i", [(3, 3, 3)]),
    ("iij,jk->ik", [(3, 3, 2), (2, 4)]),
    ("iji->j", [(3, 2, 3)]),
    ("bii,bi->b", [(2, 3, 3), (2, 3)]),
    ("i j , j k -> i k", [(2, 3), (3, 2)]),  # spaces
]
IDS = [c[0] for c in CASES]


def _arrays(shapes, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def _ember(arrays, grad=False):
    return [ember.from_numpy(a.copy()).requires_grad_(grad) for a in arrays]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("equation, shapes", CASES, ids=IDS)
def test_forward_matches_torch(equation, shapes, dtype):
    arrays = _arrays(shapes, dtype)
    ours = ember.einsum(equation, *_ember(arrays))
    ref = torch.einsum(equation, *[torch.tensor(a) for a in arrays])
    assert ours.shape == tuple(ref.shape)
    assert ours.data.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(ours.data, ref.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("equation, shapes", CASES, ids=IDS)
def test_gradient_matches_torch(equation, shapes):
    arrays = _arrays(shapes)
    xs = _ember(arrays, True)
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    ref = torch.einsum(equation, *ts)
    w = np.random.default_rng(1).standard_normal(ref.shape)
    (ember.einsum(equation, *xs) * ember.from_numpy(w)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    for x, t in zip(xs, ts):
        assert x.grad.shape == x.shape
        np.testing.assert_allclose(x.grad.data, t.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("equation, shapes", CASES, ids=IDS)
def test_gradcheck_and_gradgradcheck(equation, shapes):
    def fn(*a):
        return ember.einsum(equation, *a)

    assert gradcheck(fn, _ember(_arrays(shapes), True))
    assert gradgradcheck(fn, _ember(_arrays(shapes), True))


def test_list_of_operands_and_dtype_promotion():
    a, b = _arrays([(2, 3), (3, 2)])
    out = ember.einsum("ij,jk->ik", [ember.from_numpy(a.astype(np.float32)),
                                    ember.from_numpy(b)])
    assert out.dtype == ember.float64
    np.testing.assert_allclose(out.data, a.astype(np.float32).astype(np.float64) @ b,
                               rtol=1e-12)


def test_output_does_not_alias_input():
    x = ember.from_numpy(np.arange(9.0).reshape(3, 3))
    for eq in ("ii->i", "ij->ji", "ij->ij"):
        out = ember.einsum(eq, x)
        out.data[...] = -1.0
        np.testing.assert_array_equal(x.data, np.arange(9.0).reshape(3, 3))


def test_gradient_reaches_operand_used_twice():
    a = np.random.default_rng(2).standard_normal((3, 3))
    x, t = ember.from_numpy(a.copy()).requires_grad_(), torch.tensor(a, requires_grad=True)
    ember.einsum("ij,jk,ki->", x, x, x).backward()
    torch.einsum("ij,jk,ki->", t, t, t).backward()
    np.testing.assert_allclose(x.grad.data, t.grad.numpy(), rtol=1e-12)


def _t(*shape):
    return ember.ones(*shape, dtype=ember.float64)


@pytest.mark.parametrize("call, err, pattern", [
    (lambda: ember.einsum("ij,jk", _t(2, 3), _t(4, 2)), ShapeError,
     r"einsum: subscript 'j' has size 3 in one operand and 4 in another"),
    (lambda: ember.einsum("ij,jk->il", _t(2, 3), _t(3, 2)), ValueError,
     r"einsum: output subscript 'l' .* is in no operand"),
    (lambda: ember.einsum("ij->ii", _t(2, 2)), ValueError,
     r"einsum: output subscript 'i' .* appears twice"),
    (lambda: ember.einsum("ijk", _t(2, 3)), ShapeError,
     r"einsum: subscripts 'ijk' name 3 dimension\(s\) but the operand has shape \(2, 3\)"),
    (lambda: ember.einsum("ij", _t(2, 3), _t(2, 3)), ValueError,
     r"einsum: the equation 'ij' has 1 operand subscript\(s\) but 2 operand\(s\)"),
    (lambda: ember.einsum("ii", _t(2, 3)), ShapeError,
     r"einsum: subscript 'i' repeats in 'ii' over dimensions of different sizes"),
    (lambda: ember.einsum("i1->i", _t(2, 3)), ValueError, r"einsum: invalid subscript 'i1'"),
    (lambda: ember.einsum("ij", np.ones((2, 2))), TypeError, r"einsum: operands must be ember"),
])
def test_errors(call, err, pattern):
    with pytest.raises(err, match=pattern):
        call()
