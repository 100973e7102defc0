"""oneDNN convolutions for the CPU backend, through oneDNN's C API (the ``onednn`` extra).

NumPy has no convolution, so the CPU backend's own kernels build im2col columns and call
BLAS; the copies run on one core and the thin products of 32- and 64-channel layers reach
about half of the machine's peak. oneDNN (the library behind PyTorch's CPU convolutions)
has direct convolution kernels JIT-compiled for the CPU at hand. When it is installed
(``pip install ember[onednn]``, the ``onednn-cpu-gomp`` wheel) the CPU backend runs float32
convolutions -- forward, input gradient (also ``conv_transpose2d``) and weight gradient --
through it, and everything else as before.

Activations are described to oneDNN as (N, C, H, W) with channels-last strides, ember's
layout for activations, so nothing is copied on the way in or out; weights are reordered into
the blocked layout oneDNN's kernel asks for on every call (they change every step), and the
weight gradient back into PyTorch's (O, C/G, kh, kw). A primitive is created once per problem
(shapes, stride, padding, dilation, groups, bias) and cached; a problem oneDNN does not
implement falls back to the NumPy kernels. ``ember.backends.onednn.enabled = False`` turns
the path off.

Example:
    >>> import numpy as np
    >>> from ember.backend import onednn
    >>> x = np.ones((1, 2, 4, 4), np.float32)
    >>> w = np.ones((3, 2, 3, 3), np.float32)
    >>> y = onednn.conv2d(x, w, None, (1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    >>> y is None or float(y[0, 0, 1, 1]) == 18.0  # None: oneDNN is not installed
    True
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import os
import sys
import threading

import numpy as np

_F32, _FORMAT_ANY, _CPU, _IN_ORDER = 3, 1, 1, 1
_FORWARD_TRAINING, _CONVOLUTION_DIRECT = 64, 1
_Q_DIFF_SRC, _Q_WEIGHTS, _Q_DIFF_WEIGHTS = 130, 131, 132
_SRC, _DST, _WEIGHTS, _BIAS = 1, 17, 33, 41
_DIFF_SRC, _DIFF_DST, _DIFF_WEIGHTS = 129, 145, 161
_MAX_CACHED = 256  # problems (each a JIT-compiled primitive); the least recently used go

_p = ctypes.c_void_p
_Dims = ctypes.c_int64 * 12


class _Arg(ctypes.Structure):
    """dnnl_exec_arg_t."""

    _fields_ = [("arg", ctypes.c_int), ("memory", _p)]


class _Version(ctypes.Structure):
    """dnnl_version_t."""

    _fields_ = [("major", ctypes.c_int), ("minor", ctypes.c_int), ("patch", ctypes.c_int),
                ("hash", ctypes.c_char_p), ("cpu_runtime", ctypes.c_uint),
                ("gpu_runtime", ctypes.c_uint)]


class OneDNNError(RuntimeError):
    """A oneDNN call failed (its name and status code in the message)."""


def _candidates() -> list[str]:
    """Paths where libdnnl may lie: $EMBER_ONEDNN_LIBRARY, the pip wheels' files, the
    environment's lib folders, then the system's loader."""
    names = []
    env = os.environ.get("EMBER_ONEDNN_LIBRARY")
    if env:
        names.append(env)
    try:
        from importlib import metadata

        for dist in ("onednn-cpu-gomp", "onednn-cpu-iomp", "onednn"):
            try:
                files = metadata.files(dist) or []
            except metadata.PackageNotFoundError:
                continue
            for f in files:
                if f.name.startswith("libdnnl.so"):
                    names.append(str(f.locate()))
    except Exception:  # noqa: BLE001 - metadata of a broken install: try the folders
        pass
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix)):
        names.append(os.path.join(prefix, "lib", "libdnnl.so.3"))
    found = ctypes.util.find_library("dnnl")
    if found:
        names.append(found)
    return list(dict.fromkeys(names))


class _Library:
    """libdnnl's functions used here, one CPU engine and one in-order stream."""

    def __init__(self, path: str) -> None:
        lib = ctypes.CDLL(path)
        self.lib, self.path = lib, path
        lib.dnnl_version.restype = ctypes.POINTER(_Version)
        v = lib.dnnl_version().contents
        self.version = (v.major, v.minor, v.patch)
        if v.major != 3:
            raise OSError(f"{path} is oneDNN {v.major}.{v.minor}; ember needs oneDNN 3")
        lib.dnnl_primitive_desc_query_md.restype = _p
        lib.dnnl_primitive_desc_query_md.argtypes = [_p, ctypes.c_int, ctypes.c_int]
        lib.dnnl_memory_desc_get_size.restype = ctypes.c_size_t
        lib.dnnl_memory_desc_get_size.argtypes = [_p]
        lib.dnnl_memory_set_data_handle.argtypes = [_p, _p]
        lib.dnnl_primitive_execute.argtypes = [_p, _p, ctypes.c_int, ctypes.POINTER(_Arg)]
        lib.dnnl_stream_wait.argtypes = [_p]
        self.engine, self.stream = _p(), _p()
        self.check(lib.dnnl_engine_create(ctypes.byref(self.engine), _CPU, ctypes.c_size_t(0)),
                   "dnnl_engine_create")
        self.check(lib.dnnl_stream_create(ctypes.byref(self.stream), self.engine,
                                          ctypes.c_uint(_IN_ORDER)), "dnnl_stream_create")

    @staticmethod
    def check(status: int, what: str) -> None:
        if status != 0:
            raise OneDNNError(f"oneDNN: {what} failed with status {status}")

    def md(self, shape, strides=None):
        """A float32 memory descriptor: with ``strides`` (in elements), or format 'any'."""
        md = _p()
        if strides is None:
            self.check(self.lib.dnnl_memory_desc_create_with_tag(
                ctypes.byref(md), len(shape), _Dims(*shape), _F32, _FORMAT_ANY),
                "dnnl_memory_desc_create_with_tag")
        else:
            self.check(self.lib.dnnl_memory_desc_create_with_strides(
                ctypes.byref(md), len(shape), _Dims(*shape), _F32, _Dims(*strides)),
                "dnnl_memory_desc_create_with_strides")
        return md

    def memory(self, md):
        mem = _p()
        self.check(self.lib.dnnl_memory_create(ctypes.byref(mem), md, self.engine, None),
                   "dnnl_memory_create")
        return mem

    def primitive(self, pd):
        prim = _p()
        self.check(self.lib.dnnl_primitive_create(ctypes.byref(prim), pd),
                   "dnnl_primitive_create")
        return prim

    def reorder(self, src_md, dst_md):
        pd = _p()
        self.check(self.lib.dnnl_reorder_primitive_desc_create(
            ctypes.byref(pd), src_md, self.engine, dst_md, self.engine, None),
            "dnnl_reorder_primitive_desc_create")
        return self.primitive(pd)

    def queried(self, pd, what: int):
        """``(memory descriptor, bytes)`` of a primitive descriptor's argument."""
        md = _p(self.lib.dnnl_primitive_desc_query_md(pd, what, 0))
        return md, self.lib.dnnl_memory_desc_get_size(md)

    def execute(self, prim, args) -> None:
        """Run ``prim`` on ``[(arg id, memory, array), ...]`` and wait for it."""
        lib = self.lib
        arr = (_Arg * len(args))()
        for k, (arg, mem, a) in enumerate(args):
            lib.dnnl_memory_set_data_handle(mem, a.ctypes.data)
            arr[k].arg, arr[k].memory = arg, mem
        self.check(lib.dnnl_primitive_execute(prim, self.stream, len(args), arr),
                   "dnnl_primitive_execute")
        self.check(lib.dnnl_stream_wait(self.stream), "dnnl_stream_wait")


