"""Memory formats (ember.channels_last) against PyTorch's: strides, contiguity, gradients,
layers keeping the format, modules converted with to(memory_format=...)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from ember.errors import ShapeError


def test_strides_and_contiguity_match_torch():
    a = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    e = ember.from_numpy(a).contiguous(memory_format=ember.channels_last)
    t = torch.from_numpy(a).contiguous(memory_format=torch.channels_last)
    assert tuple(s // 4 for s in e.data.strides) == t.stride()
    for fmt, tfmt in ((ember.channels_last, torch.channels_last),
                      (ember.contiguous_format, torch.contiguous_format)):
        assert e.is_contiguous(memory_format=fmt) == t.is_contiguous(memory_format=tfmt)
    back = e.contiguous()
    assert back.is_contiguous() and back.data.strides == a.strides
    np.testing.assert_array_equal(back.numpy(), a)
    same = ember.from_numpy(a)
    assert same.contiguous() is same and e.contiguous(memory_format=ember.channels_last) is e
    assert e.contiguous(memory_format=ember.preserve_format) is e


def test_conversion_is_differentiable():
    x = ember.randn(2, 3, 4, 4, dtype=ember.float64, requires_grad=True)
    assert ember.autograd.gradcheck(
        lambda t: (t.contiguous(memory_format=ember.channels_last) * 2.0).sum(), [x])
    y = x.contiguous(memory_format=ember.channels_last)
    (y * y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.detach().numpy())


def test_channels_last_network_matches_torch_and_keeps_the_format():
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8),
                             torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Conv2d(8, 4, 3))
    em = ember.nn.Sequential(ember.nn.Conv2d(3, 8, 3, padding=1), ember.nn.BatchNorm2d(8),
                             ember.nn.ReLU(), ember.nn.MaxPool2d(2), ember.nn.Conv2d(8, 4, 3))
    for (_, tp), (_, ep) in zip(tm.named_parameters(), em.named_parameters()):
        ep.data[...] = tp.detach().numpy()
    tm = tm.to(memory_format=torch.channels_last)
    em = em.to(memory_format=ember.channels_last)
    assert em[0].weight.is_contiguous(memory_format=ember.channels_last)
    assert em[1].weight.is_contiguous()  # 1-d parameters are left alone
    a = np.random.default_rng(1).standard_normal((2, 3, 10, 10)).astype(np.float32)
    tx = torch.from_numpy(a).contiguous(memory_format=torch.channels_last).requires_grad_()
    ex = ember.from_numpy(a).contiguous(memory_format=ember.channels_last).detach()
    ex.requires_grad_()
    ty, ey = tm(tx), em(ex)
    assert ey.is_contiguous(memory_format=ember.channels_last)
    assert ty.is_contiguous(memory_format=torch.channels_last)
    np.testing.assert_allclose(ey.detach().numpy(), ty.detach().numpy(), rtol=1e-4, atol=1e-5)
    ty.square().sum().backward()
    ey.square().sum().backward()
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(em[0].weight.grad.numpy(), tm[0].weight.grad.numpy(),
                               rtol=1e-4, atol=1e-3)


def test_bad_input():
    with pytest.raises(ShapeError, match=r"channels_last needs a 4-d \(N, C, H, W\) tensor, "
                       r"got shape \(2, 3\)"):
        ember.ones(2, 3).contiguous(memory_format=ember.channels_last)
    with pytest.raises(TypeError, match="memory_format must be ember.contiguous_format"):
        ember.ones(2, 3).contiguous(memory_format="channels_last")
    with pytest.raises(TypeError, match="memory_format must be"):
        ember.ones(2, 3).is_contiguous(memory_format=torch.channels_last)
