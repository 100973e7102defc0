"""rms_norm / RMSNorm, local_response_norm / LocalResponseNorm and lp_pool1d/2d /
LPPool1d/2d (ember/ops/normalization_more.py) against PyTorch: forward and gradients in
float32 and float64, and the errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F

torch = pytest.importorskip("torch")

TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}


def _compare(fn_ember, fn_torch, arrays, dtype, positive=False):
    """Run both on the same inputs; compare outputs and the gradients of sum(y * g)."""
    rng = np.random.default_rng(0)
    arrays = [np.abs(a) + 0.1 if positive else a for a in arrays]
    arrays = [a.astype(dtype) for a in arrays]
    ex = [ember.from_numpy(a.copy()).requires_grad_(True) for a in arrays]
    tx = [torch.from_numpy(a.copy()).requires_grad_(True) for a in arrays]
    ey, ty = fn_ember(*ex), fn_torch(*tx)
    np.testing.assert_allclose(ey.detach().numpy(), ty.detach().numpy(), **TOL[dtype])
    g = rng.standard_normal(ty.shape).astype(dtype)
    (ey * ember.from_numpy(g)).sum().backward()
    (ty * torch.from_numpy(g)).sum().backward()
    for e, t in zip(ex, tx):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), **TOL[dtype])


def _randn(*shape):
    return np.random.default_rng(len(shape) * 7 + shape[-1]).standard_normal(shape)


DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,normalized", [((4, 7), (7,)), ((2, 3, 5), (3, 5)),
                                              ((3, 6), 6)])
@pytest.mark.parametrize("eps", [None, 1e-3])
def test_rms_norm_matches_torch(dtype, shape, normalized, eps):
    w_shape = (normalized,) if isinstance(normalized, int) else normalized  # torch: a tuple
    _compare(lambda x, w: F.rms_norm(x, normalized, w, eps),
             lambda x, w: torch.nn.functional.rms_norm(x, w_shape, w, eps),
             [_randn(*shape), _randn(*w_shape)], dtype)
    _compare(lambda x: F.rms_norm(x, normalized, eps=eps),
             lambda x: torch.nn.functional.rms_norm(x, w_shape, eps=eps),
             [_randn(*shape)], dtype)


def test_rms_norm_default_eps_is_finfo_eps():
    """A zero row: y = 0 / sqrt(eps) exactly 0, and a tiny row shows eps's size."""
    x = np.full((1, 4), 1e-4, dtype=np.float32)
    got = F.rms_norm(ember.from_numpy(x), 4).numpy()
    want = torch.nn.functional.rms_norm(torch.from_numpy(x), (4,)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert not np.allclose(got, 1.0, rtol=1e-3)  # eps = 1.19e-7 is not negligible here


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("affine", [True, False])
def test_rms_norm_layer(dtype, affine):
    torch_layer = torch.nn.RMSNorm((3, 4), eps=1e-5, elementwise_affine=affine,
                                   dtype=getattr(torch, np.dtype(dtype).name))
    layer = nn.RMSNorm((3, 4), eps=1e-5, elementwise_affine=affine,
                       dtype=getattr(ember, np.dtype(dtype).name))
    if affine:
        w = _randn(3, 4).astype(dtype)
        with torch.no_grad():
            torch_layer.weight.copy_(torch.from_numpy(w))
        layer.weight.data = ember.from_numpy(w).data
    x = _randn(2, 3, 4).astype(dtype)
    ey = layer(ember.from_numpy(x))
    ty = torch_layer(torch.from_numpy(x))
    np.testing.assert_allclose(ey.detach().numpy(), ty.detach().numpy(), **TOL[dtype])
    assert len(list(layer.parameters())) == (1 if affine else 0)
    if affine:
        ey.sum().backward()
        ty.sum().backward()
        np.testing.assert_allclose(layer.weight.grad.numpy(), torch_layer.weight.grad.numpy(),
                                   **TOL[dtype])
    assert repr(layer).startswith("RMSNorm((3, 4), eps=1e-05")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 7, 5), (2, 6, 3, 4), (1, 5, 2, 3, 2)])
@pytest.mark.parametrize("size,alpha,beta,k", [(3, 1e-4, 0.75, 1.0), (4, 0.5, 0.6, 2.0),
                                               (1, 0.3, 1.0, 1.0), (9, 0.9, 0.75, 0.5)])
def test_local_response_norm_matches_torch(dtype, shape, size, alpha, beta, k):
    _compare(lambda x: F.local_response_norm(x, size, alpha, beta, k),
             lambda x: torch.nn.functional.local_response_norm(x, size, alpha, beta, k),
             [_randn(*shape)], dtype)


