"""Convolutions: forward, input gradient (also ``conv_transpose2d``) and weight gradient, in
2-d and 3-d (the same primitives on (N, C, D, H, W) with channels-last NDHWC memory)."""

from __future__ import annotations

import ctypes
import threading

import numpy as np

from ...ops.conv_kernels import out_size
from ..layout import empty, packed
from ._lib import (
    _BIAS,
    _CONVOLUTION_DIRECT,
    _DIFF_BIAS,
    _DIFF_DST,
    _DIFF_SRC,
    _DIFF_WEIGHTS,
    _DST,
    _FORWARD_TRAINING,
    _Q_DIFF_WEIGHTS,
    _Q_WEIGHTS,
    _SRC,
    _STATE,
    _WEIGHTS,
    _Dims,
    _Library,
    _nhwc_strides,
    _p,
    _usable,
    cached,
)


def _weight_dims(shape, groups) -> tuple:
    """oneDNN's weight dimensions and (packed) strides for (O, C/G, *kernel): with a leading
    G, (G, O/G, C/G, *kernel), if grouped."""
    dims = tuple(shape) if groups == 1 else (groups, shape[0] // groups) + tuple(shape[1:])
    strides = [1]
    for size in reversed(dims[1:]):
        strides.insert(0, strides[0] * size)
    return dims, tuple(strides)


class _Problem:
    """One cached convolution: its primitives, descriptors and weight buffers."""

    def __init__(self, lib: _Library, kind: str, src_shape, w_shape, dst_shape, stride,
                 padding, dilation, groups, bias: bool) -> None:
        self.lock = threading.Lock()
        self.kind = kind
        src_md = lib.md(src_shape, _nhwc_strides(src_shape))
        dst_md = lib.md(dst_shape, _nhwc_strides(dst_shape))
        wdims, wstrides = _weight_dims(w_shape, groups)
        user_w = lib.md(wdims, wstrides)
        any_w = lib.md(wdims)
        bias_md = lib.md((w_shape[0],), (1,)) if bias else None
        geometry = (_Dims(*stride), _Dims(*(d - 1 for d in dilation)),
                    _Dims(*(p[0] for p in padding)), _Dims(*(p[1] for p in padding)))
        fwd = _p()
        lib.check(lib.lib.dnnl_convolution_forward_primitive_desc_create(
            ctypes.byref(fwd), lib.engine, _FORWARD_TRAINING, _CONVOLUTION_DIRECT, src_md,
            any_w, bias_md, dst_md, *geometry, None),
            "dnnl_convolution_forward_primitive_desc_create")
        if kind == "forward":
            pd = fwd
            query = _Q_WEIGHTS
        elif kind == "backward_data":
            pd = _p()
            lib.check(lib.lib.dnnl_convolution_backward_data_primitive_desc_create(
                ctypes.byref(pd), lib.engine, _CONVOLUTION_DIRECT, src_md, any_w, dst_md,
                *geometry, fwd, None), "dnnl_convolution_backward_data_primitive_desc_create")
            query = _Q_WEIGHTS
        else:
            pd = _p()
            lib.check(lib.lib.dnnl_convolution_backward_weights_primitive_desc_create(
                ctypes.byref(pd), lib.engine, _CONVOLUTION_DIRECT, src_md, any_w, bias_md,
                dst_md, *geometry, fwd, None),
                "dnnl_convolution_backward_weights_primitive_desc_create")
            query = _Q_DIFF_WEIGHTS
        self.prim = lib.primitive(pd)
        w_md, w_bytes = lib.queried(pd, query)
        self.w_buf = np.empty(max(1, w_bytes // 4), dtype=np.float32)
        if kind == "backward_weights":
            self.reorder = lib.reorder(w_md, user_w)
        else:
            self.reorder = lib.reorder(user_w, w_md)
        self.mem_user_w, self.mem_w = lib.memory(user_w), lib.memory(w_md)
        self.mem_src, self.mem_dst = lib.memory(src_md), lib.memory(dst_md)
        self.mem_bias = lib.memory(bias_md) if bias else None
        # the descriptors are copied into the primitives and memories; keep them for their
        # lifetime anyway (a few hundred bytes each)
        self._mds = (src_md, dst_md, user_w, any_w, bias_md, fwd, pd)


def _problem(kind, src_shape, w_shape, dst_shape, stride, padding, dilation, groups, bias):
    """The cached convolution problem, or None (the caller falls back to NumPy)."""
    key = (kind, tuple(src_shape), tuple(w_shape), tuple(dst_shape), tuple(stride),
           tuple(map(tuple, padding)), tuple(dilation), groups, bias)
    return cached(key, lambda lib: _Problem(lib, kind, src_shape, w_shape, dst_shape, stride,
                                            padding, dilation, groups, bias))


def conv2d(x, w, b, stride, padding, dilation, groups):
    """y = conv(x, w) + b as a channels-last (N, O, Ho, Wo) array, or None (not handled);
    with a 5-d ``x`` and ``w`` the 3-d convolution, (N, O, Do, Ho, Wo)."""
    if not _usable(x, w, b) or x.ndim not in (4, 5) or w.ndim != x.ndim:
        return None
    out = tuple(out_size(*a) for a in zip(x.shape[2:], w.shape[2:], stride, padding, dilation))
    if min(out) <= 0:
        return None
    dst_shape = (x.shape[0], w.shape[0]) + out
    prob = _problem("forward", x.shape, w.shape, dst_shape, stride, padding, dilation,
                    groups, b is not None)
    if prob is None:
        return None
    lib = _STATE["lib"]
    x = packed(np, x, True)
    w = np.ascontiguousarray(w)
    y = empty(np, dst_shape, np.float32, True)
    with prob.lock:
        lib.execute(prob.reorder, [(_SRC, prob.mem_user_w, w), (_DST, prob.mem_w, prob.w_buf)])
        args = [(_SRC, prob.mem_src, x), (_WEIGHTS, prob.mem_w, prob.w_buf),
                (_DST, prob.mem_dst, y)]
        if b is not None:
            args.append((_BIAS, prob.mem_bias, np.ascontiguousarray(b)))
        lib.execute(prob.prim, args)
    return y


def conv2d_input_grad(g, w, in_hw, stride, padding, dilation, groups):
    """The gradient of conv2d's input of spatial size ``in_hw`` from the output gradient
    ``g``, channels-last; or None (not handled). 3-d with a 5-d ``g`` and ``w``."""
    if not _usable(g, w) or g.ndim not in (4, 5) or w.ndim != g.ndim:
        return None
    n = g.shape[0]
    c = w.shape[1] * groups
    src_shape = (n, c) + tuple(in_hw)
    prob = _problem("backward_data", src_shape, w.shape, g.shape, stride, padding, dilation,
                    groups, False)
    if prob is None:
        return None
    lib = _STATE["lib"]
    g = packed(np, g, True)
    w = np.ascontiguousarray(w)
    dx = empty(np, src_shape, np.float32, True)
    with prob.lock:
        lib.execute(prob.reorder, [(_SRC, prob.mem_user_w, w), (_DST, prob.mem_w, prob.w_buf)])
        lib.execute(prob.prim, [(_DIFF_DST, prob.mem_dst, g), (_WEIGHTS, prob.mem_w, prob.w_buf),
                                (_DIFF_SRC, prob.mem_src, dx)])
    return dx


def conv2d_weight(x, g, kernel_size, stride, padding, dilation, groups, bias=False):
    """The weight gradient (O, C/G, kh, kw) of conv2d, and with ``bias`` the pair (weight
    gradient, bias gradient) from one primitive; None when oneDNN does not run it. 3-d with a
    5-d ``x`` and ``g`` and three kernel sizes."""
    if not _usable(x, g) or x.ndim not in (4, 5) or g.ndim != x.ndim:
        return None
    o = g.shape[1]
    w_shape = (o, x.shape[1] // groups) + tuple(kernel_size)
    prob = _problem("backward_weights", x.shape, w_shape, g.shape, stride, padding, dilation,
                    groups, bool(bias))
    if prob is None:
        return None
    lib = _STATE["lib"]
    x, g = packed(np, x, True), packed(np, g, True)
    dw = np.empty(w_shape, dtype=np.float32)
    args = [(_SRC, prob.mem_src, x), (_DIFF_DST, prob.mem_dst, g),
            (_DIFF_WEIGHTS, prob.mem_w, prob.w_buf)]
    if bias:
        db = np.empty(o, dtype=np.float32)
        args.append((_DIFF_BIAS, prob.mem_bias, db))
    with prob.lock:
        lib.execute(prob.prim, args)
        lib.execute(prob.reorder, [(_SRC, prob.mem_w, prob.w_buf),
                                   (_DST, prob.mem_user_w, dw)])
    return (dw, db) if bias else dw
