"""Every layer of the nn layer table on CUDA against the same layer on the CPU (same initial
weights): outputs, input and parameter gradients, running statistics."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember import nn
from tests.nn.test_layers import CASES

from .conftest import requires_cuda


def _run(factory, inputs, device, dtype, train):
    ember.manual_seed(0)
    m = factory(nn).to(getattr(ember, dtype)).to(device)
    m.train(train)
    xs = []
    for a in inputs:
        t = ember.from_numpy(np.asarray(a)).to(device)
        if t.dtype.is_floating_point:
            t = t.to(getattr(ember, dtype)).detach().requires_grad_()
        xs.append(t)
    y = m(*xs)
    w = ember.from_numpy(np.random.default_rng(3).standard_normal(y.shape)).to(y.dtype)
    (y * w.to(device)).sum().backward()
    grads = [x.grad.cpu().numpy() for x in xs if x._rg]
    grads += [p.grad.cpu().numpy() for p in m.parameters() if p.grad is not None]
    buffers = [b.cpu().numpy() for b in m.buffers()]
    return y.detach().cpu().numpy(), grads, buffers


@requires_cuda
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name,factory,inputs", CASES, ids=[c[0] for c in CASES])
def test_layer_on_cuda_matches_cpu(name, factory, inputs, train, dtype):
    data = inputs()
    rtol = 1e-5 if dtype == "float32" else 1e-10
    y_cpu, g_cpu, b_cpu = _run(factory, data, "cpu", dtype, train)
    y_gpu, g_gpu, b_gpu = _run(factory, data, "cuda", dtype, train)
    np.testing.assert_allclose(y_gpu, y_cpu, rtol=rtol, atol=rtol)
    assert len(g_gpu) == len(g_cpu)
    for a, b in zip(g_gpu, g_cpu):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * 10)
    for a, b in zip(b_gpu, b_cpu):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)
