"""cuDNN convolutions through ctypes: forward, backward data and backward filter.

CuPy 14 (the CuPy of CUDA 13) no longer ships cuDNN bindings, so ember calls cuDNN's C API
(the convolution API of cuDNN 8 and 9) directly on CuPy's device pointers. Tensors are
described with explicit strides, so (N, C, H, W) arrays in either memory format work, and a
channels-last (NHWC) input runs in the layout tensor cores prefer; filters are described as
NCHW or NHWC to match.

Algorithms are chosen once per problem (shapes, strides, dtype, padding, stride, dilation,
groups and the flags) and cached with their descriptors: by cuDNN's heuristics, or, with
``ember.backends.cudnn.benchmark``, by timing every algorithm on the first call
(``cudnnFind*AlgorithmEx``). ``deterministic`` keeps to deterministic algorithms.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

_FLOAT, _DOUBLE, _HALF, _BFLOAT16 = 0, 1, 2, 9
_DT = {"float32": _FLOAT, "float64": _DOUBLE, "float16": _HALF, "bfloat16": _BFLOAT16}
_NCHW, _NHWC = 0, 1
_CROSS_CORRELATION = 1
_TENSOR_OP_MATH = 1
_DETERMINISTIC = 1
_N_ALGOS = 8

_p = ctypes.c_void_p


class _Perf(ctypes.Structure):
    """cudnnConvolution{Fwd,BwdData,BwdFilter}AlgoPerf_t (one layout for all three)."""

    _fields_ = [("algo", ctypes.c_int), ("status", ctypes.c_int), ("time", ctypes.c_float),
                ("memory", ctypes.c_size_t), ("determinism", ctypes.c_int),
                ("mathType", ctypes.c_int), ("reserved", ctypes.c_int * 3)]


def _ptr(a) -> ctypes.c_void_p:
    """The device pointer of a CuPy array."""
    return _p(a.data.ptr)


def _candidates() -> list[str]:
    names = []
    try:  # CuPy 14's library finder knows the pip and toolkit locations
        from cuda.pathfinder import load_nvidia_dynamic_lib

        lib = load_nvidia_dynamic_lib("cudnn")
        names.append(lib.abs_path)
    except Exception:  # noqa: BLE001 - not installed, or no cuDNN there
        pass
    try:  # the nvidia-cudnn-cu12/13 wheel (PyTorch's dependency)
        import nvidia.cudnn as pkg

        for d in pkg.__path__:
            for n in ("libcudnn.so.9", "libcudnn.so.8"):
                names.append(os.path.join(d, "lib", n))
    except ImportError:
        pass
    found = ctypes.util.find_library("cudnn")
    if found:
        names.append(found)
    return names + ["libcudnn.so.9", "libcudnn.so.8", "libcudnn.so"]


def load():
    """``(library, "")`` with cuDNN's C API, or ``(None, why not)``."""
    errors = []
    for name in _candidates():
        try:
            lib = ctypes.CDLL(name)
            lib.cudnnGetVersion.restype = ctypes.c_size_t
            lib.cudnnGetErrorString.restype = ctypes.c_char_p
            lib.cudnnConvolutionForward  # noqa: B018 - the convolution API is present
            return _Lib(lib), ""
        except (OSError, AttributeError) as exc:
            errors.append(f"{name}: {exc}")
    return None, "cuDNN's library was not found (" + "; ".join(errors[-3:]) + ")"


