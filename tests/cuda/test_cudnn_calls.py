"""The cuDNN calls ember makes (ember/backend/cudnn_ctypes.py), checked against cuDNN's
documented C signatures with a recording stand-in for the library: argument order, descriptor
dimensions and strides (NCHW and channels-last), the algorithm choice and its cache."""

from __future__ import annotations

import ctypes
import types

import numpy as np
import pytest

from ember.backend.cudnn_ctypes import _Lib


class _Arr:
    """What the binding reads of a CuPy array: shape, strides, dtype and the device pointer."""

    def __init__(self, a: np.ndarray) -> None:
        self.a = a
        self.shape, self.strides, self.dtype, self.itemsize = a.shape, a.strides, a.dtype, \
            a.itemsize
        self.data = types.SimpleNamespace(ptr=a.ctypes.data)


def _val(x):
    """A ctypes argument as a plain value (pointers and handles as ints)."""
    if isinstance(x, (ctypes.c_void_p,)):
        return x.value
    if isinstance(x, (ctypes.c_int, ctypes.c_size_t, ctypes.c_float, ctypes.c_double)):
        return x.value
    return x


class _FakeCudnn:
    """Records every call; fills handles, descriptors and algorithm lists like cuDNN would."""

    def __init__(self, perf):
        self.calls = []
        self.perf = perf  # [(algo, status, determinism)] returned by the searches
        self._next = 100

    def __getattr__(self, name):
        if not name.startswith("cudnn"):
            raise AttributeError(name)

        def fn(*args):
            self.calls.append((name, args))
            if name.startswith("cudnnCreate"):
                self._next += 1
                args[0]._obj.value = self._next
            if "Algorithm" in name:
                n_ref, arr = args[-2], args[-1]
                if "Find" in name:
                    n_ref, arr = args[-4], args[-3]
                for i, (algo, status, det) in enumerate(self.perf):
                    arr[i].algo, arr[i].status, arr[i].determinism = algo, status, det
                n_ref._obj.value = len(self.perf)
            if "WorkspaceSize" in name:
                args[-1]._obj.value = 4096
            return 0

        return fn

    def named(self, name):
        return [a for n, a in self.calls if n == name]


def _cp():
    stream = types.SimpleNamespace(ptr=777)
    runtime = types.SimpleNamespace(getDevice=lambda: 0, memGetInfo=lambda: (1 << 34, 1 << 35))
    cuda = types.SimpleNamespace(runtime=runtime, get_current_stream=lambda: stream)
    return types.SimpleNamespace(
        cuda=cuda, uint8=np.uint8,
        empty=lambda n, dtype: _Arr(np.empty(n, dtype)),
        empty_like=lambda a: _Arr(np.empty_like(a.a)))


def _nchw(shape):
    return _Arr(np.zeros(shape, np.float32))


def _nhwc(shape):
    n, c, h, w = shape
    return _Arr(np.zeros((n, h, w, c), np.float32).transpose(0, 3, 1, 2))


@pytest.mark.parametrize("layout", [_nchw, _nhwc], ids=["nchw", "channels_last"])
def test_forward_call_and_descriptors(layout):
    fake = _FakeCudnn([(3, 9, 1), (1, 0, 1), (0, 0, 1)])  # the first reports a failure
    lib = _Lib(fake)
    nhwc = layout is _nhwc
    x, y = layout((2, 4, 9, 7)), layout((2, 6, 5, 7))
    w = _Arr(np.zeros((6, 7, 3, 2) if nhwc else (6, 2, 3, 7), np.float32))  # O, C/G=2
    cp = _cp()
    for _ in range(2):  # the second call reuses the plan
        lib.run(cp, "fwd", x, w, y, (6, 2, 3, 7), nhwc, (1, 3), (2, 1), (1, 1), 2,
                benchmark=False, deterministic=False)
    assert len(fake.named("cudnnGetConvolutionForwardAlgorithm_v7")) == 1
    assert len(fake.named("cudnnCreate")) == 1
    tensors = [tuple(_val(v) for v in a[1:]) for a in
               fake.named("cudnnSetTensor4dDescriptorEx")]
    if nhwc:
        assert tensors == [(0, 2, 4, 9, 7, 9 * 7 * 4, 1, 7 * 4, 4),
                           (0, 2, 6, 5, 7, 5 * 7 * 6, 1, 7 * 6, 6)]
    else:
        assert tensors == [(0, 2, 4, 9, 7, 4 * 9 * 7, 9 * 7, 7, 1),
                           (0, 2, 6, 5, 7, 6 * 5 * 7, 5 * 7, 7, 1)]
    (filt,) = fake.named("cudnnSetFilter4dDescriptor")
    assert tuple(_val(v) for v in filt[1:]) == (0, 1 if nhwc else 0, 6, 2, 3, 7)
    (conv,) = fake.named("cudnnSetConvolution2dDescriptor")
    assert tuple(_val(v) for v in conv[1:]) == (1, 3, 2, 1, 1, 1, 1, 0)  # cross-corr, float
    assert [_val(a[1]) for a in fake.named("cudnnSetConvolutionGroupCount")] == [2]
    assert [_val(a[1]) for a in fake.named("cudnnSetConvolutionMathType")] == [1]
    fwd = fake.named("cudnnConvolutionForward")[0]
    # (handle, alpha, xDesc, x, wDesc, w, convDesc, algo, workSpace, wsSize, beta, yDesc, y)
    assert len(fwd) == 13
    descs = {_val(a[0]) for a in fake.named("cudnnSetTensor4dDescriptorEx")}
    assert _val(fwd[2]) in descs and _val(fwd[11]) in descs and fwd[2] is not fwd[11]
    assert _val(fwd[3]) == x.data.ptr and _val(fwd[5]) == w.data.ptr
    assert _val(fwd[12]) == y.data.ptr
    assert fwd[7] == 1 and _val(fwd[9]) == 4096  # the first algorithm with status 0
    assert fwd[1]._obj.value == 1.0 and fwd[10]._obj.value == 0.0
    assert [_val(a[1]) for a in fake.named("cudnnSetStream")] == [777, 777]


