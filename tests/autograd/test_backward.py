"""Autograd semantics against PyTorch: accumulation, hooks, retain_grad, modes, grad()."""

import gc
import weakref

import numpy as np
import pytest
import torch

import ember
from ember.errors import AutogradError


def both(arr, requires_grad=True):
    return (ember.tensor(arr, dtype=ember.float64, requires_grad=requires_grad),
            torch.tensor(arr, dtype=torch.float64, requires_grad=requires_grad))


def test_grad_accumulates_across_backward_calls_like_torch():
    e, t = both([1.0, -2.0, 3.0])
    for _ in range(3):
        (e * e).sum().backward()
        (t * t).sum().backward()
    np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy())


def test_shared_subexpression_and_broadcast_gradients():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 1)), rng.standard_normal((4,))
    ea, ta = both(a)
    eb, tb = both(b)
    fe = ea * eb
    ft = ta * tb
    ((fe * fe).sum() + (fe.exp() * eb).mean()).backward()
    ((ft * ft).sum() + (ft.exp() * tb).mean()).backward()
    np.testing.assert_allclose(ea.grad.numpy(), ta.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(eb.grad.numpy(), tb.grad.numpy(), rtol=1e-12)


def test_backward_with_explicit_gradient():
    e, t = both([[1.0, 2.0], [3.0, 4.0]])
    g = [[0.5, -1.0], [2.0, 0.0]]
    (e.sin()).backward(ember.tensor(g, dtype=ember.float64))
    (t.sin()).backward(torch.tensor(g, dtype=torch.float64))
    np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy())


def test_leaf_grads_do_not_alias_each_other():
    a = ember.ones(3, requires_grad=True)
    b = ember.ones(3, requires_grad=True)
    (a + b).sum().backward()
    a.grad.data *= 10  # like clip_grad_norm_ scaling one gradient in place
    np.testing.assert_array_equal(b.grad.numpy(), np.ones(3))


def test_grad_of_grad_matches_torch():
    e, t = both([0.3, -1.2, 2.0])
    (ge,) = ember.autograd.grad((e.tanh() * e.exp()).sum(), e, create_graph=True)
    (gt,) = torch.autograd.grad((t.tanh() * t.exp()).sum(), t, create_graph=True)
    np.testing.assert_allclose(ge.detach().numpy(), gt.detach().numpy(), rtol=1e-12)
    (gge,) = ember.autograd.grad((ge * ge).sum(), e)
    (ggt,) = torch.autograd.grad((gt * gt).sum(), t)
    np.testing.assert_allclose(gge.numpy(), ggt.numpy(), rtol=1e-10)


def test_backward_create_graph_then_second_backward():
    e, t = both([1.5])
    ye, yt = e**3, t**3
    ye.backward(create_graph=True)
    yt.backward(create_graph=True)
    ge, gt = e.grad, t.grad
    e.grad = None
    t.grad = None
    ge.backward()
    gt.backward()
    np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy())  # 6x = 9


def test_grad_with_respect_to_intermediate_and_allow_unused():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    unused = ember.tensor([5.0], requires_grad=True)
    h = x * 3
    y = (h * h).sum()
    gh, gx, gu = ember.autograd.grad(y, [h, x, unused], allow_unused=True)
    np.testing.assert_allclose(gh.numpy(), 2 * h.detach().numpy())
    np.testing.assert_allclose(gx.numpy(), 18 * x.detach().numpy())
    assert gu is None
    assert x.grad is None  # grad() returns, it does not accumulate
    y2 = (x * 2).sum()
    with pytest.raises(AutogradError, match="not used"):
        ember.autograd.grad(y2, [unused])


def test_backward_inputs_restricts_accumulation():
    a = ember.tensor([1.0], requires_grad=True)
    b = ember.tensor([2.0], requires_grad=True)
    (a * b).sum().backward(inputs=[a])
    assert a.grad.item() == 2.0 and b.grad is None


