"""The CUDA backend: CuPy arrays, cuBLAS, cuRAND, CuPy's memory pool and streams, cuDNN.

Loaded lazily, the first time something asks for ``"cuda"`` (``ember.cuda.is_available()``,
``tensor.cuda()``, ``device="cuda"``): ``import ember`` never imports CuPy. ``load()`` either
registers the backend or returns why it cannot (no CuPy, no driver, no device), and the
reason is kept so every later error can repeat it.

Most ops run their ordinary forward with ``xp = cupy``. The overrides below replace the few
forwards that reach outside NumPy's array API (``add.at``, SciPy's ``erf``, host-side random
masks) and route convolution to cuDNN when CuPy has its bindings.

Memory: every allocation goes through ``_Allocator``, which keeps the peak of the pool's
used bytes per device (CuPy does not) and turns an out-of-memory failure into ember's
``OutOfMemoryError`` after freeing the pool's cached blocks once and retrying.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..device import device as _device
from ..errors import DTypeError, op_error
from . import Backend, OutOfMemoryError, register_backend

_STATE: dict = {"backend": None, "why": None}

_SUPPORTED_KINDS = "biuf"  # bool, signed/unsigned ints, floats (float16/32/64)


def probe(import_cupy=None) -> tuple[object | None, str]:
    """``(cupy, "")`` when CuPy imports and sees a CUDA device, else ``(None, why not)``.

    ``import_cupy`` (for tests) replaces ``import cupy``.
    """
    try:
        if import_cupy is not None:
            cp = import_cupy()
        else:
            import cupy as cp
    except ImportError:
        return None, ("CuPy is not installed: pip install cupy-cuda12x (or cupy-cuda13x for "
                      "CUDA 13) on a machine with an NVIDIA GPU and driver")
    except Exception as exc:  # noqa: BLE001 - CuPy present, but its CUDA libraries fail
        return None, f"CuPy is installed but could not load CUDA ({type(exc).__name__}: {exc})"
    try:
        n = cp.cuda.runtime.getDeviceCount()
    except Exception as exc:  # noqa: BLE001 - CUDARuntimeError or a missing libcuda
        msg = str(exc)
        if "NoDevice" in msg or "no CUDA-capable device" in msg:
            return None, f"no CUDA device was found ({msg})"
        if "Driver" in msg or "driver" in msg or "libcuda" in msg:
            return None, f"no usable NVIDIA driver ({msg}); install or update the driver"
        return None, f"CUDA could not be initialised ({type(exc).__name__}: {msg})"
    if n == 0:
        return None, "no CUDA device was found (the driver reports 0 devices)"
    return cp, ""


def load(import_cupy=None) -> tuple[Backend | None, str]:
    """Register the CUDA backend once: ``(backend, "")`` or ``(None, why not)``."""
    if _STATE["backend"] is not None:
        return _STATE["backend"], ""
    if _STATE["why"] is not None and import_cupy is None:
        return None, _STATE["why"]
    cp, why = probe(import_cupy)
    if cp is None:
        if import_cupy is None:
            _STATE["why"] = why
        return None, why
    backend = CupyBackend(cp)
    register_backend(backend, "cuda")
    _STATE["backend"] = backend
    return backend, ""


class _Allocator:
    """CuPy allocator: pool allocation with peak tracking and one retry after freeing cache.

    ``pool`` is a CuPy ``MemoryPool``; ``mem_info(device_id)`` gives ``(free, total)``;
    ``oom_type`` is the exception CuPy raises when an allocation fails.
    """

    def __init__(self, pool, mem_info, oom_type) -> None:
        self.pool = pool
        self.mem_info = mem_info
        self.oom_type = oom_type
        self.peak: dict[int, int] = {}
        self.device_id = lambda: 0

    def __call__(self, size: int):
        try:
            mem = self.pool.malloc(size)
        except self.oom_type:
            self.pool.free_all_blocks()  # cached but unused blocks: give them back, try again
            try:
                mem = self.pool.malloc(size)
            except self.oom_type:
                dev = self.device_id()
                free, total = self.mem_info(dev)
                raise OutOfMemoryError(
                    f"CUDA out of memory on cuda:{dev}: tried to allocate {_mib(size)}, "
                    f"{_mib(free)} free of {_mib(total)} (ember's pool holds "
                    f"{_mib(self.pool.used_bytes())} in live arrays; its cache was freed "
                    "and the allocation retried). Use a smaller batch size, free tensors "
                    "you no longer need, or train under ember.amp.autocast to halve "
                    "activation memory") from None
        used = self.pool.used_bytes()
        dev = getattr(mem, "device_id", 0)
        if used > self.peak.get(dev, 0):
            self.peak[dev] = used
        return mem


def _mib(n: int) -> str:
    return f"{n / 2**20:.2f} MiB"


class CupyBackend(Backend):
    """ember's backend for ``cuda``/``cuda:N`` devices, over CuPy."""

    multi_device = True

    def __init__(self, cp) -> None:
        super().__init__("cupy", cp, cp.ndarray)
        self.cp = cp
        self.device = _device("cuda", 0)
        self._devices: dict[int, _device] = {}
        pool = cp.get_default_memory_pool()
        self.allocator = _Allocator(pool, self._mem_info,
                                    cp.cuda.memory.OutOfMemoryError)
        self.allocator.device_id = lambda: cp.cuda.runtime.getDevice()
        cp.cuda.set_allocator(self.allocator)
        self.pinned_pool = cp.get_default_pinned_memory_pool()
        from .cupy_blas import probe as _bf16_probe

        self.bf16_why = _bf16_probe(cp)  # "" when bfloat16 arrays and GEMMs work
        self.bf16 = not self.bf16_why
        from . import cupy_overrides

        cupy_overrides.install(self)

    # ---------------------------------------------------------------- devices
    def _index(self, device) -> int:
        if device is None:
            return self.cp.cuda.runtime.getDevice()
        d = _device(device) if not isinstance(device, (_device, int)) else device
        return d if isinstance(d, int) else (d.index or 0)

    def device_of(self, array) -> _device:
        i = array.device.id
        d = self._devices.get(i)
        if d is None:
            d = self._devices[i] = _device("cuda", i)
        return d

    def move_in(self, array, device=None):
        """``array`` copied to ``cuda:N`` (the current device when ``device`` names none)."""
        cp = self.cp
        idx = self._index(device)
        count = cp.cuda.runtime.getDeviceCount()
        if not 0 <= idx < count:
            from ..errors import DeviceError

            raise DeviceError(f"to_device: cuda:{idx} does not exist; this machine has "
                              f"{count} CUDA device(s), cuda:0 to cuda:{count - 1}")
        self.check_dtype(array.dtype, "to_device")
        if array.__class__ is cp.ndarray and array.device.id == idx:
            return array
        with cp.cuda.Device(idx):
            return cp.array(array, copy=True)

    def check_dtype(self, dtype, op: str = "to_device") -> None:
        """Refuse dtypes CuPy cannot hold (bfloat16 unless this CuPy supports it: CuPy >= 14
        with ml_dtypes, checked when the backend loads)."""
        dt = np.dtype(dtype)
        if dt.kind in _SUPPORTED_KINDS:
            return
        if dt.name == "bfloat16" and self.bf16:
            return
        why = self.bf16_why if dt.name == "bfloat16" else \
            f"CuPy {self.cp.__version__} has no {dt.name} arrays"
        raise op_error(DTypeError, op, f"dtype {dt.name} is not supported on CUDA: {why}",
                       hint="keep such tensors on the CPU, or use float16 on CUDA "
                            "(ember.amp.autocast('cuda', dtype=ember.float16)); bfloat16 "
                            "on CUDA needs CuPy >= 14 and ml_dtypes")

    def set_device(self, device) -> None:
        self.cp.cuda.Device(self._index(device)).use()

    def device_count(self) -> int:
        return self.cp.cuda.runtime.getDeviceCount()

    def device_name(self, device=None) -> str:
        props = self.cp.cuda.runtime.getDeviceProperties(self._index(device))
        name = props["name"]
        return name.decode() if isinstance(name, bytes) else str(name)

    # ---------------------------------------------------------------- work and memory
    def synchronize(self, device=None) -> None:
        self.cp.cuda.Device(self._index(device)).synchronize()

    def _mem_info(self, idx: int) -> tuple[int, int]:
        with self.cp.cuda.Device(idx):
            return self.cp.cuda.runtime.memGetInfo()

    def memory_allocated(self, device=None) -> int:
        with self.cp.cuda.Device(self._index(device)):
            return self.allocator.pool.used_bytes()

    def memory_reserved(self, device=None) -> int:
        with self.cp.cuda.Device(self._index(device)):
            return self.allocator.pool.total_bytes()

    def max_memory_allocated(self, device=None) -> int:
        idx = self._index(device)
        return max(self.allocator.peak.get(idx, 0), self.memory_allocated(idx))

    def reset_peak_memory_stats(self, device=None) -> None:
        idx = self._index(device)
        self.allocator.peak[idx] = self.memory_allocated(idx)

    def empty_cache(self) -> None:
        self.allocator.pool.free_all_blocks()
        self.pinned_pool.free_all_blocks()

    def manual_seed(self, seed: int) -> None:
        """Seed cuRAND on every device (the generator behind CUDA random ops)."""
        cp = self.cp
        for i in range(cp.cuda.runtime.getDeviceCount()):
            with cp.cuda.Device(i):
                cp.random.seed(int(seed))

    # ---------------------------------------------------------------- compiled graphs
    fuse_kernels = True  # one ElementwiseKernel per fused group in ember.jit graphs

    def fused_kernel(self, group):
        """The CUDA kernel for a fused elementwise group of a compiled graph (or None)."""
        if not self.fuse_kernels:
            return None
        from .cuda_fusion import cuda_kernel

        return cuda_kernel(group)

    cudnn_layers = True  # pooling, batch norm, softmax on cuDNN when it loads (cupy_dnn)
    fuse_optimizers = True  # Adam/AdamW/SGD steps as fused kernels
    multi_tensor_optimizers = True  # ... one kernel per step (per dtype), not per parameter

    def fused_optimizer_step(self, optimizer, jobs: list) -> list:
        """Run an optimiser step's updates with fused kernels; returns the jobs left (all of
        them when the optimiser has none)."""
        if not self.fuse_optimizers:
            return jobs
        from .cuda_optim import fused_step

        return [] if fused_step(self.cp, optimizer, jobs, self.multi_tensor_optimizers) else jobs

    # ---------------------------------------------------------------- host memory
    def pin_memory(self, array: np.ndarray) -> np.ndarray:
        """A copy of a host array in page-locked memory (fast, asynchronous uploads)."""
        mem = self.cp.cuda.alloc_pinned_memory(array.nbytes)
        out = np.frombuffer(mem, array.dtype, array.size).reshape(array.shape)
        out[...] = array
        return out

    def upload_async(self, array: np.ndarray, stream, device=None):
        """``array`` (ideally pinned) copied to the device on ``stream`` without blocking."""
        cp = self.cp
        with cp.cuda.Device(self._index(device)):
            out = cp.empty(array.shape, dtype=array.dtype)
            out.set(array, stream=stream)
        return out


def warn_once(key: str, message: str, _seen: set = set()) -> None:  # noqa: B006 - on purpose
    """``warnings.warn(message)`` the first time ``key`` is seen in this process."""
    if key not in _seen:
        _seen.add(key)
        warnings.warn(message, RuntimeWarning, stacklevel=3)