def test_local_response_norm_layer():
    x = _randn(2, 6, 4, 4).astype(np.float32)
    got = nn.LocalResponseNorm(4, alpha=0.3)(ember.from_numpy(x)).numpy()
    want = torch.nn.LocalResponseNorm(4, alpha=0.3)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, **TOL[np.float32])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [1, 2, 3, 1.5])
@pytest.mark.parametrize("kernel,stride,ceil", [(2, None, False), (3, 2, False),
                                                ((2, 3), (1, 2), False), (3, 2, True)])
def test_lp_pool2d_matches_torch(dtype, p, kernel, stride, ceil):
    _compare(lambda x: F.lp_pool2d(x, p, kernel, stride, ceil),
             lambda x: torch.nn.functional.lp_pool2d(x, p, kernel, stride, ceil),
             [_randn(2, 3, 7, 8)], dtype, positive=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [1, 2, 4])
@pytest.mark.parametrize("kernel,stride,ceil", [(2, None, False), (3, 2, False),
                                                (3, 2, True)])
def test_lp_pool1d_matches_torch(dtype, p, kernel, stride, ceil):
    _compare(lambda x: F.lp_pool1d(x, p, kernel, stride, ceil),
             lambda x: torch.nn.functional.lp_pool1d(x, p, kernel, stride, ceil),
             [_randn(2, 3, 9)], dtype, positive=True)


def test_lp_pool_even_power_of_negative_inputs():
    """x ** 2 of negative inputs: the same as PyTorch (no sign trouble for even p)."""
    _compare(lambda x: F.lp_pool2d(x, 2, 2), lambda x: torch.nn.functional.lp_pool2d(x, 2, 2),
             [_randn(1, 2, 4, 4)], np.float64)


def test_lp_pool_layers():
    x = np.abs(_randn(2, 3, 8, 8)).astype(np.float32)
    got = nn.LPPool2d(2, 3, stride=2)(ember.from_numpy(x)).numpy()
    want = torch.nn.LPPool2d(2, 3, stride=2)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, **TOL[np.float32])
    x1 = x[:, :, 0]
    got = nn.LPPool1d(3, 2)(ember.from_numpy(x1)).numpy()
    want = torch.nn.LPPool1d(3, 2)(torch.from_numpy(x1)).numpy()
    np.testing.assert_allclose(got, want, **TOL[np.float32])
    got = nn.LPPool2d(2, 2)(ember.from_numpy(x[0])).numpy()  # unbatched (C, H, W)
    assert got.shape == (3, 4, 4)


# ----------------------------------------------------------------------------- errors


def test_errors():
    x = ember.randn(2, 3, 4)
    with pytest.raises(ember.errors.ShapeError, match=r"rms_norm: expected input with trailing "
                       r"dimensions \(3,\)"):
        F.rms_norm(x, 3)
    with pytest.raises(ember.errors.ShapeError, match="rms_norm: weight must have shape"):
        F.rms_norm(x, 4, ember.ones(3))
    with pytest.raises(ember.errors.DTypeError, match="rms_norm: expected a floating-point"):
        F.rms_norm(ember.tensor([[1, 2]]), 2)
    with pytest.raises(ember.errors.EmberError, match="RMSNorm.*trailing dimensions"):
        nn.RMSNorm(5)(x)
    with pytest.raises(ember.errors.ShapeError, match="local_response_norm: expected a 3-d"):
        F.local_response_norm(ember.randn(2, 3), 2)
    with pytest.raises(ValueError, match="size must be a positive int"):
        F.local_response_norm(x, 0)
    with pytest.raises(ember.errors.DTypeError, match="local_response_norm"):
        F.local_response_norm(ember.tensor([[[1, 2]]]), 2)
    with pytest.raises(ValueError, match="lp_pool2d: norm_type must be a positive"):
        F.lp_pool2d(ember.randn(1, 1, 4, 4), 0, 2)
    with pytest.raises(ember.errors.DTypeError, match="lp_pool1d"):
        F.lp_pool1d(ember.tensor([[[1, 2, 3, 4]]]), 2, 2)
    with pytest.raises(ember.errors.EmberError, match="LPPool2d.*4-d input"):
        nn.LPPool2d(2, 2)(ember.randn(4, 4))
    with pytest.raises(ember.errors.ShapeError, match="lp_pool2d: the kernel"):
        F.lp_pool2d(ember.randn(1, 1, 2, 2), 2, 3)
