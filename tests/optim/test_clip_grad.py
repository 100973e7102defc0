"""ember.nn.utils gradient clipping and parameter vectors against PyTorch's."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import ember
from ember.errors import DeviceError, ShapeError
from ember.nn.utils import (
    clip_grad_norm_,
    clip_grad_value_,
    parameters_to_vector,
    vector_to_parameters,
)

SHAPES = [(3, 4), (5,), (2, 2, 2)]


def _pairs(dtype="float64", scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    grads = [rng.standard_normal(s).astype(dtype) * scale for s in SHAPES]
    e = [ember.zeros(*s, dtype=dtype, requires_grad=True) for s in SHAPES]
    t = [torch.zeros(s, dtype=getattr(torch, dtype), requires_grad=True) for s in SHAPES]
    for pe, pt, g in zip(e, t, grads):
        pe.grad, pt.grad = ember.tensor(g.copy()), torch.tensor(g.copy())
    return e, t


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, 0.5, math.inf, -math.inf, 0.0])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    e, t = _pairs()
    te = clip_grad_norm_(e, max_norm, norm_type=norm_type)
    tt = torch.nn.utils.clip_grad_norm_(t, max_norm, norm_type=norm_type)
    assert te.shape == () and te.item() == pytest.approx(tt.item(), rel=1e-12)
    for pe, pt in zip(e, t):
        np.testing.assert_allclose(pe.grad.numpy(), pt.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_clip_grad_norm_float32_and_single_tensor():
    e, t = _pairs("float32", scale=10.0)
    te = clip_grad_norm_(e[0], 1.0)
    tt = torch.nn.utils.clip_grad_norm_(t[0], 1.0)
    assert te.dtype is ember.float32
    assert te.item() == pytest.approx(tt.item(), rel=1e-6)
    np.testing.assert_allclose(e[0].grad.numpy(), t[0].grad.numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(e[1].grad.numpy(), t[1].grad.numpy())  # untouched


def test_clip_grad_norm_skips_missing_grads_and_handles_none():
    e, t = _pairs()
    e[1].grad, t[1].grad = None, None
    assert clip_grad_norm_(e, 1.0).item() == pytest.approx(
        torch.nn.utils.clip_grad_norm_(t, 1.0).item(), rel=1e-12)
    assert clip_grad_norm_([ember.zeros(2, requires_grad=True)], 1.0).item() == 0.0


def test_clip_grad_norm_nonfinite():
    e, _ = _pairs()
    e[0].grad.data[0, 0] = np.inf
    with pytest.raises(RuntimeError, match="total norm of order 2.0 .* is inf"):
        clip_grad_norm_(e, 1.0, error_if_nonfinite=True)
    assert clip_grad_norm_(e, 1.0).item() == math.inf


def test_clip_grad_value_matches_torch():
    e, t = _pairs(scale=3.0)
    clip_grad_value_(e, 1.5)
    torch.nn.utils.clip_grad_value_(t, 1.5)
    for pe, pt in zip(e, t):
        np.testing.assert_array_equal(pe.grad.numpy(), pt.grad.numpy())
    with pytest.raises(ValueError, match="clip_value must be >= 0"):
        clip_grad_value_(e, -1.0)


def test_bad_parameters():
    with pytest.raises(TypeError, match="parameter 1 is a list, not a tensor"):
        clip_grad_norm_([ember.zeros(1), [1.0]], 1.0)


def test_parameters_to_vector_and_back_match_torch():
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(s) for s in SHAPES]
    e = [ember.tensor(a, requires_grad=True) for a in arrays]
    t = [torch.tensor(a, requires_grad=True) for a in arrays]
    ve, vt = parameters_to_vector(e), torch.nn.utils.parameters_to_vector(t)
    np.testing.assert_array_equal(ve.detach().numpy(), vt.detach().numpy())
    (ve * ember.arange(ve.numel()).double()).sum().backward()  # differentiable
    (vt * torch.arange(vt.numel()).double()).sum().backward()
    for pe, pt in zip(e, t):
        np.testing.assert_array_equal(pe.grad.numpy(), pt.grad.numpy())
    new = rng.standard_normal(ve.numel())
    vector_to_parameters(ember.tensor(new), e)
    torch.nn.utils.vector_to_parameters(torch.tensor(new), t)
    for pe, pt in zip(e, t):
        np.testing.assert_array_equal(pe.detach().numpy(), pt.detach().numpy())


def test_vector_to_parameters_errors():
    ps = [ember.zeros(2, 2), ember.zeros(3)]
    with pytest.raises(ShapeError, match=r"vec has shape \(6,\) but the parameters have 7"):
        vector_to_parameters(ember.zeros(6), ps)
    with pytest.raises(TypeError, match="expected an ember Tensor for vec"):
        vector_to_parameters(np.zeros(7), ps)
    with pytest.raises(ValueError, match="got no parameters"):
        parameters_to_vector([])


def test_parameters_on_two_devices(monkeypatch):
    a, b = ember.zeros(2), ember.zeros(2)
    monkeypatch.setattr(type(b), "device", property(
        lambda self: ember.device("cuda:0") if self is b else ember.device("cpu")))
    with pytest.raises(DeviceError, match="different devices"):
        parameters_to_vector([a, b])
