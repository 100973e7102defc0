"""cuDNN pooling, batch norm and softmax (ember/backend/cupy_dnn.py), checked on the CPU with a
stand-in cuDNN that takes every call with cuDNN's documented C signature (argument count and
order, descriptors, host scaling factors of the right C type) and does what cuDNN documents
on the memory its descriptors describe: pointers and element strides are read and written
as the GPU library would. The overrides' results are compared with ember's NumPy kernels."""

from __future__ import annotations

import ctypes
import types

import numpy as np
import pytest

import ember
from ember.backend import cupy_dnn as D
from ember.backend.cudnn_ctypes import _Lib
from ember.ops import REGISTRY
from ember.ops import pool_kernels as PK

_NP = {0: np.float32, 1: np.float64, 2: np.float16}


class Dev(np.ndarray):
    """A NumPy array with CuPy's ``.data.ptr``."""

    @property
    def data(self):  # noqa: D401 - CuPy's attribute
        return types.SimpleNamespace(ptr=self.__array_interface__["data"][0])


class FakeXP:
    """The CuPy namespace as the overrides use it, on ``Dev`` arrays."""

    cuda = types.SimpleNamespace(
        runtime=types.SimpleNamespace(getDevice=lambda: 0),
        get_current_stream=lambda: types.SimpleNamespace(ptr=55))

    def __getattr__(self, name):
        fn = getattr(np, name)
        if not callable(fn):
            return fn

        def call(*a, **k):
            out = fn(*a, **k)
            return out.view(Dev) if isinstance(out, np.ndarray) else out

        return call


XP = FakeXP()


def dev(a):
    return np.asarray(a).view(Dev)


