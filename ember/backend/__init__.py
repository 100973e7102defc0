"""Backends: one array namespace per device type.

A backend holds the array module (``numpy`` on the CPU, ``cupy`` on CUDA), the table of
forward overrides keyed by op (e.g. an im2col convolution on NumPy), and ``raw``: a namespace
that calls every registered op's forward directly on backend arrays. Vector-Jacobian products
run against ``raw`` when no higher-order graph is needed, and against ``ember.ops.diff`` when it
is, so each vjp is written once.
"""

from __future__ import annotations

from ..device import device as _device
from ..errors import DeviceError


class OutOfMemoryError(DeviceError, MemoryError):
    """A device ran out of memory even after its cache of freed blocks was released."""


class RawNamespace:
    """Every registered op's forward, bound to one backend's array module."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def __getattr__(self, name: str):
        from ..ops.registry import REGISTRY

        op = REGISTRY.get(name)
        if op is None:
            raise AttributeError(f"no op named {name!r}")
        fwd = self._backend.forward(op)
        xp = self._backend.xp

        def call(*args, **attrs):
            return fwd(xp, *args, **attrs)

        call.__name__ = name
        setattr(self, name, call)
        return call


class Backend:
    """An array namespace serving one device type.

    Besides the forwards, a backend answers the device questions the rest of ember asks
    without knowing which device it runs on: ``device_of`` (the device holding an array),
    ``move_in`` (an array from any backend copied onto one of this backend's devices),
    ``synchronize`` (wait for queued work; the profiler times with it) and the memory
    statistics. The CPU backend's answers are trivial; the CUDA backend's are real.
    """

    multi_device = False  # True when arrays of this type live on several devices (cuda:N)

    def __init__(self, name: str, xp, array_type: type) -> None:
        self.name = name
        self.xp = xp
        self.array_type = array_type
        self.overrides: dict = {}
        self.forwards: dict = {}
        self.raw = RawNamespace(self)
        self.device = _device("cpu")  # the registering module sets its own

    def device_of(self, array) -> _device:
        """The device holding ``array`` (one of this backend's arrays)."""
        return self.device

    def move_in(self, array, device=None):
        """``array`` (any backend's) as one of this backend's arrays on ``device``."""
        if array.__class__ is self.array_type:
            return array
        if hasattr(array, "get"):  # a GPU array coming to the host
            array = array.get()
        return self.xp.asarray(array)

    def synchronize(self, device=None) -> None:
        """Wait until the work queued on ``device`` is done (no-op where work is synchronous)."""

    def memory_allocated(self, device=None) -> int:
        """Bytes held by live arrays on ``device`` (0 where the backend does not track it)."""
        return 0

    def max_memory_allocated(self, device=None) -> int:
        """The peak of ``memory_allocated`` since the start or the last reset."""
        return 0

    def reset_peak_memory_stats(self, device=None) -> None:
        """Start ``max_memory_allocated`` again from the current allocation."""

    def empty_cache(self) -> None:
        """Give cached, unused device memory back to the driver."""

    def matmul_into(self, a, b, out):
        """``a @ b`` written into ``out``: the compiled graphs' matmul (as the op's forward)."""
        return self.xp.matmul(a, b, out=out)

    def linear_into(self, x, weight, bias, out):
        """``x @ weight.T + bias`` written into ``out``: the compiled graphs' linear (as the
        op's forward; ``bias`` may be None)."""
        self.xp.matmul(x, weight.T, out=out)
        if bias is not None:
            self.xp.add(out, bias, out=out)
        return out

    def fused_optimizer_step(self, optimizer, jobs: list) -> list:
        """Run what it can of an optimiser step's updates with this backend's fused kernels
        and return the jobs it left (``(xp, coefficients, p, g, buffers)`` each), which the
        caller runs with the optimiser's own rule. ``optimizer`` is the optimiser or, from a
        compiled graph, its class. The base backend has no fused kernels."""
        return jobs

    def runs_natively(self, op_name: str, dtype) -> bool:
        """Whether this backend runs the primitive ``op_name`` on ``dtype`` arrays with a
        kernel of its own now. Functions that otherwise compose other primitives (``conv3d``
        of ``conv2d``) ask, and apply the primitive when it does. The base backend has none."""
        return False

    def relu_into(self, x, out):
        """``max(x, 0)`` written into ``out``: the compiled graphs' relu (as the op's
        forward)."""
        return self.xp.maximum(x, 0, out=out)

    def relu_backward_into(self, g, x, out):
        """``g * (x > 0)`` written into ``out``: the compiled graphs' relu_backward."""
        return self.xp.multiply(g, x > 0, out=out)

    def where_into(self, cond, a, b, out):
        """``where(cond, a, b)`` written into ``out`` (which aliases neither ``a`` nor ``b``):
        the compiled graphs' where."""
        self.xp.copyto(out, b)
        self.xp.copyto(out, a, where=cond)
        return out

    def override(self, op_name: str):
        """Decorator: register ``fn(xp, *arrays, **attrs)`` as this backend's forward of an op."""

        def register(fn):
            self.overrides[op_name] = fn
            self.forwards.clear()
            return fn

        return register

    def forward(self, op):
        """The forward function of ``op`` on this backend (the override if there is one)."""
        fn = self.forwards.get(op)
        if fn is None:
            fn = self.overrides.get(op.name, op.forward)
            self.forwards[op] = fn
        return fn

    def __repr__(self) -> str:
        return f"<ember backend {self.name}>"


_BY_TYPE: dict[type, Backend] = {}
_BY_DEVICE_TYPE: dict[str, Backend] = {}


def register_backend(backend: Backend, device_type: str) -> None:
    _BY_TYPE[backend.array_type] = backend
    _BY_DEVICE_TYPE[device_type] = backend


def backend_of(array) -> Backend:
    """The backend that owns a backend array."""
    try:
        return _BY_TYPE[array.__class__]
    except KeyError:
        raise DeviceError(
            f"no ember backend handles arrays of type {type(array).__name__}"
        ) from None


def try_backend(device_type: str) -> tuple[Backend | None, str]:
    """``(backend, "")`` for a device type, loading it on first use, or ``(None, why not)``.

    The CUDA backend is loaded lazily: ``import ember`` never imports CuPy.
    """
    b = _BY_DEVICE_TYPE.get(device_type)
    if b is not None:
        return b, ""
    if device_type != "cuda":
        return None, f"ember has no backend for device type {device_type!r}"
    from . import cupy_backend

    return cupy_backend.load()


def get_backend(dev) -> Backend:
    """The backend for a device (``"cpu"``, ``"cuda:0"``, ``ember.device``)."""
    d = _device(dev) if not isinstance(dev, _device) else dev
    b = _BY_DEVICE_TYPE.get(d.type)
    if b is None:
        b, why = try_backend(d.type)
        if b is None:
            raise DeviceError(f"device {d} is not available: {why}")
    return b


from . import numpy_backend  # noqa: E402,F401  (registers the CPU backend)
