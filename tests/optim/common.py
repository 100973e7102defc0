"""A small float64 problem run through an ember optimiser and its PyTorch twin."""

from __future__ import annotations

import numpy as np
import torch

import ember

RNG = np.random.default_rng(1234)
X = RNG.standard_normal((8, 5))
Y = RNG.standard_normal((8, 3))
INIT = [RNG.standard_normal((5, 4)), RNG.standard_normal(4), RNG.standard_normal((4, 3))]


def ember_params(dtype="float64"):
    return [ember.tensor(a.astype(dtype), requires_grad=True) for a in INIT]


def torch_params(dtype=torch.float64):
    return [torch.tensor(a, dtype=dtype, requires_grad=True) for a in INIT]


def ember_loss(ps):
    w1, b1, w2 = ps
    x = ember.tensor(X.astype(w1.data.dtype))
    h = (x @ w1 + b1).tanh()
    return ((h @ w2 - ember.tensor(Y.astype(w1.data.dtype))) ** 2).mean()


def torch_loss(ps):
    w1, b1, w2 = ps
    x = torch.tensor(X, dtype=w1.dtype)
    h = torch.tanh(x @ w1 + b1)
    return ((h @ w2 - torch.tensor(Y, dtype=w1.dtype)) ** 2).mean()


def groups(ps, split, extra):
    """One group, or two groups (the first ``split`` params, the rest with ``extra``)."""
    if split is None:
        return ps
    return [{"params": ps[:split]}, {"params": ps[split:], **extra}]


def run_ember(opt_cls, kwargs, steps=20, split=None, extra=None, sched=None, dtype="float64"):
    ps = ember_params(dtype)
    opt = opt_cls(groups(ps, split, extra or {}), **kwargs)
    s = sched(opt) if sched else None
    for _ in range(steps):
        opt.zero_grad()
        ember_loss(ps).backward()
        opt.step()
        if s:
            s.step()
    return ps, opt


def run_torch(opt_cls, kwargs, steps=20, split=None, extra=None, sched=None,
              dtype=torch.float64):
    ps = torch_params(dtype)
    opt = opt_cls(groups(ps, split, extra or {}), **kwargs)
    s = sched(opt) if sched else None
    for _ in range(steps):
        opt.zero_grad()
        torch_loss(ps).backward()
        opt.step()
        if s:
            s.step()
    return ps, opt


def assert_close(e, t, rtol=1e-10, atol=1e-10):
    np.testing.assert_allclose(np.asarray(e.detach().numpy()), t.detach().numpy(), rtol=rtol,
                               atol=atol)
