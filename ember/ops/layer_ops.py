"""Dropout, embedding, linear/bilinear and scaled dot-product attention."""

from __future__ import annotations

import math

import numpy as np

from ..autograd.grad_mode import no_grad
from ..autograd.node import apply
from ..backend import backend_of
from ..errors import DTypeError, ShapeError, op_error
from ..random import _gen
from ..tensor import Tensor
from . import elementwise as ew
from . import shape as sh
from ._nn_common import (  # noqa: F401
    _INV_SQRT_2PI,
    _SQRT1_2,
    _SQRT_2_PI,
    _check_float,
    _check_same_dtype,
    _sigmoid,
)
from .activation import softmax
from .registry import Op, bias_vjp_cost, io_bytes, numel, reduce_cost, register, spec_bytes

__all__ = [
    "dropout", "dropout1d", "dropout2d", "dropout3d", "embedding", "linear", "bilinear",
    "scaled_dot_product_attention",
]


# ----------------------------------------------------------------------------- dropout


@register
class Dropout(Op):
    """``x * mask``: the mask already holds 0 or ``1 / (1 - p)``."""

    uses_input_values = False  # the vjp reads only the mask, which nothing modifies

    def forward(xp, x, mask):
        return x * mask

    def vjp(F, g, out, x, mask):
        return g * mask, None


@register
class DropoutMask(Op):
    """0 or ``1 / (1 - p)`` per element of ``shape``, drawn from ember's default generator.

    A random op: the graph compiler re-runs it on every call (never folds or merges it), so
    a traced training step draws a fresh mask each step, as eager execution does.
    """

    differentiable = False
    random = True

    def forward(xp, x, shape, p):
        u = _gen(None).random(shape, dtype=np.float32)
        keep = (u >= p).astype(x.dtype) if p < 1 else np.zeros(shape, x.dtype)
        if p < 1:
            keep *= 1.0 / (1.0 - p)
        return xp.asarray(keep)


def _keep_mask(x: Tensor, shape: tuple, p: float, generator) -> Tensor:
    """0 or ``1 / (1 - p)`` drawn from ember's generator, in x's dtype and device."""
    if generator is None:
        return apply(DropoutMask, x.detach(), shape=tuple(shape), p=p)
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

    def cost(out_specs, in_specs, attrs):
        """No arithmetic: reads the indices and the picked rows, writes them out."""
        return 0, spec_bytes(in_specs[1]) + 2 * spec_bytes(out_specs[0])

    def forward(xp, weight, indices, padding_idx=None):
        n = weight.shape[0]
        if indices.size and (indices.min() < 0 or indices.max() >= n):
            bad = indices[(indices < 0) | (indices >= n)].reshape(-1)[0]
            raise IndexError(f"index {int(bad)} is out of range for an embedding with {n} rows")
        return xp.take(weight, indices, axis=0)

    def vjp(F, g, out, weight, indices, padding_idx=None):
        return F.embedding_backward(g, indices, num_weights=weight.shape[0],
                                    padding_idx=padding_idx), None


_RANK_LEVELS = 16  # repeats of one index up to which the scatter-per-rank path is used


@register
class EmbeddingBackward(Op):
    """The rows of ``g`` summed into a (num_weights, dim) zero matrix at ``indices``."""

    cost = reduce_cost  # one add per gradient element

    def forward(xp, g, indices, num_weights, padding_idx=None):
        dim = g.shape[-1]
        flat = indices.reshape(-1)
        out = xp.zeros((num_weights, dim), dtype=g.dtype)
        if flat.size:
            order = xp.argsort(flat, kind="stable")
            ids = flat[order]
            first = xp.concatenate((xp.ones(1, dtype=bool), ids[1:] != ids[:-1]))
            starts = xp.flatnonzero(first)
            g2 = g.reshape(-1, dim)
            # each index's rank among its repeats: rank r of every index is one scatter of
            # distinct rows, which sums the repeats in order (as reduceat does) far faster
            # than reduceat's per-segment loops when indices repeat a few times
            rank = xp.arange(flat.size) - starts[xp.cumsum(first) - 1]
            levels = int(rank.max()) + 1
            if levels <= _RANK_LEVELS:  # rows gathered per rank straight from g
                out[ids[starts]] = g2[order[starts]]
                for r in range(1, levels):
                    at = rank == r
                    out[ids[at]] += g2[order[at]]
            else:
                out[ids[starts]] = xp.add.reduceat(g2[order], starts, axis=0)
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


