"""The primitives behind ``ember.nn.functional``: activations, softmax, dropout, embedding,
linear, normalisation and losses.

Fused primitives are used where they buy numerical stability or measured speed (softmax and
log-softmax, the cross-entropy, batch norm, layer norm, the smooth activations); everything
else is a composite of existing ops. Each vjp is written with operators and ``F.<op>`` calls,
so first and higher-order gradients share it.

Example:
    >>> import ember
    >>> import ember.nn.functional as F
    >>> x = ember.tensor([[1.0, 2.0, 3.0]])
    >>> F.softmax(x, dim=1).sum().item()
    1.0
    >>> round(F.cross_entropy(x, ember.tensor([2])).item(), 4)
    0.4076
"""

from __future__ import annotations

import math

import numpy as np

from .. import dtypes as _dt
from ..autograd.grad_mode import no_grad
from ..autograd.node import apply
from ..backend import backend_of
from ..backend.special import erf as _erf
from ..errors import DTypeError, ShapeError, op_error
from ..random import _gen
from ..tensor import Tensor
from . import elementwise as ew
from . import reduce as rd
from . import shape as sh
from .registry import Op, register

__all__ = [
    "relu", "sigmoid", "tanh", "threshold", "prelu", "gelu", "silu", "mish", "softplus",
    "leaky_relu", "elu", "selu", "celu", "hardtanh", "relu6", "hardsigmoid", "hardswish",
    "logsigmoid", "softsign", "tanhshrink", "softmax", "log_softmax", "softmin", "dropout",
    "dropout1d", "dropout2d", "dropout3d", "embedding", "linear", "bilinear", "batch_norm",
    "layer_norm", "group_norm", "normalize", "scaled_dot_product_attention", "mse_loss",
    "l1_loss", "smooth_l1_loss", "huber_loss", "cross_entropy", "nll_loss",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div",
]

_SQRT1_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_PI = math.sqrt(2.0 / math.pi)


