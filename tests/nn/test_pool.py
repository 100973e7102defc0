"""Pooling against PyTorch: max (ties, padding, dilation, ceil_mode, indices), average
(count_include_pad, ceil_mode, divisor_override), adaptive pools; gradchecks, double
backward, layers and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
import ember.nn.functional as F
from ember.autograd import gradcheck, gradgradcheck
from ember.errors import ShapeError

from .torch_compare import assert_close, compare

TF = torch.nn.functional


def _input(shape, ties, channels_last, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape)
    if ties:  # whole windows of equal values, as after a ReLU
        x = np.maximum(np.round(x), 0.0)
    data = x
    if channels_last:
        data = np.ascontiguousarray(np.moveaxis(x, 1, -1)).transpose(0, 3, 1, 2)
    return x, data


def _run(efn, tfn, shape, ties=False, channels_last=False, dtype="float64"):
    x, data = _input(shape, ties, channels_last)
    xe = ember.Tensor(data.astype(dtype), requires_grad=True)
    xt = torch.tensor(x.astype(dtype), requires_grad=True)
    ye, yt = efn(xe), tfn(xt)
    if isinstance(yt, tuple):
        assert np.array_equal(ye[1].numpy(), yt[1].numpy()), "indices"
        ye, yt = ye[0], yt[0]
    assert_close(ye, yt, dtype, "output")
    g = np.random.default_rng(1).standard_normal(tuple(yt.shape)).astype(dtype)
    ye.backward(ember.tensor(g))
    yt.backward(torch.tensor(g))
    assert_close(xe.grad, xt.grad, dtype, "input gradient")


MAX = [
    ((2, 3, 6, 7), dict(kernel_size=2)),
    ((2, 3, 7, 8), dict(kernel_size=3, stride=2, padding=1, return_indices=True)),
    ((2, 3, 8, 6), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1), dilation=(2, 1),
                        ceil_mode=True, return_indices=True)),
    ((1, 2, 9, 9), dict(kernel_size=3, stride=3, ceil_mode=True)),
    ((1, 2, 7, 7), dict(kernel_size=2, stride=3, return_indices=True)),
    ((3, 6, 7), dict(kernel_size=2, padding=1)),
]


@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "channels_last"])
@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
@pytest.mark.parametrize("shape, kw", MAX, ids=[str(i) for i in range(len(MAX))])
def test_max_pool2d_matches_torch(shape, kw, ties, channels_last):
    _run(lambda x: F.max_pool2d(x, **kw), lambda x: TF.max_pool2d(x, **kw), shape, ties,
         channels_last and len(shape) == 4)


def test_max_pool2d_float32():
    kw = dict(kernel_size=3, stride=2, padding=1)
    _run(lambda x: F.max_pool2d(x, **kw), lambda x: TF.max_pool2d(x, **kw), (4, 5, 11, 9),
         ties=True, dtype="float32")


@pytest.mark.parametrize("dtype", ["int32", "bfloat16", "float16"])
def test_max_pool2d_other_dtypes(dtype):
    x = np.random.default_rng(6).integers(-50, 50, (2, 3, 7, 6)).astype(np.float32)
    want = TF.max_pool2d(torch.tensor(x), 3, 2, 1).numpy()
    got = F.max_pool2d(ember.tensor(x).to(getattr(ember, dtype)), 3, 2, 1)
    assert got.dtype == getattr(ember, dtype)
    np.testing.assert_array_equal(got.to(ember.float32).numpy(), want)


def test_max_pool1d_matches_torch():
    kw = dict(kernel_size=3, stride=2, padding=1, dilation=2, ceil_mode=True,
              return_indices=True)
    _run(lambda x: F.max_pool1d(x, **kw), lambda x: TF.max_pool1d(x, **kw), (2, 3, 12), True)
    _run(lambda x: F.max_pool1d(x, 2), lambda x: TF.max_pool1d(x, 2), (3, 9), True)


AVG = [
    ((2, 3, 7, 8), dict(kernel_size=3, stride=2, padding=1)),
    ((2, 3, 8, 8), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                        count_include_pad=False)),
    ((2, 3, 8, 8), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ((2, 3, 8, 9), dict(kernel_size=(2, 3), divisor_override=4)),
    ((2, 3, 5, 6), dict(kernel_size=2, stride=1)),
    ((3, 6, 7), dict(kernel_size=2, padding=1, count_include_pad=False)),
]


@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "channels_last"])
@pytest.mark.parametrize("shape, kw", AVG, ids=[str(i) for i in range(len(AVG))])
def test_avg_pool2d_matches_torch(shape, kw, channels_last):
    _run(lambda x: F.avg_pool2d(x, **kw), lambda x: TF.avg_pool2d(x, **kw), shape,
         channels_last=channels_last and len(shape) == 4)


def test_avg_pool1d_matches_torch():
    kw = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
    _run(lambda x: F.avg_pool1d(x, **kw), lambda x: TF.avg_pool1d(x, **kw), (2, 3, 10))


ADAPTIVE = [((2, 3, 8, 7), (3, 4)), ((2, 3, 8, 7), 1), ((2, 3, 8, 6), (4, 3)),
            ((2, 3, 5, 7), (None, 3)), ((3, 5, 5), (2, 5))]


@pytest.mark.parametrize("shape, size", ADAPTIVE, ids=[str(i) for i in range(len(ADAPTIVE))])
def test_adaptive_pools_match_torch(shape, size):
    _run(lambda x: F.adaptive_avg_pool2d(x, size), lambda x: TF.adaptive_avg_pool2d(x, size),
         shape)
    _run(lambda x: F.adaptive_max_pool2d(x, size, True),
         lambda x: TF.adaptive_max_pool2d(x, size, True), shape, ties=True)


def test_adaptive_pools_1d_match_torch():
    _run(lambda x: F.adaptive_avg_pool1d(x, 4), lambda x: TF.adaptive_avg_pool1d(x, 4),
         (2, 3, 10))
    _run(lambda x: F.adaptive_max_pool1d(x, 4, True),
         lambda x: TF.adaptive_max_pool1d(x, 4, True), (2, 3, 10), ties=True)


def test_gradcheck_and_double_backward():
    rng = np.random.default_rng(2)
    # distinct values more than 2 * eps apart, so finite differences never cross a tie
    x = ember.tensor(rng.permutation(2 * 3 * 6 * 5).reshape(2, 3, 6, 5) * 0.1,
                     requires_grad=True)
    kw = dict(kernel_size=3, stride=2, padding=1, dilation=(1, 2), ceil_mode=True)
    assert gradcheck(lambda x: F.max_pool2d(x, **kw), (x,))
    assert gradgradcheck(lambda x: F.max_pool2d(x, **kw), (x,))
    akw = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
    assert gradcheck(lambda x: F.avg_pool2d(x, **akw), (x,))
    assert gradgradcheck(lambda x: F.avg_pool2d(x, **akw), (x,))
    assert gradcheck(lambda x: F.adaptive_avg_pool2d(x, (4, 3)), (x,))
    assert gradcheck(lambda x: F.adaptive_max_pool2d(x, (4, 3)), (x,))


def test_max_pool_select_is_the_transpose_of_the_gradient():
    rng = np.random.default_rng(3)
    x = ember.tensor(np.maximum(np.round(rng.standard_normal((1, 2, 5, 5))), 0))
    attrs = dict(kernel=(3, 3), stride=(1, 1), padding=(1, 1), dilation=(1, 1),
                 ceil_mode=False)
    out = F.max_pool2d(x, 3, 1, 1)
    g = ember.tensor(rng.standard_normal(tuple(out.shape)))
    t = ember.tensor(rng.standard_normal(tuple(x.shape)))
    grad = ember.ops.diff.max_pool2d_grad(g, x, out, **attrs)
    sel = ember.ops.diff.max_pool2d_select(t, x, out, **attrs)
    np.testing.assert_allclose((grad * t).sum().item(), (sel * g).sum().item(), rtol=1e-12)


LAYERS = [
    ("MaxPool2d", (3,), dict(stride=2, padding=1, ceil_mode=True), (2, 3, 8, 9)),
    ("MaxPool1d", (2,), dict(), (2, 3, 9)),
    ("AvgPool2d", ((2, 3),), dict(stride=1, padding=1, count_include_pad=False), (2, 3, 5, 6)),
    ("AvgPool1d", (3,), dict(stride=2), (2, 3, 9)),
    ("AdaptiveAvgPool2d", ((3, 2),), dict(), (2, 3, 7, 5)),
    ("AdaptiveAvgPool1d", (3,), dict(), (2, 3, 7)),
    ("AdaptiveMaxPool2d", (2,), dict(), (2, 3, 7, 5)),
    ("AdaptiveMaxPool1d", (3,), dict(), (2, 3, 8)),
]


@pytest.mark.parametrize("name, args, kw, shape", LAYERS, ids=[n for n, *_ in LAYERS])
def test_layers_match_torch(name, args, kw, shape):
    e_mod, t_mod = getattr(ember.nn, name)(*args, **kw), getattr(torch.nn, name)(*args, **kw)
    assert repr(e_mod) == repr(t_mod)
    compare(e_mod, t_mod, [np.random.default_rng(4).standard_normal(shape)])


def test_return_indices_layer():
    pool = ember.nn.MaxPool2d(2, return_indices=True)
    y, idx = pool(ember.tensor([[[[1.0, 5.0], [7.0, 2.0]]]]))
    assert y.item() == 7.0 and idx.item() == 2 and idx.dtype == ember.int64


def test_errors():
    with pytest.raises(ShapeError, match=r"^MaxPool2d\(kernel_size=2.*expected a 4-d input "
                                         r"\(N, C, H, W\).*got shape \(5,\)"):
        ember.nn.MaxPool2d(2)(ember.randn(5))
    with pytest.raises(ShapeError, match=r"MaxPool2d\(kernel_size=5.*max_pool2d: the kernel "
                                         r"\(5, 5\).*larger than the padded input \(3, 3\)"):
        ember.nn.MaxPool2d(5)(ember.randn(1, 1, 3, 3))
    with pytest.raises(ShapeError, match=r"avg_pool2d: the kernel \(4, 4\)"):
        F.avg_pool2d(ember.randn(1, 1, 2, 5), 4)
    with pytest.raises(ShapeError, match=r"AvgPool1d.*expected a 3-d input \(N, C, L\)"):
        ember.nn.AvgPool1d(2)(ember.randn(1, 2, 3, 4))
    with pytest.raises(ValueError, match="padding .* half the kernel"):
        F.max_pool2d(ember.randn(1, 1, 6, 6), 2, padding=2)
    with pytest.raises(ValueError, match="must be positive"):
        F.max_pool2d(ember.randn(1, 1, 6, 6), 2, stride=0)
    with pytest.raises(ValueError, match="divisor_override"):
        F.avg_pool2d(ember.randn(1, 1, 6, 6), 2, divisor_override=0)
    with pytest.raises(ValueError, match="output_size must hold positive ints"):
        F.adaptive_avg_pool2d(ember.randn(1, 1, 6, 6), (0, 2))
    with pytest.raises(ShapeError, match=r"AdaptiveAvgPool2d.*got shape \(6, 6\)"):
        ember.nn.AdaptiveAvgPool2d(2)(ember.randn(6, 6))
