"""Pooling primitives: max_pool2d and avg_pool2d with their gradients, and the public pools.

The array kernels live in ``pool_kernels``: loops over the kernel offsets combining strided
slices, in the input's memory order. Max pooling routes each window's gradient to its first
maximum in row-major scan order, as PyTorch does, so tied windows (all zeros after a ReLU)
give one element the gradient, not all of them. ``max_pool2d_grad`` (the backward) and
``max_pool2d_select`` (its transpose) are primitives too, so double backward works.
Adaptive pools are composites: the average one is two matmuls with averaging matrices, the
max one gathers each window's rows and columns to a common size and max-pools that.
"""

from __future__ import annotations

import math

from ..autograd.node import apply
from ..errors import ShapeError, op_error
from ..tensor import Tensor
from . import pool_kernels as K
from .registry import Op, io_bytes, register, window_flops

__all__ = ["max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d",
           "adaptive_avg_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d"]


@register
class MaxPool2d(Op):
    needs_output = True

    def cost(out_specs, in_specs, attrs):
        """kh·kw FLOPs (comparisons or adds) per pooled element."""
        return window_flops(out_specs[0], attrs), io_bytes(out_specs, in_specs)

    def forward(xp, x, kernel, stride, padding, dilation, ceil_mode):
        return K.max_pool2d(xp, x, kernel, stride, padding, dilation, ceil_mode)

    def vjp(F, g, out, x, kernel, stride, padding, dilation, ceil_mode):
        return (F.max_pool2d_grad(g, x, out, kernel=kernel, stride=stride, padding=padding,
                                  dilation=dilation, ceil_mode=ceil_mode),)


@register
class MaxPool2dGrad(Op):
    """The gradient of max_pool2d: ``g`` sent to each window's first maximum."""

    def cost(out_specs, in_specs, attrs):
        """kh·kw FLOPs (comparisons or adds) per pooled element."""
        return window_flops(in_specs[0], attrs), io_bytes(out_specs, in_specs)

    def forward(xp, g, x, out, kernel, stride, padding, dilation, ceil_mode):
        return K.max_pool2d_grad(xp, g, x, out, kernel, stride, padding, dilation, ceil_mode)

    def vjp(F, gg, _, g, x, out, kernel, stride, padding, dilation, ceil_mode):
        return F.max_pool2d_select(gg, x, out, kernel=kernel, stride=stride, padding=padding,
                                   dilation=dilation, ceil_mode=ceil_mode), None, None


@register
class MaxPool2dSelect(Op):
    """``t`` (shaped like the pool's input) read at each window's first maximum."""

    def cost(out_specs, in_specs, attrs):
        """kh·kw FLOPs (comparisons or adds) per pooled element."""
        return window_flops(in_specs[2], attrs), io_bytes(out_specs, in_specs)

    def forward(xp, t, x, out, kernel, stride, padding, dilation, ceil_mode):
        return K.max_pool2d_select(xp, t, x, out, kernel, stride, padding, dilation, ceil_mode)

    def vjp(F, g, _, t, x, out, kernel, stride, padding, dilation, ceil_mode):
        return F.max_pool2d_grad(g, x, out, kernel=kernel, stride=stride, padding=padding,
                                 dilation=dilation, ceil_mode=ceil_mode), None, None


@register
class MaxPool2dIndices(Op):
    """Flat ``h * W + w`` positions of each window's first maximum (return_indices)."""

    differentiable = False

    def cost(out_specs, in_specs, attrs):
        """kh·kw FLOPs (comparisons or adds) per pooled element."""
        return window_flops(in_specs[1], attrs), io_bytes(out_specs, in_specs)

    def forward(xp, x, out, kernel, stride, padding, dilation, ceil_mode):
        return K.max_pool2d_indices(xp, x, out, kernel, stride, padding, dilation, ceil_mode)


@register
class AvgPool2d(Op):
    def cost(out_specs, in_specs, attrs):
        """kh·kw FLOPs (comparisons or adds) per pooled element."""
        return window_flops(out_specs[0], attrs), io_bytes(out_specs, in_specs)

    def forward(xp, x, kernel, stride, padding, ceil_mode, count_include_pad, divisor):
        return K.avg_pool2d(xp, x, kernel, stride, padding, ceil_mode, count_include_pad,
                           divisor)

    def vjp(F, g, out, x, kernel, stride, padding, ceil_mode, count_include_pad, divisor):
        return (F.avg_pool2d_grad(g, input_size=tuple(x.shape[2:]), kernel=kernel,
                                  stride=stride, padding=padding, ceil_mode=ceil_mode,
                                  count_include_pad=count_include_pad, divisor=divisor),)


