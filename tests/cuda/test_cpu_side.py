"""The CPU-side parts of the CUDA backend: why CUDA is unavailable, the errors that say so, the
out-of-memory retry, dtype refusal, device mismatch messages, pin_memory without a GPU."""

from __future__ import annotations

import importlib.util
import types
import warnings

import numpy as np
import pytest

import ember
from ember.backend import _BY_TYPE, Backend, OutOfMemoryError
from ember.backend import cupy_backend as cb
from ember.errors import DeviceError, DTypeError

from .conftest import CUDA

no_cuda = pytest.mark.skipif(CUDA, reason="checks the behaviour without CUDA")


@no_cuda
def test_unavailable_says_why():
    assert not ember.cuda.is_available()
    why = ember.cuda.why_unavailable()
    if importlib.util.find_spec("cupy") is None:
        assert why.startswith("CuPy is not installed: pip install cupy-cuda12x")
    assert ember.cuda.device_count() == 0
    ember.cuda.manual_seed(3)  # a quiet no-op, as torch.cuda.manual_seed
    ember.cuda.empty_cache()


@no_cuda
@pytest.mark.parametrize("make", [
    lambda: ember.zeros(2, device="cuda"),
    lambda: ember.ones(2).cuda(),
    lambda: ember.ones(2).to("cuda:1"),
    lambda: ember.nn.Linear(2, 2).cuda(),
])
def test_asking_for_cuda_raises_with_the_reason(make):
    with pytest.raises(DeviceError, match="device cuda(:1)? is not available: " +
                       ember.cuda.why_unavailable()[:20]):
        make()


@no_cuda
@pytest.mark.parametrize("fn", [ember.cuda.synchronize, ember.cuda.memory_allocated,
                                ember.cuda.current_device, ember.cuda.get_device_name,
                                ember.cuda.Event, ember.cuda.Stream])
def test_gpu_only_functions_raise(fn):
    with pytest.raises(DeviceError, match="CUDA is not available: "):
        fn()


@no_cuda
def test_cudnn_flags_and_reason():
    assert ember.backends.cudnn.is_available() is False
    assert ember.backends.cudnn.version() is None
    assert ember.backends.cudnn.why_unavailable() == ember.cuda.why_unavailable()
    assert ember.backends.cudnn.enabled is True and ember.backends.cudnn.benchmark is False


class _RuntimeError(Exception):
    pass


def _fake_cupy(count=None, error=None):
    def get_count():
        if error is not None:
            raise _RuntimeError(error)
        return count

    runtime = types.SimpleNamespace(getDeviceCount=get_count)
    return lambda: types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=runtime))


def _raise(exc):
    def f():
        raise exc
    return f


@pytest.mark.parametrize("importer,start", [
    (_raise(ImportError("No module named 'cupy'")), "CuPy is not installed"),
    (_raise(OSError("libnvrtc.so.12: cannot open shared object file")),
     "CuPy is installed but could not load CUDA (OSError: libnvrtc.so.12"),
    (_fake_cupy(error="cudaErrorNoDevice: no CUDA-capable device is detected"),
     "no CUDA device was found (cudaErrorNoDevice"),
    (_fake_cupy(error="cudaErrorInsufficientDriver: CUDA driver version is insufficient"),
     "no usable NVIDIA driver (cudaErrorInsufficientDriver"),
    (_fake_cupy(count=0), "no CUDA device was found (the driver reports 0 devices)"),
])
def test_probe_names_what_is_missing(importer, start):
    cp, why = cb.probe(importer)
    assert cp is None
    assert why.startswith(start), why


class _OOM(Exception):
    pass


class _Pool:
    """A memory pool of ``capacity`` bytes with ``cached`` bytes held by freed blocks."""

    def __init__(self, capacity, cached):
        self.capacity, self.cached, self.used, self.freed = capacity, cached, 0, 0

    def malloc(self, size):
        if self.used + self.cached + size > self.capacity:
            raise _OOM(size)
        self.used += size
        return types.SimpleNamespace(device_id=0, size=size)

    def free_all_blocks(self):
        self.freed += 1
        self.cached = 0

    def used_bytes(self):
        return self.used


def test_allocator_frees_the_cache_once_and_retries():
    pool = _Pool(capacity=100 << 20, cached=60 << 20)
    alloc = cb._Allocator(pool, lambda dev: (40 << 20, 100 << 20), _OOM)
    alloc(30 << 20)
    assert pool.freed == 0
    alloc(50 << 20)  # fails while 60 MiB are cached; succeeds after freeing them
    assert pool.freed == 1 and pool.used == 80 << 20
    assert alloc.peak[0] == 80 << 20


def test_allocator_reports_requested_vs_free_and_suggests_a_smaller_batch():
    pool = _Pool(capacity=100 << 20, cached=0)
    alloc = cb._Allocator(pool, lambda dev: (12 << 20, 100 << 20), _OOM)
    alloc(90 << 20)
    with pytest.raises(OutOfMemoryError, match=r"CUDA out of memory on cuda:0: tried to "
                       r"allocate 20\.00 MiB, 12\.00 MiB free of 100\.00 MiB .*cache was "
                       r"freed and the allocation retried\)\. Use a smaller batch size"):
        alloc(20 << 20)
    assert pool.freed == 1
    assert issubclass(OutOfMemoryError, MemoryError) and issubclass(OutOfMemoryError,
                                                                    DeviceError)


