"""diagonal, diag_embed, diag, trace, tril, triu, isclose/allclose/equal against PyTorch."""

import numpy as np
import pytest
import torch

import ember
from ember.errors import ShapeError

rng = np.random.default_rng(0)


def pair(shape):
    a = rng.standard_normal(shape)
    return (ember.tensor(a, dtype=ember.float64, requires_grad=True),
            torch.tensor(a, dtype=torch.float64, requires_grad=True))


CASES = [
    ("diagonal", (2, 3, 4), lambda m, x: m.diagonal(x, 1) if m is ember else
     torch.diagonal(x, 1, -2, -1)),
    ("diagonal_neg", (3, 4), lambda m, x: m.diagonal(x, -1) if m is ember else
     torch.diagonal(x, -1, -2, -1)),
    ("diag_embed", (2, 3), lambda m, x: m.diag_embed(x, 1)),
    ("diag_1d", (4,), lambda m, x: m.diag(x, -1)),
    ("diag_2d", (3, 5), lambda m, x: m.diag(x, 2)),
    ("trace", (4, 4), lambda m, x: m.trace(x)),
    ("tril", (2, 4, 3), lambda m, x: m.tril(x, -1)),
    ("triu", (4, 3), lambda m, x: m.triu(x, 1)),
]


@pytest.mark.parametrize("name,shape,fn", CASES, ids=[c[0] for c in CASES])
def test_forward_and_gradient_match_torch(name, shape, fn):
    e, t = pair(shape)
    oe, ot = fn(ember, e), fn(torch, t)
    np.testing.assert_allclose(oe.detach().numpy(), ot.detach().numpy(), rtol=1e-12)
    g = rng.standard_normal(tuple(ot.shape))
    oe.backward(ember.tensor(g, dtype=ember.float64))
    ot.backward(torch.tensor(g, dtype=torch.float64))
    np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-12)
    assert ember.autograd.gradcheck(lambda x: fn(ember, x), (e.detach().requires_grad_(),))
    assert ember.autograd.gradgradcheck(lambda x: fn(ember, x) * 1.5,
                                        (e.detach().requires_grad_(),))


def test_isclose_allclose_equal_match_torch():
    a = np.array([1.0, 2.0, np.nan, np.inf, 1e-9])
    b = np.array([1.0 + 1e-7, 2.1, np.nan, np.inf, 0.0])
    for equal_nan in (False, True):
        np.testing.assert_array_equal(
            ember.isclose(ember.tensor(a), ember.tensor(b), equal_nan=equal_nan).numpy(),
            torch.isclose(torch.tensor(a), torch.tensor(b), equal_nan=equal_nan).numpy())
    assert ember.allclose(ember.tensor([1.0, 2.0]), ember.tensor([1.0, 2.000001]))
    assert not ember.allclose(ember.tensor([1.0, 2.0]), ember.tensor([1.0, 2.1]))
    assert ember.equal(ember.tensor([1, 2]), ember.tensor([1, 2]))
    assert not ember.equal(ember.tensor([1, 2]), ember.tensor([1, 2, 3]))


def test_errors_name_the_op_and_shape():
    with pytest.raises(ShapeError, match=r"trace: expects a 2-d tensor, got \(3,\)"):
        ember.trace(ember.ones(3))
    with pytest.raises(ShapeError, match=r"tril: needs at least 2 dimensions"):
        ember.tril(ember.ones(3))
    with pytest.raises(ShapeError, match=r"diag: expects a 1-d or 2-d tensor"):
        ember.diag(ember.ones(2, 2, 2))
