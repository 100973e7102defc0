"""Training-mode batch norm, and max and average pooling in 2-d and 3-d (NDHWC memory)."""

from __future__ import annotations

import ctypes
import threading
import weakref

import numpy as np

from ..layout import empty, packed
from ._lib import (
    _BACKWARD,
    _DIFF,
    _DST,
    _FORWARD_TRAINING,
    _Q_WORKSPACE,
    _SRC,
    _STATE,
    _WORKSPACE,
    _Dims,
    _Library,
    _nhwc_strides,
    _p,
    _usable,
    cached,
)

_USE_SCALE, _USE_SHIFT = 0x2, 0x4
_MEAN, _VARIANCE, _SCALE, _SHIFT, _DIFF_SCALE, _DIFF_SHIFT = 49, 50, 51, 52, 255, 256


class _BatchNormProblem:
    """One cached training-mode batch norm (N, C, H, W): forward and backward primitives."""

    def __init__(self, lib: _Library, shape, eps: float) -> None:
        self.lock = threading.Lock()
        data = lib.md(shape, _nhwc_strides(shape))
        flags = ctypes.c_uint(_USE_SCALE | _USE_SHIFT)
        fwd = _p()
        lib.check(lib.lib.dnnl_batch_normalization_forward_primitive_desc_create(
            ctypes.byref(fwd), lib.engine, _FORWARD_TRAINING, data, data, ctypes.c_float(eps),
            flags, None), "dnnl_batch_normalization_forward_primitive_desc_create")
        bwd = _p()
        lib.check(lib.lib.dnnl_batch_normalization_backward_primitive_desc_create(
            ctypes.byref(bwd), lib.engine, _BACKWARD, data, data, data, ctypes.c_float(eps),
            flags, fwd, None), "dnnl_batch_normalization_backward_primitive_desc_create")
        self.fwd, self.bwd = lib.primitive(fwd), lib.primitive(bwd)
        chan = lib.md((shape[1],), (1,))
        self.mem = {k: lib.memory(data) for k in ("src", "dst", "dsrc", "ddst")}
        self.mem.update({k: lib.memory(chan) for k in ("mean", "var", "scale", "shift",
                                                       "dscale", "dshift")})
        self._mds = (data, chan, fwd, bwd)


def _bn_problem(x, eps):
    if x.ndim != 4 or x.dtype != np.float32 or not x.size:
        return None
    return cached(("batch_norm", x.shape, float(eps)),
                  lambda lib: _BatchNormProblem(lib, x.shape, eps))


def _affine(a, c, fill):
    return np.full(c, fill, np.float32) if a is None else np.ascontiguousarray(a)


def batch_norm(x, weight, bias, eps):
    """Training-mode batch norm of (N, C, H, W) ``x``: ``(y, mean, biased var)`` with ``y``
    channels-last, or None when oneDNN does not run it."""
    if not _usable(x, weight, bias):
        return None
    prob = _bn_problem(x, eps)
    if prob is None:
        return None
    lib, m, c = _STATE["lib"], prob.mem, x.shape[1]
    x = packed(np, x, True)
    y = empty(np, x.shape, np.float32, True)
    mean, var = np.empty(c, np.float32), np.empty(c, np.float32)
    with prob.lock:
        lib.execute(prob.fwd, [(_SRC, m["src"], x), (_DST, m["dst"], y),
                               (_MEAN, m["mean"], mean), (_VARIANCE, m["var"], var),
                               (_SCALE, m["scale"], _affine(weight, c, 1.0)),
                               (_SHIFT, m["shift"], _affine(bias, c, 0.0))])
    return y, mean, var


def batch_norm_backward(g, x, weight, mean, var, eps):
    """The gradients ``(x, weight, bias)`` of training-mode batch norm, or None."""
    if not _usable(g, x, weight, mean, var) or mean.dtype != np.float32:
        return None
    prob = _bn_problem(x, eps)
    if prob is None:
        return None
    lib, m, c = _STATE["lib"], prob.mem, x.shape[1]
    x, g = packed(np, x, True), packed(np, g, True)
    dx = empty(np, x.shape, np.float32, True)
    dw, db = np.empty(c, np.float32), np.empty(c, np.float32)
    with prob.lock:
        lib.execute(prob.bwd, [(_SRC, m["src"], x), (_DIFF + _DST, m["ddst"], g),
                               (_MEAN, m["mean"], np.ascontiguousarray(mean)),
                               (_VARIANCE, m["var"], np.ascontiguousarray(var)),
                               (_SCALE, m["scale"], _affine(weight, c, 1.0)),
                               (_DIFF + _SRC, m["dsrc"], dx),
                               (_DIFF_SCALE, m["dscale"], dw), (_DIFF_SHIFT, m["dshift"], db)])
    return dx, dw, db


_POOLING_MAX, _POOLING_AVG_INCLUDE, _POOLING_AVG_EXCLUDE = 0x1FF, 0x2FF, 0x3FF