class _Lib:
    """The loaded library, one handle per device, and the per-problem cache."""

    def __init__(self, lib) -> None:
        self.lib = lib
        self.handles: dict[int, ctypes.c_void_p] = {}
        self.plans: dict = {}

    def version(self) -> int:
        return int(self.lib.cudnnGetVersion())

    def _check(self, status: int, what: str) -> None:
        if status != 0:
            msg = self.lib.cudnnGetErrorString(status).decode()
            raise RuntimeError(f"cuDNN {what} failed: {msg} (status {status})")

    def _handle(self, cp):
        dev = cp.cuda.runtime.getDevice()
        h = self.handles.get(dev)
        if h is None:
            h = ctypes.c_void_p()
            self._check(self.lib.cudnnCreate(ctypes.byref(h)), "cudnnCreate")
            self.handles[dev] = h
        stream = cp.cuda.get_current_stream().ptr
        self._check(self.lib.cudnnSetStream(h, _p(stream)), "cudnnSetStream")
        return h

    # ------------------------------------------------------------------ descriptors
    def _tensor(self, a):
        d = ctypes.c_void_p()
        self._check(self.lib.cudnnCreateTensorDescriptor(ctypes.byref(d)), "tensor descriptor")
        item = a.itemsize
        st = [s // item for s in a.strides]
        self._check(self.lib.cudnnSetTensor4dDescriptorEx(
            d, _DT[a.dtype.name], *a.shape, *st), "cudnnSetTensor4dDescriptorEx")
        return d

    def _filter(self, shape, dtype, nhwc: bool):
        d = ctypes.c_void_p()
        self._check(self.lib.cudnnCreateFilterDescriptor(ctypes.byref(d)), "filter descriptor")
        self._check(self.lib.cudnnSetFilter4dDescriptor(
            d, _DT[dtype], _NHWC if nhwc else _NCHW, *shape), "cudnnSetFilter4dDescriptor")
        return d

    def _conv(self, pad, stride, dilation, groups, dtype):
        d = ctypes.c_void_p()
        self._check(self.lib.cudnnCreateConvolutionDescriptor(ctypes.byref(d)),
                    "convolution descriptor")
        compute = _DOUBLE if dtype == "float64" else _FLOAT
        self._check(self.lib.cudnnSetConvolution2dDescriptor(
            d, pad[0], pad[1], stride[0], stride[1], dilation[0], dilation[1],
            _CROSS_CORRELATION, compute), "cudnnSetConvolution2dDescriptor")
        self._check(self.lib.cudnnSetConvolutionGroupCount(d, groups), "group count")
        if dtype != "float64":
            self._check(self.lib.cudnnSetConvolutionMathType(d, _TENSOR_OP_MATH), "math type")
        return d

    # ------------------------------------------------------------------ running
    def run(self, cp, kind: str, a, b, out, w_shape, nhwc: bool, pad, stride, dilation,
            groups: int, benchmark: bool, deterministic: bool) -> None:
        """One convolution: ``kind`` "fwd" (a=x, b=w, out=y), "bwd_data" (a=w, b=dy,
        out=dx) or "bwd_filter" (a=x, b=dy, out=dw). ``w_shape`` is (O, C/G, kh, kw)."""
        dt = out.dtype.name
        arrays = {"fwd": (a, out), "bwd_data": (out, b), "bwd_filter": (a, b)}[kind]
        key = (kind, dt, nhwc, tuple(w_shape), pad, stride, dilation, groups, benchmark,
               deterministic, cp.cuda.runtime.getDevice()) + tuple(
            (t.shape, t.strides) for t in arrays)
        h = self._handle(cp)
        plan = self.plans.get(key)
        if plan is None:
            plan = self._plan(cp, h, kind, a, b, out, w_shape, nhwc, pad, stride, dilation,
                              groups, benchmark, deterministic)
            self.plans[key] = plan
        algo, ws_size, x_d, w_d, c_d, y_d = plan
        ws = cp.empty(max(ws_size, 1), dtype=cp.uint8)
        one, zero = ((ctypes.c_double(1.0), ctypes.c_double(0.0)) if dt == "float64" else
                     (ctypes.c_float(1.0), ctypes.c_float(0.0)))
        ptr = _ptr
        args = (h, ctypes.byref(one))
        if kind == "fwd":
            st = self.lib.cudnnConvolutionForward(
                *args, x_d, ptr(a), w_d, ptr(b), c_d, algo, ptr(ws), ctypes.c_size_t(ws_size),
                ctypes.byref(zero), y_d, ptr(out))
        elif kind == "bwd_data":
            st = self.lib.cudnnConvolutionBackwardData(
                *args, w_d, ptr(a), y_d, ptr(b), c_d, algo, ptr(ws), ctypes.c_size_t(ws_size),
                ctypes.byref(zero), x_d, ptr(out))
        else:
            st = self.lib.cudnnConvolutionBackwardFilter(
                *args, x_d, ptr(a), y_d, ptr(b), c_d, algo, ptr(ws), ctypes.c_size_t(ws_size),
                ctypes.byref(zero), w_d, ptr(out))
        self._check(st, f"convolution {kind}")

    def _plan(self, cp, h, kind, a, b, out, w_shape, nhwc, pad, stride, dilation, groups,
              benchmark, deterministic):
        dt = out.dtype.name
        x, y = {"fwd": (a, out), "bwd_data": (out, b), "bwd_filter": (a, b)}[kind]
        x_d, y_d = self._tensor(x), self._tensor(y)
        fshape = (w_shape[0], w_shape[1], w_shape[2], w_shape[3])
        w_d = self._filter(fshape, dt, nhwc)
        c_d = self._conv(pad, stride, dilation, groups, dt)
        perf = (_Perf * _N_ALGOS)()
        n = ctypes.c_int()
        lib = self.lib
        if benchmark:  # time every algorithm on scratch outputs (the real ones stay intact)
            scratch = cp.empty_like(out)
            free = cp.cuda.runtime.memGetInfo()[0]
            ws_cap = int(min(1 << 30, free // 4))
            ws = cp.empty(ws_cap, dtype=cp.uint8)
            ptr = _ptr
            common = (ctypes.c_int(_N_ALGOS), ctypes.byref(n), perf, ptr(ws),
                      ctypes.c_size_t(ws_cap))
            if kind == "fwd":
                st = lib.cudnnFindConvolutionForwardAlgorithmEx(
                    h, x_d, ptr(a), w_d, ptr(b), c_d, y_d, ptr(scratch), *common)
            elif kind == "bwd_data":
                st = lib.cudnnFindConvolutionBackwardDataAlgorithmEx(
                    h, w_d, ptr(a), y_d, ptr(b), c_d, x_d, ptr(scratch), *common)
            else:
                st = lib.cudnnFindConvolutionBackwardFilterAlgorithmEx(
                    h, x_d, ptr(a), y_d, ptr(b), c_d, w_d, ptr(scratch), *common)
        else:
            if kind == "fwd":
                st = lib.cudnnGetConvolutionForwardAlgorithm_v7(
                    h, x_d, w_d, c_d, y_d, _N_ALGOS, ctypes.byref(n), perf)
            elif kind == "bwd_data":
                st = lib.cudnnGetConvolutionBackwardDataAlgorithm_v7(
                    h, w_d, y_d, c_d, x_d, _N_ALGOS, ctypes.byref(n), perf)
            else:
                st = lib.cudnnGetConvolutionBackwardFilterAlgorithm_v7(
                    h, x_d, y_d, c_d, w_d, _N_ALGOS, ctypes.byref(n), perf)
        self._check(st, f"algorithm search ({kind})")
        chosen = None
        for i in range(n.value):
            p = perf[i]
            if p.status == 0 and (not deterministic or p.determinism == _DETERMINISTIC):
                chosen = p
                break
        if chosen is None:
            raise RuntimeError(f"cuDNN found no usable {kind} algorithm for this convolution")
        size = ctypes.c_size_t()
        if kind == "fwd":
            st = lib.cudnnGetConvolutionForwardWorkspaceSize(h, x_d, w_d, c_d, y_d,
                                                             chosen.algo, ctypes.byref(size))
        elif kind == "bwd_data":
            st = lib.cudnnGetConvolutionBackwardDataWorkspaceSize(h, w_d, y_d, c_d, x_d,
                                                                  chosen.algo,
                                                                  ctypes.byref(size))
        else:
            st = lib.cudnnGetConvolutionBackwardFilterWorkspaceSize(h, x_d, y_d, c_d, w_d,
                                                                    chosen.algo,
                                                                    ctypes.byref(size))
        self._check(st, f"workspace size ({kind})")
        return chosen.algo, size.value, x_d, w_d, c_d, y_d
