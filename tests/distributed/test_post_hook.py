"""Tensor.register_post_accumulate_grad_hook: fires once per backward, after the last gradient."""

import numpy as np
import pytest

import ember
from ember.errors import AutogradError


def test_fires_once_after_all_uses_accumulated():
    w = ember.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.numpy().copy()))
    ((w * w).sum() + (w * 3.0).sum() + w.exp().sum()).backward()
    assert len(seen) == 1
    np.testing.assert_allclose(seen[0], 2 * np.array([1.0, 2.0]) + 3 + np.exp([1.0, 2.0]))


def test_sees_accumulation_over_backwards_and_removal():
    w = ember.tensor([1.0], requires_grad=True)
    seen = []
    h = w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.item()))
    (w * 2.0).sum().backward()
    (w * 5.0).sum().backward()
    assert seen == [2.0, 7.0]
    h.remove()
    (w * 1.0).sum().backward()
    assert seen == [2.0, 7.0]
    h.remove()  # a second remove is harmless


def test_order_follows_backward_and_leaf_root():
    a = ember.tensor([1.0], requires_grad=True)
    b = ember.tensor([1.0], requires_grad=True)
    order = []
    a.register_post_accumulate_grad_hook(lambda t: order.append("a"))
    b.register_post_accumulate_grad_hook(lambda t: order.append("b"))
    ((a * 2.0).exp() * b).sum().backward()
    assert sorted(order) == ["a", "b"] and len(order) == 2
    order.clear()
    a.backward(ember.tensor([1.0]))  # the leaf itself as root
    assert order == ["a"]


def test_fires_when_one_branch_gives_no_gradient():
    w = ember.tensor([2.0], requires_grad=True)
    seen = []
    w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.item()))
    y = (w * 3.0).sum() + (w.detach() * w).sum() * 0.0 + ember.floor(w).sum()
    y.backward()
    assert seen == [3.0 + 2.0 * 0.0]


def test_not_called_by_autograd_grad_and_refused_on_non_leaf():
    w = ember.tensor([1.0], requires_grad=True)
    seen = []
    w.register_post_accumulate_grad_hook(seen.append)
    (g,) = ember.autograd.grad((w * 4.0).sum(), [w])
    assert g.item() == 4.0 and seen == []
    with pytest.raises(AutogradError, match="only leaf tensors"):
        (w * 2.0).register_post_accumulate_grad_hook(print)
    with pytest.raises(AutogradError, match="only leaf tensors"):
        ember.zeros(2).register_post_accumulate_grad_hook(print)
