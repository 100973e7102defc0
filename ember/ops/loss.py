"""Loss functions: regression losses, fused cross-entropy, NLL, binary cross-entropy, KL.

Example:
    >>> import ember
    >>> import ember.nn.functional as F
    >>> round(F.cross_entropy(ember.tensor([[1.0, 2.0, 3.0]]), ember.tensor([2])).item(), 4)
    0.4076
"""

from __future__ import annotations

import math

import numpy as np

from .. import dtypes as _dt
from ..autograd.grad_mode import state
from ..autograd.node import apply
from ..errors import DomainError, DTypeError, ShapeError, op_error
from ..tensor import Tensor
from . import elementwise as ew
from . import reduce as rd
from . import shape as sh
from ._nn_common import (  # noqa: F401
    _INV_SQRT_2PI,
    _SQRT1_2,
    _SQRT_2_PI,
    _check_float,
    _check_same_dtype,
    _sigmoid,
)
from .activation import Softplus
from .registry import Op, io_bytes, numel, register, scaled_cost

__all__ = [
    "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "cross_entropy", "nll_loss",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div",
]


# ----------------------------------------------------------------------------- losses

_REDUCTIONS = ("none", "mean", "sum")


def _reduction(reduction: str, op: str, allowed=_REDUCTIONS) -> str:
    if reduction not in allowed:
        raise ValueError(f"{op}: reduction must be one of {', '.join(map(repr, allowed))}, "
                         f"got {reduction!r}")
    return reduction


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return rd.mean(loss)
    if reduction == "sum":
        return rd.sum(loss)
    return loss


def _pair(input, target, op: str):
    _check_float(input, op)
    if not isinstance(target, Tensor):
        raise TypeError(f"{op}: expected an ember Tensor target, got {type(target).__name__}")
    if state.dispatch is not None:  # autocast may ask for float32 losses (ember.amp)
        from ..amp.autocast_mode import fp32_inputs

        input, target = fp32_inputs(input, target)
    if tuple(input.shape) != tuple(target.shape):
        raise op_error(ShapeError, op, "input and target must have the same shape",
                       args=[input, target], hint="reshape the target to the input's shape")
    if target.data.dtype != input.data.dtype:
        target = target.to(input.dtype)
    return input, target


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Squared error ``(input - target) ** 2``, reduced.

    Example:
        >>> import ember
        >>> ember.nn.functional.mse_loss(ember.tensor([1.0, 2.0]), ember.tensor([1.0, 4.0]))
        tensor(2.)
    """
    _reduction(reduction, "mse_loss")
    input, target = _pair(input, target, "mse_loss")
    d = input - target
    return _reduce(d * d, reduction)


def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Absolute error ``|input - target|``, reduced."""
    _reduction(reduction, "l1_loss")
    input, target = _pair(input, target, "l1_loss")
    return _reduce(ew.abs(input - target), reduction)


def smooth_l1_loss(input: Tensor, target: Tensor, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """``0.5 d**2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta`` (d = input - target)."""
    _reduction(reduction, "smooth_l1_loss")
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    input, target = _pair(input, target, "smooth_l1_loss")
    d = input - target
    a = ew.abs(d)
    if beta == 0:
        return _reduce(a, reduction)
    return _reduce(ew.where(a < beta, d * d * (0.5 / beta), a - 0.5 * beta), reduction)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean",
               delta: float = 1.0) -> Tensor:
    """``0.5 d**2`` where ``|d| <= delta``, else ``delta (|d| - 0.5 delta)``."""
    _reduction(reduction, "huber_loss")
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    input, target = _pair(input, target, "huber_loss")
    d = input - target
    a = ew.abs(d)
    return _reduce(ew.where(a < delta, d * d * 0.5, (a - 0.5 * delta) * delta), reduction)