def _check_float(x, op: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected an ember Tensor, got {type(x).__name__}")
    if x.data.dtype.kind != "f" and x.dtype.kind != "f":
        raise op_error(DTypeError, op, f"expected a floating-point input, got {x.dtype.name}",
                       args=[x], hint="convert it first, e.g. x.float()")


def _sigmoid(xp, x):
    e = xp.exp(-xp.abs(x))
    r = 1.0 / (1.0 + e)
    return xp.where(x >= 0, r, e * r)


# ----------------------------------------------------------------------------- activations


@register
class Gelu(Op):
    def forward(xp, x, approximate="none"):
        if approximate == "tanh":
            inner = (x + 0.044715 * (x * x * x)) * _SQRT_2_PI
            return 0.5 * x * (1.0 + xp.tanh(inner))
        return 0.5 * x * (1.0 + _erf(xp, x * _SQRT1_2))

    def vjp(F, g, out, x, approximate="none"):
        if approximate == "tanh":
            x2 = x * x
            t = F.tanh((x + 0.044715 * x2 * x) * _SQRT_2_PI)
            d = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _SQRT_2_PI * (1.0 + 0.134145 * x2)
        else:
            d = 0.5 * (1.0 + F.erf(x * _SQRT1_2)) + x * F.exp(x * x * -0.5) * _INV_SQRT_2PI
        return (g * d,)


@register
class Silu(Op):
    def forward(xp, x):
        return x * _sigmoid(xp, x)

    def vjp(F, g, out, x):
        s = F.sigmoid(x)
        return (g * (s * (1.0 + x * (1.0 - s))),)


@register
class Softplus(Op):
    def forward(xp, x, beta=1.0, threshold=20.0):
        z = x * beta
        soft = (xp.log1p(xp.exp(-xp.abs(z))) + xp.maximum(z, 0)) / beta
        return xp.where(z > threshold, x, soft)

    def vjp(F, g, out, x, beta=1.0, threshold=20.0):
        z = x * beta
        return (F.where(z > threshold, g, g * F.sigmoid(z)),)


@register
class LeakyRelu(Op):
    def forward(xp, x, negative_slope=0.01):
        return xp.where(x > 0, x, x * negative_slope)

    def vjp(F, g, out, x, negative_slope=0.01):
        return (F.where(x > 0, g, g * negative_slope),)


@register
class Elu(Op):
    def forward(xp, x, alpha=1.0):
        return xp.where(x > 0, x, xp.expm1(xp.minimum(x, 0)) * alpha)

    def vjp(F, g, out, x, alpha=1.0):
        return (F.where(x > 0, g, g * (F.exp(F.minimum(x, 0.0)) * alpha)),)


@register
class Hardtanh(Op):
    def forward(xp, x, min_val=-1.0, max_val=1.0):
        return xp.clip(x, min_val, max_val)

    def vjp(F, g, out, x, min_val=-1.0, max_val=1.0):
        return (F.where((x > min_val) & (x < max_val), g, 0.0),)


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """``max(x, 0)``; ``inplace=True`` writes the result into ``input`` as PyTorch does.

    Example:
        >>> import ember
        >>> ember.nn.functional.relu(ember.tensor([-1.0, 2.0]))
        tensor([0., 2.])
    """
    return input.relu_() if inplace else ew.relu(input)


def sigmoid(input: Tensor) -> Tensor:
    """``1 / (1 + exp(-x))``, without overflow."""
    return ew.sigmoid(input)


def tanh(input: Tensor) -> Tensor:
    """The hyperbolic tangent."""
    return ew.tanh(input)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """``x`` where ``x > threshold``, else ``value``."""
    return ew.where(input > threshold, input, value)


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """``x`` where positive, ``weight * x`` elsewhere; ``weight`` has 1 or C (dim 1) entries."""
    if weight.numel() != 1 and input.ndim >= 2:
        weight = sh.reshape(weight, (1, -1) + (1,) * (input.ndim - 2))
    return ew.where(input > 0, input, input * weight)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit: ``x * Phi(x)`` (``approximate="tanh"``: the tanh form).

    Example:
        >>> import ember
        >>> ember.nn.functional.gelu(ember.tensor([0.0, 1.0]))
        tensor([0.    , 0.8413])
    """
    _check_float(input, "gelu")
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return apply(Gelu, input, approximate=approximate)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """Sigmoid linear unit (swish): ``x * sigmoid(x)``."""
    _check_float(input, "silu")
    return apply(Silu, input)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * tanh(softplus(x))``."""
    return input * ew.tanh(softplus(input))


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``log(1 + exp(beta * x)) / beta``, linear where ``beta * x > threshold``.

    Example:
        >>> import ember
        >>> ember.nn.functional.softplus(ember.tensor([0.0]))
        tensor([0.6931])
    """
    _check_float(input, "softplus")
    if beta == 0:
        raise ValueError("softplus: beta must be non-zero")
    return apply(Softplus, input, beta=float(beta), threshold=float(threshold))


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """``x`` where positive, ``negative_slope * x`` elsewhere."""
    _check_float(input, "leaky_relu")
    return apply(LeakyRelu, input, negative_slope=float(negative_slope))


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``x`` where positive, ``alpha * (exp(x) - 1)`` elsewhere."""
    _check_float(input, "elu")
    return apply(Elu, input, alpha=float(alpha))


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """Scaled ELU with the self-normalising constants."""
    return elu(input, 1.6732632423543772848170429916717) * 1.0507009873554804934193349852946


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""
    return elu(input / alpha, 1.0) * alpha if alpha != 1.0 else elu(input, 1.0)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """Clip to ``[min_val, max_val]`` (zero gradient at and beyond the limits)."""
    _check_float(input, "hardtanh")
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) must not exceed max_val ({max_val})")
    return apply(Hardtanh, input, min_val=float(min_val), max_val=float(max_val))


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """``min(max(x, 0), 6)``."""
    return hardtanh(input, 0.0, 6.0)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """``relu6(x + 3) / 6``."""
    return hardtanh(input + 3.0, 0.0, 6.0) * (1.0 / 6.0)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * relu6(x + 3) / 6``."""
    return input * hardsigmoid(input)


def logsigmoid(input: Tensor) -> Tensor:
    """``log(sigmoid(x))``, computed stably as ``-softplus(-x)``."""
    return -softplus(-input)


def softsign(input: Tensor) -> Tensor:
    """``x / (1 + |x|)``."""
    return input / (ew.abs(input) + 1.0)


def tanhshrink(input: Tensor) -> Tensor:
    """``x - tanh(x)``."""
    return input - ew.tanh(input)


# ----------------------------------------------------------------------------- softmax


@register
class Softmax(Op):
    needs_output = True
    uses_input_values = False  # the vjp reads only the output

    def forward(xp, x, axis):
        e = xp.exp(x - x.max(axis=axis, keepdims=True))
        e /= e.sum(axis=axis, keepdims=True)
        return e

    def vjp(F, g, out, x, axis):
        go = g * out
        return (go - out * F.sum(go, axis=(axis,), keepdims=True),)


@register
class LogSoftmax(Op):
    needs_output = True
    uses_input_values = False  # the vjp reads only the output

    def forward(xp, x, axis):
        s = x - x.max(axis=axis, keepdims=True)
        s -= xp.log(xp.exp(s).sum(axis=axis, keepdims=True))
        return s

    def vjp(F, g, out, x, axis):
        return (g - F.exp(out) * F.sum(g, axis=(axis,), keepdims=True),)


def _softmax_dim(x: Tensor, dim, op: str) -> int:
    if dim is None:  # PyTorch's legacy rule for a missing dim
        dim = 0 if x.ndim in (0, 1, 3) else 1
    n = max(x.ndim, 1)
    if not -n <= dim < n:
        raise op_error(ShapeError, op, f"dim {dim} is out of range for a tensor with {x.ndim} "
                       "dimension(s)", args=[x])
    return dim % n


def _softmax_input(x, dim, dtype, op):
    if dtype is not None:  # PyTorch's dtype argument: cast first (integers included)
        x = x.to(dtype)
    _check_float(x, op)
    if x.ndim == 0:
        x = sh.reshape(x, (1,))
        return x, 0, True
    return x, _softmax_dim(x, dim, op), False


def softmax(input: Tensor, dim: int | None = None, dtype=None) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``dim``, computed stably (one primitive).

    Example:
        >>> import ember
        >>> ember.nn.functional.softmax(ember.tensor([0.0, 0.0]), dim=0)
        tensor([0.5, 0.5])
    """
    x, axis, scalar = _softmax_input(input, dim, dtype, "softmax")
    out = apply(Softmax, x, axis=axis)
    return sh.reshape(out, ()) if scalar else out