class FakeCudnn:
    """cuDNN's legacy pooling/softmax/batch-norm API over host memory."""

    def __init__(self):
        self.calls, self.tensors, self.pools, self._next = [], {}, {}, 1000

    def _new(self, ref):
        self._next += 1
        ref._obj.value = self._next

    def _view(self, desc, ptr):
        dt, shape, strides = self.tensors[desc.value]
        item = np.dtype(_NP[dt]).itemsize
        span = sum((n - 1) * s for n, s in zip(shape, strides)) + 1
        buf = np.frombuffer((ctypes.c_char * (span * item)).from_address(ptr.value),
                            _NP[dt])
        return np.lib.stride_tricks.as_strided(buf, shape, [s * item for s in strides])

    @staticmethod
    def _scalar(ref, dt):
        assert isinstance(ref._obj, ctypes.c_double if dt == 1 else ctypes.c_float)
        return ref._obj.value

    def _vec(self, ptr, c, dt):
        pd = np.float64 if dt == 1 else np.float32
        return np.frombuffer((ctypes.c_char * (c * np.dtype(pd).itemsize)).from_address(
            ptr.value), pd)

    def __getattr__(self, name):
        if not name.startswith("cudnn"):
            raise AttributeError(name)
        impl = getattr(self, "_" + name, None)

        def fn(*args):
            self.calls.append((name, args))
            if impl is not None:
                impl(*args)
            return 0

        return fn

    def _cudnnCreate(self, ref):
        self._new(ref)

    _cudnnCreateTensorDescriptor = _cudnnCreatePoolingDescriptor = _cudnnCreate

    def _cudnnSetTensor4dDescriptorEx(self, d, dt, n, c, h, w, sn, sc, sh, sw):
        self.tensors[d.value] = (dt, (n, c, h, w), (sn, sc, sh, sw))

    def _cudnnSetPooling2dDescriptor(self, d, mode, nan, kh, kw, ph, pw, sh, sw):
        assert nan == D._PROPAGATE_NAN
        self.pools[d.value] = (mode, (kh, kw), (ph, pw), (sh, sw))

    def _cudnnDeriveBNTensorDescriptor(self, d, xd, mode):
        assert mode == D._BN_SPATIAL
        dt, shape, _ = self.tensors[xd.value]
        self.tensors[d.value] = (dt, (1, shape[1], 1, 1), (shape[1], 1, 1, 1))

    def _cudnnPoolingForward(self, h, pd, alpha, xd, x, beta, yd, y):
        mode, k, p, s = self.pools[pd.value]
        dt = self.tensors[xd.value][0]
        assert (self._scalar(alpha, dt), self._scalar(beta, dt)) == (1.0, 0.0)
        xv = np.ascontiguousarray(self._view(xd, x))
        if mode == D._POOL_MAX:
            out = PK.max_pool2d(np, xv, k, s, p, (1, 1), False)
        else:
            out = PK.avg_pool2d(np, xv, k, s, p, False, mode == D._POOL_AVG_INCLUDE, 0)
        self._view(yd, y)[...] = out

    def _cudnnPoolingBackward(self, h, pd, alpha, yd, y, dyd, dy, xd, x, beta, dxd, dx):
        mode, k, p, s = self.pools[pd.value]
        g = np.ascontiguousarray(self._view(dyd, dy))
        size = self.tensors[dxd.value][1]
        if mode == D._POOL_MAX:
            out = PK.max_pool2d_grad(np, g, np.ascontiguousarray(self._view(xd, x)),
                                     np.ascontiguousarray(self._view(yd, y)), k, s, p, (1, 1),
                                     False)
        else:
            out = PK.avg_pool2d_grad(np, g, size[2:], k, s, p, False,
                                     mode == D._POOL_AVG_INCLUDE, 0)
        self._view(dxd, dx)[...] = out

    def _cudnnSoftmaxForward(self, h, algo, mode, alpha, xd, x, beta, yd, y):
        assert mode == D._SOFTMAX_MODE_CHANNEL
        name = "log_softmax" if algo == D._SOFTMAX_LOG else "softmax"
        self._view(yd, y)[...] = REGISTRY[name].forward(np, self._view(xd, x).copy(), axis=1)

    def _cudnnSoftmaxBackward(self, h, algo, mode, alpha, yd, y, dyd, dy, beta, dxd, dx):
        yv, g = self._view(yd, y), self._view(dyd, dy)
        if algo == D._SOFTMAX_LOG:
            out = g - np.exp(yv) * g.sum(axis=1, keepdims=True)
        else:
            out = yv * (g - (g * yv).sum(axis=1, keepdims=True))
        self._view(dxd, dx)[...] = out

    def _cudnnBatchNormalizationForwardTraining(self, h, mode, alpha, beta, xd, x, yd, y, bnd,
                                                scale, bias, factor, rmean, rvar, eps, smean,
                                                sinv):
        assert mode == D._BN_SPATIAL and isinstance(factor, ctypes.c_double)
        assert isinstance(eps, ctypes.c_double) and smean.value is None and sinv.value is None
        dt, shape, _ = self.tensors[xd.value]
        c = shape[1]
        xv = self._view(xd, x).astype(np.float64)
        w, b = self._vec(scale, c, dt), self._vec(bias, c, dt)
        mu = xv.mean(axis=(0, 2, 3))
        var = xv.var(axis=(0, 2, 3))
        m = xv.size // c
        yv = (xv - mu.reshape(1, c, 1, 1)) / np.sqrt(var.reshape(1, c, 1, 1) + eps.value)
        self._view(yd, y)[...] = yv * w.reshape(1, c, 1, 1) + b.reshape(1, c, 1, 1)
        f = factor.value  # running = (1 - f) running + f batch (variance unbiased)
        rm, rv = self._vec(rmean, c, dt), self._vec(rvar, c, dt)
        rm[...] = (1 - f) * (rm if f != 1 else 0) + f * mu
        rv[...] = (1 - f) * (rv if f != 1 else 0) + f * var * m / (m - 1)

    def _cudnnBatchNormalizationBackward(self, h, mode, ad, bd, ap, bp, xd, x, dyd, dy, dxd, dx,
                                         bnd, scale, dscale, dbias, eps, smean, sinv):
        dt, shape, _ = self.tensors[xd.value]
        c = shape[1]
        mu, inv = self._vec(smean, c, dt), self._vec(sinv, c, dt)
        var = 1.0 / inv.astype(np.float64) ** 2 - eps.value
        gx, gw, gb = REGISTRY["batch_norm_backward"].forward(
            np, self._view(dyd, dy).astype(np.float64), self._view(xd, x).astype(np.float64),
            self._vec(scale, c, dt).astype(np.float64), mu.astype(np.float64), var, eps.value)
        self._view(dxd, dx)[...] = gx
        self._vec(dscale, c, dt)[...] = gw
        self._vec(dbias, c, dt)[...] = gb