def _class_coefficients(F, x, target, weight, ignore_index, smoothing, dname):
    """Per-element class coefficients ``coef`` (N, C, *) and their sums over C, for indices.

    The loss of sample i is ``-sum_c coef[i, c] * log_softmax(x)[i, c]``.
    """
    nd = len(x.shape)
    c = x.shape[1]
    keep = target != ignore_index
    t = F.where(keep, target, 0)
    onehot = F.astype(F.one_hot(t, num_classes=c), dtype=dname)
    if nd > 2:
        onehot = F.permute(onehot, axes=(0, nd - 1) + tuple(range(1, nd - 1)))
    kshape = (target.shape[0], 1) + tuple(target.shape[1:])
    keep_k = F.reshape(F.astype(keep, dtype=dname), shape=kshape)
    if weight is None:
        coef = (onehot * (1.0 - smoothing) + smoothing / c) * keep_k if smoothing \
            else onehot * keep_k
        return coef, keep_k, F.sum(keep_k, axis=None, keepdims=False)
    w_k = F.reshape(weight, shape=(1, c) + (1,) * (nd - 2))
    picked = onehot * w_k
    wt = F.sum(picked, axis=(1,), keepdims=True) * keep_k
    coef = picked * keep_k
    csum = wt
    if smoothing:
        coef = coef * (1.0 - smoothing) + (w_k * (smoothing / c)) * keep_k
        csum = wt * (1.0 - smoothing) + F.sum(weight, axis=None, keepdims=False) * (
            smoothing / c) * keep_k
    return coef, csum, F.sum(wt, axis=None, keepdims=False)


def _class_targets(xp, x, target, weight, ignore_index, check=True):
    """Safe class indices, the mask of counted targets (None: all count) and the weight of
    each sample's target class (None: all 1); raises for labels outside [0, C)."""
    c = x.shape[1]
    keep = target != ignore_index
    if keep.all():
        keep, t = None, target
    else:
        t = xp.where(keep, target, 0)
    if check and t.size and (t.min() < 0 or t.max() >= c):
        bad = t[(t < 0) | (t >= c)].reshape(-1)[0]
        raise IndexError(f"target {int(bad)} is out of bounds: class labels must lie in "
                         f"[0, {c}) or equal ignore_index ({ignore_index})")
    if weight is None:
        wt = None if keep is None else keep.astype(x.dtype)
    else:
        wt = xp.take(weight, t) if keep is None else xp.take(weight, t) * keep
    return t, keep, wt


def _ce_scale(F, gl, x, reduction, denom):
    """The loss cotangent per sample, broadcastable against (N, C, *)."""
    if reduction == "none":
        return F.reshape(gl, shape=(x.shape[0], 1) + tuple(x.shape[2:]))
    return gl / denom if reduction == "mean" else gl


def _ce_prob_coefficients(F, x, target, weight, smoothing):
    """``coef`` = the smoothed, weighted target distribution, its sums over C, the count."""
    c = x.shape[1]
    coef = target * (1.0 - smoothing) + smoothing / c if smoothing else target
    if weight is not None:
        coef = coef * F.reshape(weight, shape=(1, c) + (1,) * (len(x.shape) - 2))
    return coef, F.sum(coef, axis=(1,), keepdims=True), math.prod(x.shape) // c


