"""cuDNN pooling, batch norm and softmax on CUDA, through cuDNN's C API (ctypes).

The forwards of ``max_pool2d``/``max_pool2d_grad``, ``avg_pool2d``/``avg_pool2d_grad``,
``batch_norm``/``batch_norm_backward``, ``softmax``/``log_softmax`` and ``softmax_backward``
are overridden on the CUDA backend with single cuDNN calls (``cudnnPoolingForward/Backward``,
``cudnnBatchNormalizationForwardTraining/Backward``, ``cudnnSoftmaxForward/Backward``), each
one pass over memory where the CuPy formulations of the NumPy kernels take several (a
strided window view and a reduction per window offset for pooling; mean, centring,
variance, scale for batch norm; max, subtract, exp, sum, divide for softmax). They run when
cuDNN loads, the switch ``get_backend("cuda").cudnn_layers`` is on (the default) and
``ember.backends.cudnn.enabled``; cases cuDNN does not cover (dilated or ceil-mode windows
whose size differs from the floor rule, a divisor override, a batch norm over one value per
channel) keep the plain kernels, and so does an op and dtype cuDNN refuses once (bfloat16 on
a cuDNN without it), after a warning.

Evaluation-mode batch norm is no op of its own in ember: it is one scale-and-shift pass
already (fused under ``ember.jit``), so there is nothing for cuDNN to win there.
"""

from __future__ import annotations

import ctypes

from ..ops import pool_kernels as PK
from ..ops.registry import REGISTRY
from .cudnn_ctypes import _DT, _p
from .cupy_overrides import _channels_last, guarded, via_float32
from .cupy_overrides import _empty as _like

_POOL_MAX, _POOL_AVG_INCLUDE, _POOL_AVG_EXCLUDE = 0, 1, 2
_NOT_PROPAGATE_NAN, _PROPAGATE_NAN = 0, 1
_SOFTMAX_ACCURATE, _SOFTMAX_LOG = 1, 2
_SOFTMAX_MODE_CHANNEL = 1
_BN_SPATIAL = 1
DTYPES = ("float16", "bfloat16", "float32", "float64")


def _ptr(a):
    return _p(a.data.ptr)


