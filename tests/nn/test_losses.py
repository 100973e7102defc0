"""Losses against PyTorch for every option (functional and module forms), gradchecks of the
fused primitives, and the bad-input errors."""

from __future__ import annotations

import itertools
from functools import partial

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import ember
import ember.nn.functional as F
from ember import nn
from ember.autograd import gradcheck, gradgradcheck

R = np.random.default_rng(3)
REDUCTIONS = ["none", "mean", "sum"]


def _check(e_fn, t_fn, floats, ints=(), dtype="float64", grad_idx=None):
    """Compare forward and the gradients of every float input."""
    e_in = [ember.tensor(a.astype(dtype), requires_grad=True) for a in floats]
    t_in = [torch.tensor(a.astype(dtype), requires_grad=True) for a in floats]
    e_out = e_fn(*e_in, *[ember.tensor(i) for i in ints])
    t_out = t_fn(*t_in, *[torch.tensor(i) for i in ints])
    rtol = 1e-10 if dtype == "float64" else 1e-5
    scale = max(1.0, float(t_out.detach().abs().max()))
    np.testing.assert_allclose(e_out.detach().numpy(), t_out.detach().numpy(), rtol=rtol,
                               atol=rtol * scale)
    g = R.standard_normal(t_out.shape).astype(dtype)
    e_out.backward(ember.tensor(g))
    t_out.backward(torch.tensor(g))
    for k, (a, b) in enumerate(zip(e_in, t_in)):
        if grad_idx is not None and k not in grad_idx:
            continue
        scale = max(1.0, float(b.grad.abs().max()))
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=rtol, atol=rtol * scale,
                                   err_msg=f"gradient of input {k}")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_regression_losses(reduction, dtype):
    x, y = R.standard_normal((4, 5)) * 2, R.standard_normal((4, 5))
    y[0, 0] = x[0, 0]  # a zero difference (the kink of l1)
    for e, t in [(F.mse_loss, TF.mse_loss), (F.l1_loss, TF.l1_loss)]:
        _check(partial(e, reduction=reduction), partial(t, reduction=reduction), [x, y],
               dtype=dtype)
    for beta in [0.0, 0.5, 1.0, 3.0]:
        _check(partial(F.smooth_l1_loss, reduction=reduction, beta=beta),
               partial(TF.smooth_l1_loss, reduction=reduction, beta=beta), [x, y], dtype=dtype)
    for delta in [0.5, 1.0, 2.5]:
        _check(partial(F.huber_loss, reduction=reduction, delta=delta),
               partial(TF.huber_loss, reduction=reduction, delta=delta), [x, y], dtype=dtype)


CE_OPTIONS = list(itertools.product(REDUCTIONS, [0.0, 0.25], [False, True], [False, True]))


@pytest.mark.parametrize("reduction,smoothing,weighted,ignore", CE_OPTIONS)
def test_cross_entropy_class_indices(reduction, smoothing, weighted, ignore):
    logits = R.standard_normal((7, 5)) * 3
    target = R.integers(0, 5, 7)
    if ignore:
        target[[1, 4]] = 2
    w = R.random(5) + 0.2 if weighted else None
    kw = dict(reduction=reduction, label_smoothing=smoothing, ignore_index=2 if ignore else -100)
    _check(lambda x, t: F.cross_entropy(x, t, None if w is None else ember.tensor(w), **kw),
           lambda x, t: TF.cross_entropy(x, t, None if w is None else torch.tensor(w), **kw),
           [logits], [target])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_extra_dims_and_unbatched(reduction, dtype):
    logits = R.standard_normal((2, 4, 3, 5))
    target = R.integers(0, 4, (2, 3, 5))
    target[0, 1, 2] = -100
    w = R.random(4) + 0.5
    kw = dict(reduction=reduction, label_smoothing=0.1)
    _check(lambda x, t: F.cross_entropy(x, t, ember.tensor(w.astype(dtype)), **kw),
           lambda x, t: TF.cross_entropy(x, t, torch.tensor(w.astype(dtype)), **kw),
           [logits], [target], dtype=dtype)
    _check(lambda x, t: F.cross_entropy(x, t, reduction=reduction),
           lambda x, t: TF.cross_entropy(x, t, reduction=reduction),
           [R.standard_normal(6)], [np.array(4)], dtype=dtype)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_probabilities(reduction, smoothing, weighted):
    logits = R.standard_normal((3, 4, 2))
    probs = R.random((3, 4, 2))
    probs /= probs.sum(1, keepdims=True)
    w = R.random(4) + 0.5 if weighted else None
    kw = dict(reduction=reduction, label_smoothing=smoothing)
    _check(lambda x, p: F.cross_entropy(x, p, None if w is None else ember.tensor(w), **kw),
           lambda x, p: TF.cross_entropy(x, p, None if w is None else torch.tensor(w), **kw),
           [logits, probs])


