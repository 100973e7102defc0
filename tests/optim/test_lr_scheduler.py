"""Every learning-rate schedule against PyTorch's: the rates (and momenta) of 20+ steps."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

import ember
from ember.optim import lr_scheduler as els

TS = torch.optim.lr_scheduler


def _opts(opt="SGD"):
    e = [ember.zeros(2, requires_grad=True), ember.zeros(3, requires_grad=True)]
    t = [torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)]
    kw = {"lr": 0.1, "momentum": 0.9} if opt == "SGD" else {"lr": 0.1}
    e_opt = getattr(ember.optim, opt)([{"params": e[:1]}, {"params": e[1:], "lr": 0.5}], **kw)
    t_opt = getattr(torch.optim, opt)([{"params": t[:1]}, {"params": t[1:], "lr": 0.5}], **kw)
    return e_opt, t_opt


def _trace(opt, sched, steps, momentum=None):
    out = [list(sched.get_last_lr())]
    moms = []
    for _ in range(steps):
        opt.step()
        sched.step()
        out.append(list(sched.get_last_lr()))
        if momentum:
            moms.append([momentum(g) for g in opt.param_groups])
    return out, moms


SCHEDULES = [
    ("StepLR", lambda m, o: m.StepLR(o, step_size=3, gamma=0.5)),
    ("MultiStepLR", lambda m, o: m.MultiStepLR(o, milestones=[2, 5, 5, 11], gamma=0.3)),
    ("ExponentialLR", lambda m, o: m.ExponentialLR(o, gamma=0.9)),
    ("CosineAnnealingLR", lambda m, o: m.CosineAnnealingLR(o, T_max=7, eta_min=0.01)),
    ("LinearLR", lambda m, o: m.LinearLR(o, start_factor=0.1, end_factor=0.9, total_iters=6)),
    ("ConstantLR", lambda m, o: m.ConstantLR(o, factor=0.3, total_iters=4)),
    ("PolynomialLR", lambda m, o: m.PolynomialLR(o, total_iters=10, power=2.0)),
    ("LambdaLR", lambda m, o: m.LambdaLR(o, [lambda e: 0.95 ** e, lambda e: 1 / (1 + e)])),
    ("MultiplicativeLR", lambda m, o: m.MultiplicativeLR(o, lambda e: 0.9)),
    ("SequentialLR", lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.2, total_iters=4),
            m.CosineAnnealingLR(o, T_max=10)], milestones=[4])),
    ("SequentialLR3", lambda m, o: m.SequentialLR(
        o, [m.ConstantLR(o, factor=0.5, total_iters=3), m.ExponentialLR(o, gamma=0.8),
            m.StepLR(o, step_size=2, gamma=0.5)], milestones=[3, 9])),
    ("ChainedScheduler", lambda m, o: m.ChainedScheduler(
        [m.ExponentialLR(o, gamma=0.95), m.StepLR(o, step_size=4, gamma=0.5)])),
    ("OneCycleLR-cos", lambda m, o: m.OneCycleLR(o, max_lr=[1.0, 2.0], total_steps=25)),
    ("OneCycleLR-linear", lambda m, o: m.OneCycleLR(
        o, max_lr=1.0, epochs=5, steps_per_epoch=5, anneal_strategy="linear", pct_start=0.4)),
    ("OneCycleLR-three", lambda m, o: m.OneCycleLR(
        o, max_lr=1.0, total_steps=25, three_phase=True, base_momentum=0.8,
        max_momentum=[0.9, 0.99], div_factor=10.0, final_div_factor=100.0)),
    ("OneCycleLR-nomom", lambda m, o: m.OneCycleLR(o, max_lr=0.7, total_steps=25,
                                                   cycle_momentum=False)),
]


@pytest.mark.parametrize("opt", ["SGD", "Adam"])
@pytest.mark.parametrize("name, make", SCHEDULES, ids=[s[0] for s in SCHEDULES])
def test_matches_torch(name, make, opt):
    e_opt, t_opt = _opts(opt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        e_s, t_s = make(els, e_opt), make(TS, t_opt)
        key = "momentum" if opt == "SGD" else "betas"
        mom = (lambda g: g[key]) if name.startswith("OneCycle") else None
        e_lrs, e_m = _trace(e_opt, e_s, 24, mom)
        t_lrs, t_m = _trace(t_opt, t_s, 24, mom)
    assert len(set(map(tuple, e_lrs))) >= 2  # the schedule does change the rate
    for a, b in zip(e_lrs, t_lrs):
        assert a == pytest.approx(b, rel=1e-10, abs=1e-12)
    for a, b in zip(e_m, t_m):
        assert [tuple(x) if isinstance(x, tuple) else x for x in a] == pytest.approx(
            [tuple(x) if isinstance(x, tuple) else x for x in b], rel=1e-10)
    for eg, tg in zip(e_opt.param_groups, t_opt.param_groups):
        assert eg["lr"] == pytest.approx(tg["lr"], rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("name, make", SCHEDULES, ids=[s[0] for s in SCHEDULES])
def test_state_dict_resume(name, make):
    e_opt, _ = _opts()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = make(els, e_opt)
        full, _ = _trace(e_opt, s, 20)
        e2, _ = _opts()
        s2 = make(els, e2)
        first, _ = _trace(e2, s2, 9)
        sd, osd = s2.state_dict(), e2.state_dict()
        e3, _ = _opts()
        s3 = make(els, e3)
        e3.load_state_dict(osd)
        s3.load_state_dict(sd)
        rest, _ = _trace(e3, s3, 11)
    assert first + rest[1:] == full


def test_closed_form_step_with_epoch_matches_torch():
    e_opt, t_opt = _opts()
    e_s, t_s = els.StepLR(e_opt, 2, 0.5), TS.StepLR(t_opt, 2, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch in (5, 2, 9):
            e_s.step(epoch)
            t_s.step(epoch)
            assert e_s.get_last_lr() == pytest.approx(t_s.get_last_lr(), rel=1e-12)


PLATEAU = [
    {"patience": 3},
    {"mode": "max", "threshold_mode": "abs", "threshold": 0.05, "patience": 1},
    {"patience": 0, "cooldown": 2, "factor": 0.5, "min_lr": [0.02, 0.2]},
    {"patience": 1, "min_lr": 0.03, "eps": 1e-3, "threshold": 0.01},
    {"mode": "max", "patience": 2, "factor": 0.3},
    {"threshold_mode": "abs", "threshold": 0.5, "patience": 0},
]
METRICS = [5.0, 4.0, 4.0, 3.99, 4.1, 4.2, 3.0, 3.0, 3.0, 3.1, 2.9, 2.95, 2.95, 2.95, 1.0,
           1.0, 1.0, 1.2, 1.3, 0.5, 0.5, 0.5, 0.7, 0.7, 0.7]


@pytest.mark.parametrize("kw", PLATEAU)
def test_reduce_on_plateau_matches_torch(kw):
    e_opt, t_opt = _opts()
    e_s, t_s = els.ReduceLROnPlateau(e_opt, **kw), TS.ReduceLROnPlateau(t_opt, **kw)
    seen = set()
    for m in METRICS:
        e_s.step(m)
        t_s.step(m)
        assert e_s.get_last_lr() == pytest.approx(t_s.get_last_lr(), rel=1e-12)
        assert e_s.num_bad_epochs == t_s.num_bad_epochs and e_s.best == t_s.best
        seen.add(tuple(e_s.get_last_lr()))
    assert len(seen) > 1


def test_reduce_on_plateau_state_dict_round_trip():
    e_opt, _ = _opts()
    s = els.ReduceLROnPlateau(e_opt, patience=1)
    for m in METRICS[:6]:
        s.step(m)
    sd = s.state_dict()
    assert sd["best"] == 3.99 and sd["mode_worse"] == math.inf
    s2 = els.ReduceLROnPlateau(_opts()[0], patience=5, mode="max")
    s2.load_state_dict(sd)
    assert s2.mode == "min" and s2.patience == 1 and s2.num_bad_epochs == s.num_bad_epochs


@pytest.mark.parametrize("make, match", [
    (lambda o: els.StepLR("not an optimizer", 2), "is not an ember Optimizer"),
    (lambda o: els.StepLR(o, 0), "step_size must be a positive int"),
    (lambda o: els.LinearLR(o, start_factor=0.0), "starting multiplicative factor"),
    (lambda o: els.LinearLR(o, end_factor=1.5), "ending multiplicative factor"),
    (lambda o: els.ConstantLR(o, factor=2.0), "factor expected to be between 0 and 1"),
    (lambda o: els.CosineAnnealingLR(o, T_max=0), "T_max must be positive"),
    (lambda o: els.LambdaLR(o, [lambda e: 1.0]), "expected 2 lr_lambdas"),
    (lambda o: els.OneCycleLR(o, max_lr=1.0), "either total_steps or"),
    (lambda o: els.OneCycleLR(o, max_lr=1.0, total_steps=0), "positive integer total_steps"),
    (lambda o: els.OneCycleLR(o, max_lr=1.0, total_steps=9, pct_start=1.5), "pct_start"),
    (lambda o: els.OneCycleLR(o, max_lr=1.0, total_steps=9, anneal_strategy="exp"),
     "anneal_strategy"),
    (lambda o: els.OneCycleLR(o, max_lr=[1.0], total_steps=9), "one value per parameter group"),
    (lambda o: els.ReduceLROnPlateau(o, factor=1.0), "factor should be < 1.0"),
    (lambda o: els.ReduceLROnPlateau(o, mode="up"), "mode must be 'min' or 'max'"),
    (lambda o: els.ReduceLROnPlateau(o, threshold_mode="x"), "threshold_mode must be"),
    (lambda o: els.ReduceLROnPlateau(o, min_lr=[0.1]), "expected 2 min_lrs"),
    (lambda o: els.SequentialLR(o, [els.StepLR(o, 2)], milestones=[3]), "one more scheduler"),
    (lambda o: els.SequentialLR(o, [els.ReduceLROnPlateau(o), els.StepLR(o, 2)], [3]),
     "does not support ReduceLROnPlateau"),
    (lambda o: els.SequentialLR(o, [els.StepLR(_opts()[0], 2), els.StepLR(o, 2)], [3]),
     "same optimizer"),
    (lambda o: els.StepLR(o, 2, last_epoch=4), "initial_lr"),
])
def test_bad_arguments(make, match):
    e_opt, _ = _opts()
    with pytest.raises((ValueError, TypeError, KeyError), match=match):
        make(e_opt)


def test_one_cycle_needs_momentum_and_refuses_extra_steps():
    p = ember.zeros(1, requires_grad=True)
    with pytest.raises(ValueError, match="momentum or betas"):
        els.OneCycleLR(ember.optim.Adagrad([p]), max_lr=1.0, total_steps=5)
    opt = ember.optim.SGD([p], lr=0.1, momentum=0.9)
    s = els.OneCycleLR(opt, max_lr=1.0, total_steps=3)
    for _ in range(3):
        opt.step()
        s.step()
    with pytest.raises(ValueError, match="tried to step 4 times"):
        s.step()


def test_warning_when_scheduler_steps_before_optimizer():
    e_opt, _ = _opts()
    s = els.StepLR(e_opt, 2)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        s.step()
    with pytest.warns(UserWarning, match="get_last_lr"):
        s.get_lr()