class DnnOps:
    """Pooling, batch norm and softmax calls on a loaded cuDNN (``cudnn_ctypes._Lib``)."""

    def __init__(self, lib) -> None:
        self.cudnn = lib  # the _Lib: its handle per device and its error check
        self.lib = lib.lib
        self.descs: dict = {}
        self.pools: dict = {}

    def _check(self, status: int, what: str) -> None:
        self.cudnn._check(status, what)

    def _scalars(self, dtype: str):
        if dtype == "float64":
            return ctypes.c_double(1.0), ctypes.c_double(0.0)
        return ctypes.c_float(1.0), ctypes.c_float(0.0)

    def _desc(self, shape: tuple, strides: tuple, dtype: str):
        """A cached 4-d tensor descriptor (element strides)."""
        key = (shape, strides, dtype)
        d = self.descs.get(key)
        if d is None:
            d = ctypes.c_void_p()
            self._check(self.lib.cudnnCreateTensorDescriptor(ctypes.byref(d)),
                        "tensor descriptor")
            self._check(self.lib.cudnnSetTensor4dDescriptorEx(d, _DT[dtype], *shape, *strides),
                        "cudnnSetTensor4dDescriptorEx")
            self.descs[key] = d
        return d

    def _tensor(self, a):
        item = a.itemsize
        return self._desc(tuple(a.shape), tuple(s // item for s in a.strides), a.dtype.name)

    def _pool(self, mode: int, kernel, padding, stride):
        key = (mode, tuple(kernel), tuple(padding), tuple(stride))
        d = self.pools.get(key)
        if d is None:
            d = ctypes.c_void_p()
            self._check(self.lib.cudnnCreatePoolingDescriptor(ctypes.byref(d)),
                        "pooling descriptor")
            self._check(self.lib.cudnnSetPooling2dDescriptor(
                d, mode, _PROPAGATE_NAN, kernel[0], kernel[1], padding[0], padding[1],
                stride[0], stride[1]), "cudnnSetPooling2dDescriptor")
            self.pools[key] = d
        return d

    # ------------------------------------------------------------------ pooling
    def pool_forward(self, cp, mode: int, x, y, kernel, padding, stride) -> None:
        """``y`` = pooled ``x`` (both (N, C, H, W), any dense layout)."""
        one, zero = self._scalars(x.dtype.name)
        self._check(self.lib.cudnnPoolingForward(
            self.cudnn._handle(cp), self._pool(mode, kernel, padding, stride),
            ctypes.byref(one), self._tensor(x), _ptr(x), ctypes.byref(zero),
            self._tensor(y), _ptr(y)), "cudnnPoolingForward")

    def pool_backward(self, cp, mode: int, y, dy, x, dx, kernel, padding, stride) -> None:
        """``dx`` = the gradient of the pooling ``x -> y`` for ``dy`` (averages read neither
        ``x`` nor ``y``, but cuDNN takes them: any array of their shape serves)."""
        one, zero = self._scalars(x.dtype.name)
        self._check(self.lib.cudnnPoolingBackward(
            self.cudnn._handle(cp), self._pool(mode, kernel, padding, stride),
            ctypes.byref(one), self._tensor(y), _ptr(y), self._tensor(dy), _ptr(dy),
            self._tensor(x), _ptr(x), ctypes.byref(zero), self._tensor(dx), _ptr(dx)),
            "cudnnPoolingBackward")

    # ------------------------------------------------------------------ softmax
    def softmax_forward(self, cp, x, y, log: bool) -> None:
        """Softmax (or log-softmax) over axis 1 of the 4-d ``x`` into ``y``."""
        one, zero = self._scalars(x.dtype.name)
        self._check(self.lib.cudnnSoftmaxForward(
            self.cudnn._handle(cp), _SOFTMAX_LOG if log else _SOFTMAX_ACCURATE,
            _SOFTMAX_MODE_CHANNEL, ctypes.byref(one), self._tensor(x), _ptr(x),
            ctypes.byref(zero), self._tensor(y), _ptr(y)), "cudnnSoftmaxForward")

    def softmax_backward(self, cp, y, dy, dx, log: bool) -> None:
        """The input gradient of softmax (log-softmax) over axis 1 from its output ``y``."""
        one, zero = self._scalars(y.dtype.name)
        self._check(self.lib.cudnnSoftmaxBackward(
            self.cudnn._handle(cp), _SOFTMAX_LOG if log else _SOFTMAX_ACCURATE,
            _SOFTMAX_MODE_CHANNEL, ctypes.byref(one), self._tensor(y), _ptr(y),
            self._tensor(dy), _ptr(dy), ctypes.byref(zero), self._tensor(dx), _ptr(dx)),
            "cudnnSoftmaxBackward")

    # ------------------------------------------------------------------ batch norm
    def _bn_desc(self, x_desc, x_dtype: str, c: int):
        key = ("bn", x_dtype, c)
        d = self.descs.get(key)
        if d is None:
            d = ctypes.c_void_p()
            self._check(self.lib.cudnnCreateTensorDescriptor(ctypes.byref(d)),
                        "tensor descriptor")
            self._check(self.lib.cudnnDeriveBNTensorDescriptor(d, x_desc, _BN_SPATIAL),
                        "cudnnDeriveBNTensorDescriptor")
            self.descs[key] = d
        return d

    def bn_forward_training(self, cp, x, y, scale, bias, mean, var, eps: float) -> None:
        """``y`` = batch norm of the 4-d ``x`` over (N, H, W); ``mean`` and ``var`` (C,)
        receive the batch mean and the UNBIASED variance (cuDNN's running statistics with
        an averaging factor of 1)."""
        one, zero = self._scalars(x.dtype.name)
        xd = self._tensor(x)
        self._check(self.lib.cudnnBatchNormalizationForwardTraining(
            self.cudnn._handle(cp), _BN_SPATIAL, ctypes.byref(one), ctypes.byref(zero),
            xd, _ptr(x), self._tensor(y), _ptr(y), self._bn_desc(xd, x.dtype.name, x.shape[1]),
            _ptr(scale), _ptr(bias), ctypes.c_double(1.0), _ptr(mean), _ptr(var),
            ctypes.c_double(eps), _p(None), _p(None)),
            "cudnnBatchNormalizationForwardTraining")

    def bn_backward(self, cp, x, dy, dx, scale, dscale, dbias, mean, inv_std,
                    eps: float) -> None:
        """``dx``, ``dscale``, ``dbias`` of training-mode batch norm from the batch ``mean``
        and ``inv_std`` = 1 / sqrt(var + eps)."""
        one, zero = self._scalars(x.dtype.name)
        xd = self._tensor(x)
        self._check(self.lib.cudnnBatchNormalizationBackward(
            self.cudnn._handle(cp), _BN_SPATIAL, ctypes.byref(one), ctypes.byref(zero),
            ctypes.byref(one), ctypes.byref(zero), xd, _ptr(x), self._tensor(dy), _ptr(dy),
            self._tensor(dx), _ptr(dx), self._bn_desc(xd, x.dtype.name, x.shape[1]),
            _ptr(scale), _ptr(dscale), _ptr(dbias), ctypes.c_double(eps), _ptr(mean),
            _ptr(inv_std)), "cudnnBatchNormalizationBackward")


# --------------------------------------------------------------------------- the overrides
_STATE: dict = {"backend": None, "ops": None}


def _ops(x):
    """The ``DnnOps`` that should serve a call on ``x``, or None (plain kernels)."""
    from ..backends import cudnn as flags

    b = _STATE["backend"]
    if not flags.enabled or b is None or not b.cudnn_layers or x.dtype.name not in DTYPES \
            or x.size == 0 or x.size >= 2 ** 31:
        return None
    lib = flags._module()
    if lib is None:
        return None
    ops = _STATE["ops"]
    if ops is None or ops.cudnn is not lib:
        ops = _STATE["ops"] = DnnOps(lib)
    return ops


def _dense(xp, a):
    """``a`` with packed NCHW or NHWC memory (no broadcast or sliced strides)."""
    if a.flags.c_contiguous or _channels_last(a):
        return a
    return xp.ascontiguousarray(a)


def _floor_windows(size, kernel, stride, padding, dilation, ceil_mode) -> bool:
    """Whether cuDNN's window rule (no dilation, output size rounded down) gives the op's."""
    if tuple(dilation) != (1, 1):
        return False
    if not ceil_mode:
        return True
    return all((n + 2 * p - k) % s == 0 for n, k, s, p in zip(size, kernel, stride, padding))


def _out_hw(size, kernel, stride, padding):
    return tuple((n + 2 * p - k) // s + 1 for n, k, s, p in zip(size, kernel, stride, padding))


def _max_pool2d(xp, x, kernel, stride, padding, dilation, ceil_mode):
    ops = _ops(x)
    if ops is None or x.ndim != 4 or not _floor_windows(x.shape[2:], kernel, stride, padding,
                                                        dilation, ceil_mode):
        return PK.max_pool2d(xp, x, kernel, stride, padding, dilation, ceil_mode)
    x = _dense(xp, x)
    y = _like(xp, x.shape[:2] + _out_hw(x.shape[2:], kernel, stride, padding), x.dtype,
              _channels_last(x))
    ops.pool_forward(xp, _POOL_MAX, x, y, kernel, padding, stride)
    return y


def _max_pool2d_grad(xp, g, x, out, kernel, stride, padding, dilation, ceil_mode):
    ops = _ops(x)
    if ops is None or x.ndim != 4 or g.dtype != x.dtype or not _floor_windows(
            x.shape[2:], kernel, stride, padding, dilation, ceil_mode):
        return PK.max_pool2d_grad(xp, g, x, out, kernel, stride, padding, dilation, ceil_mode)
    x = _dense(xp, x)
    dx = _like(xp, x.shape, x.dtype, _channels_last(x))
    ops.pool_backward(xp, _POOL_MAX, _dense(xp, out), _dense(xp, g), x, dx, kernel, padding,
                      stride)
    return dx


def _avg_mode(count_include_pad) -> int:
    return _POOL_AVG_INCLUDE if count_include_pad else _POOL_AVG_EXCLUDE


def _avg_pool2d(xp, x, kernel, stride, padding, ceil_mode, count_include_pad, divisor):
    ops = _ops(x)
    if ops is None or x.ndim != 4 or divisor or not _floor_windows(
            x.shape[2:], kernel, stride, padding, (1, 1), ceil_mode):
        return PK.avg_pool2d(xp, x, kernel, stride, padding, ceil_mode, count_include_pad,
                             divisor)
    x = _dense(xp, x)
    y = _like(xp, x.shape[:2] + _out_hw(x.shape[2:], kernel, stride, padding), x.dtype,
              _channels_last(x))
    ops.pool_forward(xp, _avg_mode(count_include_pad), x, y, kernel, padding, stride)
    return y


def _avg_pool2d_grad(xp, g, input_size, kernel, stride, padding, ceil_mode,
                     count_include_pad, divisor):
    ops = _ops(g)
    if ops is None or g.ndim != 4 or divisor or not _floor_windows(
            input_size, kernel, stride, padding, (1, 1), ceil_mode):
        return PK.avg_pool2d_grad(xp, g, input_size, kernel, stride, padding, ceil_mode,
                                  count_include_pad, divisor)
    g = _dense(xp, g)
    dx = _like(xp, g.shape[:2] + tuple(input_size), g.dtype, _channels_last(g))
    # averages read neither x nor y: g and dx stand for them
    ops.pool_backward(xp, _avg_mode(count_include_pad), g, g, dx, dx, kernel, padding, stride)
    return dx


def _softmax_like(log: bool):
    name = "log_softmax" if log else "softmax"
    plain = REGISTRY[name].forward

    def forward(xp, x, axis):
        ops = _ops(x)
        if ops is None or x.ndim == 0:
            return plain(xp, x, axis)
        a = axis % x.ndim
        outer = 1
        for n in x.shape[:a]:
            outer *= n
        x4 = xp.ascontiguousarray(x).reshape(outer, x.shape[a], -1, 1)
        y = xp.empty(x4.shape, dtype=x.dtype)
        ops.softmax_forward(xp, x4, y, log)
        return y.reshape(x.shape)

    forward.__name__ = f"{name}_cudnn"
    return forward


def _softmax_backward(xp, g, out, axis, log):
    ops = _ops(out)
    if ops is None or out.ndim == 0 or g.dtype != out.dtype or g.shape != out.shape:
        return _PLAIN["softmax_backward"](xp, g, out, axis, log)
    a = axis % out.ndim
    outer = 1
    for n in out.shape[:a]:
        outer *= n
    shape4 = (outer, out.shape[a], -1, 1)
    y4 = xp.ascontiguousarray(out).reshape(shape4)
    dx = xp.empty(y4.shape, dtype=out.dtype)
    ops.softmax_backward(xp, y4, xp.ascontiguousarray(g).reshape(shape4), dx, bool(log))
    return dx.reshape(out.shape)


def _bn_ready(x, weight):
    """``(ops, parameter dtype)`` when cuDNN serves this batch norm, else ``(None, None)``."""
    ops = _ops(x)
    if ops is None or x.ndim < 2 or x.size // x.shape[1] < 2:
        return None, None
    return ops, ("float64" if x.dtype.name == "float64" else "float32")


def _bn_4d(xp, x):
    if x.ndim == 4:
        return _dense(xp, x)
    return xp.ascontiguousarray(x).reshape(x.shape[0], x.shape[1], -1, 1)


def _batch_norm(xp, x, weight, bias, eps):
    ops, pd = _bn_ready(x, weight)
    if ops is None:
        return _PLAIN["batch_norm"](xp, x, weight, bias, eps)
    c = x.shape[1]
    scale = xp.ones(c, pd) if weight is None else weight.astype(pd, copy=False)
    shift = xp.zeros(c, pd) if bias is None else bias.astype(pd, copy=False)
    x4 = _bn_4d(xp, x)
    y = _like(xp, x4.shape, x.dtype, _channels_last(x4))
    mean, var = xp.empty(c, pd), xp.empty(c, pd)
    ops.bn_forward_training(xp, x4, y, scale, shift, mean, var, float(eps))
    m = x.size // c
    var *= (m - 1) / m  # cuDNN's running variance is unbiased; the op returns the biased
    return y.reshape(x.shape), mean.astype(x.dtype, copy=False), var.astype(x.dtype,
                                                                           copy=False)


def _batch_norm_backward(xp, g, x, weight, mean, var, eps):
    ops, pd = _bn_ready(x, weight)
    if ops is None or g.dtype != x.dtype:
        return _PLAIN["batch_norm_backward"](xp, g, x, weight, mean, var, eps)
    c = x.shape[1]
    scale = xp.ones(c, pd) if weight is None else weight.astype(pd, copy=False)
    inv = 1.0 / xp.sqrt(var.astype(pd) + eps)
    x4 = _bn_4d(xp, x)
    g4 = _bn_4d(xp, g)
    dx = _like(xp, x4.shape, x.dtype, _channels_last(x4))
    dw, db = xp.empty(c, pd), xp.empty(c, pd)
    ops.bn_backward(xp, x4, g4, dx, scale, dw, db, mean.astype(pd), inv, float(eps))
    wd = x.dtype if weight is None else weight.dtype
    return dx.reshape(x.shape), dw.astype(wd, copy=False), db.astype(wd, copy=False)


_PLAIN: dict = {}


def install(backend) -> None:
    """Register the cuDNN pooling, batch norm and softmax forwards on the CUDA backend."""
    _STATE["backend"] = backend
    for name in ("batch_norm", "batch_norm_backward", "softmax_backward"):
        fwd = REGISTRY[name].forward
        _PLAIN[name] = fwd if name == "softmax_backward" else via_float32(fwd)
    for name, fn in (("max_pool2d", _max_pool2d), ("max_pool2d_grad", _max_pool2d_grad),
                     ("avg_pool2d", _avg_pool2d), ("avg_pool2d_grad", _avg_pool2d_grad),
                     ("softmax", _softmax_like(False)), ("log_softmax", _softmax_like(True)),
                     ("softmax_backward", _softmax_backward), ("batch_norm", _batch_norm),
                     ("batch_norm_backward", _batch_norm_backward)):
        backend.override(name)(guarded(name, fn, _PLAIN.get(name, REGISTRY[name].forward)))