@pytest.fixture
def fake(monkeypatch):
    from ember.backends import cudnn as flags

    lib = FakeCudnn()
    wrapped = _Lib(lib)
    monkeypatch.setattr(flags, "_module", lambda: wrapped)
    monkeypatch.setattr(flags, "enabled", True)
    monkeypatch.setitem(D._STATE, "backend", types.SimpleNamespace(cudnn_layers=True))
    monkeypatch.setitem(D._STATE, "ops", None)
    monkeypatch.setitem(D._PLAIN, "batch_norm", REGISTRY["batch_norm"].forward)
    monkeypatch.setitem(D._PLAIN, "batch_norm_backward", REGISTRY["batch_norm_backward"].forward)
    monkeypatch.setitem(D._PLAIN, "softmax_backward", REGISTRY["softmax_backward"].forward)
    return lib


def _x(shape, dtype="float32", nhwc=False, seed=0):
    a = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    if nhwc:
        a = np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    return dev(a)


def _tol(dtype):
    return dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-13)


LAYOUTS = pytest.mark.parametrize("nhwc", [False, True], ids=["nchw", "channels_last"])
DTYPES = pytest.mark.parametrize("dtype", ["float32", "float64"])


@LAYOUTS
@DTYPES
def test_max_pool_forward_and_backward(fake, nhwc, dtype):
    x = _x((2, 3, 7, 8), dtype, nhwc)
    attrs = dict(kernel=(3, 2), stride=(2, 2), padding=(1, 1), dilation=(1, 1), ceil_mode=False)
    y = D._max_pool2d(XP, x, **attrs)
    want = PK.max_pool2d(np, np.asarray(x), **attrs)
    np.testing.assert_array_equal(np.asarray(y), want)
    assert D._channels_last(y) == nhwc  # the output keeps the input's layout
    g = _x(want.shape, dtype, seed=1)
    dx = D._max_pool2d_grad(XP, g, x, y, **attrs)
    np.testing.assert_allclose(np.asarray(dx), PK.max_pool2d_grad(
        np, np.asarray(g), np.asarray(x), want, **attrs), **_tol(dtype))
    names = [n for n, _ in fake.calls]
    assert names.count("cudnnPoolingForward") == 1 and names.count("cudnnPoolingBackward") == 1
    (fwd,) = [a for n, a in fake.calls if n == "cudnnPoolingForward"]
    assert len(fwd) == 8 and fwd[4].value == x.data.ptr and fwd[7].value == y.data.ptr
    (bwd,) = [a for n, a in fake.calls if n == "cudnnPoolingBackward"]
    assert len(bwd) == 12 and bwd[11].value == dx.data.ptr and bwd[8].value == x.data.ptr
    (pool,) = fake.pools.values()
    assert pool == (D._POOL_MAX, (3, 2), (1, 1), (2, 2))


@pytest.mark.parametrize("include", [True, False])
@DTYPES
def test_avg_pool_forward_and_backward(fake, include, dtype):
    x = _x((2, 3, 6, 7), dtype)
    attrs = dict(kernel=(2, 3), stride=(2, 1), padding=(1, 1), ceil_mode=False,
                 count_include_pad=include, divisor=0)
    y = D._avg_pool2d(XP, x, **attrs)
    want = PK.avg_pool2d(np, np.asarray(x), **attrs)
    np.testing.assert_allclose(np.asarray(y), want, **_tol(dtype))
    g = _x(want.shape, dtype, seed=2)
    dx = D._avg_pool2d_grad(XP, g, (6, 7), **attrs)
    np.testing.assert_allclose(np.asarray(dx), PK.avg_pool2d_grad(
        np, np.asarray(g), (6, 7), **attrs), **_tol(dtype))
    assert [p[0] for p in fake.pools.values()] == [1 if include else 2]


def test_uncovered_windows_use_the_plain_kernels(fake):
    x = _x((1, 2, 7, 7))
    y = D._max_pool2d(XP, x, (3, 3), (2, 2), (1, 1), (2, 2), False)  # dilated
    np.testing.assert_array_equal(np.asarray(y), PK.max_pool2d(
        np, np.asarray(x), (3, 3), (2, 2), (1, 1), (2, 2), False))
    D._max_pool2d(XP, x, (2, 2), (2, 2), (0, 0), (1, 1), True)  # ceil mode, partial window
    D._avg_pool2d(XP, x, (2, 2), (2, 2), (0, 0), False, True, 3)  # divisor override
    assert not fake.calls
    D._max_pool2d(XP, _x((1, 2, 8, 8)), (2, 2), (2, 2), (0, 0), (1, 1), True)  # ceil == floor
    assert [n for n, _ in fake.calls].count("cudnnPoolingForward") == 1


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,axis", [((4, 10), 1), ((4, 10), -1), ((2, 5, 3, 4), 1),
                                        ((3, 4, 6), 0), ((2, 3, 4), 2)])
