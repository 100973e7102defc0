"""F.grid_sample, F.affine_grid, F.unfold/F.fold and nn.Unfold/nn.Fold against PyTorch."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as tF

import ember
import ember.nn as nn
import ember.nn.functional as F
from ember.errors import DTypeError, ShapeError

TOL = {"float32": dict(rtol=1e-5, atol=2e-5), "float64": dict(rtol=1e-12, atol=1e-12)}

GRID_CASES = [(nd, mode, pad, ac, dt) for nd, mode, pad, ac, dt in itertools.product(
    (2, 3), ("bilinear", "nearest", "bicubic"), ("zeros", "border", "reflection"),
    (False, True), ("float32", "float64")) if not (nd == 3 and mode == "bicubic")]


def _compare(e_fn, t_fn, arrays, dtype):
    """Forward and the gradient of every input of ``e_fn`` and ``t_fn`` on ``arrays``."""
    e_in = [ember.tensor(a, requires_grad=True) for a in arrays]
    t_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    e_out, t_out = e_fn(*e_in), t_fn(*t_in)
    np.testing.assert_allclose(e_out.detach().numpy(), t_out.detach().numpy(), **TOL[dtype])
    w = np.random.default_rng(1).standard_normal(tuple(t_out.shape)).astype(dtype)
    (e_out * ember.tensor(w)).sum().backward()
    (t_out * torch.tensor(w)).sum().backward()
    for e, t in zip(e_in, t_in):
        got = np.zeros(e.shape, dtype) if e.grad is None else e.grad.numpy()
        np.testing.assert_allclose(got, t.grad.numpy(), **TOL[dtype])


@pytest.mark.parametrize("nd,mode,padding_mode,align_corners,dtype", GRID_CASES)
def test_grid_sample_matches_torch(nd, mode, padding_mode, align_corners, dtype):
    rng = np.random.default_rng(0)
    x_shape, g_shape = ((2, 3, 4, 5), (2, 3, 6, 2)) if nd == 2 else \
        ((2, 2, 3, 4, 5), (2, 2, 3, 4, 3))
    x = rng.standard_normal(x_shape).astype(dtype)
    grid = rng.uniform(-1.7, 1.7, g_shape).astype(dtype)  # reaches outside [-1, 1]
    kw = dict(mode=mode, padding_mode=padding_mode, align_corners=align_corners)
    _compare(lambda a, g: F.grid_sample(a, g, **kw), lambda a, g: tF.grid_sample(a, g, **kw),
             [x, grid], dtype)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_grid_sample_far_outside_and_size_one(mode):
    x = np.random.default_rng(2).standard_normal((1, 2, 1, 3))
    grid = np.array([[[[-7.3, 0.2], [5.6, -3.1], [0.4, 9.9]]]])
    for pad, ac in itertools.product(("zeros", "border", "reflection"), (False, True)):
        kw = dict(mode=mode, padding_mode=pad, align_corners=ac)
        _compare(lambda a, g, kw=kw: F.grid_sample(a, g, **kw),
                 lambda a, g, kw=kw: tF.grid_sample(a, g, **kw), [x, grid], "float64")


def test_grid_sample_gradcheck():
    rng = np.random.default_rng(3)
    x = ember.tensor(rng.standard_normal((1, 2, 3, 4)), requires_grad=True)
    g = ember.tensor(rng.uniform(-1.3, 1.3, (1, 2, 2, 2)), requires_grad=True)
    for mode, pad in (("bilinear", "reflection"), ("bicubic", "border")):
        assert ember.autograd.gradcheck(
            lambda a, b, m=mode, p=pad: F.grid_sample(a, b, mode=m, padding_mode=p,
                                                      align_corners=False),
            [x, g])


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("size", [(2, 3, 4, 5), (2, 1, 3, 4, 2), (2, 1, 1, 1)])
def test_affine_grid_matches_torch(size, align_corners):
    theta = np.random.default_rng(4).standard_normal((2, len(size) - 2, len(size) - 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch warns about unit-size grids
        _compare(lambda t: F.affine_grid(t, size, align_corners=align_corners),
                 lambda t: tF.affine_grid(t, size, align_corners=align_corners),
                 [theta.astype("float32")], "float32")


WINDOWS = [((2, 3, 6, 7), dict(kernel_size=(2, 3))),
           ((1, 2, 7, 8), dict(kernel_size=3, dilation=(2, 1), padding=(1, 2), stride=(2, 3))),
           ((2, 4, 5, 5), dict(kernel_size=1, stride=2)),
           ((3, 5, 5), dict(kernel_size=2, padding=1, stride=2))]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape,kw", WINDOWS)
def test_unfold_fold_match_torch(shape, kw, dtype):
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape).astype(dtype)
    _compare(lambda a: F.unfold(a, **kw), lambda a: tF.unfold(a, **kw), [x], dtype)
    cols = rng.standard_normal(tuple(tF.unfold(torch.tensor(x), **kw).shape)).astype(dtype)
    _compare(lambda c: F.fold(c, shape[-2:], **kw), lambda c: tF.fold(c, shape[-2:], **kw),
             [cols], dtype)


def test_fold_is_unfolds_adjoint_and_layers():
    rng = np.random.default_rng(6)
    x = ember.tensor(rng.standard_normal((2, 3, 5, 6)))
    c = ember.tensor(rng.standard_normal((2, 27, 9)))
    kw = dict(kernel_size=3, padding=1, stride=2)
    lhs = (nn.Unfold(**kw)(x) * c).sum().item()
    rhs = (x * nn.Fold((5, 6), **kw)(c)).sum().item()
    assert abs(lhs - rhs) < 1e-9 * max(1.0, abs(lhs))
    assert "kernel_size=3" in repr(nn.Fold((5, 6), **kw))


def test_grid_sample_errors():
    x, g = ember.ones(1, 1, 3, 3), ember.zeros(1, 2, 2, 2)
    with pytest.raises(ValueError, match="grid_sample: unknown mode 'linear'"):
        F.grid_sample(x, g, mode="linear")
    with pytest.raises(ValueError, match="grid_sample: unknown padding_mode"):
        F.grid_sample(x, g, padding_mode="wrap")
    with pytest.raises(ShapeError, match=r"grid_sample: .*\(N, H_out, W_out, 2\).*\(1, 2, 2, 3\)"):
        F.grid_sample(x, ember.zeros(1, 2, 2, 3))
    with pytest.raises(ShapeError, match="grid_sample: .*batch size 1"):
        F.grid_sample(x, ember.zeros(2, 2, 2, 2))
    with pytest.raises(ShapeError, match="grid_sample: mode 'bicubic' needs a 4-d input"):
        F.grid_sample(ember.ones(1, 1, 2, 2, 2), ember.zeros(1, 1, 1, 1, 3), mode="bicubic")
    with pytest.raises(ShapeError, match="grid_sample: expected a 4-d"):
        F.grid_sample(ember.ones(1, 3, 3), g)
    with pytest.raises(DTypeError, match="grid_sample: expects floating-point"):
        F.grid_sample(ember.ones(1, 1, 3, 3, dtype=ember.int64), g.long())
    with pytest.raises(DTypeError, match="grid_sample: input and grid must have the same"):
        F.grid_sample(x, g.double())


def test_window_and_affine_errors():
    with pytest.raises(ShapeError, match="affine_grid: size"):
        F.affine_grid(ember.zeros(1, 2, 3), (1, 1, 2, 2, 2))
    with pytest.raises(ShapeError, match="unfold: a \\(5, 5\\) kernel"):
        F.unfold(ember.ones(1, 1, 3, 3), kernel_size=5)
    with pytest.raises(ValueError, match="unfold: stride must be"):
        F.unfold(ember.ones(1, 1, 3, 3), kernel_size=2, stride=0)
    with pytest.raises(ShapeError, match=r"fold: .*needs \(N, C·4, 4\) columns"):
        F.fold(ember.ones(1, 4, 5), output_size=3, kernel_size=2)
