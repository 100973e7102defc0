"""DLPack: zero-copy exchange of tensors with NumPy, PyTorch, CuPy and any DLPack library.

``Tensor.__dlpack__`` hands out the tensor's own memory: the capsule is made by the backend
array (NumPy's ``ndarray.__dlpack__`` on the CPU), so the consumer and ember then share one
buffer and a write on either side is seen on the other. ``from_dlpack`` wraps a producer's
memory the same way. NumPy has no bfloat16 DLPack code, so bfloat16 travels as uint16 whose
dtype field is rewritten in the capsule (both directions); nothing is copied.

Refused, with the reason in the error: tensors that require grad (the consumer could change
values autograd saved; export ``t.detach()``, as PyTorch asks), and memory on a device ember
has no backend for (a CUDA tensor without CuPy: move it with ``.cpu()`` first).

Example:
    >>> import ember, numpy as np
    >>> t = ember.zeros(3)
    >>> a = np.from_dlpack(t)
    >>> a[0] = 5.0
    >>> t
    tensor([5., 0., 0.])
    >>> ember.from_dlpack(a).shape
    (3,)
"""

from __future__ import annotations

import ctypes

import numpy as np

from .. import dtypes as _dt
from ..autograd.grad_mode import state as _state
from ..errors import AutogradError, DeviceError, DTypeError, op_error
from ..tensor import Tensor

# DLDeviceType codes (dlpack.h)
_CPU, _CUDA, _CUDA_MANAGED = 1, 2, 13
_DEVICE_NAMES = {1: "cpu", 2: "cuda", 3: "cuda_host", 4: "opencl", 7: "vulkan", 8: "metal",
                 9: "vpi", 10: "rocm", 11: "rocm_host", 13: "cuda_managed", 14: "oneapi"}
# DLDataTypeCode: 1 = unsigned int, 4 = bfloat16
_DL_UINT, _DL_BFLOAT = 1, 4
# the (code, bits) pairs with an ember dtype: int8-64, uint8, float16/32/64, bfloat16, bool
_EMBER_CODES = {(0, 8), (0, 16), (0, 32), (0, 64), (1, 8), (2, 16), (2, 32), (2, 64), (4, 16),
                (6, 8)}
_CODE_NAMES = {0: "int", 1: "uint", 2: "float", 4: "bfloat", 5: "complex", 6: "bool"}
# offset of DLTensor.dtype.code: data pointer (8) + DLDevice (8) + ndim (4)
_DTYPE_OFFSET = 20
# DLManagedTensorVersioned puts version (8), manager_ctx (8), deleter (8), flags (8) first
_VERSIONED_HEADER = 32

_capsule_name = ctypes.PYFUNCTYPE(ctypes.c_char_p, ctypes.py_object)(
    ("PyCapsule_GetName", ctypes.pythonapi))
_capsule_pointer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)(
    ("PyCapsule_GetPointer", ctypes.pythonapi))


def _set_dtype_code(capsule, code: int) -> None:
    """Rewrite the DLDataType code of an unconsumed DLPack capsule in place."""
    name = _capsule_name(capsule)
    if name not in (b"dltensor", b"dltensor_versioned"):
        raise BufferError(f"from_dlpack: not an unconsumed DLPack capsule (name {name!r})")
    base = _capsule_pointer(capsule, name)
    offset = _DTYPE_OFFSET + (_VERSIONED_HEADER if name == b"dltensor_versioned" else 0)
    ctypes.c_uint8.from_address(base + offset).value = code


def _dtype_code(capsule) -> tuple[int, int]:
    """The (code, bits) of the capsule's DLDataType."""
    name = _capsule_name(capsule)
    base = _capsule_pointer(capsule, name)
    offset = _DTYPE_OFFSET + (_VERSIONED_HEADER if name == b"dltensor_versioned" else 0)
    return (ctypes.c_uint8.from_address(base + offset).value,
            ctypes.c_uint8.from_address(base + offset + 1).value)


def tensor_dlpack(self: Tensor, *, stream=None, max_version=None, dl_device=None, copy=None):
    """Export this tensor as a DLPack capsule sharing its memory (``Tensor.__dlpack__``).

    Args:
        stream: for CUDA producers, the consumer's stream; must be None on the CPU.
        max_version: the highest DLPack version the consumer understands, e.g. ``(1, 0)``;
            it selects a versioned capsule (which can mark read-only memory).
        dl_device: the device the consumer wants, as ``(device_type, id)``; only the
            tensor's own device is possible without a copy.
        copy: True always copies, False never does, None shares memory.
    """
    if _state.tracer is not None:
        _state.tracer.check_concrete(self, "__dlpack__ (DLPack export)")
    if self._rg:
        raise op_error(AutogradError, "__dlpack__", "the tensor requires grad; a DLPack "
                       "consumer could change values that autograd saved for backward",
                       args=[self], hint="export t.detach() instead, as PyTorch asks")
    data = self.data
    bf16 = self.dtype is _dt.bfloat16
    if bf16:
        data = data.view(np.uint16)
    kwargs = {}
    if max_version is not None:
        kwargs["max_version"] = tuple(max_version)
    if dl_device is not None:
        kwargs["dl_device"] = tuple(dl_device)
    if copy is not None:
        kwargs["copy"] = copy
    if stream is not None:
        kwargs["stream"] = stream
    try:
        capsule = data.__dlpack__(**kwargs)
    except BufferError as e:
        read_only = not getattr(getattr(data, "flags", None), "writeable", True)
        hint = (" A read-only view (from expand or broadcast_to) needs a consumer of DLPack "
                "1.0 (max_version=(1, 0)), or export t.clone()" if read_only else "")
        raise BufferError(f"__dlpack__: the backend refused to export this tensor "
                          f"{tuple(self.shape)} {self.dtype.name}: {e}.{hint}") from None
    if bf16:
        _set_dtype_code(capsule, _DL_BFLOAT)
    return capsule