def log_softmax(input: Tensor, dim: int | None = None, dtype=None) -> Tensor:
    """``x - logsumexp(x)`` along ``dim`` (one primitive, stable for large inputs)."""
    x, axis, scalar = _softmax_input(input, dim, dtype, "log_softmax")
    out = apply(LogSoftmax, x, axis=axis)
    return sh.reshape(out, ()) if scalar else out


def softmin(input: Tensor, dim: int | None = None, dtype=None) -> Tensor:
    """``softmax(-x)`` along ``dim``."""
    return softmax(-input, dim, dtype)


# ----------------------------------------------------------------------------- dropout


@register
class Dropout(Op):
    """``x * mask``: the mask already holds 0 or ``1 / (1 - p)``."""

    uses_input_values = False  # the vjp reads only the mask, which nothing modifies

    def forward(xp, x, mask):
        return x * mask

    def vjp(F, g, out, x, mask):
        return g * mask, None


def _keep_mask(x: Tensor, shape: tuple, p: float, generator) -> Tensor:
    """0 or ``1 / (1 - p)`` drawn from ember's generator, in x's dtype and device."""
    u = _gen(generator).random(shape, dtype=np.float32)
    keep = (u >= p).astype(x.data.dtype) if p < 1 else np.zeros(shape, x.data.dtype)
    if p < 1:
        keep *= 1.0 / (1.0 - p)
    return Tensor(backend_of(x.data).xp.asarray(keep))


