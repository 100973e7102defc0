"""ember.amp.autocast against torch.autocast("cpu", bfloat16): the same casting decision (output
dtype) per op class, values within bfloat16 rounding, gradients reaching float32 weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import ember
import ember.nn.functional as F

BF16 = ember.bfloat16
rng = np.random.default_rng(0)


def _r(*shape):
    return rng.standard_normal(shape).astype(np.float32)


X2, W2, B2 = _r(5, 8), _r(6, 8), _r(6)
IMG, K, KT = _r(2, 3, 7, 7), _r(4, 3, 3, 3), _r(3, 4, 3, 3)
LOGITS, LABELS = _r(5, 6), np.array([0, 3, 5, 1, 2])
PROB = (1 / (1 + np.exp(-_r(5, 6)))).astype(np.float32)

# name, ember fn, torch fn, float32 inputs (numpy), whether to feed them as bfloat16
CASES = [
    ("matmul", lambda a, b: a @ b.T, lambda a, b: a @ b.T, (X2, W2), False),
    ("linear", F.linear, TF.linear, (X2, W2, B2), False),
    ("conv2d", lambda x, w: F.conv2d(x, w, padding=1),
     lambda x, w: TF.conv2d(x, w, padding=1), (IMG, K), False),
    ("conv_transpose2d", lambda x, w: F.conv_transpose2d(x, w, stride=2),
     lambda x, w: TF.conv_transpose2d(x, w, stride=2), (_r(2, 3, 4, 4), KT), False),
    ("einsum", lambda a, b: ember.einsum("ik,jk->ij", a, b),
     lambda a, b: torch.einsum("ik,jk->ij", a, b), (X2, W2), False),
    ("softmax_f32", lambda a: F.softmax(a, dim=1), lambda a: TF.softmax(a, dim=1), (X2,), False),
    ("softmax_bf16", lambda a: F.softmax(a, dim=1), lambda a: TF.softmax(a, dim=1), (X2,), True),
    ("log_softmax_bf16", lambda a: F.log_softmax(a, dim=1),
     lambda a: TF.log_softmax(a, dim=1), (X2,), True),
    ("exp_bf16", lambda a: a.exp(), lambda a: a.exp(), (X2,), True),
    ("sum_bf16", lambda a: a.sum(), lambda a: a.sum(), (X2,), True),
    ("relu_f32", F.relu, TF.relu, (X2,), False),
    ("add_mixed", lambda a, b: a + b.to(BF16), lambda a, b: a + b.to(torch.bfloat16),
     (X2, X2), False),
    ("cross_entropy_bf16", lambda a: F.cross_entropy(a, ember.tensor(LABELS)),
     lambda a: TF.cross_entropy(a, torch.tensor(LABELS)), (LOGITS,), True),
    ("nll_loss_bf16", lambda a: F.nll_loss(a, ember.tensor(LABELS)),
     lambda a: TF.nll_loss(a, torch.tensor(LABELS)), (LOGITS,), True),
    ("mse_loss_bf16", F.mse_loss, TF.mse_loss, (X2, X2 * 0.5), True),
    ("l1_loss_bf16", F.l1_loss, TF.l1_loss, (X2, X2 * 0.5), True),
    ("bce_bf16", F.binary_cross_entropy, TF.binary_cross_entropy, (PROB, PROB * 0.5), True),
    ("layer_norm_bf16", lambda a: F.layer_norm(a, (8,)), lambda a: TF.layer_norm(a, (8,)),
     (X2,), True),
    ("concat_mixed", lambda a, b: ember.concat([a, b.to(BF16)]),
     lambda a, b: torch.cat([a, b.to(torch.bfloat16)]), (X2, X2), False),
]


@pytest.mark.parametrize("name,efn,tfn,inputs,as_bf16", CASES, ids=[c[0] for c in CASES])
def test_same_casting_decision_as_torch(name, efn, tfn, inputs, as_bf16):
    e_in = [ember.tensor(a) for a in inputs]
    t_in = [torch.tensor(a) for a in inputs]
    if as_bf16:
        e_in = [t.to(BF16) for t in e_in]
        t_in = [t.to(torch.bfloat16) for t in t_in]
    with ember.amp.autocast("cpu", dtype=BF16):
        got = efn(*e_in)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        want = tfn(*t_in)
    assert got.dtype.name == str(want.dtype).removeprefix("torch."), name
    g = got.float().numpy()
    w = want.float().numpy()
    np.testing.assert_allclose(g, w, rtol=3e-2, atol=3e-2 * max(1.0, np.abs(w).max()))


def test_float64_is_never_cast():
    a = ember.tensor(X2.astype(np.float64))
    with ember.amp.autocast("cpu"):
        assert (a @ a.T).dtype is ember.float64


def test_other_device_type_is_left_alone():
    with ember.amp.autocast("cuda", dtype=ember.float16):  # CPU tensors: untouched
        assert (ember.tensor(X2) @ ember.tensor(W2).T).dtype is ember.float32


def test_nesting_and_disable():
    a, b = ember.tensor(X2), ember.tensor(W2)
    with ember.amp.autocast("cpu"):
        assert ember.amp.is_autocast_enabled("cpu")
        with ember.amp.autocast("cpu", enabled=False):
            assert not ember.amp.is_autocast_enabled("cpu")
            assert (a @ b.T).dtype is ember.float32
        with ember.amp.autocast("cpu", dtype=ember.float16):
            assert (a @ b.T).dtype is ember.float16
        assert (a @ b.T).dtype is BF16
    assert not ember.amp.is_autocast_enabled("cpu")
    assert (a @ b.T).dtype is ember.float32


def test_decorator():
    @ember.amp.autocast("cpu")
    def f(a, b):
        return a @ b.T

    assert f(ember.tensor(X2), ember.tensor(W2)).dtype is BF16
    assert not ember.amp.is_autocast_enabled("cpu")


def test_gradients_reach_float32_master_weights_like_torch():
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 6))
    em = ember.nn.Sequential(ember.nn.Linear(8, 16), ember.nn.ReLU(), ember.nn.Linear(16, 6))
    for (_, tp), (_, ep) in zip(tm.named_parameters(), em.named_parameters()):
        ep.data[...] = tp.detach().numpy()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        tl = TF.cross_entropy(tm(torch.tensor(X2)), torch.tensor(LABELS))
    with ember.amp.autocast("cpu", dtype=BF16):
        el = F.cross_entropy(em(ember.tensor(X2)), ember.tensor(LABELS))
    tl.backward()
    el.backward()
    assert el.dtype is ember.float32
    np.testing.assert_allclose(el.item(), tl.item(), rtol=1e-2)
    for (_, tp), (_, ep) in zip(tm.named_parameters(), em.named_parameters()):
        assert ep.grad.dtype is ember.float32
        tg = tp.grad.numpy()
        np.testing.assert_allclose(ep.grad.numpy(), tg, rtol=5e-2, atol=2e-2 * np.abs(tg).max())


def test_weight_cast_is_cached_and_refreshed_after_update():
    from ember.autograd.dispatch import dispatch_hook

    lin = ember.nn.Linear(8, 6)
    x = ember.tensor(X2)
    casts = []

    def count(op, args, attrs, call):
        if op.name == "astype":
            casts.append(args[0])
        return call(op, args, attrs)

    with ember.amp.autocast("cpu"), dispatch_hook(count):
        lin(x)
        lin(x)
        n_weight = sum(a is lin.weight for a in casts)
        with ember.no_grad():
            lin.weight.mul_(2.0)  # a new version: the cached cast is stale
        y = lin(x)
    assert n_weight == 1
    assert sum(a is lin.weight for a in casts) == 2
    want = X2 @ lin.weight.detach().numpy().T  # the doubled weight, not the stale cast
    np.testing.assert_allclose(y.detach().float().numpy(), want + lin.bias.detach().numpy(),
                               rtol=3e-2, atol=5e-2)


def test_bad_arguments():
    with pytest.raises(ValueError, match="device_type must be 'cuda' or 'cpu'"):
        ember.amp.autocast("tpu")
    with pytest.raises(TypeError, match="float16 or ember.bfloat16, got float32"):
        ember.amp.autocast("cpu", dtype=ember.float32)