class _PoolProblem:
    """One cached pooling of algorithm ``alg``: forward (training; max pooling's keeps the
    argmax workspace) and backward."""

    def __init__(self, lib: _Library, src_shape, dst_shape, kernel, stride, pads, dilation,
                 alg):
        self.lock = threading.Lock()
        src = lib.md(src_shape, _nhwc_strides(src_shape))
        dst = lib.md(dst_shape, _nhwc_strides(dst_shape))
        geometry = (_Dims(*stride), _Dims(*kernel), _Dims(*(d - 1 for d in dilation)),
                    _Dims(*(p[0] for p in pads)), _Dims(*(p[1] for p in pads)))
        fwd = _p()
        lib.check(lib.lib.dnnl_pooling_forward_primitive_desc_create(
            ctypes.byref(fwd), lib.engine, _FORWARD_TRAINING, alg, src, dst,
            *geometry, None), "dnnl_pooling_forward_primitive_desc_create")
        bwd = _p()
        lib.check(lib.lib.dnnl_pooling_backward_primitive_desc_create(
            ctypes.byref(bwd), lib.engine, alg, src, dst, *geometry, fwd, None),
            "dnnl_pooling_backward_primitive_desc_create")
        self.fwd, self.bwd = lib.primitive(fwd), lib.primitive(bwd)
        ws_md, ws_bytes = lib.queried(fwd, _Q_WORKSPACE)
        self.ws_bytes = max(1, ws_bytes)
        self.mem = {k: lib.memory(md) for k, md in (("src", src), ("dst", dst), ("ws", ws_md),
                                                    ("dsrc", src), ("ddst", dst))}
        self._mds = (src, dst, fwd, bwd)


def _pool_problem(shape, out_hw, kernel, stride, pads, dilation, alg=_POOLING_MAX):
    """The cached pooling of a float32 array of ``shape`` (4-d or 5-d), or None."""
    shape = tuple(shape)
    if len(shape) not in (4, 5) or min(shape) <= 0 or min(out_hw) <= 0:
        return None
    dst_shape = shape[:2] + tuple(out_hw)
    key = ("pool", alg, shape, dst_shape, tuple(kernel), tuple(stride),
           tuple(map(tuple, pads)), tuple(dilation))
    return cached(key, lambda lib: _PoolProblem(lib, shape, dst_shape, kernel, stride, pads,
                                                dilation, alg))


_SAVED: dict = {}  # id(forward output) -> (weakref to input, weakref to output, workspace)
_SAVED_LOCK = threading.Lock()


def _remember(x, y, ws) -> None:
    """Keep the argmax workspace of the pooling ``x -> y`` while ``y`` lives."""
    key = id(y)

    def drop(_ref, key=key):
        with _SAVED_LOCK:
            entry = _SAVED.get(key)
            if entry is not None and entry[1]() is None:
                del _SAVED[key]

    try:
        entry = (weakref.ref(x), weakref.ref(y, drop), ws)
    except TypeError:  # pragma: no cover - an array type without weak references
        return
    with _SAVED_LOCK:
        _SAVED[key] = entry


def _recall(x, y):
    """The workspace the forward ``x -> y`` left, or None."""
    with _SAVED_LOCK:
        entry = _SAVED.get(id(y))
    if entry is None or entry[1]() is not y or entry[0]() is not x:
        return None
    return entry[2]


def max_pool2d(x, out_hw, kernel, stride, pads, dilation, grad=None, out=None):
    """Max pooling of ``x`` (channels-last result), or with ``grad`` (the output's
    gradient) the input's gradient, each window's gradient sent to its first maximum; None
    when oneDNN does not run it. 3-d with a 5-d ``x`` (N, C, D, H, W).

    The forward keeps its argmax workspace while its result lives; the gradient of the
    pooling that gave ``out`` from this same ``x`` reads it, and any other runs the forward
    again for one (the autograd engine refuses gradients of inputs modified in place, so an
    input that is the same array holds the same values).
    """
    if not _usable(x):
        return None
    prob = _pool_problem(x.shape, out_hw, kernel, stride, pads, dilation)
    if prob is None:
        return None
    lib, m = _STATE["lib"], prob.mem
    ws = None if grad is None or out is None else _recall(x, out)
    given = x
    x = packed(np, x, True)
    with prob.lock:
        if ws is None:
            ws = np.empty(prob.ws_bytes, np.uint8)
            y = empty(np, tuple(x.shape[:2]) + tuple(out_hw), np.float32, True)
            lib.execute(prob.fwd, [(_SRC, m["src"], x), (_DST, m["dst"], y),
                                   (_WORKSPACE, m["ws"], ws)])
            if grad is None:
                _remember(given, y, ws)
                return y
        dx = empty(np, x.shape, np.float32, True)
        lib.execute(prob.bwd, [(_DIFF + _DST, m["ddst"], packed(np, grad, True)),
                               (_WORKSPACE, m["ws"], ws), (_DIFF + _SRC, m["dsrc"], dx)])
    return dx


def avg_pool(a, size, kernel, stride, pads, count_include_pad, backward=False):
    """Average pooling of (N, C, H, W) or (N, C, D, H, W) ``a`` to spatial ``size``
    (channels-last result), or with ``backward`` the gradient, of spatial ``size``, of the
    pooling whose output gradient is ``a``; None when oneDNN does not run it. Counting the
    padding oneDNN divides by the whole kernel, so callers pass only windows that end inside
    the padded input."""
    if not _usable(a):
        return None
    n, c = a.shape[:2]
    src, dst = (n, c) + tuple(size), tuple(a.shape)
    if not backward:
        src, dst = dst, src
    alg = _POOLING_AVG_INCLUDE if count_include_pad else _POOLING_AVG_EXCLUDE
    prob = _pool_problem(src, dst[2:], kernel, stride, pads, (1,) * len(kernel), alg)
    if prob is None:
        return None
    lib, m = _STATE["lib"], prob.mem
    out = empty(np, dst if not backward else src, np.float32, True)
    a = packed(np, a, True)
    args = ([(_SRC, m["src"], a), (_DST, m["dst"], out)] if not backward else
            [(_DIFF + _DST, m["ddst"], a), (_DIFF + _SRC, m["dsrc"], out)])
    with prob.lock:
        lib.execute(prob.bwd if backward else prob.fwd, args)
    return out