_STATE: dict = {}
_LOCK = threading.Lock()


def load():
    """``(library, "")``, or ``(None, why)`` when oneDNN cannot be used here."""
    if "lib" in _STATE:
        return _STATE["lib"], _STATE["why"]
    lib, why = None, "oneDNN is not installed (pip install 'ember[onednn]')"
    tried = []
    for path in _candidates():
        if os.path.sep in path and not os.path.exists(path):
            continue
        try:
            lib, why = _Library(path), ""
            break
        except (OSError, AttributeError, OneDNNError) as exc:
            tried.append(f"{path}: {exc}")
    if lib is None and tried:
        why = "oneDNN could not be loaded: " + "; ".join(tried)
    _STATE["lib"], _STATE["why"] = lib, why
    return lib, why


# ----------------------------------------------------------------------------- problems


def _nhwc_strides(shape) -> tuple:
    n, c, h, w = shape
    return (h * w * c, 1, w * c, c)


def _channels_last(a):
    """``a`` (N, C, H, W) stored channels-last: itself when it is, else a copy."""
    t = a.transpose(0, 2, 3, 1)
    if t.flags.c_contiguous:
        return a
    return np.ascontiguousarray(t).transpose(0, 3, 1, 2)


def _empty_channels_last(shape):
    n, c, h, w = shape
    return np.empty((n, h, w, c), dtype=np.float32).transpose(0, 3, 1, 2)


