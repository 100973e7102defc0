"""Shared helpers for the ember.keras tests: PyTorch references with copied weights."""

from __future__ import annotations

import numpy as np
import torch

import ember


def to_torch(t, requires_grad: bool = False) -> torch.Tensor:
    out = torch.from_numpy(np.array(t.detach().numpy() if isinstance(t, ember.Tensor) else t))
    return out.requires_grad_(requires_grad)


def copy_into(torch_module: torch.nn.Module, ember_module) -> None:
    """Copy an ember.nn module's state dict into the PyTorch module of the same layout."""
    with torch.no_grad():
        sd = {k: to_torch(v) for k, v in ember_module.state_dict().items()}
        torch_module.load_state_dict(sd, strict=True)


def check_close(a, b, rtol: float = 1e-10, atol: float = 1e-10) -> None:
    a = a.detach().numpy() if isinstance(a, ember.Tensor) else a
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else b
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def run_both(keras_layer, torch_fn, x_np: np.ndarray, **call_kwargs):
    """Forward in float64 through the Keras layer and ``torch_fn``; compare the outputs and the
    input gradients of ``sum(out * w)`` for a fixed random ``w``."""
    x = ember.tensor(x_np, requires_grad=True)
    out = keras_layer(x, **call_kwargs)
    tx = to_torch(x_np, requires_grad=True)
    tout = torch_fn(tx)
    check_close(out, tout)
    w = np.random.default_rng(1).standard_normal(tuple(out.shape))
    (out * ember.tensor(w)).sum().backward()
    (tout * torch.from_numpy(w)).sum().backward()
    check_close(x.grad, tx.grad)
    return out