@DTYPES
def test_softmax_any_axis(fake, log, shape, axis, dtype):
    x = _x(shape, dtype)
    name = "log_softmax" if log else "softmax"
    y = D._softmax_like(log)(XP, x, axis)
    want = REGISTRY[name].forward(np, np.asarray(x).copy(), axis)
    np.testing.assert_allclose(np.asarray(y), want, **_tol(dtype))
    (call,) = [a for n, a in fake.calls if n == "cudnnSoftmaxForward"]
    assert len(call) == 9 and call[1] == (D._SOFTMAX_LOG if log else D._SOFTMAX_ACCURATE)
    a = axis % len(shape)
    outer = int(np.prod(shape[:a]))
    assert fake.tensors[call[4].value][1] == (outer, shape[a], int(np.prod(shape[a + 1:])), 1)


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,axis", [((3, 5), 1), ((2, 5, 3), 1), ((4, 3, 2), -1)])
def test_softmax_backward_override_equals_autograd(fake, log, shape, axis):
    x = _x(shape, "float64")
    y = dev(REGISTRY["log_softmax" if log else "softmax"].forward(np, np.asarray(x), axis))
    g = _x(shape, "float64", seed=4)
    dx = D._softmax_backward(XP, g, y, axis, log)
    xt = ember.from_numpy(np.asarray(x).copy()).requires_grad_()
    fn = ember.nn.functional.log_softmax if log else ember.nn.functional.softmax
    (fn(xt, dim=axis) * ember.from_numpy(np.asarray(g).copy())).sum().backward()
    np.testing.assert_allclose(np.asarray(dx), xt.grad.numpy(), rtol=1e-12, atol=1e-14)
    (call,) = [a for n, a in fake.calls if n == "cudnnSoftmaxBackward"]
    assert len(call) == 11 and call[1] == (D._SOFTMAX_LOG if log else D._SOFTMAX_ACCURATE)
    assert isinstance(call[3]._obj, ctypes.c_double)


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
def test_softmax_backward_op_gradients(log):
    """The op the softmax vjps call: gradcheck in both inputs, and double backward against
    PyTorch's."""
    from ember.autograd import gradcheck
    from ember.autograd.node import apply
    from ember.ops.activation import SoftmaxBackward

    rng = np.random.default_rng(7)
    g = ember.from_numpy(rng.standard_normal((3, 4))).requires_grad_()
    out = ember.from_numpy(rng.uniform(-1, 1, (3, 4))).requires_grad_()
    assert gradcheck(lambda a, b: apply(SoftmaxBackward, a, b, axis=1, log=log), (g, out))
    torch = pytest.importorskip("torch")
    a = rng.standard_normal((3, 4))
    w = rng.standard_normal((3, 4))
    name = "log_softmax" if log else "softmax"
    xe = ember.from_numpy(a.copy()).requires_grad_()
    (ge,) = ember.autograd.grad((getattr(ember.nn.functional, name)(xe, dim=1) *
                                 ember.from_numpy(w)).sum(), xe, create_graph=True)
    (ge * ge).sum().backward()
    xt = torch.tensor(a, requires_grad=True)
    (gt,) = torch.autograd.grad((getattr(torch.nn.functional, name)(xt, dim=1) *
                                 torch.tensor(w)).sum(), xt, create_graph=True)
    (gt * gt).sum().backward()
    np.testing.assert_allclose(ge.detach().numpy(), gt.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape,nhwc", [((4, 3, 5, 6), False), ((4, 3, 5, 6), True),
                                        ((8, 5), False), ((4, 3, 7), False)])
