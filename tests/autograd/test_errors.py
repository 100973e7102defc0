"""Misuse of autograd and tensors raises errors that say what happened and what to do."""

import pytest

import ember
from ember.errors import AutogradError, DTypeError, EmberIndexError, ShapeError


def test_backward_on_non_scalar_without_gradient():
    x = ember.ones(2, 3, requires_grad=True)
    with pytest.raises(AutogradError, match=r"shape \(2, 3\).*gradient=.*sum\(\)\.backward"):
        (x * 2).backward()


def test_backward_gradient_of_wrong_shape():
    x = ember.ones(2, requires_grad=True)
    with pytest.raises(AutogradError, match=r"gradient for output 0 has shape \(3,\)"):
        (x * 2).backward(ember.ones(3))


def test_backward_twice_without_retain_graph():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward()
    with pytest.raises(AutogradError, match="second time.*retain_graph=True"):
        y.backward()


def test_backward_twice_with_retain_graph_accumulates():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.tolist() == [4.0, 8.0]


def test_backward_through_an_integer_result():
    x = ember.tensor([1.0, 3.0, 2.0], requires_grad=True)
    idx = (x * 2).argmax()
    assert not idx.requires_grad
    with pytest.raises(AutogradError, match="does not require grad.*integer op"):
        idx.backward()


def test_requires_grad_on_integer_tensor():
    with pytest.raises(AutogradError, match="only floating-point.*int64"):
        ember.tensor([1, 2], requires_grad=True)


def test_inplace_change_of_a_saved_tensor_is_detected():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1
    y = (h * h).sum()  # mul saves h
    h += 1
    with pytest.raises(AutogradError, match=r"modified in place.*version 1.*version 0"):
        y.backward()


def test_inplace_change_of_a_saved_output_is_detected():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()  # exp's gradient needs its output
    z = y.sum()
    with ember.no_grad():
        y.mul_(2)
    with pytest.raises(AutogradError, match="output of exp.*modified in place"):
        z.backward()


def test_inplace_on_leaf_that_requires_grad():
    x = ember.ones(3, requires_grad=True)
    with pytest.raises(AutogradError, match=r"leaf tensor.*no_grad"):
        x += 1
    with pytest.raises(AutogradError, match="leaf tensor"):
        x[0] = 5.0
    with ember.no_grad():
        x += 1  # allowed: an optimiser update
    assert x.tolist() == [2.0, 2.0, 2.0]


def test_inplace_on_view_of_graph_tensor_is_refused():
    x = ember.ones(2, 2, requires_grad=True)
    h = x * 2
    v = h[0]
    with pytest.raises(AutogradError, match="view of a tensor"):
        v.mul_(3)


def test_inplace_ops_record_correct_gradients():
    import torch

    xe = ember.tensor([0.5, -1.0, 2.0], dtype=ember.float64, requires_grad=True)
    xt = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
    for x in (xe, xt):
        h = x * 2
        h.mul_(x)
        h += 1
        h[1] = x[0] * 3
        h.exp_()
        h.sum().backward()
    assert xe.grad.tolist() == pytest.approx(xt.grad.tolist(), rel=1e-12)


def test_item_on_many_elements():
    with pytest.raises(ValueError,
                       match=r"item: only a one-element tensor.*3 elements.*shape \(3,\)"):
        ember.ones(3).item()


def test_index_out_of_range():
    x = ember.ones(2, 3)
    with pytest.raises(EmberIndexError, match="get_item.*out of bounds.*shape \\(2, 3\\)"):
        x[5]
    with pytest.raises(IndexError):
        x[ember.tensor([0, 7])]


def test_unknown_dtype():
    with pytest.raises(DTypeError, match="unknown dtype 'float99'.*float32"):
        ember.zeros(2, dtype="float99")
    with pytest.raises(TypeError):
        ember.ones(2).to("complex7")


def test_shapes_that_do_not_broadcast():
    with pytest.raises(ShapeError, match=r"add:.*\(2, 3\).*\(4,\).*broadcast"):
        ember.ones(2, 3) + ember.ones(4)


def test_matmul_inner_dimension_mismatch():
    with pytest.raises(ShapeError, match=r"matmul: inner dimensions differ: \(2, 3\) @ \(4, 5\)"):
        ember.ones(2, 3) @ ember.ones(4, 5)


def test_numpy_on_tensor_that_requires_grad():
    x = ember.ones(2, requires_grad=True)
    with pytest.raises(AutogradError, match="detach"):
        x.numpy()
    assert x.detach().numpy().tolist() == [1.0, 1.0]


def test_truth_value_of_many_elements():
    with pytest.raises(ValueError, match="ambiguous.*any"):
        bool(ember.ones(2))
