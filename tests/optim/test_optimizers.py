"""Every optimiser against PyTorch's: 20 steps on one problem, float64 within 1e-10."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from ember.optim import SGD, Adagrad, Adam, AdamW

from .common import assert_close, ember_loss, ember_params, run_ember, run_torch

CASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True}),
    ("SGD", {"lr": 0.05, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.05,
             "maximize": True}),
    ("SGD", {"lr": 0.05, "maximize": True}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "betas": (0.5, 0.9), "eps": 1e-6}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01, "maximize": True}),
    ("Adam", {"lr": 0.01, "maximize": True, "weight_decay": 0.1, "amsgrad": True}),
    ("AdamW", {"lr": 0.01}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.3, "amsgrad": True}),
    ("AdamW", {"lr": 0.01, "maximize": True}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "centered": True}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "centered": True, "momentum": 0.5,
                 "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01, "maximize": True}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.05}),
    ("Adagrad", {"lr": 0.1, "initial_accumulator_value": 0.5, "weight_decay": 0.1}),
    ("Adagrad", {"lr": 0.1, "maximize": True, "eps": 1e-6}),
]

GROUP_EXTRA = {"SGD": {"lr": 0.02, "momentum": 0.5}, "Adam": {"lr": 0.03, "betas": (0.8, 0.99)},
               "AdamW": {"lr": 0.03, "weight_decay": 0.5}, "RMSprop": {"lr": 0.003,
                                                                       "centered": True},
               "Adagrad": {"lr": 0.3, "lr_decay": 0.1}}

STATE_KEYS = ("momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq", "square_avg",
              "grad_avg", "sum")


def _id(case):
    name, kw = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in kw.items())


def _compare(e_ps, e_opt, t_ps, t_opt):
    for e, t in zip(e_ps, t_ps):
        assert_close(e, t)
    for e, t in zip(e_ps, t_ps):
        es, ts = e_opt.state[e], t_opt.state[t]
        keys = [k for k in STATE_KEYS if k in ts and ts[k] is not None]
        assert sorted(keys) == sorted(k for k in STATE_KEYS if k in es)
        for k in keys:
            assert_close(es[k], ts[k])
        if "step" in ts:
            assert es["step"] == int(ts["step"])


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_matches_torch(case):
    name, kw = case
    e_ps, e_opt = run_ember(getattr(ember.optim, name), kw)
    t_ps, t_opt = run_torch(getattr(torch.optim, name), kw)
    _compare(e_ps, e_opt, t_ps, t_opt)
    assert not np.allclose(e_ps[0].detach().numpy(), ember_params()[0].detach().numpy())


@pytest.mark.parametrize("name", sorted(GROUP_EXTRA))
def test_param_groups_match_torch(name):
    kw = {"lr": 0.01} if name != "SGD" else {"lr": 0.05, "momentum": 0.9}
    extra = GROUP_EXTRA[name]
    e_ps, e_opt = run_ember(getattr(ember.optim, name), kw, split=2, extra=extra)
    t_ps, t_opt = run_torch(getattr(torch.optim, name), kw, split=2, extra=extra)
    _compare(e_ps, e_opt, t_ps, t_opt)
    assert e_opt.param_groups[1]["lr"] == extra["lr"]


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "Adagrad"])
def test_float32_matches_torch(name):
    kw = {"lr": 0.01, "momentum": 0.9} if name == "SGD" else {"lr": 0.01}
    e_ps, _ = run_ember(getattr(ember.optim, name), kw, dtype="float32")
    t_ps, _ = run_torch(getattr(torch.optim, name), kw, dtype=torch.float32)
    for e, t in zip(e_ps, t_ps):
        np.testing.assert_allclose(e.detach().numpy(), t.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)


def test_parameters_without_grad_are_skipped():
    e_ps, t_ps = ember_params(), [torch.tensor(p.detach().numpy(), requires_grad=True)
                                  for p in ember_params()]
    e_opt, t_opt = Adam(e_ps, lr=0.1), torch.optim.Adam(t_ps, lr=0.1)
    for step in range(6):
        e_opt.zero_grad()
        t_opt.zero_grad()
        (e_ps[0].sum() * 2 + (e_ps[1] ** 2).sum() * (step % 2)).backward()
        (t_ps[0].sum() * 2 + (t_ps[1] ** 2).sum() * (step % 2)).backward()
        if step % 2 == 0:  # b1 got a zero-gradient; drop it so the optimizer skips it
            e_ps[1].grad = None
            t_ps[1].grad = None
        e_opt.step()
        t_opt.step()
    for e, t in zip(e_ps, t_ps):
        assert_close(e, t)
    assert e_opt.state[e_ps[1]]["step"] == 3
    assert not e_opt.state.get(e_ps[2])


@pytest.mark.parametrize("onednn", [False, True])
def test_big_parameters_use_chunks_and_threads(monkeypatch, onednn):
    """Parameters larger than one chunk, split over threads, match a serial PyTorch step
    (with oneDNN active the update stays on the calling thread)."""
    from ember.optim import _parallel

    monkeypatch.setattr(_parallel, "_onednn_active", lambda: onednn)
    used = []
    real_run = _parallel._Pool.run
    monkeypatch.setattr(_parallel._Pool, "run",
                        lambda self, job, n: used.append(n) or real_run(self, job, n))
    rng = np.random.default_rng(0)
    shapes = [(700, 800), (300,), (1000, 300)]
    init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    e_ps = [ember.tensor(a, requires_grad=True) for a in init]
    t_ps = [torch.tensor(a, requires_grad=True) for a in init]
    old = ember.optim.get_num_threads()
    ember.optim.set_num_threads(3)
    try:
        e_opt = Adam(e_ps, lr=0.01, amsgrad=True, weight_decay=0.01)
        t_opt = torch.optim.Adam(t_ps, lr=0.01, amsgrad=True, weight_decay=0.01)
        for _ in range(3):
            for e, t, g in zip(e_ps, t_ps, grads):
                e.grad, t.grad = ember.tensor(g), torch.tensor(g)
            e_opt.step()
            t_opt.step()
    finally:
        ember.optim.set_num_threads(old)
    assert (used == []) if onednn else (used and max(used) == 3)
    for e, t in zip(e_ps, t_ps):
        np.testing.assert_allclose(e.detach().numpy(), t.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)


def test_strided_parameter_and_gradient():
    base = ember.tensor(np.arange(12.0).reshape(3, 4))
    p = base.data.T  # a non-contiguous parameter array
    e = ember.Tensor(p, requires_grad=True)
    t = torch.tensor(p.copy(), requires_grad=True)
    g = np.ascontiguousarray(np.ones((4, 3)).T).T * 0.5  # F-ordered gradient
    e.grad, t.grad = ember.Tensor(g), torch.tensor(g)
    e_opt, t_opt = SGD([e], lr=0.1, momentum=0.9), torch.optim.SGD([t], lr=0.1, momentum=0.9)
    for _ in range(3):
        e_opt.step()
        t_opt.step()
    assert_close(e, t)
    assert np.shares_memory(e.data, base.data)


def test_closure_returns_loss_and_runs_with_grad():
    ps = ember_params()
    opt = ember.optim.SGD(ps, lr=0.1)

    def closure():
        opt.zero_grad()
        loss = ember_loss(ps)
        loss.backward()
        return loss

    with ember.no_grad():
        loss = opt.step(closure)
    assert loss.item() == pytest.approx(ember_loss(ember_params()).item())


def test_zero_grad_in_place_keeps_the_array():
    p = ember.ones(3, requires_grad=True)
    (p * 2).sum().backward()
    g = p.grad
    opt = SGD([p], lr=0.1)
    opt.zero_grad(set_to_none=False)
    assert p.grad is g and not p.grad.data.any()
    opt.zero_grad()
    assert p.grad is None


def test_step_bumps_the_version_so_saved_tensors_are_protected():
    p = ember.ones(3, requires_grad=True)
    y = (p * p).sum()
    p.grad = ember.ones(3)
    SGD([p], lr=0.1).step()
    with pytest.raises(ember.errors.AutogradError, match="modified"):
        y.backward()


def test_repr_lists_groups():
    opt = AdamW([ember.zeros(1, requires_grad=True)], lr=0.5)
    text = repr(opt)
    assert text.startswith("AdamW (") and "Parameter Group 0" in text and "lr: 0.5" in text


def test_adagrad_state_exists_before_the_first_step():
    p = ember.zeros(2, requires_grad=True)
    opt = Adagrad([p], initial_accumulator_value=0.25)
    assert opt.state[p]["step"] == 0
    np.testing.assert_array_equal(opt.state[p]["sum"].numpy(), [0.25, 0.25])
