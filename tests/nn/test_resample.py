"""F.interpolate, the upsampling layers and pixel (un)shuffle against PyTorch: forward and
gradients in float32 and float64 for every mode, align_corners, up- and downsampling,
non-integer scales and explicit sizes; float64 gradchecks; the errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
import ember.nn as nn
import ember.nn.functional as F
from ember.autograd import gradcheck, gradgradcheck

SIZES_2D = [dict(size=(7, 5)), dict(size=(3, 2)), dict(size=9), dict(scale_factor=2),
            dict(scale_factor=(1.7, 0.6)), dict(scale_factor=0.5), dict(scale_factor=2.3),
            dict(scale_factor=1.3, recompute_scale_factor=True)]
SIZES_1D = [dict(size=11), dict(size=4), dict(scale_factor=2.5), dict(scale_factor=0.4),
            dict(scale_factor=3), dict(scale_factor=0.7, recompute_scale_factor=True)]


def _cases():
    out = []
    for mode in ("nearest", "nearest-exact", "bilinear", "bicubic", "area"):
        corners = [None] if mode in ("nearest", "nearest-exact", "area") else [False, True]
        for kw in SIZES_2D:
            for ac in corners:
                for aa in ([False, True] if mode in ("bilinear", "bicubic") else [False]):
                    out.append(((2, 3, 5, 6), dict(kw, mode=mode, align_corners=ac,
                                                   antialias=aa)))
    for mode in ("nearest", "nearest-exact", "linear", "area"):
        for kw in SIZES_1D:
            for ac in ([False, True] if mode == "linear" else [None]):
                out.append(((2, 3, 7), dict(kw, mode=mode, align_corners=ac)))
    for mode in ("nearest", "trilinear"):
        out.append(((1, 2, 3, 4, 5), dict(scale_factor=(1.5, 2, 0.7), mode=mode)))
    return out


CASES = _cases()


def _id(case):
    shape, kw = case
    return f"{len(shape)}d-" + "-".join(f"{k}={v}" for k, v in kw.items() if v is not None)


def _torch_grad_is_wrong(shape, kw, out_shape):
    """PyTorch's 1-d and 3-d nearest backward copies (out == in) or halves indices (out ==
    2·in) whatever the scale, where its forward does not: its gradient is then not the
    forward's transpose (ember's is; gradcheck checks it)."""
    if kw["mode"] != "nearest" or len(shape) == 4 or kw.get("scale_factor") is None \
            or kw.get("recompute_scale_factor"):
        return False
    return any(o in (i, 2 * i) for i, o in zip(shape[2:], out_shape[2:]))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_interpolate_matches_torch(case, dtype):
    shape, kw = case
    rng = np.random.default_rng(len(CASES))
    x = rng.standard_normal(shape).astype(dtype)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.interpolate(tx, **kw)
    g = rng.standard_normal(tuple(ty.shape)).astype(dtype)
    ty.backward(torch.tensor(g))
    ex = ember.tensor(x, requires_grad=True)
    ey = F.interpolate(ex, **kw)
    ey.backward(ember.tensor(g))
    assert ey.shape == tuple(ty.shape) and ey.dtype == ex.dtype
    if dtype == "float64":
        tol = dict(rtol=1e-10, atol=1e-12)
    else:  # bicubic's float32 rounding (PyTorch's own error is ~2e-6 here) needs more atol
        tol = dict(rtol=1e-5, atol=1e-5 if kw["mode"] == "bicubic" else 1e-6)
    np.testing.assert_allclose(ey.detach().numpy(), ty.detach().numpy(), **tol)
    if not _torch_grad_is_wrong(shape, kw, tuple(ty.shape)):
        np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), **tol)


def test_nearest_gradient_is_the_forwards_transpose_where_torch_differs():
    x = ember.arange(7.0).reshape(1, 1, 7).requires_grad_()
    y = F.interpolate(x, scale_factor=1.1)  # PyTorch: [0, 0, 1, 2, 3, 4, 5]
    np.testing.assert_array_equal(y.detach().numpy().ravel(), [0, 0, 1, 2, 3, 4, 5])
    y.backward(ember.arange(7.0).reshape(1, 1, 7))
    np.testing.assert_array_equal(x.grad.numpy().ravel(), [1, 2, 3, 4, 5, 6, 0])


GRAD_CASES = [
    ((1, 2, 4, 3), dict(size=(7, 5), mode="bilinear")),
    ((1, 2, 4, 3), dict(scale_factor=1.5, mode="bilinear", align_corners=True)),
    ((1, 2, 5, 6), dict(size=(3, 2), mode="bilinear", antialias=True)),
    ((1, 2, 4, 3), dict(size=(6, 7), mode="bicubic")),
    ((1, 2, 6, 5), dict(size=(3, 2), mode="bicubic", antialias=True, align_corners=True)),
    ((1, 2, 5, 3), dict(size=(3, 7), mode="nearest")),
    ((1, 2, 5, 3), dict(scale_factor=1.7, mode="nearest-exact")),
    ((1, 2, 7, 5), dict(size=(3, 4), mode="area")),
    ((2, 3, 5), dict(scale_factor=1.8, mode="linear")),
    ((1, 1, 3, 2, 4), dict(size=(2, 4, 3), mode="trilinear", align_corners=True)),
]


@pytest.mark.parametrize("shape,kw", GRAD_CASES, ids=[_id(c) for c in GRAD_CASES])
def test_gradcheck_and_double_backward(shape, kw):
    x = ember.tensor(np.random.default_rng(1).standard_normal(shape), requires_grad=True)
    assert gradcheck(lambda t: F.interpolate(t, **kw), [x])
    assert gradgradcheck(lambda t: F.interpolate(t, **kw), [x])


LAYERS = [
    (lambda m: m.Upsample(scale_factor=2), (2, 3, 4, 5)),
    (lambda m: m.Upsample(size=(5, 9), mode="bilinear", align_corners=False), (2, 3, 4, 5)),
    (lambda m: m.Upsample(scale_factor=1.5, mode="bicubic", align_corners=True), (2, 3, 4, 5)),
    (lambda m: m.Upsample(scale_factor=0.5, mode="area"), (2, 3, 4, 6)),
    (lambda m: m.Upsample(size=8, mode="linear"), (2, 3, 5)),
    (lambda m: m.UpsamplingNearest2d(scale_factor=3), (1, 2, 3, 4)),
    (lambda m: m.UpsamplingBilinear2d(size=(5, 7)), (1, 2, 3, 4)),
    (lambda m: m.PixelShuffle(2), (2, 8, 3, 4)),
    (lambda m: m.PixelShuffle(3), (9, 2, 3)),
    (lambda m: m.PixelUnshuffle(2), (2, 2, 4, 6)),
    (lambda m: m.PixelUnshuffle(3), (3, 2, 2, 6, 3)),
]


@pytest.mark.parametrize("make,shape", LAYERS, ids=[str(i) for i in range(len(LAYERS))])
def test_layers_match_torch(make, shape):
    x = np.random.default_rng(2).standard_normal(shape).astype("float32")
    tx = torch.tensor(x, requires_grad=True)
    ty = make(torch.nn)(tx)
    g = np.random.default_rng(3).standard_normal(tuple(ty.shape)).astype("float32")
    ty.backward(torch.tensor(g))
    ex = ember.tensor(x, requires_grad=True)
    ey = make(nn)(ex)
    ey.backward(ember.tensor(g))
    np.testing.assert_allclose(ey.detach().numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_functional_pixel_shuffle_round_trips():
    x = ember.randn(2, 12, 3, 5)
    y = F.pixel_shuffle(x, 2)
    assert y.shape == (2, 3, 6, 10)
    np.testing.assert_array_equal(F.pixel_unshuffle(y, 2).numpy(), x.numpy())


@pytest.mark.parametrize("call,exc,words", [
    (lambda x: F.interpolate(x, size=4, scale_factor=2), ValueError, ["interpolate", "both"]),
    (lambda x: F.interpolate(x), ValueError, ["interpolate", "neither"]),
    (lambda x: F.interpolate(x, size=8, align_corners=True), ValueError,
     ["interpolate", "align_corners", "'nearest'"]),
    (lambda x: F.interpolate(x, size=8, mode="area", align_corners=False), ValueError,
     ["align_corners", "'area'"]),
    (lambda x: F.interpolate(x, size=8, mode="linear"), ember.errors.ShapeError,
     ["interpolate", "'linear'", "3-d", "(2, 3, 4, 5)", "bilinear"]),
    (lambda x: F.interpolate(x[0, 0], size=8), ember.errors.ShapeError,
     ["interpolate", "2-d", "(4, 5)"]),
    (lambda x: F.interpolate(x.long(), size=8), ember.errors.DTypeError,
     ["interpolate", "floating", "int64", "x.float()"]),
    (lambda x: F.interpolate(x, size=(8, 8, 8)), ember.errors.ShapeError,
     ["interpolate", "3 entries", "2 spatial"]),
    (lambda x: F.interpolate(x, size=8, mode="cubic"), ValueError, ["interpolate", "'cubic'"]),
    (lambda x: F.interpolate(x, size=8, recompute_scale_factor=True), ValueError,
     ["recompute_scale_factor", "size"]),
    (lambda x: F.interpolate(x, size=8, antialias=True), ValueError, ["antialias", "'nearest'"]),
    (lambda x: F.interpolate(x, scale_factor=0.1), ember.errors.ShapeError, ["empty"]),
    (lambda x: F.pixel_shuffle(x, 2), ember.errors.ShapeError, ["pixel_shuffle", "3 channels"]),
    (lambda x: F.pixel_unshuffle(x, 2), ember.errors.ShapeError, ["pixel_unshuffle", "width 5"]),
])
def test_errors_name_the_op_and_the_fix(call, exc, words):
    with pytest.raises(exc) as info:
        call(ember.ones(2, 3, 4, 5))
    for w in words:
        assert w in str(info.value), (w, str(info.value))