def _dropout(x, p, training, inplace, generator, shape, op):
    _check_float(x, op)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return x
    mask = _keep_mask(x, shape, float(p), generator)
    if inplace:
        return x.mul_(mask)
    return apply(Dropout, x, mask)


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False,
            generator=None) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``.

    The mask comes from ember's default generator (or ``generator``), so
    ``ember.manual_seed`` makes it reproducible. Identity when ``training`` is False.

    Example:
        >>> import ember
        >>> x = ember.ones(4)
        >>> bool((ember.nn.functional.dropout(x, 0.5, training=False) == x).all())
        True
    """
    return _dropout(input, p, training, inplace, generator, tuple(input.shape), "dropout")


def _feature_dropout(x, p, training, inplace, generator, batched_ndim, op):
    _check_float(x, op)
    if x.ndim not in (batched_ndim - 1, batched_ndim):
        raise op_error(ShapeError, op, f"expected a {batched_ndim - 1}-D (unbatched) or "
                       f"{batched_ndim}-D (batched) input, got {x.ndim}-D", args=[x])
    lead = 2 if x.ndim == batched_ndim else 1
    shape = tuple(x.shape[:lead]) + (1,) * (x.ndim - lead)
    return _dropout(x, p, training, inplace, generator, shape, op)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, L) or (C, L) input with probability ``p``."""
    return _feature_dropout(input, p, training, inplace, None, 3, "dropout1d")


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels (feature maps) of (N, C, H, W) or (C, H, W) input."""
    if input.ndim == 3:  # PyTorch reads 3-D input as (N, C, L) here
        return _dropout(input, p, training, inplace, None,
                        tuple(input.shape[:2]) + (1,), "dropout2d")
    return _feature_dropout(input, p, training, inplace, None, 4, "dropout2d")


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) input."""
    return _feature_dropout(input, p, training, inplace, None, 5, "dropout3d")


# ----------------------------------------------------------------------------- embedding


@register
class Embedding(Op):
    """Rows of ``weight`` picked by integer ``indices``."""

    def forward(xp, weight, indices, padding_idx=None):
        n = weight.shape[0]
        if indices.size and (indices.min() < 0 or indices.max() >= n):
            bad = indices[(indices < 0) | (indices >= n)].reshape(-1)[0]
            raise IndexError(f"index {int(bad)} is out of range for an embedding with {n} rows")
        return xp.take(weight, indices, axis=0)

    def vjp(F, g, out, weight, indices, padding_idx=None):
        return F.embedding_backward(g, indices, num_weights=weight.shape[0],
                                    padding_idx=padding_idx), None


@register
class EmbeddingBackward(Op):
    """The rows of ``g`` summed into a (num_weights, dim) zero matrix at ``indices``."""

    def forward(xp, g, indices, num_weights, padding_idx=None):
        dim = g.shape[-1]
        flat = indices.reshape(-1)
        out = xp.zeros((num_weights, dim), dtype=g.dtype)
        if flat.size:
            order = xp.argsort(flat, kind="stable")
            ids = flat[order]
            starts = xp.flatnonzero(xp.concatenate((xp.ones(1, dtype=bool), ids[1:] != ids[:-1])))
            out[ids[starts]] = xp.add.reduceat(g.reshape(-1, dim)[order], starts, axis=0)
        if padding_idx is not None:
            out[padding_idx] = 0
        return out

    def vjp(F, gg, out, g, indices, num_weights, padding_idx=None):
        rows = F.embedding(gg, indices)
        if padding_idx is not None:
            keep = F.reshape(indices != padding_idx, shape=tuple(indices.shape) + (1,))
            rows = F.where(keep, rows, 0.0)
        return rows, None