def test_cross_entropy_is_stable_for_huge_logits():
    x = ember.tensor([[1e4, 0.0, -1e4], [0.0, 0.0, 0.0]], requires_grad=True)
    loss = F.cross_entropy(x, ember.tensor([1, 2]))
    loss.backward()
    t = torch.tensor(x.detach().numpy(), requires_grad=True)
    TF.cross_entropy(t, torch.tensor([1, 2])).backward()
    np.testing.assert_allclose(loss.item(), 5000.0 + np.log(3) / 2, rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_cross_entropy_all_ignored_gives_nan_like_torch():
    out = F.cross_entropy(ember.randn(3, 4), ember.tensor([-100, -100, -100]))
    assert np.isnan(out.item())


@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_gradcheck_and_double_backward(weighted):
    x = ember.tensor(R.standard_normal((4, 3, 2)), requires_grad=True)
    t = ember.tensor(np.array([[0, 2], [1, -100], [2, 2], [0, 1]]))
    w = ember.tensor(R.random(3) + 0.5) if weighted else None
    fn = lambda x: F.cross_entropy(x, t, w, label_smoothing=0.2)  # noqa: E731
    assert gradcheck(fn, [x])
    assert gradgradcheck(fn, [x])
    probs = ember.tensor(np.ascontiguousarray(R.dirichlet(np.ones(3), (4, 2)).transpose(0, 2, 1)),
                         requires_grad=True)
    fn = lambda x, p: F.cross_entropy(x, p, w, reduction="none")  # noqa: E731
    assert gradcheck(fn, [x, probs])
    assert gradgradcheck(fn, [x, probs])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss(reduction):
    logp = np.ascontiguousarray(np.log(R.dirichlet(np.ones(5), (6, 3)).transpose(0, 2, 1)))
    target = R.integers(0, 5, (6, 3))
    target[2, 1] = 1
    w = R.random(5) + 0.3
    for weight, ignore in [(None, -100), (w, 1)]:
        kw = dict(reduction=reduction, ignore_index=ignore)
        _check(partial(F.nll_loss, weight=None if weight is None else ember.tensor(weight), **kw),
               partial(TF.nll_loss, weight=None if weight is None else torch.tensor(weight),
                       **kw), [logp], [target])
    x = ember.tensor(logp, requires_grad=True)
    assert gradcheck(lambda x: F.nll_loss(x, ember.tensor(target), ember.tensor(w),
                                          reduction=reduction), [x])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy(reduction):
    p = R.uniform(0.02, 0.98, (4, 3))
    p[0, 0], p[0, 1] = 0.0, 1.0  # log clamped at -100, as PyTorch
    y = R.random((4, 3))
    w = R.random((4, 3))
    # at p = 0 or 1 PyTorch's target gradient is inf (unclamped logs); ember's is the
    # derivative of the clamped loss it computes, so only the input gradient is compared there
    _check(lambda a, b: F.binary_cross_entropy(a, b, ember.tensor(w), reduction=reduction),
           lambda a, b: TF.binary_cross_entropy(a, b, torch.tensor(w), reduction=reduction),
           [p, y], grad_idx=[0])
    _check(lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction),
           lambda a, b: TF.binary_cross_entropy(a, b, reduction=reduction),
           [p[1:], y[1:]])
    args = [ember.tensor(p[1:], requires_grad=True), ember.tensor(y[1:], requires_grad=True)]
    assert gradcheck(lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction), args)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_with_logits(reduction):
    x = R.standard_normal((5, 3)) * 4
    x[0, 0], x[0, 1] = 80.0, -80.0  # stable far into the tails
    y = R.random((5, 3))
    w = R.random((5, 3))
    pw = R.random(3) * 3
    for weight, pos in [(None, None), (w, None), (None, pw), (w, pw)]:
        _check(partial(F.binary_cross_entropy_with_logits, reduction=reduction,
                       weight=None if weight is None else ember.tensor(weight),
                       pos_weight=None if pos is None else ember.tensor(pos)),
               partial(TF.binary_cross_entropy_with_logits, reduction=reduction,
                       weight=None if weight is None else torch.tensor(weight),
                       pos_weight=None if pos is None else torch.tensor(pos)), [x, y])


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")  # PyTorch's kl_div notice
@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction, log_target):
    logp = np.log(R.dirichlet(np.ones(4), 3))
    q = R.dirichlet(np.ones(4), 3)
    target = np.log(q) if log_target else q
    _check(lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=log_target),
           lambda a, b: TF.kl_div(a, b, reduction=reduction, log_target=log_target),
           [logp, target])
    if not log_target:  # 0 * log 0 = 0 (PyTorch's target gradient there is NaN: not compared)
        q[0, 1] = 0.0
        _check(lambda a, b: F.kl_div(a, b, reduction=reduction),
               lambda a, b: TF.kl_div(a, b, reduction=reduction), [logp, q], grad_idx=[0])