@register
class CrossEntropy(Op):
    """Fused log-softmax over axis 1 and negative log-likelihood; outputs (loss, logsumexp).

    ``probs``: the target holds class probabilities of x's shape; otherwise class indices
    of shape (N, *). Label smoothing mixes the target with the uniform distribution.
    """

    n_outputs = 2
    needs_output = True

    cost = scaled_cost(6)  # log-softmax (5), pick and sum

    def forward(xp, x, target, weight, ignore_index, smoothing, reduction, probs):
        c = x.shape[1]
        m = x.max(axis=1, keepdims=True)
        shifted = x - m
        lse = xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
        lse0 = lse[:, 0]
        w_k = None if weight is None else weight.reshape((1, c) + (1,) * (x.ndim - 2))
        if probs:
            q = target * (1.0 - smoothing) + smoothing / c if smoothing else target
            if w_k is not None:
                q = q * w_k
            loss = lse0 * q.sum(axis=1) - (q * shifted).sum(axis=1)
            denom = x.size // c
        else:
            t, keep, wt = _class_targets(xp, x, target, weight, ignore_index)
            loss = lse0 - xp.take_along_axis(shifted, t[:, None], axis=1)[:, 0]
            if wt is not None:
                loss *= wt
            if smoothing:
                smooth = lse0 * (c if weight is None else weight.sum()) - (
                    shifted.sum(axis=1) if w_k is None else (shifted * w_k).sum(axis=1))
                if keep is not None:
                    smooth *= keep
                loss = loss * (1.0 - smoothing) + smooth * (smoothing / c)
            denom = t.size if wt is None else wt.sum()
        if reduction == "mean":
            with np.errstate(invalid="ignore"):  # every target ignored: NaN, as PyTorch
                loss = xp.asarray(loss.sum() / denom, dtype=x.dtype)
        elif reduction == "sum":
            loss = xp.asarray(loss.sum(), dtype=x.dtype)
        return loss.astype(x.dtype, copy=False), lse + m

    def vjp(F, g, out, x, target, weight, ignore_index, smoothing, reduction, probs):
        gl, glse = g
        lse = out[1]
        gx = F.cross_entropy_backward(gl, glse, x, target, weight, lse,
                                      ignore_index=ignore_index, smoothing=smoothing,
                                      reduction=reduction, probs=probs)
        gt = None
        if probs:
            c = x.shape[1]
            s = _ce_scale(F, gl, x, reduction, math.prod(x.shape) // c)
            gt = (lse - x) * s * (1.0 - smoothing)
            if weight is not None:
                gt = gt * F.reshape(weight, shape=(1, c) + (1,) * (len(x.shape) - 2))
        return gx, gt, None


@register
class CrossEntropyBackward(Op):
    """The input gradient of ``cross_entropy``: ``softmax(x) * (sum(coef) s + g_lse) -
    coef s``, with ``coef`` the (weighted, smoothed) target distribution and ``s`` the
    loss cotangent per sample. In place on one buffer for class indices."""

    def cost(out_specs, in_specs, attrs):
        """softmax minus target, scaled: about 4 FLOPs per logit."""
        return 4 * numel(in_specs[2][0]), io_bytes(out_specs, in_specs)

    def forward(xp, gl, glse, x, target, weight, lse, ignore_index, smoothing, reduction,
                probs):
        n, c = x.shape[0], x.shape[1]
        kshape = (n, 1) + x.shape[2:]
        w_k = None if weight is None else weight.reshape((1, c) + (1,) * (x.ndim - 2))
        p = xp.exp(x - lse)
        if probs:
            coef = target * (1.0 - smoothing) + smoothing / c if smoothing else target
            if w_k is not None:
                coef = coef * w_k
            denom = x.size // c
        else:
            t, keep, wt = _class_targets(xp, x, target, weight, ignore_index, check=False)
            denom = t.size if wt is None else wt.sum()
        s = gl.reshape(kshape) if reduction == "none" else (
            gl / denom if reduction == "mean" else gl)
        if probs:
            p *= coef.sum(axis=1, keepdims=True) * s + glse
            p -= coef * s
            return p
        ws = s if wt is None else wt.reshape(kshape) * s  # the target class's share
        if smoothing:
            kept = s if keep is None else keep.reshape(kshape) * s
            wsum = c if weight is None else weight.sum()
            p *= ws * (1.0 - smoothing) + kept * (wsum * smoothing / c) + glse
            p -= kept * (smoothing / c) if w_k is None else kept * (smoothing / c) * w_k
            ws = ws * (1.0 - smoothing)
        else:
            p *= ws + glse
        idx = t[:, None]
        ws = xp.broadcast_to(ws, idx.shape)
        xp.put_along_axis(p, idx, xp.take_along_axis(p, idx, axis=1) - ws, axis=1)
        return p

    def vjp(F, u, out, gl, glse, x, target, weight, lse, ignore_index, smoothing, reduction,
            probs):
        p = F.exp(x - lse)
        up = F.sum(u * p, axis=(1,), keepdims=True)
        if probs:
            coef, csum, denom = _ce_prob_coefficients(F, x, target, weight, smoothing)
        else:
            coef, csum, denom = _class_coefficients(F, x, target, weight, ignore_index,
                                                    smoothing, x.dtype.name)
        s = _ce_scale(F, gl, x, reduction, denom)
        ds = csum * up - F.sum(u * coef, axis=(1,), keepdims=True)
        if reduction == "none":
            dgl = F.reshape(ds, shape=tuple(gl.shape))
        else:
            dgl = F.sum(ds, axis=None, keepdims=False)
            if reduction == "mean":
                dgl = dgl / denom
        dt = None
        if probs:
            dt = (up - u) * s * (1.0 - smoothing)
            if weight is not None:
                dt = dt * F.reshape(weight, shape=(1, x.shape[1]) + (1,) * (len(x.shape) - 2))
        return dgl, up, (csum * s + glse) * p * (u - up), dt, None, None


@register
class NllLoss(Op):
    """Negative log-likelihood of class indices given log-probabilities (axis 1)."""

    def cost(out_specs, in_specs, attrs):
        """One pick and one add per target (2 with class weights); the input is counted
        whole in the bytes (an upper bound)."""
        per = 2 if in_specs[2] is not None else 1
        return per * numel(in_specs[1][0]), io_bytes(out_specs, in_specs)

    def forward(xp, x, target, weight, ignore_index, reduction):
        c = x.shape[1]
        keep = target != ignore_index
        t = xp.where(keep, target, 0)
        bad = (t < 0) | (t >= c)
        if bad.any():
            raise IndexError(f"target {int(t[bad].reshape(-1)[0])} is out of bounds: class "
                             f"labels must lie in [0, {c}) or equal ignore_index "
                             f"({ignore_index})")
        wt = keep.astype(x.dtype) if weight is None else xp.take(weight, t) * keep
        loss = -xp.take_along_axis(x, t[:, None], axis=1)[:, 0] * wt
        if reduction == "mean":
            with np.errstate(invalid="ignore"):  # every target ignored: NaN, as PyTorch
                return xp.asarray(loss.sum() / wt.sum(), dtype=x.dtype)
        if reduction == "sum":
            return xp.asarray(loss.sum(), dtype=x.dtype)
        return loss

    def vjp(F, g, out, x, target, weight, ignore_index, reduction):
        coef, _, denom = _class_coefficients(F, x, target, weight, ignore_index, 0.0,
                                             x.dtype.name)
        if reduction == "none":
            s = F.reshape(g, shape=(x.shape[0], 1) + tuple(x.shape[2:]))
        elif reduction == "mean":
            s = g / denom
        else:
            s = g
        return -coef * s, None, None


def _class_target(input, target, weight, op):
    """Validate (input, integer target, weight); return them with input as (N, C, *)."""
    _check_float(input, op)
    if not isinstance(target, Tensor):
        raise TypeError(f"{op}: expected an ember Tensor target, got {type(target).__name__}")
    kind = target.data.dtype.kind
    if kind not in "iu":
        raise op_error(DTypeError, op, f"class-index targets must be integers, got "
                       f"{target.dtype.name}", args=[input, target],
                       hint="convert them with target.long()")
    if input.ndim == 0:
        raise op_error(ShapeError, op, "expected input of shape (C,) or (N, C, *)",
                       args=[input])
    expected = tuple(input.shape[:1]) + tuple(input.shape[2:]) if input.ndim > 1 else ()
    if tuple(target.shape) != expected:
        raise op_error(ShapeError, op, f"for input of shape {tuple(input.shape)} the class "
                       f"indices must have shape {expected}, got {tuple(target.shape)}",
                       args=[input, target])
    c = input.shape[1] if input.ndim > 1 else input.shape[0]
    if weight is not None:
        if tuple(weight.shape) != (c,):
            raise op_error(ShapeError, op, f"weight must have one entry per class ({c},)",
                           args=[weight])
        if weight.data.dtype != input.data.dtype:
            weight = weight.to(input.dtype)
    if target.data.dtype != np.int64:
        target = target.to(_dt.int64)
    return input, target, weight


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                  size_average=None, ignore_index: int = -100, reduce=None,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy between the softmax of ``input`` (over dim 1) and ``target``.

    One numerically stable primitive fuses log-softmax and the negative log-likelihood.

    Args:
        input: logits (N, C, *) or (C,).
        target: class indices (N, *) in ``[0, C)`` (integers), or class probabilities of
            the input's shape (floats).
        weight: a rescaling weight per class (C,).
        ignore_index: class-index targets equal to it contribute nothing (and do not count
            in the mean).
        reduction: ``"none"``, ``"mean"`` (the weighted mean: divided by the summed weights
            of the counted targets) or ``"sum"``.
        label_smoothing: in [0, 1]; mixes the target with the uniform distribution.

    Example:
        >>> import ember
        >>> logits = ember.tensor([[2.0, 0.0], [0.0, 2.0]])
        >>> round(ember.nn.functional.cross_entropy(logits, ember.tensor([0, 1])).item(), 4)
        0.1269
    """
    _reduction(reduction, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got "
                         f"{label_smoothing}")
    _check_float(input, "cross_entropy")
    probs = isinstance(target, Tensor) and target.data.dtype.kind == "f"
    if probs:
        if tuple(target.shape) != tuple(input.shape):
            raise op_error(ShapeError, "cross_entropy", "a floating-point target holds class "
                           "probabilities and must have the input's shape",
                           args=[input, target], hint="for class indices pass an integer "
                           "tensor of shape (N, *), e.g. target.long()")
        c = input.shape[1] if input.ndim > 1 else input.shape[0]
        if weight is not None and tuple(weight.shape) != (c,):
            raise op_error(ShapeError, "cross_entropy", f"weight must have one entry per "
                           f"class ({c},)", args=[weight])
        if target.data.dtype != input.data.dtype:
            target = target.to(input.dtype)
        if weight is not None and weight.data.dtype != input.data.dtype:
            weight = weight.to(input.dtype)
    else:
        input, target, weight = _class_target(input, target, weight, "cross_entropy")
    unbatched = input.ndim == 1
    if unbatched:
        input = sh.reshape(input, (1, -1))
        target = sh.reshape(target, (1, -1) if probs else (1,))
    loss, _ = apply(CrossEntropy, input, target, weight, ignore_index=int(ignore_index),
                    smoothing=float(label_smoothing), reduction=reduction, probs=probs)
    return sh.reshape(loss, ()) if unbatched and reduction == "none" else loss


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
             ignore_index: int = -100, reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood: ``-input[i, target[i]]`` (input holds log-probabilities).

    Shape:
        input (N, C, *) or (C,), target (N, *) or () with class indices.

    Example:
        >>> import ember
        >>> logp = ember.tensor([[-0.5, -1.0]])
        >>> ember.nn.functional.nll_loss(logp, ember.tensor([1]))
        tensor(1.)
    """
    _reduction(reduction, "nll_loss")
    input, target, weight = _class_target(input, target, weight, "nll_loss")
    unbatched = input.ndim == 1
    if unbatched:
        input, target = sh.reshape(input, (1, -1)), sh.reshape(target, (1,))
    loss = apply(NllLoss, input, target, weight, ignore_index=int(ignore_index),
                 reduction=reduction)
    return sh.reshape(loss, ()) if unbatched and reduction == "none" else loss


_BCE_EPS = float(np.float32(1e-12))  # PyTorch's floor of p (1 - p), a float32 constant


@register
class BinaryCrossEntropy(Op):
    """``-w (y log p + (1 - y) log(1 - p))`` with the logs clamped at -100, as in PyTorch."""

    cost = scaled_cost(6)  # two logs, products, sum

    def forward(xp, p, y, weight):
        # checked here, on the arrays, so that compiled graphs check every step as eager does
        if bool(((p < 0) | (p > 1)).any()):
            raise DomainError("all elements of input should be probabilities between 0 and "
                              "1 (apply sigmoid first, or use "
                              "binary_cross_entropy_with_logits)")
        with np.errstate(divide="ignore"):  # log(0) = -inf, clamped to -100
            loss = -(y * xp.maximum(xp.log(p), -100.0)
                     + (1.0 - y) * xp.maximum(xp.log1p(-p), -100.0))
        return loss if weight is None else loss * weight

    def vjp(F, g, out, p, y, weight):
        w = g if weight is None else g * weight
        gp = w * (p - y) / F.maximum(p * (1.0 - p), _BCE_EPS)
        gy = w * (F.maximum(F.log1p(-p), -100.0) - F.maximum(F.log(p), -100.0))
        return gp, gy, None


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy between probabilities ``input`` in [0, 1] and ``target``.

    Example:
        >>> import ember
        >>> p = ember.tensor([0.5])
        >>> round(ember.nn.functional.binary_cross_entropy(p, ember.tensor([1.0])).item(), 4)
        0.6931
    """
    _reduction(reduction, "binary_cross_entropy")
    input, target = _pair(input, target, "binary_cross_entropy")
    if weight is not None and weight.data.dtype != input.data.dtype:
        weight = weight.to(input.dtype)
    if weight is not None and tuple(weight.shape) != tuple(input.shape):
        weight = sh.broadcast_to(weight, input.shape)
    return _reduce(apply(BinaryCrossEntropy, input, target, weight), reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,
                                     weight: Tensor | None = None, size_average=None,
                                     reduce=None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Sigmoid plus binary cross-entropy in one stable expression.

    ``loss = (1 - y) x + (1 + (pos_weight - 1) y) softplus(-x)``, times ``weight``.
    ``pos_weight`` (broadcast over the last dimension, one per class) weighs the positives.

    Example:
        >>> import ember
        >>> f = ember.nn.functional.binary_cross_entropy_with_logits
        >>> round(f(ember.tensor([0.0]), ember.tensor([1.0])).item(), 4)
        0.6931
    """
    _reduction(reduction, "binary_cross_entropy_with_logits")
    input, target = _pair(input, target, "binary_cross_entropy_with_logits")
    sp = apply(Softplus, -input, beta=1.0, threshold=math.inf)  # exact, as PyTorch
    if pos_weight is not None:
        coef = (pos_weight.to(input.dtype) - 1.0) * target + 1.0
        loss = (1.0 - target) * input + coef * sp
    else:
        loss = (1.0 - target) * input + sp
    if weight is not None:
        loss = loss * weight.to(input.dtype)
    return _reduce(loss, reduction)


def kl_div(input: Tensor, target: Tensor, size_average=None, reduce=None,
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """Kullback-Leibler divergence ``target * (log target - input)``; input holds log-probs.

    ``reduction="batchmean"`` divides the sum by the batch size (the true KL divergence);
    ``"mean"`` divides by the number of elements, as PyTorch does.
    """
    _reduction(reduction, "kl_div", _REDUCTIONS + ("batchmean",))
    input, target = _pair(input, target, "kl_div")
    if log_target:
        loss = ew.exp(target) * (target - input)
    else:
        pos = target > 0
        loss = ew.where(pos, target * ew.log(ew.where(pos, target, 1.0)), 0.0) - target * input
    if reduction == "batchmean":
        return rd.sum(loss) / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction)