@register
class EmbeddingRenorm(Op):
    """``weight`` with the rows at ``indices`` rescaled to norm at most ``max_norm``."""

    differentiable = False

    def forward(xp, weight, indices, max_norm, norm_type):
        rows = xp.unique(indices.reshape(-1))
        w = weight.copy()
        norms = (xp.abs(w[rows]) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
        scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
        w[rows] *= scale[:, None].astype(w.dtype)
        return w


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Look up rows of ``weight`` by the integer ``input``; the gradient accumulates per row.

    Args:
        input: integer tensor of indices in ``[0, num_embeddings)``.
        weight: (num_embeddings, embedding_dim).
        padding_idx: this row gets no gradient.
        max_norm: rows looked up are first renormalised in place to this ``norm_type`` norm.

    Shape:
        input (*), weight (V, D) -> (*, D).

    Example:
        >>> import ember
        >>> w = ember.arange(6.0).reshape(3, 2)
        >>> ember.nn.functional.embedding(ember.tensor([2, 0]), w)
        tensor([[4., 5.],
                [0., 1.]])
    """
    if not isinstance(input, Tensor) or input.data.dtype.kind not in "iu":
        got = input.dtype.name if isinstance(input, Tensor) else type(input).__name__
        raise DTypeError(f"embedding: indices must be an integer tensor, got {got}. "
                         "Convert them with .long()")
    if weight.ndim != 2:
        raise op_error(ShapeError, "embedding", "weight must be 2-D (num_embeddings, "
                       "embedding_dim)", args=[weight])
    if scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: scale_grad_by_freq and sparse gradients are not "
                                  "supported by ember")
    n = weight.shape[0]
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise ValueError(f"embedding: padding_idx {padding_idx} must be within "
                             f"[{-n}, {n})")
        padding_idx = int(padding_idx) % n
    if max_norm is not None:
        with no_grad():
            weight.copy_(apply(EmbeddingRenorm, weight, input, max_norm=float(max_norm),
                               norm_type=float(norm_type)))
    return apply(Embedding, weight, input, padding_idx=padding_idx)


# ----------------------------------------------------------------------------- linear


@register
class Linear(Op):
    """``x @ weight.T + bias`` over the last dimension of x.

    ``input_grad=False`` (x does not require grad) skips the input gradient's matmul.
    """

    def forward(xp, x, weight, bias, input_grad=True):
        if x.ndim == 2:
            y = x @ weight.T
        else:
            y = (x.reshape(-1, x.shape[-1]) @ weight.T).reshape(x.shape[:-1] + weight.shape[:1])
        if bias is not None:
            y += bias
        return y

    def vjp(F, g, out, x, weight, bias, input_grad=True):
        nd = len(x.shape)
        g2 = g if nd == 2 else F.reshape(g, shape=(-1, weight.shape[0]))
        x2 = x if nd == 2 else F.reshape(x, shape=(-1, weight.shape[1]))
        gx = None
        if input_grad:
            gx = F.matmul(g2, weight)
            if nd != 2:
                gx = F.reshape(gx, shape=tuple(x.shape))
        gw = F.matmul(F.permute(g2, axes=(1, 0)), x2)
        gb = F.sum(g2, axis=(0,), keepdims=False) if bias is not None else None
        return gx, gw, gb


def _check_same_dtype(op, *tensors):
    ts = [t for t in tensors if t is not None]
    if any(t.data.dtype != ts[0].data.dtype for t in ts):
        raise op_error(DTypeError, op, "expected the input and the parameters to have one "
                       "dtype, got " + ", ".join(t.dtype.name for t in ts), args=ts,
                       hint="cast the input (x.to(weight.dtype)) or the module (.float(), "
                       ".double())")


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias``.

    Shape:
        input (*, in_features), weight (out_features, in_features), bias (out_features)
        -> (*, out_features).

    Example:
        >>> import ember
        >>> ember.nn.functional.linear(ember.ones(2, 3), ember.ones(4, 3)).shape
        (2, 4)
    """
    if input.ndim == 0 or weight.ndim != 2 or input.shape[-1] != weight.shape[1]:
        raise op_error(ShapeError, "linear", f"the input's last dimension must equal "
                       f"weight.shape[1] = {weight.shape[1] if weight.ndim == 2 else '?'}",
                       args=[input, weight])
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise op_error(ShapeError, "linear", f"bias must have shape ({weight.shape[0]},)",
                       args=[bias])
    if input.data.dtype != weight.data.dtype:
        _check_same_dtype("linear", input, weight, bias)
    return apply(Linear, input, weight, bias, input_grad=input._rg)


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor,
             bias: Tensor | None = None) -> Tensor:
    """``y[..., o] = sum_ij x1[..., i] W[o, i, j] x2[..., j] + b[o]``.

    Shape:
        input1 (*, in1), input2 (*, in2), weight (out, in1, in2) -> (*, out).
    """
    from .einsum import einsum

    if weight.ndim != 3 or input1.shape[-1] != weight.shape[1] or \
            input2.shape[-1] != weight.shape[2] or input1.shape[:-1] != input2.shape[:-1]:
        raise op_error(ShapeError, "bilinear", "expected input1 (*, in1), input2 (*, in2) and "
                       "weight (out, in1, in2)", args=[input1, input2, weight])
    out = einsum("...i,oij,...j->...o", input1, weight, input2)
    return out + bias if bias is not None else out


