"""``ember.cuda``: NVIDIA GPUs through CuPy (PyTorch's ``torch.cuda`` names).

Nothing here imports CuPy until it is called. Without CuPy, a driver or a device,
``is_available()`` is False, ``why_unavailable()`` says which is missing, and every function
that needs a GPU raises ``DeviceError`` with that reason.

Example:
    >>> import ember
    >>> ok = ember.cuda.is_available()
    >>> ok or len(ember.cuda.why_unavailable()) > 0
    True
"""

from __future__ import annotations

from ..backend import OutOfMemoryError, try_backend
from ..errors import DeviceError

__all__ = [
    "Event", "OutOfMemoryError", "Stream", "current_device", "current_stream",
    "device_count", "empty_cache", "get_device_name", "info_lines", "is_available",
    "manual_seed",
    "manual_seed_all", "max_memory_allocated", "memory_allocated", "memory_reserved",
    "reset_peak_memory_stats", "set_device", "stream", "synchronize", "why_unavailable",
]


def is_available() -> bool:
    """Whether ember can run on a CUDA GPU here (CuPy imports and sees a device)."""
    return try_backend("cuda")[0] is not None


def why_unavailable() -> str:
    """Why CUDA is unavailable: no CuPy, no driver, or no device ("" when it is available)."""
    return try_backend("cuda")[1]


def _backend():
    b, why = try_backend("cuda")
    if b is None:
        raise DeviceError(f"CUDA is not available: {why}")
    return b


def device_count() -> int:
    """The number of CUDA devices (0 when CUDA is unavailable)."""
    b = try_backend("cuda")[0]
    return 0 if b is None else b.device_count()


def current_device() -> int:
    """The index of the current CUDA device."""
    return _backend().cp.cuda.runtime.getDevice()


def set_device(device) -> None:
    """Make ``device`` (an index, ``"cuda:N"`` or ``ember.device``) the current device."""
    _backend().set_device(device)


def get_device_name(device=None) -> str:
    """The GPU's name, e.g. ``"NVIDIA H100 80GB HBM3"``."""
    return _backend().device_name(device)


def synchronize(device=None) -> None:
    """Wait for all work queued on ``device`` (default: the current one) to finish."""
    _backend().synchronize(device)


def memory_allocated(device=None) -> int:
    """Bytes held by live tensors on ``device``."""
    return _backend().memory_allocated(device)


def max_memory_allocated(device=None) -> int:
    """Peak of ``memory_allocated`` since the start or ``reset_peak_memory_stats``."""
    return _backend().max_memory_allocated(device)


def memory_reserved(device=None) -> int:
    """Bytes ember's memory pool holds on ``device`` (live tensors plus its cache)."""
    return _backend().memory_reserved(device)


def reset_peak_memory_stats(device=None) -> None:
    """Restart the peak that ``max_memory_allocated`` reports from the current allocation."""
    _backend().reset_peak_memory_stats(device)


def empty_cache() -> None:
    """Give the pool's cached, unused blocks (device and pinned host) back to the driver."""
    b = try_backend("cuda")[0]
    if b is not None:
        b.empty_cache()


def manual_seed(seed: int) -> None:
    """Seed the CUDA random generators (cuRAND) of every device (quietly a no-op without CUDA,
    as in PyTorch)."""
    b = try_backend("cuda")[0]
    if b is not None:
        b.manual_seed(seed)


manual_seed_all = manual_seed


class Stream:
    """A CUDA stream: work queued on it runs in order, concurrently with other streams.

    Use it as a block (``with ember.cuda.stream(s):``) to queue ember's ops on it.
    """

    def __init__(self, device=None, priority: int = 0) -> None:
        b = _backend()
        with b.cp.cuda.Device(b._index(device)):
            extra = {"priority": priority} if priority else {}
            self._s = b.cp.cuda.Stream(non_blocking=True, **extra)
        self._cp = b.cp

    @property
    def cupy_stream(self):
        """The underlying ``cupy.cuda.Stream``."""
        return self._s

    def synchronize(self) -> None:
        """Wait until everything queued on this stream is done."""
        self._s.synchronize()

    def query(self) -> bool:
        """True when all work queued on this stream has finished."""
        return bool(self._s.done)

    def record_event(self, event: Event | None = None) -> Event:
        """Record ``event`` (a new one by default) at the current end of this stream."""
        event = event or Event()
        event.record(self)
        return event

    def wait_event(self, event: Event) -> None:
        """Make later work on this stream wait for ``event``."""
        self._s.wait_event(event._e)

    def wait_stream(self, other: Stream) -> None:
        """Make later work on this stream wait for what is queued on ``other`` now."""
        self.wait_event(other.record_event())

    def __enter__(self):
        self._s.__enter__()
        return self

    def __exit__(self, *exc):
        return self._s.__exit__(*exc)


class Event:
    """A CUDA event: a marker in a stream, for timing (``elapsed_time``) and ordering."""

    def __init__(self, enable_timing: bool = True, blocking: bool = False) -> None:
        b = _backend()
        self._e = b.cp.cuda.Event(block=blocking, disable_timing=not enable_timing)
        self._cp = b.cp

    def record(self, stream: Stream | None = None) -> None:
        """Mark the current end of ``stream`` (default: the current stream)."""
        self._e.record(None if stream is None else stream._s)

    def synchronize(self) -> None:
        """Wait until the work before the recorded mark is done."""
        self._e.synchronize()

    def query(self) -> bool:
        """True when the work before the mark is done."""
        return bool(self._e.done)

    def elapsed_time(self, end: Event) -> float:
        """Milliseconds between this event and ``end`` (both recorded and complete)."""
        return float(self._cp.cuda.get_elapsed_time(self._e, end._e))


def stream(s: Stream) -> Stream:
    """The block ``with ember.cuda.stream(s):`` queues ember's CUDA work on ``s``."""
    return s


def current_stream() -> Stream:
    """The stream ember's CUDA work is queued on now."""
    b = _backend()
    s = Stream.__new__(Stream)
    s._s, s._cp = b.cp.cuda.get_current_stream(), b.cp
    return s


def _version(v: int) -> str:
    """CUDA's integer version (12040) as text (12.4)."""
    return f"{v // 1000}.{v % 1000 // 10}"


def info_lines() -> list[str]:
    """Lines for ``ember info``: CuPy, CUDA runtime and driver, cuDNN, one line per GPU.

    Example:
        >>> import ember
        >>> ember.cuda.info_lines()[0].startswith("cuda: ")
        True
    """
    b, why = try_backend("cuda")
    if b is None:
        return [f"cuda: unavailable ({why})"]
    from ..backends import cudnn

    cp = b.cp
    rt = cp.cuda.runtime
    dnn = cudnn.version()
    lines = [f"cuda: {b.device_count()} device(s); CuPy {cp.__version__}, CUDA runtime "
             f"{_version(rt.runtimeGetVersion())}, driver {_version(rt.driverGetVersion())}, "
             + (f"cuDNN {dnn}" if dnn else f"no cuDNN ({cudnn.why_unavailable()})")
             + ("; bfloat16 on cuBLAS" if b.bf16 else f"; no bfloat16 ({b.bf16_why})")]
    for i in range(b.device_count()):
        p = rt.getDeviceProperties(i)
        name = p["name"].decode() if isinstance(p["name"], bytes) else p["name"]
        lines.append(f"cuda:{i}: {name}, {p['totalGlobalMem'] / 2**30:.1f} GiB, compute "
                     f"capability {p['major']}.{p['minor']}")
    return lines
