"""Optimiser bad input, state_dict round trips, and PyTorch's state_dict layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from ember.errors import ShapeError
from ember.optim import SGD, Adagrad, Adam, AdamW, RMSprop

from .common import ember_loss, ember_params, torch_params

ALL = [SGD, Adam, AdamW, RMSprop, Adagrad]


@pytest.mark.parametrize("cls", ALL)
def test_empty_parameter_list(cls):
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        cls([])


def test_non_tensor_named_by_position_and_type():
    with pytest.raises(TypeError, match=r"parameter 1 of group 0 is a ndarray, not a tensor"):
        SGD([ember.zeros(1, requires_grad=True), np.zeros(2)], lr=0.1)


def test_non_leaf_named_by_position():
    x = ember.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match=r"parameter 0 of group 1 \(shape \(2,\)\) is not a leaf"):
        Adam([{"params": [x]}, {"params": [x * 2]}])


def test_frozen_parameters_are_accepted_and_skipped_like_pytorch():
    # transfer learning passes model.parameters() with a frozen base; unfreezing later works
    frozen = ember.ones(3)
    live = ember.ones(2, requires_grad=True)
    opt = Adam([frozen, live], lr=0.1)
    (live * live).sum().backward()
    opt.step()
    assert frozen.tolist() == [1.0, 1.0, 1.0] and live.tolist() != [1.0, 1.0]
    frozen.requires_grad_()
    (frozen.sum() * live.sum()).backward()
    opt.step()
    assert frozen.tolist() != [1.0, 1.0, 1.0]


def test_single_tensor_and_set_are_refused():
    p = ember.zeros(1, requires_grad=True)
    with pytest.raises(TypeError, match="wrap it in a list"):
        SGD(p, lr=0.1)
    with pytest.raises(TypeError, match="use a list instead"):
        SGD({p}, lr=0.1)


def test_same_parameter_in_two_groups():
    p, q = ember.zeros(1, requires_grad=True), ember.zeros(1, requires_grad=True)
    with pytest.raises(ValueError, match="more than one parameter group"):
        SGD([{"params": [p, q]}, {"params": [q]}], lr=0.1)
    opt = SGD([p], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [p]})
    with pytest.raises(ValueError, match="same parameter more than once"):
        SGD([p, p], lr=0.1)


@pytest.mark.parametrize("cls", ALL)
def test_negative_learning_rate(cls):
    with pytest.raises(ValueError, match=r"invalid learning rate -0\.1"):
        cls([ember.zeros(1, requires_grad=True)], lr=-0.1)


def test_negative_learning_rate_in_a_group():
    p, q = ember.zeros(1, requires_grad=True), ember.zeros(1, requires_grad=True)
    with pytest.raises(ValueError, match="invalid learning rate -1"):
        Adam([{"params": [p]}, {"params": [q], "lr": -1}])


@pytest.mark.parametrize("kw, match", [
    ({"betas": (1.0, 0.999)}, "invalid beta parameter at index 0: 1.0"),
    ({"betas": (0.9, -0.1)}, "invalid beta parameter at index 1: -0.1"),
    ({"betas": (0.9,)}, "betas must be a pair"),
    ({"eps": -1e-8}, "invalid epsilon value"),
    ({"weight_decay": -1.0}, "invalid weight_decay value"),
])
@pytest.mark.parametrize("cls", [Adam, AdamW])
def test_adam_hyper_parameters(cls, kw, match):
    with pytest.raises(ValueError, match=match):
        cls([ember.zeros(1, requires_grad=True)], **kw)


@pytest.mark.parametrize("cls, kw, match", [
    (SGD, {"momentum": -0.5}, "invalid momentum"),
    (SGD, {"weight_decay": -0.5}, "invalid weight_decay"),
    (SGD, {"nesterov": True}, "Nesterov momentum requires"),
    (SGD, {"nesterov": True, "momentum": 0.9, "dampening": 0.1}, "Nesterov momentum requires"),
    (RMSprop, {"alpha": -0.1}, "invalid alpha"),
    (RMSprop, {"eps": -0.1}, "invalid eps"),
    (Adagrad, {"lr_decay": -0.1}, "invalid lr_decay"),
    (Adagrad, {"initial_accumulator_value": -1.0}, "invalid initial_accumulator_value"),
])
def test_other_hyper_parameters(cls, kw, match):
    with pytest.raises(ValueError, match=match):
        cls([ember.zeros(1, requires_grad=True)], **kw)


def test_integer_tensor_refused():
    t = ember.Tensor(np.zeros(2, dtype=np.int64))
    t._rg = True  # even if someone forces the flag, ints cannot be optimized
    with pytest.raises(TypeError, match="dtype int64"):
        SGD([t], lr=0.1)


def _trained(cls, steps, **kw):
    ps = ember_params()
    opt = cls([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.02}], lr=0.01, **kw)
    for _ in range(steps):
        opt.zero_grad()
        ember_loss(ps).backward()
        opt.step()
    return ps, opt


@pytest.mark.parametrize("cls, kw", [(SGD, {"momentum": 0.9}), (Adam, {"amsgrad": True}),
                                     (RMSprop, {"centered": True, "momentum": 0.5}),
                                     (Adagrad, {"lr_decay": 0.01}), (AdamW, {})])
def test_state_dict_resume_is_exact(cls, kw):
    full, _ = _trained(cls, 10, **kw)
    half, opt = _trained(cls, 5, **kw)
    sd = opt.state_dict()
    ps = [ember.tensor(p.detach().numpy().copy(), requires_grad=True) for p in half]
    opt2 = cls([{"params": ps[:1]}, {"params": ps[1:]}], lr=0.5, **kw)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[1]["lr"] == 0.02
    for _ in range(5):
        opt2.zero_grad()
        ember_loss(ps).backward()
        opt2.step()
    for a, b in zip(full, ps):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_loaded_state_is_a_copy():
    ps, opt = _trained(Adam, 2)
    sd = opt.state_dict()
    opt2 = Adam([{"params": ps[:1]}, {"params": ps[1:]}])
    opt2.load_state_dict(sd)
    assert opt2.state[ps[0]]["exp_avg"].data is not sd["state"][0]["exp_avg"].data
    np.testing.assert_array_equal(opt2.state[ps[0]]["exp_avg"].numpy(),
                                  sd["state"][0]["exp_avg"].numpy())


def test_state_dict_layout_matches_torch():
    ps, opt = _trained(Adam, 1)
    t_ps = torch_params()
    t_opt = torch.optim.Adam([{"params": t_ps[:1]}, {"params": t_ps[1:], "lr": 0.02}], lr=0.01)
    t_opt.zero_grad()
    from .common import torch_loss

    torch_loss(t_ps).backward()
    t_opt.step()
    sd, tsd = opt.state_dict(), t_opt.state_dict()
    assert sorted(sd["state"]) == sorted(tsd["state"]) == [0, 1, 2]
    assert [g["params"] for g in sd["param_groups"]] == [g["params"] for g in
                                                         tsd["param_groups"]]
    for k in ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize"):
        assert [g[k] for g in sd["param_groups"]] == [g[k] for g in tsd["param_groups"]]
    assert set(sd["state"][0]) == set(tsd["state"][0])


def test_load_state_dict_wrong_number_of_groups():
    _, opt = _trained(SGD, 1)
    other = SGD(ember_params(), lr=0.1)
    with pytest.raises(ValueError, match=r"different number of parameter groups \(2\) than "
                                         r"the optimizer \(1\)"):
        other.load_state_dict(opt.state_dict())


def test_load_state_dict_wrong_number_of_params():
    _, opt = _trained(SGD, 1, momentum=0.9)
    ps = ember_params()
    other = SGD([{"params": ps[:2]}, {"params": ps[2:]}], lr=0.1)
    with pytest.raises(ValueError, match="group 0 has 1 parameters but the optimizer's group 0 "
                                         "has 2"):
        other.load_state_dict(opt.state_dict())


def test_load_state_dict_wrong_shape():
    _, opt = _trained(Adam, 1)
    ps = [ember.zeros(5, 4, requires_grad=True), ember.zeros(3, requires_grad=True),
          ember.zeros(4, 3, requires_grad=True)]
    other = Adam([{"params": ps[:1]}, {"params": ps[1:]}])
    with pytest.raises(ShapeError, match=r"'exp_avg' has shape \(4,\) but its parameter has "
                                         r"shape \(3,\)"):
        other.load_state_dict(opt.state_dict())


def test_load_state_dict_not_a_state_dict():
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        SGD(ember_params(), lr=0.1).load_state_dict({"weights": 1})


def test_load_state_dict_validates_hyper_parameters():
    _, opt = _trained(SGD, 1)
    sd = opt.state_dict()
    sd["param_groups"][0]["lr"] = -3.0
    ps = ember_params()
    with pytest.raises(ValueError, match="invalid learning rate -3.0"):
        SGD([{"params": ps[:1]}, {"params": ps[1:]}], lr=0.1).load_state_dict(sd)


def test_cuda_fused_step_picks_its_kernel_by_the_update_rule():
    # a subclass that overrides Adam's (or SGD's) update rule must not get the fused kernel
    # written for the parent's rule; AdamW, which keeps Adam's rule, does (runs without CuPy:
    # the choice returns before any array is touched)
    from ember.backend.cuda_optim import fused_step

    class MyAdam(ember.optim.Adam):
        @staticmethod
        def _update(xp, c, p, g, bufs, s):
            p -= g

    class MySGD(ember.optim.SGD):
        @staticmethod
        def _update(xp, c, p, g, bufs, s):
            p -= g

    assert fused_step(None, MyAdam, []) is False
    assert fused_step(None, MySGD, []) is False
    assert fused_step(None, ember.optim.RMSprop, []) is False