def test_hooks_modify_gradients_like_torch():
    e, t = both([1.0, 2.0])
    he, ht = e * 2, t * 2
    he.register_hook(lambda g: g * 10)
    ht.register_hook(lambda g: g * 10)
    e.register_hook(lambda g: g + 1)
    t.register_hook(lambda g: g + 1)
    (he * he).sum().backward()
    (ht * ht).sum().backward()
    np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy())


def test_hook_handle_remove():
    x = ember.tensor([1.0], requires_grad=True)
    calls = []
    h = x.register_hook(lambda g: calls.append(1))
    (x * 2).sum().backward()
    h.remove()
    (x * 2).sum().backward()
    assert calls == [1]


def test_retain_grad_keeps_nonleaf_grad():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    h = x * x
    h.retain_grad()
    h.sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), [1.0, 1.0])
    assert x.detach().is_leaf and h.grad_fn is not None


def test_no_grad_enable_grad_inference_mode():
    x = ember.ones(2, requires_grad=True)
    with ember.no_grad():
        y = x * 2
        with ember.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.is_leaf
    assert z.requires_grad
    with ember.inference_mode():
        assert not (x * 2).requires_grad
    with ember.set_grad_enabled(False):
        assert not ember.is_grad_enabled()
    assert ember.is_grad_enabled()

    @ember.no_grad()
    def f(t):
        return t * 3

    assert not f(x).requires_grad


def test_detach_shares_data_and_cuts_graph():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    d = (x * 2).detach()
    assert not d.requires_grad and d.is_leaf
    y = x * 2
    yd = y.detach()
    yd.data[0] = 100.0
    assert y.data[0] == 100.0


def test_custom_function_first_and_second_order():
    class Cube(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x * x

    x = ember.tensor([2.0, -1.0], dtype=ember.float64, requires_grad=True)
    y = Cube.apply(x)
    assert y.requires_grad
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [12.0, 3.0])
    assert ember.autograd.gradcheck(lambda t: Cube.apply(t).sum(), (x,))


def test_gradcheck_detects_a_wrong_vjp():
    class Wrong(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 3

    x = ember.tensor([1.0, 2.0], dtype=ember.float64, requires_grad=True)
    with pytest.raises(AutogradError, match="Jacobian mismatch"):
        ember.autograd.gradcheck(lambda t: Wrong.apply(t), (x,))
    assert not ember.autograd.gradcheck(lambda t: Wrong.apply(t), (x,), raise_exception=False)


def test_gradcheck_refuses_float32():
    x = ember.tensor([1.0], requires_grad=True)
    with pytest.raises(AutogradError, match="float64"):
        ember.autograd.gradcheck(lambda t: t * 2, (x,))


def test_detect_anomaly_names_the_forward_op():
    x = ember.tensor([0.0, 1.0], requires_grad=True)
    with ember.autograd.detect_anomaly():
        y = (ember.sqrt(x) * 0.0).sum()
        with pytest.raises(AutogradError, match="sqrt") as info:
            y.backward()
    assert "test_backward.py" in str(info.value)  # the forward call site is shown


def test_graph_is_freed_after_backward_without_cycles():
    gc.disable()
    try:
        x = ember.randn(50, requires_grad=True)
        y = (x.exp() * 2).sin()
        ref = weakref.ref(y.grad_fn)
        out_ref = weakref.ref(y)
        y.sum().backward()
        del y
        assert out_ref() is None and ref() is None  # freed by reference counting alone
    finally:
        gc.enable()


def test_dynamic_graph_python_control_flow():
    # the network changes with the data: a loop whose length depends on a value
    w = ember.tensor(0.5, dtype=ember.float64, requires_grad=True)
    wt = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    for n in (1, 3, 5):
        ye, yt = ember.tensor(1.0, dtype=ember.float64), torch.tensor(1.0, dtype=torch.float64)
        for _ in range(n):
            ye = ye * w + 1 if ye.item() < 5 else ye * w
            yt = yt * wt + 1 if yt.item() < 5 else yt * wt
        ye.backward()
        yt.backward()
    np.testing.assert_allclose(w.grad.item(), wt.grad.item(), rtol=1e-12)