def test_loss_modules_match_functional():
    x = ember.randn(4, 3)
    y = ember.rand(4, 3)
    t = ember.tensor([0, 2, 1, 2])
    w = ember.tensor([0.2, 1.0, 3.0])
    pairs = [
        (nn.MSELoss(reduction="sum"), F.mse_loss(x, y, "sum"), (x, y)),
        (nn.L1Loss(), F.l1_loss(x, y), (x, y)),
        (nn.SmoothL1Loss(beta=0.5), F.smooth_l1_loss(x, y, beta=0.5), (x, y)),
        (nn.HuberLoss(delta=0.3), F.huber_loss(x, y, delta=0.3), (x, y)),
        (nn.CrossEntropyLoss(weight=w, label_smoothing=0.1, ignore_index=1),
         F.cross_entropy(x, t, w, ignore_index=1, label_smoothing=0.1), (x, t)),
        (nn.NLLLoss(weight=w), F.nll_loss(F.log_softmax(x, 1), t, w),
         (F.log_softmax(x, 1), t)),
        (nn.BCELoss(weight=y), F.binary_cross_entropy(y, y * 0.5, y), (y, y * 0.5)),
        (nn.BCEWithLogitsLoss(pos_weight=w), F.binary_cross_entropy_with_logits(
            x, y, pos_weight=w), (x, y)),
        (nn.KLDivLoss(reduction="batchmean"), F.kl_div(F.log_softmax(x, 1), y,
                                                       reduction="batchmean"),
         (F.log_softmax(x, 1), y)),
    ]
    for module, expected, args in pairs:
        np.testing.assert_allclose(module(*args).numpy(), expected.numpy(), rtol=1e-6)
    assert repr(nn.CrossEntropyLoss()) == "CrossEntropyLoss()"
    assert list(nn.CrossEntropyLoss(weight=w).state_dict()) == ["weight"]


# ----------------------------------------------------------------------------- errors