def _weight_dims(shape, groups) -> tuple:
    """oneDNN's weight dimensions for (O, C/G, kh, kw): 5-d (G, O/G, C/G, kh, kw) if grouped."""
    o, cg, kh, kw = shape
    if groups == 1:
        return shape, (cg * kh * kw, kh * kw, kw, 1)
    return ((groups, o // groups, cg, kh, kw),
            ((o // groups) * cg * kh * kw, cg * kh * kw, kh * kw, kw, 1))


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
                ctypes.byref(pd), lib.engine, _CONVOLUTION_DIRECT, src_md, any_w, None, dst_md,
                *geometry, fwd, None),
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


_PROBLEMS: collections.OrderedDict = collections.OrderedDict()
_UNSUPPORTED: set = set()


def _problem(kind, src_shape, w_shape, dst_shape, stride, padding, dilation, groups, bias):
    """The cached problem, or None when oneDNN is unusable for it (the caller falls back)."""
    from ..backends import onednn as switch

    if not switch.enabled:
        return None
    lib, _ = load()
    if lib is None:
        return None
    key = (kind, tuple(src_shape), tuple(w_shape), tuple(dst_shape), tuple(stride),
           tuple(map(tuple, padding)), tuple(dilation), groups, bias)
    with _LOCK:
        prob = _PROBLEMS.get(key)
        if prob is not None:
            _PROBLEMS.move_to_end(key)
            return prob
        if key in _UNSUPPORTED:
            return None
        try:
            prob = _Problem(lib, kind, src_shape, w_shape, dst_shape, stride, padding,
                            dilation, groups, bias)
        except OneDNNError:  # not implemented for this geometry: NumPy's kernels run it
            _UNSUPPORTED.add(key)
            return None
        _PROBLEMS[key] = prob
        if len(_PROBLEMS) > _MAX_CACHED:
            _PROBLEMS.popitem(last=False)
    return prob


def _usable(*arrays) -> bool:
    return all(a is None or (a.dtype == np.float32 and a.size) for a in arrays)


def _out_len(size, k, s, p, d) -> int:
    return (size + p[0] + p[1] - d * (k - 1) - 1) // s + 1


def conv2d(x, w, b, stride, padding, dilation, groups):
    """y = conv(x, w) + b as a channels-last (N, O, Ho, Wo) array, or None (not handled)."""
    if not _usable(x, w, b) or x.ndim != 4:
        return None
    o, _, kh, kw = w.shape
    n = x.shape[0]
    ho = _out_len(x.shape[2], kh, stride[0], padding[0], dilation[0])
    wo = _out_len(x.shape[3], kw, stride[1], padding[1], dilation[1])
    if ho <= 0 or wo <= 0:
        return None
    prob = _problem("forward", x.shape, w.shape, (n, o, ho, wo), stride, padding, dilation,
                    groups, b is not None)
    if prob is None:
        return None
    lib = _STATE["lib"]
    x = _channels_last(x)
    w = np.ascontiguousarray(w)
    y = _empty_channels_last((n, o, ho, wo))
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
    ``g``, channels-last; or None (not handled)."""
    if not _usable(g, w) or g.ndim != 4:
        return None
    n = g.shape[0]
    c = w.shape[1] * groups
    src_shape = (n, c) + tuple(in_hw)
    prob = _problem("backward_data", src_shape, w.shape, g.shape, stride, padding, dilation,
                    groups, False)
    if prob is None:
        return None
    lib = _STATE["lib"]
    g = _channels_last(g)
    w = np.ascontiguousarray(w)
    dx = _empty_channels_last(src_shape)
    with prob.lock:
        lib.execute(prob.reorder, [(_SRC, prob.mem_user_w, w), (_DST, prob.mem_w, prob.w_buf)])
        lib.execute(prob.prim, [(_DIFF_DST, prob.mem_dst, g), (_WEIGHTS, prob.mem_w, prob.w_buf),
                                (_DIFF_SRC, prob.mem_src, dx)])
    return dx


def conv2d_weight(x, g, kernel_size, stride, padding, dilation, groups):
    """The weight gradient (O, C/G, kh, kw) of conv2d, or None (not handled)."""
    if not _usable(x, g) or x.ndim != 4:
        return None
    o = g.shape[1]
    w_shape = (o, x.shape[1] // groups) + tuple(kernel_size)
    prob = _problem("backward_weights", x.shape, w_shape, g.shape, stride, padding, dilation,
                    groups, False)
    if prob is None:
        return None
    lib = _STATE["lib"]
    x, g = _channels_last(x), _channels_last(g)
    dw = np.empty(w_shape, dtype=np.float32)
    with prob.lock:
        lib.execute(prob.prim, [(_SRC, prob.mem_src, x), (_DIFF_DST, prob.mem_dst, g),
                                (_DIFF_WEIGHTS, prob.mem_w, prob.w_buf)])
        lib.execute(prob.reorder, [(_SRC, prob.mem_w, prob.w_buf),
                                   (_DST, prob.mem_user_w, dw)])
    return dw


class _MatmulProblem:
    """One cached matrix product: its primitive and memories."""

    def __init__(self, lib: _Library, a, b, bias, out) -> None:
        self.lock = threading.Lock()
        mds = [lib.md(*_dims(x, out.ndim)) for x in (a, b, out)]
        bias_md = None if bias is None else lib.md((1,) * (out.ndim - 1) + bias.shape,
                                                    (0,) * (out.ndim - 1) + (1,))
        pd = _p()
        lib.check(lib.lib.dnnl_matmul_primitive_desc_create(
            ctypes.byref(pd), lib.engine, mds[0], mds[1], bias_md, mds[2], None),
            "dnnl_matmul_primitive_desc_create")
        self.prim = lib.primitive(pd)
        self.mems = [lib.memory(md) for md in mds]
        self.mem_bias = None if bias_md is None else lib.memory(bias_md)
        self._mds = (*mds, bias_md, pd)


def _dims(x, nd):
    """``(dims, strides in elements)`` of ``x`` with leading dimensions of 1 up to ``nd``."""
    pad = nd - x.ndim
    return (1,) * pad + x.shape, (x.size,) * pad + tuple(s // 4 for s in x.strides)


def _plain(x) -> bool:
    """Strides oneDNN's matmul takes: non-negative, whole elements, no broadcast (0) strides
    on dimensions longer than one, and one of the last two dimensions dense."""
    st = x.strides
    if any(s < 0 or s % 4 or (s == 0 and n > 1) for s, n in zip(st, x.shape)):
        return False
    return st[-1] == 4 or st[-2] == 4 or x.shape[-1] == 1 or x.shape[-2] == 1


def matmul(a, b, bias=None, out=None):
    """``a @ b`` (+ ``bias`` along the last axis) for float32 arrays of 2 or more
    dimensions with broadcast batch dimensions, into ``out`` if given; None when not handled.

    Operands with strides oneDNN does not take (no dense axis among the last two, broadcast
    strides) are copied first.
    """
    if not _usable(a, b, bias) or a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-2]:
        return None
    from ..backends import onednn as switch

    if not switch.enabled or load()[0] is None:
        return None
    try:
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        return None
    shape = batch + (a.shape[-2], b.shape[-1])
    if out is None:
        out = np.empty(shape, dtype=np.float32)
    elif out.shape != shape or out.dtype != np.float32 or not _plain(out):
        return None
    if not _plain(a):
        a = np.ascontiguousarray(a)
    if not _plain(b):
        b = np.ascontiguousarray(b)
    if bias is not None:
        bias = np.ascontiguousarray(bias)
        if bias.shape != (shape[-1],):
            return None
    key = ("matmul", a.shape, a.strides, b.shape, b.strides, out.shape, out.strides,
           bias is not None)
    lib = _STATE["lib"]
    with _LOCK:
        prob = _PROBLEMS.get(key)
        if prob is None:
            if key in _UNSUPPORTED:
                return None
            try:
                prob = _MatmulProblem(lib, a, b, bias, out)
            except OneDNNError:
                _UNSUPPORTED.add(key)
                return None
            _PROBLEMS[key] = prob
            if len(_PROBLEMS) > _MAX_CACHED:
                _PROBLEMS.popitem(last=False)
        else:
            _PROBLEMS.move_to_end(key)
    args = [(_SRC, prob.mems[0], a), (_WEIGHTS, prob.mems[1], b), (_DST, prob.mems[2], out)]
    if bias is not None:
        args.append((_BIAS, prob.mem_bias, bias))
    with prob.lock:
        lib.execute(prob.prim, args)
    return out


_FORWARD_INFERENCE, _BACKWARD, _Q_WORKSPACE = 96, 128, 135
_LEFT2RIGHT, _RIGHT2LEFT = 1, 2
_SRC_ITER, _SRC_ITER_C, _DST_ITER, _DST_ITER_C, _WEIGHTS_ITER = 2, 3, 18, 19, 34
_WORKSPACE, _DIFF = 64, 128


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
    from ..backends import onednn as switch

    if not switch.enabled or load()[0] is None or x.ndim != 4 or x.dtype != np.float32:
        return None
    if not x.size:
        return None
    key = ("batch_norm", x.shape, float(eps))
    with _LOCK:
        prob = _PROBLEMS.get(key)
        if prob is not None:
            _PROBLEMS.move_to_end(key)
            return prob
        if key in _UNSUPPORTED:
            return None
        try:
            prob = _BatchNormProblem(_STATE["lib"], x.shape, eps)
        except OneDNNError:
            _UNSUPPORTED.add(key)
            return None
        _PROBLEMS[key] = prob
        if len(_PROBLEMS) > _MAX_CACHED:
            _PROBLEMS.popitem(last=False)
    return prob


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
    x = _channels_last(x)
    y = _empty_channels_last(x.shape)
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
    x, g = _channels_last(x), _channels_last(g)
    dx = _empty_channels_last(x.shape)
    dw, db = np.empty(c, np.float32), np.empty(c, np.float32)
    with prob.lock:
        lib.execute(prob.bwd, [(_SRC, m["src"], x), (_DIFF + _DST, m["ddst"], g),
                               (_MEAN, m["mean"], np.ascontiguousarray(mean)),
                               (_VARIANCE, m["var"], np.ascontiguousarray(var)),
                               (_SCALE, m["scale"], _affine(weight, c, 1.0)),
                               (_DIFF + _SRC, m["dsrc"], dx),
                               (_DIFF_SCALE, m["dscale"], dw), (_DIFF_SHIFT, m["dshift"], db)])
    return dx, dw, db


_POOLING_MAX = 0x1FF


class _PoolProblem:
    """One cached max pooling: forward (training, with the argmax workspace) and backward."""

    def __init__(self, lib: _Library, src_shape, dst_shape, kernel, stride, pads, dilation):
        self.lock = threading.Lock()
        src = lib.md(src_shape, _nhwc_strides(src_shape))
        dst = lib.md(dst_shape, _nhwc_strides(dst_shape))
        geometry = (_Dims(*stride), _Dims(*kernel), _Dims(*(d - 1 for d in dilation)),
                    _Dims(*(p[0] for p in pads)), _Dims(*(p[1] for p in pads)))
        fwd = _p()
        lib.check(lib.lib.dnnl_pooling_forward_primitive_desc_create(
            ctypes.byref(fwd), lib.engine, _FORWARD_TRAINING, _POOLING_MAX, src, dst,
            *geometry, None), "dnnl_pooling_forward_primitive_desc_create")
        bwd = _p()
        lib.check(lib.lib.dnnl_pooling_backward_primitive_desc_create(
            ctypes.byref(bwd), lib.engine, _POOLING_MAX, src, dst, *geometry, fwd, None),
            "dnnl_pooling_backward_primitive_desc_create")
        self.fwd, self.bwd = lib.primitive(fwd), lib.primitive(bwd)
        ws_md, ws_bytes = lib.queried(fwd, 135)
        self.ws = np.empty(max(1, ws_bytes), np.uint8)
        self.mem = {k: lib.memory(md) for k, md in (("src", src), ("dst", dst), ("ws", ws_md),
                                                    ("dsrc", src), ("ddst", dst))}
        self._mds = (src, dst, fwd, bwd)


def _pool_problem(x, out_hw, kernel, stride, pads, dilation):
    from ..backends import onednn as switch

    if not switch.enabled or load()[0] is None or x.ndim != 4 or x.dtype != np.float32:
        return None
    if not x.size or min(out_hw) <= 0:
        return None
    dst_shape = tuple(x.shape[:2]) + tuple(out_hw)
    key = ("max_pool", x.shape, dst_shape, tuple(kernel), tuple(stride),
           tuple(map(tuple, pads)), tuple(dilation))
    with _LOCK:
        prob = _PROBLEMS.get(key)
        if prob is not None:
            _PROBLEMS.move_to_end(key)
            return prob
        if key in _UNSUPPORTED:
            return None
        try:
            prob = _PoolProblem(_STATE["lib"], x.shape, dst_shape, kernel, stride, pads,
                                dilation)
        except OneDNNError:
            _UNSUPPORTED.add(key)
            return None
        _PROBLEMS[key] = prob
        if len(_PROBLEMS) > _MAX_CACHED:
            _PROBLEMS.popitem(last=False)
    return prob


def max_pool2d(x, out_hw, kernel, stride, pads, dilation, grad=None):
    """Max pooling of ``x`` (channels-last result), or with ``grad`` (the output's
    gradient) the input's gradient, each window's gradient sent to its first maximum (the
    forward runs again for the argmax); None when oneDNN does not run it."""
    prob = _pool_problem(x, out_hw, kernel, stride, pads, dilation)
    if prob is None:
        return None
    lib, m = _STATE["lib"], prob.mem
    x = _channels_last(x)
    y = _empty_channels_last(tuple(x.shape[:2]) + tuple(out_hw))
    with prob.lock:
        lib.execute(prob.fwd, [(_SRC, m["src"], x), (_DST, m["dst"], y),
                               (_WORKSPACE, m["ws"], prob.ws)])
        if grad is None:
            return y
        dx = _empty_channels_last(x.shape)
        lib.execute(prob.bwd, [(_DIFF + _DST, m["ddst"], _channels_last(grad)),
                               (_WORKSPACE, m["ws"], prob.ws), (_DIFF + _SRC, m["dsrc"], dx)])
    return dx




class _LstmProblem:
    """One cached LSTM layer (one direction): forward primitive, and the backward one made
    on first use, with their weight layouts and reorders."""

    def __init__(self, lib: _Library, t, n, c, h, axis, reverse, training) -> None:
        self.lock = threading.Lock()
        self.lib, self.training = lib, training
        seq = (lambda k: (n * k, k, 1)) if axis == 0 else (lambda k: (k, t * k, 1))
        self.src = lib.md((t, n, c), seq(c))
        self.dst = lib.md((t, n, h), seq(h))
        it = lib.md((1, 1, n, h), (n * h, n * h, h, 1))
        self.it = it
        # zero initial states are passed as zeros, not left out: oneDNN 3.2's backward got
        # the time-major, left-to-right recurrent weight gradient wrong without them
        self.src_iter = self.src_iter_c = it
        self.wl_user = lib.md((1, 1, c, 4, h), (4 * h * c, 4 * h * c, 1, h * c, c))
        self.wi_user = lib.md((1, 1, h, 4, h), (4 * h * h, 4 * h * h, 1, h * h, h))
        self.wl_any, self.wi_any = lib.md((1, 1, c, 4, h)), lib.md((1, 1, h, 4, h))
        self.bias = lib.md((1, 1, 4, h), (4 * h, 4 * h, h, 1))
        self.direction = _RIGHT2LEFT if reverse else _LEFT2RIGHT
        fwd = _p()
        lib.check(lib.lib.dnnl_lstm_forward_primitive_desc_create(
            ctypes.byref(fwd), lib.engine, _FORWARD_TRAINING if training else _FORWARD_INFERENCE,
            self.direction, self.src, self.src_iter, self.src_iter_c, self.wl_any, self.wi_any,
            None, None, self.bias, self.dst, it, it, 0, None),
            "dnnl_lstm_forward_primitive_desc_create")
        self.fwd_pd = fwd
        self.fwd = lib.primitive(fwd)
        self.ws_bytes = lib.queried(fwd, _Q_WORKSPACE)[1] if training else 0
        self.ws_md = lib.queried(fwd, _Q_WORKSPACE)[0] if training else None
        self.f_weights = self._weights(fwd, _Q_WEIGHTS, to_user=False)
        self.mem = {k: lib.memory(md) for k, md in (("src", self.src), ("dst", self.dst),
                                                    ("it", it), ("it2", it), ("it3", it),
                                                    ("it4", it), ("bias", self.bias))}
        if training:
            self.mem["ws"] = lib.memory(self.ws_md)
        self.bwd = None

    def _weights(self, pd, query, to_user):
        """Buffers, memories and reorders for the layer and iteration weights of ``pd``."""
        lib, out = self.lib, []
        for idx, user in ((0, self.wl_user), (1, self.wi_user)):
            md = _p(lib.lib.dnnl_primitive_desc_query_md(pd, query, idx))
            buf = np.empty(max(1, lib.lib.dnnl_memory_desc_get_size(md) // 4), np.float32)
            reorder = lib.reorder(md, user) if to_user else lib.reorder(user, md)
            out.append((buf, lib.memory(md), lib.memory(user), reorder))
        return out

    def backward_primitive(self):
        if self.bwd is None:
            lib, it = self.lib, self.it
            pd = _p()
            d_iter = d_iter_c = it
            lib.check(lib.lib.dnnl_lstm_backward_primitive_desc_create(
                ctypes.byref(pd), lib.engine, _BACKWARD, self.direction, self.src,
                self.src_iter, self.src_iter_c, self.wl_any, self.wi_any, None, None, self.bias,
                self.dst, it, it, self.src, d_iter, d_iter_c, self.wl_any, self.wi_any, None,
                None, self.bias, self.dst, it, it, 0, self.fwd_pd, None),
                "dnnl_lstm_backward_primitive_desc_create")
            self.bwd_pd = pd
            self.b_weights = self._weights(pd, _Q_WEIGHTS, to_user=False)
            self.d_weights = self._weights(pd, _Q_DIFF_WEIGHTS, to_user=True)
            self.bmem = {k: self.lib.memory(md) for k, md in (
                ("dsrc", self.src), ("ddst", self.dst), ("dit", it), ("dit2", it),
                ("dit3", it), ("dit4", it), ("dbias", self.bias))}
            self.bwd = lib.primitive(pd)
        return self.bwd


def _seq(a, axis):
    """``a`` contiguous in its own axis order ((T, N, C) or (N, T, C)), as oneDNN reads it."""
    return np.ascontiguousarray(a)


def _lstm_problem(x, hidden, axis, reverse, training):
    from ..backends import onednn as switch

    if not switch.enabled or load()[0] is None or x.ndim != 3 or axis not in (0, 1):
        return None
    t, n = (x.shape[0], x.shape[1]) if axis == 0 else (x.shape[1], x.shape[0])
    key = ("lstm", x.shape, axis, hidden, bool(reverse), bool(training))
    with _LOCK:
        prob = _PROBLEMS.get(key)
        if prob is not None:
            _PROBLEMS.move_to_end(key)
            return prob
        if key in _UNSUPPORTED:
            return None
        try:
            prob = _LstmProblem(_STATE["lib"], t, n, x.shape[2], hidden, axis, reverse,
                                training)
        except OneDNNError:
            _UNSUPPORTED.add(key)
            return None
        _PROBLEMS[key] = prob
        if len(_PROBLEMS) > _MAX_CACHED:
            _PROBLEMS.popitem(last=False)
    return prob


def lstm_forward(x, w_ih, w_hh, bias, h0, c0, reverse, axis, training):
    """One LSTM layer: ``(out, h_n, c_n, workspace)`` (the workspace a uint8 array, empty
    without ``training``), or None when oneDNN does not run it."""
    if not _usable(x, w_ih, w_hh, bias, h0, c0):
        return None
    hidden = w_hh.shape[1]
    prob = _lstm_problem(x, hidden, axis, reverse, training)
    if prob is None:
        return None
    lib = prob.lib
    x = _seq(x, axis)
    n = x.shape[1 - axis]
    out = np.empty(x.shape[:2] + (hidden,), np.float32)
    h_n, c_n = np.empty((n, hidden), np.float32), np.empty((n, hidden), np.float32)
    ws = np.empty(prob.ws_bytes, np.uint8)
    b = np.zeros(4 * hidden, np.float32) if bias is None else np.ascontiguousarray(bias)
    m = prob.mem
    with prob.lock:
        for (buf, mem, umem, reorder), w in zip(prob.f_weights, (w_ih, w_hh)):
            lib.execute(reorder, [(_SRC, umem, np.ascontiguousarray(w)), (_DST, mem, buf)])
        args = [(_SRC, m["src"], x), (_WEIGHTS, prob.f_weights[0][1], prob.f_weights[0][0]),
                (_WEIGHTS_ITER, prob.f_weights[1][1], prob.f_weights[1][0]),
                (_BIAS, m["bias"], b), (_DST, m["dst"], out), (_DST_ITER, m["it"], h_n),
                (_DST_ITER_C, m["it2"], c_n)]
        args += [(_SRC_ITER, m["it3"], _state(h0, n, hidden)),
                 (_SRC_ITER_C, m["it4"], _state(c0, n, hidden))]
        if training:
            args.append((_WORKSPACE, m["ws"], ws))
        lib.execute(prob.fwd, args)
    return out, h_n, c_n, ws


def lstm_backward(g_out, g_hn, g_cn, x, w_ih, w_hh, bias, h0, c0, out, h_n, c_n, ws, reverse,
                  axis):
    """``lstm``'s gradients ``(dx, dw_ih, dw_hh, dbias, dh0, dc0)`` from a oneDNN forward's
    workspace ``ws``."""
    hidden = w_hh.shape[1]
    prob = _lstm_problem(x, hidden, axis, reverse, True)
    if prob is None:  # switched off since the forward: the workspace still needs oneDNN
        from ..backends import onednn as switch

        enabled, switch.enabled = switch.enabled, True
        try:
            prob = _lstm_problem(x, hidden, axis, reverse, True)
        finally:
            switch.enabled = enabled
    lib = prob.lib
    bwd = prob.backward_primitive()
    x, out, g_out = _seq(x, axis), _seq(out, axis), _seq(g_out, axis)
    n = x.shape[1 - axis]
    b = np.zeros(4 * hidden, np.float32) if bias is None else np.ascontiguousarray(bias)
    dx = np.empty(x.shape, np.float32)
    db = np.zeros(4 * hidden, np.float32)
    dh0, dc0 = np.empty((n, hidden), np.float32), np.empty((n, hidden), np.float32)
    dw = [np.empty(w_ih.shape, np.float32), np.empty(w_hh.shape, np.float32)]
    m, bm = prob.mem, prob.bmem
    with prob.lock:
        for (buf, mem, umem, reorder), w in zip(prob.b_weights, (w_ih, w_hh)):
            lib.execute(reorder, [(_SRC, umem, np.ascontiguousarray(w)), (_DST, mem, buf)])
        for buf, *_ in prob.d_weights:
            buf[...] = 0  # oneDNN adds the weight gradients into these
        args = [(_SRC, m["src"], x), (_WEIGHTS, prob.b_weights[0][1], prob.b_weights[0][0]),
                (_WEIGHTS_ITER, prob.b_weights[1][1], prob.b_weights[1][0]),
                (_BIAS, m["bias"], b), (_DST, m["dst"], out), (_DST_ITER, m["it"], h_n),
                (_DST_ITER_C, m["it2"], c_n), (_WORKSPACE, m["ws"], ws),
                (_DIFF + _SRC, bm["dsrc"], dx),
                (_DIFF + _WEIGHTS, prob.d_weights[0][1], prob.d_weights[0][0]),
                (_DIFF + _WEIGHTS_ITER, prob.d_weights[1][1], prob.d_weights[1][0]),
                (_DIFF + _BIAS, bm["dbias"], db), (_DIFF + _DST, bm["ddst"], g_out),
                (_DIFF + _DST_ITER, bm["dit"], np.ascontiguousarray(g_hn)),
                (_DIFF + _DST_ITER_C, bm["dit2"], np.ascontiguousarray(g_cn))]
        args += [(_SRC_ITER, m["it3"], _state(h0, n, hidden)),
                 (_DIFF + _SRC_ITER, bm["dit3"], dh0),
                 (_SRC_ITER_C, m["it4"], _state(c0, n, hidden)),
                 (_DIFF + _SRC_ITER_C, bm["dit4"], dc0)]
        lib.execute(bwd, args)
        for (buf, mem, umem, reorder), d in zip(prob.d_weights, dw):
            lib.execute(reorder, [(_SRC, mem, buf), (_DST, umem, d)])
    return (dx, dw[0], dw[1], None if bias is None else db, None if h0 is None else dh0,
            None if c0 is None else dc0)


def _state(s, n, hidden):
    """An initial state for oneDNN: ``s`` contiguous, or zeros for None."""
    return np.zeros((n, hidden), np.float32) if s is None else np.ascontiguousarray(s)


# ----------------------------------------------------------------------------- OpenBLAS


class _OpenBLAS:
    """OpenBLAS's thread-count functions, found among the loaded libraries."""

    def __init__(self) -> None:
        self.set = self.get = None
        try:
            with open("/proc/self/maps") as f:
                paths = sorted({line.split()[-1] for line in f
                                if "openblas" in line.lower() and "/" in line})
        except OSError:  # pragma: no cover - not Linux
            return
        for path in paths:
            try:
                dll = ctypes.CDLL(path)
            except OSError:  # pragma: no cover
                continue
            for prefix in ("scipy_openblas", "openblas"):
                for suffix in ("64_", ""):
                    setter = getattr(dll, f"{prefix}_set_num_threads{suffix}", None)
                    getter = getattr(dll, f"{prefix}_get_num_threads{suffix}", None)
                    if setter is not None and getter is not None:
                        setter.argtypes, setter.restype = [ctypes.c_int], None
                        getter.argtypes, getter.restype = [], ctypes.c_int
                        self.set, self.get = setter, getter
                        return


_openblas: _OpenBLAS | None = None


def active() -> bool:
    """Whether oneDNN runs ember's CPU convolutions now (enabled and loaded)."""
    from ..backends import onednn as switch

    return switch.enabled and load()[0] is not None


def single_blas(fn):
    """``fn`` (a CPU forward that calls BLAS) run with OpenBLAS held to one thread when it
    works on float32 arrays while oneDNN is active.

    oneDNN's threads and OpenBLAS's both park by spinning for a while after each call: an
    OpenBLAS call with two threads leaves a worker spinning for about a tenth of a second on
    the core oneDNN's next primitive needs, which then runs at half speed (a whole CNN step
    about twice as slow). With oneDNN doing float32 products, convolutions and LSTM layers,
    ember's remaining float32 BLAS calls (batch-norm sums, fallbacks) are small, and one
    thread serves them. float64 work, which oneDNN never runs, keeps OpenBLAS's threads. The
    rule depends only on dtypes and the switch, so a result never depends on timing.
    """

    def call(*args, **attrs):
        global _openblas
        if not active() or not any(getattr(a, "dtype", None) == np.float32 for a in args):
            return fn(*args, **attrs)
        if _openblas is None:
            _openblas = _OpenBLAS()
        ob = _openblas
        old = 1 if ob.get is None else ob.get()
        if old == 1:
            return fn(*args, **attrs)
        ob.set(1)
        try:
            return fn(*args, **attrs)
        finally:
            ob.set(old)

    call.__name__ = getattr(fn, "__name__", "forward")
    call.__doc__ = getattr(fn, "__doc__", None)
    call.__wrapped__ = fn
    return call


# ----------------------------------------------------------------------------- overrides


def install(backend) -> None:
    """Register the oneDNN forwards of conv2d, conv_transpose2d, conv2d_weight, matmul,
    linear, lstm, lstm_grad, max_pool2d, max_pool2d_grad, batch_norm and
    batch_norm_backward on the CPU backend; each falls back to the NumPy kernel for what
    oneDNN does not run."""
    from ..ops import conv_kernels as K
    from ..ops import pool_kernels as PK
    from ..ops.layer_ops import Linear
    from ..ops.lstm import Lstm, LstmGrad
    from ..ops.normalization import BatchNorm, BatchNormBackward

    @backend.override("conv2d")
    def _conv2d(xp, x, w, b, stride, padding, dilation, groups):
        y = conv2d(x, w, b, stride, padding, dilation, groups)
        return K.conv2d(xp, x, w, b, stride, padding, dilation, groups) if y is None else y

    @backend.override("conv_transpose2d")
    def _conv_transpose2d(xp, x, w, b, stride, padding, output_padding, dilation, groups):
        _, _, kh, kw = w.shape
        hw = tuple((size - 1) * s - p[0] - p[1] + d * (k - 1) + 1 + op
                   for size, s, p, d, k, op in zip(x.shape[2:], stride, padding, dilation,
                                                   (kh, kw), output_padding))
        y = None
        if min(p for pair in padding for p in pair) >= 0 and min(hw) > 0:
            y = conv2d_input_grad(x, w, hw, stride, padding, dilation, groups)
        if y is None:
            return K.conv_transpose2d(xp, x, w, b, stride, padding, output_padding, dilation,
                                      groups)
        if b is not None:
            y += b.reshape(1, -1, 1, 1)
        return y

    @backend.override("matmul")
    def _matmul(xp, a, b):
        out = matmul(a, b)
        # NumPy multiplies bfloat16 (ml_dtypes) in float32 and returns float32
        return xp.matmul(a, b).astype(a.dtype, copy=False) if out is None else out

    @backend.override("linear")
    def _linear(xp, x, weight, bias):
        y = matmul(x.reshape(-1, x.shape[-1]), np.ascontiguousarray(weight).T, bias)
        if y is None:
            return Linear.forward(xp, x, weight, bias)
        return y.reshape(x.shape[:-1] + weight.shape[:1])

    @backend.override("lstm")
    def _lstm(xp, x, w_ih, w_hh, bias, h0, c0, reverse, axis, save=False):
        r = lstm_forward(x, w_ih, w_hh, bias, h0, c0, reverse, axis, save)
        if r is None:
            return Lstm.forward(xp, x, w_ih, w_hh, bias, h0, c0, reverse, axis, save)
        return r

    @backend.override("lstm_grad")
    def _lstm_grad(xp, g_out, g_hn, g_cn, x, w_ih, w_hh, bias, h0, c0, out, h_n, c_n, saved,
                   reverse, axis):
        if saved.dtype == np.uint8:  # a oneDNN forward's workspace
            return lstm_backward(g_out, g_hn, g_cn, x, w_ih, w_hh, bias, h0, c0, out, h_n,
                                 c_n, saved, reverse, axis)
        return LstmGrad.forward(xp, g_out, g_hn, g_cn, x, w_ih, w_hh, bias, h0, c0, out,
                                h_n, c_n, saved, reverse, axis)

    @backend.override("max_pool2d")
    def _max_pool2d(xp, x, kernel, stride, padding, dilation, ceil_mode):
        out_hw, pads = PK._geometry(x.shape[2:], kernel, stride, padding, dilation, ceil_mode)
        y = max_pool2d(x, out_hw, kernel, stride, pads, dilation)
        if y is None:
            return PK.max_pool2d(xp, x, kernel, stride, padding, dilation, ceil_mode)
        return y

    @backend.override("max_pool2d_grad")
    def _max_pool2d_grad(xp, g, x, out, kernel, stride, padding, dilation, ceil_mode):
        out_hw, pads = PK._geometry(x.shape[2:], kernel, stride, padding, dilation, ceil_mode)
        dx = None
        if g.dtype == np.float32:
            dx = max_pool2d(x, out_hw, kernel, stride, pads, dilation, grad=g)
        if dx is None:
            return PK.max_pool2d_grad(xp, g, x, out, kernel, stride, padding, dilation,
                                      ceil_mode)
        return dx

    @backend.override("batch_norm")
    def _batch_norm(xp, x, weight, bias, eps):
        r = batch_norm(x, weight, bias, eps)
        return BatchNorm.forward(xp, x, weight, bias, eps) if r is None else r

    @backend.override("batch_norm_backward")
    def _batch_norm_backward(xp, g, x, weight, mean, var, eps):
        r = batch_norm_backward(g, x, weight, mean, var, eps)
        if r is None:
            return BatchNormBackward.forward(xp, g, x, weight, mean, var, eps)
        return r

    @backend.override("conv2d_weight")
    def _conv2d_weight(xp, x, g, kernel_size, stride, padding, dilation, groups):
        dw = conv2d_weight(x, g, kernel_size, stride, padding, dilation, groups)
        if dw is None:
            return K.conv2d_weight(xp, x, g, kernel_size, stride, padding, dilation, groups)
        return dw