# ----------------------------------------------------------------------------- normalisation


def _channel_sum(xp, v):
    """Sum of an (N, C, L) array over N and L: batched matrix-vector products (BLAS), 2-3x
    faster than a reduction on channels-last memory."""
    return (v @ xp.ones(v.shape[2], dtype=v.dtype)).sum(axis=0)


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

    n_outputs = 3
    needs_output = True

    def forward(xp, x, weight, bias, eps):
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

    n_outputs = 3

    def forward(xp, g, x, weight, mean, var, eps):
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
                    running_mean.mul_(1.0 - m).add_(Tensor(mean.data * m))
                if running_var is not None:
                    running_var.mul_(1.0 - m).add_(Tensor(var.data * (m * count / (count - 1))))
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


# ----------------------------------------------------------------------------- attention


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Tensor | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None) -> Tensor:
    """``softmax(q @ k^T * scale + mask) @ v``.

    ``attn_mask`` is boolean (True: take part in attention) or additive float;
    ``is_causal`` masks out future positions.

    Shape:
        query (*, L, E), key (*, S, E), value (*, S, Ev) -> (*, L, Ev).
    """
    from .linalg import matmul

    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = matmul(query * scale, sh.transpose(key, -2, -1))
    if is_causal:
        from .matrix import TriMask

        causal = apply(TriMask, n=query.shape[-2], m=key.shape[-2], k=0, lower=True)
        scores = ew.where(causal, scores, float("-inf"))
    if attn_mask is not None:
        if attn_mask.data.dtype.kind == "b":
            scores = ew.where(attn_mask, scores, float("-inf"))
        else:
            scores = scores + attn_mask
    attn = softmax(scores, dim=-1)
    if dropout_p > 0.0:
        attn = dropout(attn, dropout_p)
    return matmul(attn, value)


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

    def forward(xp, p, y, weight):
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
    with no_grad():
        outside = bool(rd.any((input < 0) | (input > 1)))
    if outside:
        raise op_error(ValueError, "binary_cross_entropy", "all elements of input should be "
                       "probabilities between 0 and 1", args=[input],
                       hint="apply sigmoid first, or use binary_cross_entropy_with_logits")
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