def test_backward_calls_argument_order_and_determinism():
    fake = _FakeCudnn([(5, 0, 0), (2, 0, 1)])  # the fastest is non-deterministic
    lib = _Lib(fake)
    cp = _cp()
    x, dy = _nchw((2, 3, 8, 8)), _nchw((2, 4, 8, 8))
    w, dw = _nchw((4, 3, 3, 3)), _nchw((4, 3, 3, 3))
    dx = _nchw((2, 3, 8, 8))
    lib.run(cp, "bwd_data", w, dy, dx, (4, 3, 3, 3), False, (1, 1), (1, 1), (1, 1), 1,
            benchmark=False, deterministic=True)
    lib.run(cp, "bwd_filter", x, dy, dw, (4, 3, 3, 3), False, (1, 1), (1, 1), (1, 1), 1,
            benchmark=False, deterministic=False)
    (bd,) = fake.named("cudnnConvolutionBackwardData")
    # (handle, alpha, wDesc, w, dyDesc, dy, convDesc, algo, ws, wsSize, beta, dxDesc, dx)
    assert len(bd) == 13 and _val(bd[3]) == w.data.ptr and _val(bd[5]) == dy.data.ptr
    assert _val(bd[12]) == dx.data.ptr and bd[7] == 2  # deterministic: algo 2
    (bf,) = fake.named("cudnnConvolutionBackwardFilter")
    # (handle, alpha, xDesc, x, dyDesc, dy, convDesc, algo, ws, wsSize, beta, dwDesc, dw)
    assert len(bf) == 13 and _val(bf[3]) == x.data.ptr and _val(bf[5]) == dy.data.ptr
    assert _val(bf[12]) == dw.data.ptr and bf[7] == 5
    # bwd data's search: (handle, wDesc, dyDesc, convDesc, dxDesc, n, &returned, perf)
    (search,) = fake.named("cudnnGetConvolutionBackwardDataAlgorithm_v7")
    assert len(search) == 8


def test_benchmark_times_on_scratch_output_and_double_uses_double_scalars():
    fake = _FakeCudnn([(4, 0, 1)])
    lib = _Lib(fake)
    x = _Arr(np.zeros((1, 2, 5, 5)))
    w = _Arr(np.zeros((3, 2, 3, 3)))
    y = _Arr(np.zeros((1, 3, 3, 3)))
    lib.run(_cp(), "fwd", x, w, y, (3, 2, 3, 3), False, (0, 0), (1, 1), (1, 1), 1,
            benchmark=True, deterministic=False)
    (find,) = fake.named("cudnnFindConvolutionForwardAlgorithmEx")
    # (handle, xDesc, x, wDesc, w, convDesc, yDesc, y, n, &returned, perf, ws, wsSize)
    assert len(find) == 13 and _val(find[7]) != y.data.ptr  # not the real output
    assert not fake.named("cudnnSetConvolutionMathType")  # float64: no tensor-op math
    (conv,) = fake.named("cudnnSetConvolution2dDescriptor")
    assert _val(conv[-1]) == 1  # CUDNN_DATA_DOUBLE compute
    fwd = fake.named("cudnnConvolutionForward")[0]
    assert isinstance(fwd[1]._obj, ctypes.c_double) and fwd[7] == 4