def tensor_dlpack_device(self: Tensor) -> tuple[int, int]:
    """The ``(DLDeviceType, device id)`` of this tensor: ``(1, 0)`` on the CPU."""
    kind, index = self.data.__dlpack_device__()
    return int(kind), int(index)


class _Relabelled:
    """A DLPack producer handing out one capsule whose bfloat16 code reads as uint16."""

    def __init__(self, capsule, device) -> None:
        self.capsule, self.device = capsule, device

    def __dlpack__(self, **kwargs):
        return self.capsule

    def __dlpack_device__(self):
        return self.device


def from_dlpack(x, *, device=None, copy: bool | None = None) -> Tensor:
    """A tensor sharing the memory of any object that implements DLPack (zero copy).

    Args:
        x: a NumPy array, PyTorch tensor, CuPy array, JAX array, ember tensor, or anything
            with ``__dlpack__`` and ``__dlpack_device__``.
        device: the device to put the result on; only ``"cpu"`` (or None) for CPU memory.
        copy: True copies, False refuses to copy, None (default) shares memory.

    Example:
        >>> import ember, numpy as np
        >>> a = np.arange(4.0)
        >>> t = ember.from_dlpack(a)
        >>> t[1] = 10.0
        >>> a
        array([ 0., 10.,  2.,  3.])
    """
    if isinstance(x, Tensor):
        if _state.tracer is not None:
            _state.tracer.check_concrete(x, "from_dlpack")
        return Tensor(x.data.copy() if copy else x.data)
    if not hasattr(x, "__dlpack__") or not hasattr(x, "__dlpack_device__"):
        raise op_error(TypeError, "from_dlpack", f"{type(x).__name__} does not implement "
                       "DLPack (__dlpack__ and __dlpack_device__)",
                       hint="pass a NumPy array, a PyTorch/CuPy/JAX tensor, or use "
                            "ember.tensor(x) to copy from a list or buffer")
    kind, index = (int(v) for v in x.__dlpack_device__())
    if kind in (_CUDA, _CUDA_MANAGED):
        return _from_cuda(x, kind, index, device, copy)
    if device is not None and str(device) != "cpu":
        raise op_error(DeviceError, "from_dlpack", f"device={device!r} is not available "
                       "for CPU memory; DLPack import shares memory, it does not move it",
                       hint="leave device=None, and move the result with .to(device)")
    if kind != _CPU:
        where = _DEVICE_NAMES.get(kind, f"device type {kind}")
        raise op_error(DeviceError, "from_dlpack", f"the producer's memory is on {where}:"
                       f"{index} and ember has no backend for it",
                       hint="move it to the CPU in the producer first")
    kwargs = {"max_version": (1, 0)}
    if copy is not None:
        kwargs["copy"] = copy
    legacy = False
    try:
        capsule = x.__dlpack__(**kwargs)
    except TypeError:  # a producer older than DLPack 1.0 / the array API 2023.12
        capsule, legacy = x.__dlpack__(), True
    code, bits = _dtype_code(capsule)
    if (code, bits) not in _EMBER_CODES:
        name = (f"{_CODE_NAMES[code]}{bits}" if code in _CODE_NAMES
                else f"DLPack type code {code} ({bits} bits)")
        raise op_error(DTypeError, "from_dlpack", f"{name} has no ember dtype",
                       hint="convert it in the producer first (to float32, int64, bool ...)")
    if code == _DL_BFLOAT:
        _set_dtype_code(capsule, _DL_UINT)
    arr = np.from_dlpack(_Relabelled(capsule, (kind, index)))
    if code == _DL_BFLOAT:
        arr = arr.view(_dt.bfloat16.np)
    return Tensor(arr.copy() if legacy and copy else arr)


def _from_cuda(x, kind: int, index: int, device, copy) -> Tensor:
    """CUDA memory: CuPy's ``from_dlpack`` through ember's CUDA backend, when it loads."""
    from ..backend import cupy_backend

    backend, why = cupy_backend.load()
    if backend is None:
        raise op_error(DeviceError, "from_dlpack", f"the producer's memory is on "
                       f"{_DEVICE_NAMES[kind]}:{index} and ember's CUDA backend is not "
                       f"available here: {why}",
                       hint="move it to the CPU first, e.g. torch_tensor.cpu()")
    if device is not None and str(device).partition(":")[0] != "cuda":
        raise op_error(DeviceError, "from_dlpack", f"device={device!r} for CUDA memory; "
                       "DLPack import shares memory, it does not move it",
                       hint="leave device=None, and move the result with .to(device)")
    arr = backend.xp.from_dlpack(x)
    return Tensor(arr.copy() if copy else arr)