@pytest.mark.parametrize("affine", [True, False])
@DTYPES
def test_batch_norm_training_forward_and_backward(fake, shape, nhwc, affine, dtype):
    x = _x(shape, dtype, nhwc)
    c = shape[1]
    rng = np.random.default_rng(5)
    w = dev(rng.uniform(0.5, 1.5, c).astype(dtype)) if affine else None
    b = dev(rng.standard_normal(c).astype(dtype)) if affine else None
    y, mean, var = D._batch_norm(XP, x, w, b, 1e-5)
    plain = REGISTRY["batch_norm"].forward
    wy, wm, wv = plain(np, np.asarray(x).copy(), None if w is None else np.asarray(w),
                       None if b is None else np.asarray(b), 1e-5)
    for got, want in ((y, wy), (mean, wm), (var, wv)):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(np.asarray(got), want, **_tol(dtype))
    g = _x(shape, dtype, seed=6)
    gx, gw, gb = D._batch_norm_backward(XP, g, x, w, mean, var, 1e-5)
    want = REGISTRY["batch_norm_backward"].forward(
        np, np.asarray(g), np.asarray(x), None if w is None else np.asarray(w), wm, wv, 1e-5)
    tol = dict(rtol=2e-4, atol=2e-5) if dtype == "float32" else _tol(dtype)
    for got, exp in zip((gx, gw, gb), want):
        np.testing.assert_allclose(np.asarray(got), exp, **tol)
    (fwd,) = [a for n, a in fake.calls if n == "cudnnBatchNormalizationForwardTraining"]
    assert len(fwd) == 17 and fwd[11].value == 1.0  # averaging factor 1: the batch stats
    (bwd,) = [a for n, a in fake.calls if n == "cudnnBatchNormalizationBackward"]
    assert len(bwd) == 19


def test_batch_norm_one_value_per_channel_and_switch_off_use_plain(fake, monkeypatch):
    D._batch_norm(XP, _x((1, 3)), None, None, 1e-5)
    monkeypatch.setitem(D._STATE, "backend", types.SimpleNamespace(cudnn_layers=False))
    D._batch_norm(XP, _x((4, 3, 2, 2)), None, None, 1e-5)
    D._softmax_like(False)(XP, _x((4, 3)), 1)
    assert not fake.calls


def test_a_refused_configuration_falls_back_for_good(fake, monkeypatch):
    import ml_dtypes

    calls = []

    def refuse(*args):
        calls.append(args)
        return 9  # CUDNN_STATUS_NOT_SUPPORTED

    from ember.backend import cupy_overrides

    monkeypatch.setattr(cupy_overrides, "REFUSED", set())
    lib = D._ops(_x((2, 2))).lib
    monkeypatch.setattr(lib, "cudnnPoolingForward", refuse, raising=False)
    monkeypatch.setattr(lib, "cudnnGetErrorString",
                        lambda s: b"CUDNN_STATUS_NOT_SUPPORTED", raising=False)
    x = dev(np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)
            .astype(ml_dtypes.bfloat16))
    fwd = D.guarded("max_pool2d", D._max_pool2d, PK.max_pool2d)
    with pytest.warns(RuntimeWarning, match=r"cuDNN refused max_pool2d in bfloat16 \(Runtime"
                      r"Error: cuDNN cudnnPoolingForward failed: CUDNN_STATUS_NOT_SUPPORTED"):
        y = fwd(XP, x, (2, 2), (2, 2), (0, 0), (1, 1), False)
    np.testing.assert_array_equal(np.asarray(y).astype(np.float32), PK.max_pool2d(
        np, np.asarray(x).astype(np.float32), (2, 2), (2, 2), (0, 0), (1, 1), False))
    fwd(XP, x, (2, 2), (2, 2), (0, 0), (1, 1), False)
    assert len(calls) == 1 and cupy_overrides.REFUSED == {("max_pool2d", "bfloat16")}


def test_plain_batch_norm_of_bfloat16_runs_in_float32():
    import ml_dtypes

    bf = ml_dtypes.bfloat16
    x = np.random.default_rng(8).standard_normal((4, 3, 2, 2)).astype(bf)
    w = np.full(3, 1.5, bf)
    fwd = D.via_float32(REGISTRY["batch_norm"].forward)
    y, mean, var = fwd(np, x, w, None, 1e-5)
    want = REGISTRY["batch_norm"].forward(np, x.astype(np.float32), w.astype(np.float32),
                                          None, 1e-5)
    for got, exp in zip((y, mean, var), want):
        assert got.dtype == bf
        np.testing.assert_array_equal(got.astype(np.float32), exp.astype(bf).astype(np.float32))
    f32 = np.ones((2, 3), np.float32)
    assert D.via_float32(lambda xp, a: a)(np, f32) is f32  # no bfloat16: untouched
