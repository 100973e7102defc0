"""Batch, layer and group normalisation (fused primitives where measured to pay)."""

from __future__ import annotations

import math

from ..autograd.grad_mode import no_grad
from ..autograd.node import apply
from ..errors import ShapeError, op_error
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
from .registry import Op, register, scaled_cost

__all__ = [
    "batch_norm", "layer_norm", "group_norm", "normalize",
]


# ----------------------------------------------------------------------------- normalisation


def _channel_sum(xp, v):
    """Sum of an (N, C, L) array over N and L: batched matrix-vector products (BLAS), 2-3x
    faster than a reduction on channels-last memory."""
    return (v @ xp.ones(v.shape[2], dtype=v.dtype)).sum(axis=0)


def _wide(x):
    """Channels-last memory as an (N, L*C) matrix view (channel fastest) and the
    (N, *spatial, C) shape, or None. NumPy's loops over (N*L, C) with a small C are short
    and slow; per-channel vectors tiled L times make every elementwise pass one long run."""
    nd = len(x.shape)
    if nd < 3 or x.shape[1] < 2:
        return None
    xt = x.transpose((0,) + tuple(range(2, nd)) + (1,))
    if not xt.flags.c_contiguous:
        return None
    return xt.reshape(x.shape[0], -1), xt.shape