@register
class IndexFrequency(Op):
    """How often each index of ``indices`` occurs in it, per position, as 1 / count."""

    differentiable = False

    cost = reduce_cost

    def forward(xp, indices, num_weights, dtype):
        counts = xp.bincount(indices.reshape(-1), minlength=num_weights)
        return (1.0 / counts[indices]).astype(dtype)[..., None]


@register
class ScaleGrad(Op):
    """The identity in the forward pass; the gradient is multiplied by ``scale``."""

    uses_input_values = False  # the vjp needs only shapes

    def forward(xp, x, scale):
        return x

    def vjp(F, g, out, x, scale):
        return g * scale, None


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Look up rows of ``weight`` by the integer ``input``; the gradient accumulates per row.

    Args:
        input: integer tensor of indices in ``[0, num_embeddings)``.
        weight: (num_embeddings, embedding_dim).
        padding_idx: this row gets no gradient.
        max_norm: rows looked up are first renormalised in place to this ``norm_type`` norm.
        scale_grad_by_freq: divide each looked-up row's gradient by how often its index
            occurs in ``input`` (PyTorch's option).
        sparse: not supported (ember has no sparse tensors); raises.

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
    if sparse:
        raise ValueError("embedding: sparse=True needs sparse gradients, which ember does not "
                         "have; use the default dense gradient (sparse=False)")
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
    rows = apply(Embedding, weight, input, padding_idx=padding_idx)
    if scale_grad_by_freq:
        scale = apply(IndexFrequency, input, num_weights=n, dtype=weight.data.dtype.name)
        rows = apply(ScaleGrad, rows, scale)
    return rows


# ----------------------------------------------------------------------------- linear


@register
class Linear(Op):
    """``x @ weight.T + bias`` over the last dimension of x.

    The vjp skips the products for arguments that need no gradient (a first layer's input,
    frozen weights).
    """

    blas = True

    wants_needs = True

    def cost(out_specs, in_specs, attrs):
        """2·in_features FLOPs per output element (+1 with a bias)."""
        per = 2 * in_specs[1][0][1] + (in_specs[2] is not None)
        return numel(out_specs[0][0]) * per, io_bytes(out_specs, in_specs)

    def vjp_cost(out_specs, in_specs, attrs, needs):
        """The input and weight gradients are each one product of the forward's size; the
        bias gradient is a sum of the output gradient."""
        return bias_vjp_cost(Linear, out_specs, in_specs, attrs, needs)

    def forward(xp, x, weight, bias):
        if x.ndim == 2:
            y = x @ weight.T
        else:
            y = (x.reshape(-1, x.shape[-1]) @ weight.T).reshape(x.shape[:-1] + weight.shape[:1])
        if bias is not None:
            y += bias
        # NumPy multiplies bfloat16 (ml_dtypes) in float32 and returns float32
        return y if y.dtype == x.dtype else y.astype(x.dtype)

    def vjp(F, g, out, x, weight, bias, needs=(True, True, True)):
        nd = len(x.shape)
        g2 = g if nd == 2 else F.reshape(g, shape=(-1, weight.shape[0]))
        gx = gw = gb = None
        if needs[0]:
            gx = F.matmul(g2, weight)
            if nd != 2:
                gx = F.reshape(gx, shape=tuple(x.shape))
        if needs[1]:
            x2 = x if nd == 2 else F.reshape(x, shape=(-1, weight.shape[1]))
            gw = F.matmul(F.permute(g2, axes=(1, 0)), x2)
        if needs[2] and bias is not None:
            gb = F.sum(g2, axis=(0,), keepdims=False)
        return gx, gw, gb



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
    return apply(Linear, input, weight, bias)


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