def test_cross_entropy_label_out_of_range_names_label_and_classes():
    x = ember.randn(3, 5)
    with pytest.raises(IndexError, match=r"target 7 is out of bounds: class labels must lie "
                       r"in \[0, 5\)"):
        F.cross_entropy(x, ember.tensor([0, 7, 1]))
    with pytest.raises(IndexError, match=r"target -3 is out of bounds"):
        F.cross_entropy(x, ember.tensor([0, -3, 1]))
    with pytest.raises(IndexError, match=r"target 5 is out of bounds.*\[0, 5\)"):
        nn.CrossEntropyLoss()(x, ember.tensor([5, 0, 0]))
    with pytest.raises(IndexError, match=r"target 9 is out of bounds"):
        F.nll_loss(x, ember.tensor([9, 0, 0]))


def test_cross_entropy_bad_targets():
    x = ember.randn(3, 5)
    with pytest.raises(ember.errors.ShapeError, match="floating-point target holds class "
                       r"probabilities and must have the input's shape.*\(3, 5\).*\(3,\)"):
        F.cross_entropy(x, ember.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(ember.errors.DTypeError, match="class-index targets must be integers, "
                       "got bool"):
        F.cross_entropy(x, ember.tensor([True, False, True]))
    with pytest.raises(ember.errors.ShapeError, match=r"class indices must have shape \(3,\), "
                       r"got \(3, 1\)"):
        F.cross_entropy(x, ember.tensor([[0], [1], [2]]))
    with pytest.raises(ember.errors.ShapeError, match=r"weight must have one entry per class "
                       r"\(5,\)"):
        F.cross_entropy(x, ember.tensor([0, 1, 2]), weight=ember.ones(4))
    with pytest.raises(ValueError, match="reduction must be one of 'none', 'mean', 'sum', got "
                       "'avg'"):
        F.cross_entropy(x, ember.tensor([0, 1, 2]), reduction="avg")
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\]"):
        F.cross_entropy(x, ember.tensor([0, 1, 2]), label_smoothing=1.5)
    with pytest.raises(ember.errors.DTypeError, match="cross_entropy: expected a floating-point "
                       "input, got int64"):
        F.cross_entropy(ember.tensor([[1, 2]]), ember.tensor([0]))


def test_other_loss_errors():
    with pytest.raises(ember.errors.ShapeError, match="mse_loss: input and target must have the "
                       r"same shape \(inputs: shape \(3,\) float32, shape \(4,\) float32\)"):
        F.mse_loss(ember.ones(3), ember.ones(4))
    with pytest.raises(ValueError, match="binary_cross_entropy: all elements of input should be "
                       "probabilities between 0 and 1"):
        F.binary_cross_entropy(ember.tensor([0.5, 1.5]), ember.tensor([1.0, 0.0]))
    with pytest.raises(ember.errors.DomainError, match="binary_cross_entropy: all elements"):
        F.binary_cross_entropy(ember.tensor([-0.5]), ember.tensor([1.0]))
    with pytest.raises(ValueError, match="kl_div: reduction must be one of"):
        F.kl_div(ember.ones(2), ember.ones(2), reduction="avg")
    with pytest.raises(ValueError, match="size_average and reduce are deprecated"):
        nn.MSELoss(size_average=True)


def test_binary_cross_entropy_compiles_and_checks_every_step():
    # the [0, 1] check runs on the arrays in the op's forward: ember.jit traces BCELoss (it
    # used to read the values while tracing) and the compiled graph still refuses bad input
    ember.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 1), nn.Sigmoid())
    loss_fn = nn.BCELoss()
    y = ember.tensor([0.0, 1.0, 1.0, 0.0])

    def loss(x, scale):
        return loss_fn(model(x).squeeze(1) * scale, y)

    compiled = ember.jit(loss)
    x = ember.randn(4, 3)
    one = ember.tensor(1.0)
    assert compiled(x, one).item() == pytest.approx(loss(x, one).item(), rel=1e-6)
    with pytest.raises(ember.errors.DomainError, match="between 0 and 1"):
        compiled(x, ember.tensor(3.0))  # sigmoid * 3 leaves [0, 1]