def _csum_wide(xp, w, c):
    """Per-channel sum of a wide (N, L*C) matrix: one matrix-vector product (BLAS)."""
    return xp.ones(w.shape[0] * w.shape[1] // c, dtype=w.dtype) @ w.reshape(-1, c)


def _bn_forward_wide(xp, x, xw, tshape, weight, bias, eps):
    c = x.shape[1]
    reps = xw.shape[1] // c
    m = xw.size // c
    mean = _csum_wide(xp, xw, c) / m
    yw = xw - xp.tile(mean, reps)
    var = xp.einsum("rk,rk->k", yw, yw).reshape(reps, c).sum(axis=0) / m
    scale = 1.0 / xp.sqrt(var + eps)
    if weight is not None:
        scale = scale * weight
    yw *= xp.tile(scale, reps)
    if bias is not None:
        yw += xp.tile(bias, reps)
    axes = (0, len(tshape) - 1) + tuple(range(1, len(tshape) - 1))
    return yw.reshape(tshape).transpose(axes), mean, var


def _bn_backward_wide(xp, gw_, x, xw, tshape, weight, mean, var, eps):
    c = x.shape[1]
    reps = xw.shape[1] // c
    m = xw.size // c
    r = 1.0 / xp.sqrt(var + eps)
    gb = _csum_wide(xp, gw_, c)
    xc = xw - xp.tile(mean, reps)
    gw = xp.einsum("rk,rk->k", gw_, xc).reshape(reps, c).sum(axis=0) * r
    k = r if weight is None else r * weight
    xc *= xp.tile(k * r * gw * (-1.0 / m), reps)
    xc += xp.tile(k * gb * (-1.0 / m), reps)
    gx = gw_ * xp.tile(k, reps)
    gx += xc
    axes = (0, len(tshape) - 1) + tuple(range(1, len(tshape) - 1))
    return gx.reshape(tshape).transpose(axes), gw, gb


def _bn_shapes(x):
    """(N, C, L) view shape, the kept-dims shape of per-channel values, and M = N * L."""
    n, c = x.shape[0], x.shape[1]
    m = math.prod(x.shape) // c
    return (n, c, m // n), (1, c) + (1,) * (len(x.shape) - 2), m


@register
class BatchNorm(Op):
    """Training-mode batch norm over every axis but 1; outputs (y, batch mean, biased var).

    The statistics (shape (C,)) feed the running averages; they are bookkeeping outputs
    whose gradients are not propagated. Reductions run on an (N, C, L) view (batched
    matrix-vector sums, einsum for sums of products), so NCHW and channels-last memory both
    avoid copies, and y keeps x's memory layout.
    """

    blas = True

    n_outputs = 3
    needs_output = True
    output_values_needed = (1, 2)  # the statistics; y may be changed in place (ReLU(inplace))

    cost = scaled_cost(8)  # mean, centre, square-sum, scale, shift

    def forward(xp, x, weight, bias, eps):
        wide = _wide(x)
        if wide is not None:
            return _bn_forward_wide(xp, x, wide[0], wide[1], weight, bias, eps)
        view, kshape, m = _bn_shapes(x)
        mean = _channel_sum(xp, x.reshape(view)) / m
        y = x - mean.reshape(kshape)
        yv = y.reshape(view)
        var = xp.einsum("ncl,ncl->c", yv, yv) / m
        scale = 1.0 / xp.sqrt(var + eps)
        if weight is not None:
            scale = scale * weight
        y *= scale.reshape(kshape)
        if bias is not None:
            y += bias.reshape(kshape)
        return y, mean, var

    def vjp(F, g, out, x, weight, bias, eps):
        _, mean, var = out
        gx, gw, gb = F.batch_norm_backward(g[0], x, weight, mean, var, eps=eps)
        return gx, None if weight is None else gw, None if bias is None else gb


@register
class BatchNormBackward(Op):
    """The gradients (x, weight, bias) of training-mode batch norm, fused in place.

    ``mean`` and ``var`` are x's batch statistics; the vjp (for double backward) treats them
    as the functions of x they are.
    """

    blas = True

    n_outputs = 3

    cost = scaled_cost(10)

    def forward(xp, g, x, weight, mean, var, eps):
        wide = _wide(x)
        gwide = None if wide is None else _wide(g)
        if gwide is not None:
            return _bn_backward_wide(xp, gwide[0], x, wide[0], wide[1], weight, mean, var,
                                     eps)
        view, kshape, m = _bn_shapes(x)
        r = 1.0 / xp.sqrt(var + eps)
        xc = x - mean.reshape(kshape)
        gv = g.reshape(view)
        gb = _channel_sum(xp, gv)
        gw = xp.einsum("ncl,ncl->c", gv, xc.reshape(view)) * r
        k = r if weight is None else r * weight
        xc *= (k * r * gw * (-1.0 / m)).reshape(kshape)
        gx = g * k.reshape(kshape)
        gx += xc
        gx += (k * gb * (-1.0 / m)).reshape(kshape)
        return gx, gw, gb

    def vjp(F, gg, out, g, x, weight, mean, var, eps):
        u, a, c = gg
        _, kshape, m = _bn_shapes(x)
        axes = (0,) + tuple(range(2, len(x.shape)))
        inv_m = 1.0 / m

        def csum(t):
            return F.sum(t, axis=axes, keepdims=True)

        a, c = F.reshape(a, shape=kshape), F.reshape(c, shape=kshape)
        r = F.reshape(F.rsqrt(var + eps), shape=kshape)
        xc = x - F.reshape(mean, shape=kshape)
        xhat = xc * r
        w = None if weight is None else F.reshape(weight, shape=kshape)
        k = r if w is None else r * w
        gb, gw = csum(g), csum(g * xhat)
        su, sux = csum(u), csum(u * xhat)
        coef = a - k * sux * inv_m
        dg = k * u + (c - k * su * inv_m) + xhat * coef
        dxhat = u * (k * gw * -inv_m) + g * coef
        sk = csum(u * (g - gb * inv_m - xhat * gw * inv_m))
        dr = csum(dxhat * xc) + (sk if w is None else sk * w)
        dv = dr * (r * r * r * -0.5)
        dx = dxhat * r - csum(dxhat) * r * inv_m + xc * (dv * 2.0 * inv_m)
        dw = None if w is None else F.reshape(sk * r, shape=(kshape[1],))
        return dg, dx, dw, None, None


def _channel_shape(x: Tensor) -> tuple:
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel (dimension 1) by batch or running statistics.

    In training mode the batch statistics normalise the input and update ``running_mean``
    and ``running_var`` in place (``(1 - momentum) * running + momentum * batch``, with the
    unbiased batch variance); otherwise the running statistics are used.

    Shape:
        input (N, C, *), statistics and affine parameters (C).

    Example:
        >>> import ember
        >>> x = ember.randn(8, 3)
        >>> y = ember.nn.functional.batch_norm(x, None, None, training=True)
        >>> bool(y.mean(0).abs().max() < 1e-5)
        True
    """
    _check_float(input, "batch_norm")
    if input.ndim < 2:
        raise op_error(ShapeError, "batch_norm", "expected input of shape (N, C, *)",
                       args=[input])
    c = input.shape[1]
    for name, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                    ("running_var", running_var)):
        if t is not None and tuple(t.shape) != (c,):
            raise op_error(ShapeError, "batch_norm", f"{name} must have shape ({c},) for "
                           f"{c} channels", args=[input, t])
    if training:
        count = input.numel() // c
        if count <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when "
                             f"training, got input of shape {tuple(input.shape)}")
        y, mean, var = apply(BatchNorm, input, weight, bias, eps=float(eps))
        if running_mean is not None or running_var is not None:
            m = float(momentum)
            with no_grad():
                if running_mean is not None:
                    running_mean.mul_(1.0 - m).add_(mean.detach() * m)
                if running_var is not None:
                    running_var.mul_(1.0 - m).add_(var.detach() * (m * count / (count - 1)))
        return y
    if running_mean is None or running_var is None:
        raise ValueError("batch_norm: running_mean and running_var are needed when not "
                         "training (or pass training=True to use batch statistics)")
    scale = ew.rsqrt(running_var + eps)
    if weight is not None:
        scale = scale * weight
    shift = -running_mean * scale
    if bias is not None:
        shift = shift + bias
    kshape = _channel_shape(input)
    return input * sh.reshape(scale, kshape) + sh.reshape(shift, kshape)


@register
class LayerNorm(Op):
    """Normalise over the last ``ndim`` axes, then scale and shift elementwise."""

    cost = scaled_cost(8)

    def forward(xp, x, weight, bias, ndim, eps):
        axes = tuple(range(x.ndim - ndim, x.ndim))
        mean = x.mean(axis=axes, keepdims=True)
        y = x - mean
        var = (y * y).mean(axis=axes, keepdims=True)
        y *= 1.0 / xp.sqrt(var + eps)
        if weight is not None:
            y *= weight
        if bias is not None:
            y += bias
        return y

    def vjp(F, g, out, x, weight, bias, ndim, eps):
        nd = len(x.shape)
        axes = tuple(range(nd - ndim, nd))
        xc = x - F.mean(x, axis=axes, keepdims=True)
        r = F.rsqrt(F.mean(xc * xc, axis=axes, keepdims=True) + eps)
        xhat = xc * r
        gh = g if weight is None else g * weight
        gx = (gh - F.mean(gh, axis=axes, keepdims=True)
              - xhat * F.mean(gh * xhat, axis=axes, keepdims=True)) * r
        batch = tuple(range(nd - ndim))
        gw = gb = None
        if weight is not None:
            gw = F.sum(g * xhat, axis=batch, keepdims=False) if batch else g * xhat
        if bias is not None:
            gb = F.sum(g, axis=batch, keepdims=False) if batch else g
        return gx, gw, gb


def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the trailing ``normalized_shape`` dimensions (one primitive).

    Example:
        >>> import ember
        >>> y = ember.nn.functional.layer_norm(ember.tensor([[1.0, 3.0]]), (2,))
        >>> y
        tensor([[-1.,  1.]])
    """
    _check_float(input, "layer_norm")
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(int(s) for s in normalized_shape)
    k = len(normalized_shape)
    if k == 0 or tuple(input.shape[input.ndim - k:]) != normalized_shape or input.ndim < k:
        raise op_error(ShapeError, "layer_norm", f"expected input with trailing dimensions "
                       f"{normalized_shape}", args=[input])
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != normalized_shape:
            raise op_error(ShapeError, "layer_norm", f"{name} must have shape "
                           f"{normalized_shape}", args=[t])
    return apply(LayerNorm, input, weight, bias, ndim=k, eps=float(eps))


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise each group of ``C / num_groups`` channels (with their spatial positions).

    Shape:
        input (N, C, *), weight and bias (C).
    """
    _check_float(input, "group_norm")
    if input.ndim < 2 or input.shape[1] % num_groups:
        raise op_error(ShapeError, "group_norm", f"expected input (N, C, *) with C divisible "
                       f"by num_groups={num_groups}", args=[input])
    n = input.shape[0]
    grouped = sh.reshape(input, (n, num_groups, -1))
    y = sh.reshape(apply(LayerNorm, grouped, None, None, ndim=1, eps=float(eps)), input.shape)
    kshape = _channel_shape(input)
    if weight is not None:
        y = y * sh.reshape(weight, kshape)
    if bias is not None:
        y = y + sh.reshape(bias, kshape)
    return y


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """``x / max(||x||_p, eps)`` along ``dim``."""
    norm = rd.vector_norm(input, p, dim, True)
    return input / ew.clamp(norm, min=eps)
