"""RMS and local response normalisation, and power-average (Lp) pooling, as PyTorch's.

Each is a composite of primitives (square, mean, rsqrt, pad, slicing, avg_pool): no vjp of
its own, so autograd, the graph compiler and ONNX export see only existing ops.
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError, op_error
from ..tensor import Tensor
from . import elementwise as ew
from . import pool
from . import reduce as rd
from . import shape as sh
from ._nn_common import _check_float

__all__ = ["rms_norm", "local_response_norm", "lp_pool1d", "lp_pool2d"]


def rms_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
             eps: float | None = None) -> Tensor:
    """Root-mean-square normalisation over the trailing ``normalized_shape`` dimensions:
    ``x / sqrt(mean(x²) + eps) * weight``.

    Args:
        input: a floating-point tensor (*, *normalized_shape).
        normalized_shape: an int or the shape of the trailing dimensions.
        weight: an optional scale of ``normalized_shape``.
        eps: added to the mean square; None for ``finfo(input.dtype).eps``.

    Example:
        >>> import ember
        >>> ember.nn.functional.rms_norm(ember.tensor([[3.0, -3.0]]), (2,))
        tensor([[ 1., -1.]])
    """
    _check_float(input, "rms_norm")
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(int(s) for s in normalized_shape)
    k = len(normalized_shape)
    if k == 0 or input.ndim < k or tuple(input.shape[input.ndim - k:]) != normalized_shape:
        raise op_error(ShapeError, "rms_norm", f"expected input with trailing dimensions "
                       f"{normalized_shape}", args=[input])
    if weight is not None and tuple(weight.shape) != normalized_shape:
        raise op_error(ShapeError, "rms_norm", f"weight must have shape {normalized_shape}",
                       args=[weight])
    if eps is None:
        eps = float(np.finfo(input.dtype.np).eps)
    dims = tuple(range(input.ndim - k, input.ndim))
    y = input * ew.rsqrt(rd.mean(input * input, dim=dims, keepdim=True) + eps)
    return y if weight is None else y * weight


def _channel_window_sum(x: Tensor, before: int, after: int) -> Tensor:
    """Sum over dim 1 of the window [c - before, c + after] at each channel c (zeros
    outside), by slicing the zero-padded tensor."""
    channels = x.shape[1]
    pads = (0, 0) * (x.ndim - 2) + (before, after)
    padded = sh.pad(x, pads)
    total = padded[:, 0:channels]
    for j in range(1, before + after + 1):
        total = total + padded[:, j:j + channels]
    return total


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0) -> Tensor:
    """Normalise each channel by its ``size`` neighbours across channels:
    ``x / (k + alpha * mean(x² over the window)) ** beta``.

    Args:
        input: (N, C, *) with at least 3 dimensions.
        size: the number of neighbouring channels in each window.

    Example:
        >>> import ember
        >>> y = ember.nn.functional.local_response_norm(ember.ones(1, 3, 2), 2, alpha=1.0)
        >>> y[0, :, 0]
        tensor([0.7378, 0.5946, 0.5946])
    """
    _check_float(input, "local_response_norm")
    if input.ndim < 3:
        raise op_error(ShapeError, "local_response_norm", f"expected a 3-d or higher input "
                       f"(N, C, *), got {input.ndim}-d", args=[input])
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"local_response_norm: size must be a positive int, got {size!r}")
    window = _channel_window_sum(input * input, size // 2, (size - 1) // 2)
    return input / ew.pow(window * (alpha / size) + k, beta)


def _lp_pool(op, nd, input, norm_type, kernel_size, stride, ceil_mode):
    _check_float(input, op)
    if isinstance(norm_type, bool) or not isinstance(norm_type, (int, float)) \
            or norm_type <= 0:
        raise ValueError(f"{op}: norm_type must be a positive number, got {norm_type!r}")
    kernel, strides, _, _ = pool._pool_args(op, input, nd, kernel_size, stride, 0, 1)
    x4, _ = pool._as_4d(input, nd)
    lead = (1,) * (2 - nd)  # 1-d pools run as 2-d over (N, C, 1, L)
    pool._check_windows(op, x4, lead + kernel, lead + strides, (0, 0), (1, 1), ceil_mode)
    avg = pool.avg_pool2d if nd == 2 else pool.avg_pool1d
    out = avg(ew.pow(input, norm_type), kernel, strides, 0, ceil_mode)
    # as PyTorch: sign(out) * relu(|out|), scaled from the mean to the sum
    count = int(np.prod(kernel))
    return ew.pow(ew.sign(out) * ew.relu(ew.abs(out)) * count, 1.0 / norm_type)


def lp_pool2d(input: Tensor, norm_type: float, kernel_size, stride=None,
              ceil_mode: bool = False) -> Tensor:
    """2-d power-average pooling: ``(sum of x ** p over each window) ** (1 / p)``.

    Args:
        input: (N, C, H, W), or (C, H, W) without a batch.
        norm_type: p (1 gives sum pooling; large p approaches max pooling).
        kernel_size, stride (default ``kernel_size``), ceil_mode: as in ``avg_pool2d``.

    Example:
        >>> import ember
        >>> import ember.nn.functional as F
        >>> F.lp_pool2d(ember.full((1, 1, 2, 2), 3.0), 2, 2)
        tensor([[[[6.]]]])
    """
    return _lp_pool("lp_pool2d", 2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool1d(input: Tensor, norm_type: float, kernel_size, stride=None,
              ceil_mode: bool = False) -> Tensor:
    """1-d power-average pooling over (N, C, L); arguments as in ``lp_pool2d``.

    Example:
        >>> import ember
        >>> import ember.nn.functional as F
        >>> F.lp_pool1d(ember.tensor([[[3.0, 4.0, 6.0, 8.0]]]), 2, 2)
        tensor([[[ 5., 10.]]])
    """
    return _lp_pool("lp_pool1d", 1, input, norm_type, kernel_size, stride, ceil_mode)
