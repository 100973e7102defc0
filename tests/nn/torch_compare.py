"""Run one layer in ember and in PyTorch with the same weights; compare outputs and gradients.

``compare(e_mod, t_mod, inputs)`` copies PyTorch's state dict into the ember module (so the
state dict layout is checked too), runs both in the requested mode, backpropagates the same
random cotangent and compares the outputs, the input gradients, every parameter gradient
and every buffer afterwards (running statistics).
"""

from __future__ import annotations

import numpy as np
import torch

import ember

# rtol per element, plus an absolute floor of rtol times the largest reference value, so
# values that cancel to near zero are judged against the size of the whole tensor (inputs
# and gradients in these tests are of order 1)
TOL = {"float32": 1e-5, "float64": 1e-10}


def to_ember(t: torch.Tensor) -> ember.Tensor:
    return ember.tensor(t.detach().numpy())


def copy_weights(e_mod: ember.nn.Module, t_mod: torch.nn.Module) -> None:
    e_mod.load_state_dict({k: to_ember(v) for k, v in t_mod.state_dict().items()})


def assert_close(a, b, dtype: str, what: str) -> None:
    a = a.detach().numpy() if isinstance(a, (ember.Tensor, torch.Tensor)) else np.asarray(a)
    b = b.detach().numpy() if isinstance(b, (ember.Tensor, torch.Tensor)) else np.asarray(b)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    rtol = TOL[dtype]
    scale = float(np.abs(b).max()) if b.size else 0.0
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * max(scale, 1.0), err_msg=what)


def compare(e_mod, t_mod, inputs, *, dtype: str = "float64", train: bool = True,
            grad_inputs: bool = True, seed: int = 0, kwargs: dict | None = None):
    """Forward and backward both modules on ``inputs`` (NumPy arrays); assert they agree."""
    kwargs = kwargs or {}
    t_mod = t_mod.to(getattr(torch, dtype))
    e_mod = e_mod.to(getattr(ember, dtype))
    copy_weights(e_mod, t_mod)
    e_mod.train(train)
    t_mod.train(train)
    e_in, t_in = [], []
    for a in inputs:
        floating = a.dtype.kind == "f"
        if floating:
            a = a.astype(dtype)
        e_in.append(ember.tensor(a, requires_grad=floating and grad_inputs))
        t_in.append(torch.tensor(a, requires_grad=floating and grad_inputs))
    e_out = e_mod(*e_in, **kwargs)
    t_out = t_mod(*t_in, **kwargs)
    if isinstance(t_out, tuple):
        e_out, t_out = e_out[0], t_out[0]
    assert_close(e_out, t_out, dtype, "output")
    g = np.random.default_rng(seed).standard_normal(tuple(t_out.shape)).astype(dtype)
    e_out.backward(ember.tensor(g))
    t_out.backward(torch.tensor(g))
    for i, (e, t) in enumerate(zip(e_in, t_in)):
        if t.requires_grad:
            assert_close(e.grad, t.grad, dtype, f"gradient of input {i}")
    t_params = dict(t_mod.named_parameters())
    e_params = dict(e_mod.named_parameters())
    assert list(e_params) == list(t_params)
    for name, p in t_params.items():
        if p.grad is None:
            assert e_params[name].grad is None, name
        else:
            assert_close(e_params[name].grad, p.grad, dtype, f"gradient of {name}")
    t_bufs = dict(t_mod.named_buffers())
    e_bufs = dict(e_mod.named_buffers())
    assert list(e_bufs) == list(t_bufs)
    for name, b in t_bufs.items():
        assert_close(e_bufs[name], b, dtype, f"buffer {name}")
    return e_out, t_out
