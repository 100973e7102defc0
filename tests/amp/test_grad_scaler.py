"""GradScaler's skip/grow/shrink logic against torch.amp.GradScaler("cpu"), step by step."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import ember

W0 = np.array([0.5, -1.0, 2.0], dtype=np.float32)
X = np.array([1.0, 2.0, -0.5], dtype=np.float32)
# per step: a multiplier of the loss; inf/nan poison the gradients of that step
SCHEDULE = [1.0, 1.0, math.inf, 1.0, 1.0, 1.0, math.nan, 1.0, 1.0, 1.0, 1.0, 2.0]


def _run_torch(kw):
    w = torch.nn.Parameter(torch.tensor(W0))
    opt = torch.optim.SGD([w], lr=0.1)
    scaler = torch.amp.GradScaler("cpu", **kw)
    trace = []
    for m in SCHEDULE:
        opt.zero_grad()
        loss = (w * torch.tensor(X)).sum() * m
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        trace.append((scaler.get_scale(), w.detach().numpy().copy()))
    return trace, scaler.state_dict()


def _run_ember(kw):
    w = ember.nn.Parameter(ember.tensor(W0))
    opt = ember.optim.SGD([w], lr=0.1)
    scaler = ember.amp.GradScaler("cpu", **kw)
    trace = []
    for m in SCHEDULE:
        opt.zero_grad()
        loss = (w * ember.tensor(X)).sum() * m
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        trace.append((scaler.get_scale(), w.detach().numpy().copy()))
    return trace, scaler.state_dict()


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("kw", [
    dict(init_scale=256.0, growth_factor=2.0, backoff_factor=0.5, growth_interval=3),
    dict(init_scale=2.0 ** 16, growth_factor=4.0, backoff_factor=0.25, growth_interval=2),
])
def test_skip_grow_shrink_like_torch(kw):
    want, t_state = _run_torch(kw)
    got, e_state = _run_ember(kw)
    for i, ((gs, gw), (ws, ww)) in enumerate(zip(got, want)):
        assert gs == ws, f"step {i}: scale {gs} vs torch {ws}"
        np.testing.assert_allclose(gw, ww, rtol=1e-6, err_msg=f"step {i}")
    assert e_state["_growth_tracker"] == t_state["_growth_tracker"]
    assert e_state["scale"] == pytest.approx(float(t_state["scale"]))


def test_skipped_step_leaves_weights_and_optimizer_state():
    w = ember.nn.Parameter(ember.tensor(W0))
    opt = ember.optim.Adam([w], lr=0.1)
    scaler = ember.amp.GradScaler("cpu", init_scale=8.0)
    w.grad = ember.tensor([1.0, math.inf, 0.0])
    assert scaler.step(opt) is None
    scaler.update()
    np.testing.assert_array_equal(w.detach().numpy(), W0)
    assert len(opt.state) == 0
    assert scaler.get_scale() == 4.0


def test_unscale_then_clip_then_step():
    w = ember.nn.Parameter(ember.tensor(W0))
    opt = ember.optim.SGD([w], lr=1.0)
    scaler = ember.amp.GradScaler("cpu", init_scale=1024.0)
    scaler.scale((w * ember.tensor(X)).sum()).backward()
    scaler.unscale_(opt)
    np.testing.assert_allclose(w.grad.numpy(), X)  # unscaled in place
    with pytest.raises(RuntimeError, match="already called on this optimizer"):
        scaler.unscale_(opt)
    scaler.step(opt)  # uses the unscaled gradients, does not unscale twice
    np.testing.assert_allclose(w.detach().numpy(), W0 - X)
    with pytest.raises(RuntimeError, match="call update"):
        scaler.step(opt)
    scaler.update()


def test_state_dict_round_trip_with_torch():
    t = torch.amp.GradScaler("cpu", init_scale=512.0, growth_interval=7)
    e = ember.amp.GradScaler("cpu")
    e.load_state_dict(t.state_dict())
    assert e.get_scale() == 512.0 and e.get_growth_interval() == 7
    t2 = torch.amp.GradScaler("cpu")
    t2.load_state_dict(e.state_dict())
    assert t2.get_scale() == 512.0


def test_disabled_is_a_pass_through():
    w = ember.nn.Parameter(ember.tensor(W0))
    opt = ember.optim.SGD([w], lr=1.0)
    scaler = ember.amp.GradScaler("cpu", enabled=False)
    loss = (w * ember.tensor(X)).sum()
    assert scaler.scale(loss) is loss
    loss.backward()
    scaler.step(opt)
    scaler.update()
    np.testing.assert_allclose(w.detach().numpy(), W0 - X)
    assert scaler.get_scale() == 1.0 and scaler.state_dict() == {}


def test_float16_gradients_are_refused():
    w = ember.nn.Parameter(ember.tensor(W0).to(ember.float16))
    opt = ember.optim.SGD([w], lr=1.0)
    w.grad = ember.ones(3, dtype=ember.float16)
    with pytest.raises(ValueError, match="float16 gradients; keep the weights in float32"):
        ember.amp.GradScaler("cpu").unscale_(opt)


@pytest.mark.parametrize("kw,match", [
    (dict(init_scale=0.0), "init_scale must be > 0"),
    (dict(growth_factor=1.0), "growth_factor must be > 1"),
    (dict(backoff_factor=1.5), "backoff_factor must lie between 0 and 1"),
    (dict(growth_interval=0), "growth_interval must be a positive integer"),
    (dict(device="tpu"), "device must be 'cuda' or 'cpu'"),
])
def test_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        ember.amp.GradScaler(**kw)


def test_update_without_step_and_bad_scale():
    s = ember.amp.GradScaler("cpu")
    with pytest.raises(RuntimeError, match="no unscale_\\(\\) or step\\(\\) was recorded"):
        s.update()
    with pytest.raises(ValueError, match="new_scale must be > 0"):
        s.update(new_scale=-1.0)
    with pytest.raises(TypeError, match="expected a tensor or a list/tuple"):
        s.scale(3.0)
