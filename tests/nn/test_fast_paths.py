"""The speed paths of the conv/pool/norm kernels: channels-last batch norm (wide rows) and
max-pool backward, against PyTorch and float64 numerical gradients, with a check that
each test really takes the path it is about (oneDNN off: tests/test_onednn.py has its own)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
import ember.nn.functional as F
from ember.ops import normalization as N


def _cl(a: np.ndarray) -> np.ndarray:
    """``a`` (N, C, *) stored channels-last."""
    nd = a.ndim
    return np.ascontiguousarray(np.moveaxis(a, 1, -1)).transpose((0, nd - 1) +
                                                                  tuple(range(1, nd - 1)))


@pytest.fixture(autouse=True)
def numpy_kernels(monkeypatch):
    """These are ember's own NumPy kernels' tests: oneDNN (when installed) is switched off."""
    monkeypatch.setattr(ember.backends.onednn, "enabled", False)


@pytest.fixture
def wide_calls(monkeypatch):
    calls = {"forward": 0, "backward": 0}
    fwd, bwd = N._bn_forward_wide, N._bn_backward_wide

    def count_fwd(*a, **k):
        calls["forward"] += 1
        return fwd(*a, **k)

    def count_bwd(*a, **k):
        calls["backward"] += 1
        return bwd(*a, **k)

    monkeypatch.setattr(N, "_bn_forward_wide", count_fwd)
    monkeypatch.setattr(N, "_bn_backward_wide", count_bwd)
    return calls


@pytest.mark.parametrize("shape", [(4, 3, 5, 6), (3, 4, 7), (2, 5, 3, 4, 2), (8, 32, 4, 4)])
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 2e-5)])
def test_batch_norm_channels_last_matches_torch(shape, dtype, tol, wide_calls):
    rng = np.random.default_rng(1)
    c = shape[1]
    x = (rng.standard_normal(shape) * 3 + 2).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal(c).astype(dtype)
    b = rng.standard_normal(c).astype(dtype)
    xe = ember.from_numpy(_cl(x)).requires_grad_()
    we, be = ember.from_numpy(w.copy()).requires_grad_(), ember.from_numpy(b.copy())
    be.requires_grad_()
    rme, rve = ember.zeros(c, dtype=xe.dtype), ember.ones(c, dtype=xe.dtype)
    ye = F.batch_norm(xe, rme, rve, we, be, training=True, momentum=0.2)
    assert ye.data.strides == _cl(x).strides  # the output keeps the memory format
    ye.backward(ember.from_numpy(_cl(g)))
    assert wide_calls == {"forward": 1, "backward": 1}

    xt = torch.from_numpy(x).requires_grad_()
    wt, bt = torch.from_numpy(w).requires_grad_(), torch.from_numpy(b).requires_grad_()
    rmt, rvt = torch.zeros(c, dtype=xt.dtype), torch.ones(c, dtype=xt.dtype)
    yt = torch.nn.functional.batch_norm(xt, rmt, rvt, wt, bt, training=True, momentum=0.2)
    yt.backward(torch.from_numpy(g))
    for got, want in ((ye, yt), (xe.grad, xt.grad), (we.grad, wt.grad), (be.grad, bt.grad),
                      (rme, rmt), (rve, rvt)):
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=tol, atol=tol)


def test_batch_norm_channels_last_gradcheck(wide_calls):
    rng = np.random.default_rng(2)
    x = ember.from_numpy(_cl(rng.standard_normal((3, 4, 3, 5)))).requires_grad_()
    w = ember.from_numpy(rng.standard_normal(4)).requires_grad_()
    b = ember.from_numpy(rng.standard_normal(4)).requires_grad_()
    probe = ember.from_numpy(_cl(rng.standard_normal((3, 4, 3, 5))))

    def fn(x, w, b):
        y = F.batch_norm(x.contiguous(memory_format=ember.channels_last), None, None, w, b,
                         training=True)
        return (y * probe).sum()

    assert ember.autograd.gradcheck(fn, [x, w, b])
    assert ember.autograd.gradgradcheck(fn, [x, w, b])
    assert wide_calls["forward"] > 0 and wide_calls["backward"] > 0


def test_batch_norm_nchw_memory_keeps_the_reduction_path(wide_calls):
    x = ember.randn(4, 3, 5, 5, requires_grad=True)
    F.batch_norm(x, None, None, training=True).sum().backward()
    assert wide_calls == {"forward": 0, "backward": 0}


@pytest.mark.parametrize("channels_last", [True, False])
@pytest.mark.parametrize("shape,kernel,padding,ceil_mode", [
    ((3, 4, 11, 10), 2, 0, False),   # odd height: the last row is in no window
    ((2, 3, 9, 7), 3, 1, False),     # padding; the last column is in no window
    ((2, 3, 9, 7), 2, 0, True),      # ceil mode: partial windows at the border
    ((2, 5, 8, 8), (2, 4), 0, False),
])
def test_max_pool_tiled_backward_matches_torch_with_ties(shape, kernel, padding, ceil_mode,
                                                         channels_last):
    rng = np.random.default_rng(3)
    # small integers after a ReLU: many windows hold equal maxima (ties go to the first)
    x = np.maximum(rng.integers(-3, 3, shape), 0).astype(np.float64)
    xe = ember.from_numpy(_cl(x) if channels_last else x).requires_grad_()
    ye = F.max_pool2d(xe, kernel, padding=padding, ceil_mode=ceil_mode)
    g = rng.standard_normal(tuple(ye.shape))
    ye.backward(ember.from_numpy(g))
    xt = torch.from_numpy(x).requires_grad_()
    yt = torch.nn.functional.max_pool2d(xt, kernel, padding=padding, ceil_mode=ceil_mode)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_array_equal(ye.detach().numpy(), yt.detach().numpy())
    np.testing.assert_array_equal(xe.grad.numpy(), xt.grad.numpy())


def test_max_pool_tiled_backward_gradcheck():
    rng = np.random.default_rng(4)
    x = ember.from_numpy(_cl(rng.standard_normal((2, 3, 7, 6)))).requires_grad_()
    assert ember.autograd.gradcheck(lambda t: F.max_pool2d(t, 2), [x])
    assert ember.autograd.gradgradcheck(lambda t: F.max_pool2d(t, 2), [x])


@pytest.mark.parametrize("channels_last", [True, False])
@pytest.mark.parametrize("c,o,groups,stride,padding,dilation", [
    (1, 8, 1, 1, 0, 1),    # a first layer: 9 columns, transposed (chw) layout in NCHW memory
    (3, 8, 1, 1, 1, 1),    # 27 columns
    (6, 4, 2, 2, 1, 1),    # groups, stride
    (4, 6, 2, 1, 2, 2),    # groups, dilation
    (8, 5, 1, 2, 0, 1),
])
def test_conv_weight_gradient_layouts_match_torch(c, o, groups, stride, padding, dilation,
                                                  channels_last):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, c, 9, 8))
    w = rng.standard_normal((o, c // groups, 3, 3))
    xe = ember.from_numpy(_cl(x) if channels_last else x).requires_grad_()
    we = ember.from_numpy(w.copy()).requires_grad_()
    ye = F.conv2d(xe, we, stride=stride, padding=padding, dilation=dilation, groups=groups)
    g = rng.standard_normal(tuple(ye.shape))
    ye.backward(ember.from_numpy(_cl(g)))
    xt, wt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(w).requires_grad_()
    yt = torch.nn.functional.conv2d(xt, wt, stride=stride, padding=padding, dilation=dilation,
                                    groups=groups)
    yt.backward(torch.from_numpy(g))
    for got, want in ((ye, yt), (we.grad, wt.grad), (xe.grad, xt.grad)):
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-10,
                                   atol=1e-10)
    assert ember.autograd.gradcheck(
        lambda w_: F.conv2d(xe.detach(), w_, stride=stride, padding=padding, dilation=dilation,
                            groups=groups), [we.detach().requires_grad_()])