def test_unsupported_dtype_on_the_device_is_refused():
    backend = cb.CupyBackend.__new__(cb.CupyBackend)
    backend.bf16 = False
    backend.bf16_why = ("CuPy 13.6.0 has no bfloat16 arrays (TypeError); bfloat16 on CUDA "
                        "needs CuPy >= 14 with ml_dtypes installed")
    backend.cp = types.SimpleNamespace(__version__="13.6.0")
    backend.check_dtype(np.float16)
    backend.check_dtype(np.int64)
    import ml_dtypes

    with pytest.raises(DTypeError, match=r"to_device: dtype bfloat16 is not supported on CUDA: "
                       r"CuPy 13\.6\.0 has no bfloat16 arrays .*needs CuPy >= 14 with "
                       r"ml_dtypes.* or use float16"):
        backend.check_dtype(ml_dtypes.bfloat16)
    with pytest.raises(DTypeError, match=r"astype: dtype complex64 is not supported on CUDA: "
                       r"CuPy 13\.6\.0 has no complex64 arrays"):
        backend.check_dtype(np.complex64, "astype")


class _OtherArray(np.ndarray):
    """Arrays of a second, fake device type: enough to meet the device mismatch check."""


def test_mixing_devices_names_the_arguments_and_their_devices():
    fake = Backend("fake", np, _OtherArray)
    fake.device = ember.device("cuda", 1)
    _BY_TYPE[_OtherArray] = fake
    try:
        a = ember.ones(2, 3)
        b = ember.Tensor(np.ones((2, 3), np.float32).view(_OtherArray))
        assert b.device == ember.device("cuda:1")
        with pytest.raises(DeviceError, match=r"add: expected all tensors on one device, got "
                           r"argument 0 \(shape \(2, 3\) float32\) on cpu, argument 1 "
                           r"\(shape \(2, 3\) float32\) on cuda:1\. Move them to one device "
                           r"first with \.to\(device\), e\.g\. other\.to\('cpu'\)"):
            ember.ops.add(a, b)
    finally:
        del _BY_TYPE[_OtherArray]


@no_cuda
def test_pin_memory_without_cuda_is_a_no_op_with_one_warning():
    cb.warn_once.__defaults__[0].discard("pin_memory")
    ds = ember.data.ArrayDataset(np.arange(12.0).reshape(6, 2))
    loader = ember.data.DataLoader(ds, batch_size=4, pin_memory=True)
    with pytest.warns(RuntimeWarning, match="pin_memory=True has no effect: CUDA is not "
                      "available"):
        first = [b for b in loader]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = [b for b in loader]
    for x, y in zip(first, second):
        x = x[0] if isinstance(x, (list, tuple)) else x
        y = y[0] if isinstance(y, (list, tuple)) else y
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    assert len(first) == 2


def test_ember_info_lists_cuda():
    import io

    from ember.cli import info

    buf = io.StringIO()
    info(out=buf)
    text = buf.getvalue()
    if CUDA:
        assert "CuPy " in text and "CUDA runtime " in text and "cuda:0: " in text
    else:
        assert f"cuda: unavailable ({ember.cuda.why_unavailable()})" in text


def test_cuda_graph_on_cpu_tensors_is_refused():
    f = ember.jit(lambda x: (x * 2.0).sum(), cuda_graph=True)
    with pytest.raises(DeviceError, match=r"jit\(cuda_graph=True\): the function's tensors "
                       "are on the CPU"):
        f(ember.ones(3))


@no_cuda
def test_device_prefetcher_without_cuda_passes_batches_through():
    from ember.cuda.prefetch import DevicePrefetcher

    cb.warn_once.__defaults__[0].discard("prefetcher")
    ds = ember.data.ArrayDataset(np.arange(8.0, dtype=np.float32).reshape(4, 2))
    loader = ember.data.DataLoader(ds, batch_size=2)
    with pytest.warns(RuntimeWarning, match="DevicePrefetcher: CUDA is not available"):
        got = list(DevicePrefetcher(loader))
    assert len(got) == 2
    first = got[0][0] if isinstance(got[0], (list, tuple)) else got[0]
    np.testing.assert_array_equal(first.numpy(), [[0.0, 1.0], [2.0, 3.0]])


def test_cupy_cross_gpu_error_becomes_a_device_error():
    from ember.autograd.node import _raise_forward_error

    op = types.SimpleNamespace(name="add")
    exc = ValueError("The device where the array resides (1) is different from the current "
                     "device (0). Peer access is unavailable between these devices.")
    with pytest.raises(DeviceError, match=r"add: The device where the array resides \(1\) .*"
                       r"the arguments are on different GPUs; move them to one with "
                       r"\.to\('cuda:N'\)"):
        _raise_forward_error(op, exc, [ember.ones(2)])