@register
class AvgPool2dGrad(Op):
    """The gradient (transpose) of avg_pool2d: each output's share spread over its window."""

    def cost(out_specs, in_specs, attrs):
        """kh·kw FLOPs (comparisons or adds) per pooled element."""
        return window_flops(in_specs[0], attrs), io_bytes(out_specs, in_specs)

    def forward(xp, g, input_size, kernel, stride, padding, ceil_mode, count_include_pad,
                divisor):
        return K.avg_pool2d_grad(xp, g, input_size, kernel, stride, padding, ceil_mode,
                                count_include_pad, divisor)

    def vjp(F, gg, _, g, input_size, kernel, stride, padding, ceil_mode, count_include_pad,
            divisor):
        return (F.avg_pool2d(gg, kernel=kernel, stride=stride, padding=padding,
                             ceil_mode=ceil_mode, count_include_pad=count_include_pad,
                             divisor=divisor),)


# ----------------------------------------------------------------------------- public API


def _pair(value, n, name, op):
    if isinstance(value, int):
        return (value,) * n
    value = tuple(value)
    if len(value) != n or not all(isinstance(v, int) for v in value):
        raise ValueError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    return value


def _pool_args(op, x, nd, kernel_size, stride, padding, dilation):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(x).__name__}")
    if x.ndim not in (nd + 1, nd + 2):
        shape = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}[nd]
        raise op_error(ShapeError, op, f"expected a {nd + 2}-d input {shape} (or {nd + 1}-d "
                       f"without the batch), got {x.ndim}-d", args=[x])
    kernel = _pair(kernel_size, nd, "kernel_size", op)
    stride = kernel if stride is None or stride == () else _pair(stride, nd, "stride", op)
    padding = _pair(padding, nd, "padding", op)
    dilation = _pair(dilation, nd, "dilation", op)
    if any(v < 1 for v in kernel + stride + dilation):
        raise ValueError(f"{op}: kernel_size, stride and dilation must be positive, got "
                         f"{kernel}, {stride}, {dilation}")
    if any(p < 0 or p > k // 2 for p, k in zip(padding, kernel)):
        raise ValueError(f"{op}: padding {padding} must be between 0 and half the kernel size "
                         f"{kernel}")
    return kernel, stride, padding, dilation


def _as_4d(x, nd):
    """(view as N, C, H, W; how to restore the output shape)."""
    shape = tuple(x.shape)
    if nd == 1:
        lead = shape[:-1]
        n = math.prod(lead[:-1]) if len(lead) > 1 else 1
        return x.reshape(n, lead[-1], 1, shape[-1]), lead
    if x.ndim == 3:
        return x.reshape((1,) + shape), shape[:1]
    return x, shape[:2]


def _check_windows(op, x4, kernel, stride, padding, dilation, ceil_mode):
    out_hw = tuple(K.out_size(s, k, st, p, d, ceil_mode) for s, k, st, p, d in
                   zip(x4.shape[2:], kernel, stride, padding, dilation))
    if any(o < 1 for o in out_hw):
        padded = tuple(s + 2 * p for s, p in zip(x4.shape[2:], padding))
        raise op_error(ShapeError, op, f"the kernel {kernel} (dilation {dilation}) is larger "
                       f"than the padded input {padded}", args=[x4],
                       hint="use a smaller kernel or more padding")


def _max_pool(op, x, nd, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    kernel, stride, padding, dilation = _pool_args(op, x, nd, kernel_size, stride, padding,
                                                   dilation)
    x4, lead = _as_4d(x, nd)
    if nd == 1:
        kernel, stride, padding, dilation = ((1,) + kernel, (1,) + stride, (0,) + padding,
                                             (1,) + dilation)
    _check_windows(op, x4, kernel, stride, padding, dilation, ceil_mode)
    attrs = dict(kernel=kernel, stride=stride, padding=padding, dilation=dilation,
                 ceil_mode=bool(ceil_mode))
    y = apply(MaxPool2d, x4, **attrs)
    out_shape = lead + tuple(y.shape[2 if nd == 2 else 3:])
    if not return_indices:
        return y.reshape(out_shape)
    idx = apply(MaxPool2dIndices, x4, y.detach(), **attrs)
    return y.reshape(out_shape), idx.reshape(out_shape)


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """2-d max pooling over an (N, C, H, W) input, as PyTorch's.

    Args:
        input: (N, C, H, W), or (C, H, W) without a batch.
        kernel_size: window size, an int or a pair.
        stride: step between windows (default: ``kernel_size``).
        padding: implicit -inf padding on both sides, at most half the kernel.
        dilation: spacing between window elements.
        ceil_mode: round the output size up (a last partial window) instead of down.
        return_indices: also return each maximum's flat position ``h * W + w``.

    Shape:
        output (N, C, Ho, Wo) with ``Ho = floor((H + 2p - d(k - 1) - 1) / s) + 1``.

    Example:
        >>> import ember
        >>> import ember.nn.functional as F
        >>> F.max_pool2d(ember.arange(16.0).reshape(1, 1, 4, 4), 2)
        tensor([[[[ 5.,  7.],
                  [13., 15.]]]])
    """
    return _max_pool("max_pool2d", input, 2, kernel_size, stride, padding, dilation,
                     ceil_mode, return_indices)


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """1-d max pooling over an (N, C, L) input; arguments as in ``max_pool2d``.

    Example:
        >>> import ember
        >>> import ember.nn.functional as F
        >>> F.max_pool1d(ember.tensor([[[1.0, 3.0, 2.0, 0.0]]]), 2)
        tensor([[[3., 2.]]])
    """
    return _max_pool("max_pool1d", input, 1, kernel_size, stride, padding, dilation,
                     ceil_mode, return_indices)


def _avg_pool(op, x, nd, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override):
    kernel, stride, padding, _ = _pool_args(op, x, nd, kernel_size, stride, padding, 1)
    if divisor_override is not None and (not isinstance(divisor_override, int)
                                         or divisor_override <= 0):
        raise ValueError(f"{op}: divisor_override must be a positive int, got "
                         f"{divisor_override!r}")
    x4, lead = _as_4d(x, nd)
    if nd == 1:
        kernel, stride, padding = (1,) + kernel, (1,) + stride, (0,) + padding
    _check_windows(op, x4, kernel, stride, padding, (1, 1), ceil_mode)
    y = apply(AvgPool2d, x4, kernel=kernel, stride=stride, padding=padding,
              ceil_mode=bool(ceil_mode), count_include_pad=bool(count_include_pad),
              divisor=divisor_override or 0)
    return y.reshape(lead + tuple(y.shape[2 if nd == 2 else 3:]))


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """2-d average pooling over an (N, C, H, W) input, as PyTorch's.

    Args:
        input: (N, C, H, W), or (C, H, W) without a batch.
        kernel_size, stride (default ``kernel_size``), padding (zeros, at most half the
            kernel), ceil_mode: as in ``max_pool2d``.
        count_include_pad: count padded zeros in each window's divisor.
        divisor_override: divide every window's sum by this instead.

    Example:
        >>> import ember
        >>> import ember.nn.functional as F
        >>> F.avg_pool2d(ember.arange(16.0).reshape(1, 1, 4, 4), 2)
        tensor([[[[ 2.5,  4.5],
                  [10.5, 12.5]]]])
    """
    return _avg_pool("avg_pool2d", input, 2, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """1-d average pooling over an (N, C, L) input; arguments as in ``avg_pool2d``.

    Example:
        >>> import ember
        >>> import ember.nn.functional as F
        >>> F.avg_pool1d(ember.tensor([[[1.0, 3.0, 2.0, 0.0]]]), 2)
        tensor([[[2., 1.]]])
    """
    return _avg_pool("avg_pool1d", input, 1, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, None)


def _adaptive_bounds(size: int, out: int):
    """PyTorch's adaptive windows: [floor(i * size / out), ceil((i + 1) * size / out))."""
    return [((i * size) // out, -(-((i + 1) * size) // out)) for i in range(out)]


def _output_size(op, output_size, hw):
    nd = len(hw)
    size = (output_size,) * nd if isinstance(output_size, int) or output_size is None \
        else tuple(output_size)
    if len(size) != nd:
        raise ValueError(f"{op}: output_size must be an int or a tuple of {nd}, got "
                         f"{output_size!r}")
    size = tuple(h if s is None else s for s, h in zip(size, hw))
    if any(not isinstance(s, int) or s < 1 for s in size):
        raise ValueError(f"{op}: output_size must hold positive ints, got {output_size!r}")
    return size


def _adaptive_args(op, x, nd, output_size):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(x).__name__}")
    if x.ndim not in (nd + 1, nd + 2):
        shape = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}[nd]
        raise op_error(ShapeError, op, f"expected a {nd + 2}-d input {shape} (or {nd + 1}-d "
                       f"without the batch), got {x.ndim}-d", args=[x])
    x4, lead = _as_4d(x, nd)
    size = _output_size(op, output_size, tuple(x.shape[-nd:]))
    return x4, lead, ((1,) + size if nd == 1 else size)


def _averaging_matrix(size: int, out: int, like: Tensor) -> Tensor:
    from .creation import tensor

    rows = [[0.0] * size for _ in range(out)]
    for i, (start, end) in enumerate(_adaptive_bounds(size, out)):
        for j in range(start, end):
            rows[i][j] = 1.0 / (end - start)
    return tensor(rows, dtype=like.dtype)


def _adaptive_avg(op, x, nd, output_size):
    x4, lead, (ho, wo) = _adaptive_args(op, x, nd, output_size)
    h, w = x4.shape[2:]
    if h % ho == 0 and w % wo == 0:
        if ho == wo == 1:
            y = x4.mean(dim=(2, 3), keepdim=True)
        else:
            kernel = (h // ho, w // wo)
            y = apply(AvgPool2d, x4, kernel=kernel, stride=kernel, padding=(0, 0),
                      ceil_mode=False, count_include_pad=True, divisor=0)
    else:  # uneven windows: average rows and columns with two matrix products
        y = _averaging_matrix(h, ho, x4) @ x4 @ _averaging_matrix(w, wo, x4).mT
    return y.reshape(lead + tuple(y.shape[2 if nd == 2 else 3:]))


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Average pooling to a fixed output size (PyTorch's adaptive windows).

    Args:
        input: (N, C, H, W), or (C, H, W) without a batch.
        output_size: (Ho, Wo), an int for both, or None in a place to keep that size.

    Example:
        >>> import ember
        >>> import ember.nn.functional as F
        >>> F.adaptive_avg_pool2d(ember.ones(2, 3, 7, 5), 1).shape
        (2, 3, 1, 1)
    """
    return _adaptive_avg("adaptive_avg_pool2d", input, 2, output_size)


def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:
    """Average pooling of an (N, C, L) input to length ``output_size``.

    Example:
        >>> import ember
        >>> import ember.nn.functional as F
        >>> F.adaptive_avg_pool1d(ember.ones(2, 3, 10), 4).shape
        (2, 3, 4)
    """
    return _adaptive_avg("adaptive_avg_pool1d", input, 1, output_size)


def _gather_windows(x4, dim, size, out):
    """Gather each adaptive window along ``dim`` to a common length (repeating its last
    element); returns the gathered tensor, the window length and the source positions."""
    from .creation import tensor

    bounds = _adaptive_bounds(size, out)
    k = max(end - start for start, end in bounds)
    src = [min(start + r, end - 1) for start, end in bounds for r in range(k)]
    return x4.index_select(dim, tensor(src)), k, src


def _adaptive_max(op, x, nd, output_size, return_indices):
    x4, lead, (ho, wo) = _adaptive_args(op, x, nd, output_size)
    h, w = x4.shape[2:]
    if h % ho == 0 and w % wo == 0:
        kernel = (h // ho, w // wo)
        xg, rows, cols = x4, None, None
    else:  # repeated elements come after the originals, so the first maximum is unchanged
        xg, kh, rows = _gather_windows(x4, 2, h, ho)
        xg, kw, cols = _gather_windows(xg, 3, w, wo)
        kernel = (kh, kw)
    attrs = dict(kernel=kernel, stride=kernel, padding=(0, 0), dilation=(1, 1),
                 ceil_mode=False)
    y = apply(MaxPool2d, xg, **attrs)
    out_shape = lead + tuple(y.shape[2 if nd == 2 else 3:])
    if not return_indices:
        return y.reshape(out_shape)
    idx = apply(MaxPool2dIndices, xg, y.detach(), **attrs)
    if rows is not None:
        from .creation import tensor

        wg = xg.shape[3]
        flat = idx.data
        idx = Tensor(tensor(rows).data[flat // wg] * w + tensor(cols).data[flat % wg])
    return y.reshape(out_shape), idx.reshape(out_shape)


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False):
    """Max pooling to a fixed output size (PyTorch's adaptive windows).

    Args:
        input: (N, C, H, W), or (C, H, W) without a batch.
        output_size: (Ho, Wo), an int for both, or None in a place to keep that size.
        return_indices: also return each maximum's flat position ``h * W + w``.

    Example:
        >>> import ember
        >>> import ember.nn.functional as F
        >>> F.adaptive_max_pool2d(ember.arange(16.0).reshape(1, 1, 4, 4), 1)
        tensor([[[[15.]]]])
    """
    return _adaptive_max("adaptive_max_pool2d", input, 2, output_size, return_indices)


def adaptive_max_pool1d(input: Tensor, output_size, return_indices: bool = False):
    """Max pooling of an (N, C, L) input to length ``output_size``.

    Example:
        >>> import ember
        >>> import ember.nn.functional as F
        >>> F.adaptive_max_pool1d(ember.tensor([[[1.0, 3.0, 2.0, 5.0, 4.0]]]), 2)
        tensor([[[3., 5.]]])
    """
    return _adaptive_max("adaptive_max_pool1d", input, 1, output_size, return_indices)
