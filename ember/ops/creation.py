"""Creating tensors: from data, filled, ranges, identity, and random.

Example:
    >>> import ember
    >>> ember.zeros(2, 3).shape
    (2, 3)
    >>> ember.arange(0, 1, 0.25)
    tensor([0.  , 0.25, 0.5 , 0.75])
"""

from __future__ import annotations

import functools
import numbers

import numpy as np

from .. import dtypes as _dt
from ..backend import get_backend
from ..errors import DTypeError
from ..random import _gen
from ..tensor import Tensor


def _finish(arr, dtype, device, requires_grad) -> Tensor:
    if device is not None:
        b = get_backend(device)
        if not isinstance(arr, b.array_type) or b.multi_device:
            arr = b.move_in(arr, device)  # the GPU that device names (cuda:N)
    t = Tensor(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _shape(size) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    return tuple(int(s) for s in size)


def _np_dtype(dtype, default=None):
    if dtype is None:
        return (default or _dt.default_float).np
    return _dt.to_dtype(dtype).np


def _infer_dtype(arr: np.ndarray):
    """PyTorch's inference: Python floats -> float32, ints -> int64, bools -> bool."""
    k = arr.dtype.kind
    if k == "f" and arr.dtype == np.float64:
        return _dt.default_float.np
    if k in "iu" and arr.dtype not in (np.uint8, np.int8, np.int16, np.int32):
        return np.int64
    if k in "OUS":
        raise TypeError(f"tensor: cannot make a tensor from data of type {arr.dtype}")
    return arr.dtype


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (nested lists, numbers, arrays or tensors).

    Python floats become float32, ints int64, bools bool, unless ``dtype`` says otherwise.
    NumPy arrays keep their dtype.

    Example:
        >>> import ember
        >>> ember.tensor([1, 2, 3]).dtype
        ember.int64
    """
    if isinstance(data, Tensor):
        arr = np.array(data.data) if isinstance(data.data, np.ndarray) else data.data.copy()
    elif isinstance(data, np.ndarray) or (hasattr(data, "__array__") and not isinstance(
            data, (list, tuple))):
        arr = np.array(data)
        if dtype is None and arr.dtype.kind in "OUS":
            raise TypeError(f"tensor: cannot make a tensor from data of type {arr.dtype}")
    else:
        if isinstance(data, (list, tuple)) and any(isinstance(d, Tensor) for d in data):
            if dtype is None and all(isinstance(d, Tensor) for d in data):  # keep their dtype
                dtype = functools.reduce(_dt.result_type, (d.dtype for d in data))
            data = [d.tolist() if isinstance(d, Tensor) else d for d in data]
        arr = np.array(data)
        if dtype is None:
            arr = arr.astype(_infer_dtype(arr), copy=False)
    if dtype is not None:
        arr = arr.astype(_dt.to_dtype(dtype).np, copy=False)
    else:
        _dt.from_numpy_dtype(arr.dtype)
    if device is None and isinstance(data, Tensor):
        device = data.device
    return _finish(arr, dtype, device, requires_grad)


def asarray(obj, dtype=None, device=None, copy: bool | None = None) -> Tensor:
    """Like ``tensor``, but shares memory with a NumPy array or tensor when it can."""
    if isinstance(obj, Tensor):
        out = obj if dtype is None else obj.to(dtype)
        return out.clone() if copy else out
    if isinstance(obj, np.ndarray) and not copy:
        arr = obj if dtype is None else obj.astype(_dt.to_dtype(dtype).np, copy=False)
        _dt.from_numpy_dtype(arr.dtype)
        return _finish(arr, None, device, False)
    return tensor(obj, dtype=dtype, device=device)


def from_numpy(arr: np.ndarray) -> Tensor:
    """A tensor sharing memory with the NumPy array ``arr``."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(arr).__name__}")
    _dt.from_numpy_dtype(arr.dtype)
    return Tensor(arr)


def _filled(fill, size, dtype, device, requires_grad, default=None):
    shape = _shape(size)
    xp = get_backend(device or "cpu").xp
    arr = xp.full(shape, fill, dtype=_np_dtype(dtype, default))
    return _finish(arr, dtype, device, requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros."""
    return _filled(0, size, dtype, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones."""
    return _filled(1, size, dtype, device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor (its values are arbitrary)."""
    shape = _shape(size)
    xp = get_backend(device or "cpu").xp
    return _finish(xp.empty(shape, dtype=_np_dtype(dtype)), dtype, device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with ``fill_value`` (dtype inferred from it, as in PyTorch)."""
    if dtype is None:
        dtype = (_dt.bool_ if isinstance(fill_value, bool) else
                 _dt.default_int if isinstance(fill_value, numbers.Integral) else None)
    return _filled(fill_value, (size,) if isinstance(size, int) else (tuple(size),), dtype,
                   device, requires_grad)


def _like(x, dtype, device):
    return (dtype if dtype is not None else x.dtype), (device if device is not None else
                                                         x.device)


def zeros_like(x, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    d, dev = _like(x, dtype, device)
    return zeros(*x.shape, dtype=d, device=dev, requires_grad=requires_grad)


def ones_like(x, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    d, dev = _like(x, dtype, device)
    return ones(*x.shape, dtype=d, device=dev, requires_grad=requires_grad)


def empty_like(x, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    d, dev = _like(x, dtype, device)
    return empty(*x.shape, dtype=d, device=dev, requires_grad=requires_grad)


def full_like(x, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    d, dev = _like(x, dtype, device)
    return full(tuple(x.shape), fill_value, dtype=d, device=dev, requires_grad=requires_grad)


def arange(start, end=None, step=1, *, dtype=None, device=None,
           requires_grad: bool = False) -> Tensor:
    """Evenly spaced values in ``[start, end)``; integer arguments give int64."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be non-zero")
    if dtype is None:
        ints = all(isinstance(v, numbers.Integral) for v in (start, end, step))
        dtype = _dt.default_int if ints else _dt.default_float
    xp = get_backend(device or "cpu").xp
    arr = xp.arange(start, end, step, dtype=np.float64 if _dt.to_dtype(dtype).is_floating_point
                    else np.int64).astype(_np_dtype(dtype), copy=False)
    return _finish(arr, dtype, device, requires_grad)


def linspace(start, end, steps: int, *, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    xp = get_backend(device or "cpu").xp
    arr = xp.linspace(start, end, int(steps)).astype(_np_dtype(dtype), copy=False)
    return _finish(arr, dtype, device, requires_grad)


def eye(n: int, m: int | None = None, *, dtype=None, device=None,
        requires_grad: bool = False) -> Tensor:
    """The identity matrix (``n x m``)."""
    xp = get_backend(device or "cpu").xp
    return _finish(xp.eye(n, m, dtype=_np_dtype(dtype)), dtype, device, requires_grad)


# ----------------------------------------------------------------------------- random


def _random(sample, size, dtype, device, requires_grad, op):
    if dtype is not None and not _dt.to_dtype(dtype).is_floating_point:
        raise DTypeError(
            f"{op}: samples real numbers, so dtype must be floating point, got "
            f"{_dt.to_dtype(dtype).name}; use randint for integers"
        )
    arr = sample(_shape(size))
    return _finish(np.asarray(arr).astype(_np_dtype(dtype), copy=False), dtype, device,
                   requires_grad)


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform samples in [0, 1)."""
    g = _gen(generator)
    return _random(lambda s: g.random(s, dtype=np.float64), size, dtype, device, requires_grad,
                   "rand")


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal samples."""
    g = _gen(generator)
    return _random(lambda s: g.standard_normal(s), size, dtype, device, requires_grad, "randn")


def randint(low, high=None, size=(), *, generator=None, dtype=None, device=None) -> Tensor:
    """Integers uniform in ``[low, high)`` (int64 by default)."""
    if high is None:
        low, high = 0, low
    g = _gen(generator)
    arr = g.integers(low, high, size=tuple(size))
    return _finish(np.asarray(arr).astype(_np_dtype(dtype, _dt.default_int), copy=False), dtype,
                   device, False)


def randperm(n: int, *, generator=None, dtype=None, device=None) -> Tensor:
    """A random permutation of ``0..n-1``."""
    arr = _gen(generator).permutation(n)
    return _finish(arr.astype(_np_dtype(dtype, _dt.default_int)), dtype, device, False)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, device=None,
           requires_grad=False) -> Tensor:
    """Normal samples with the given mean and standard deviation.

    ``mean`` and ``std`` may be tensors: then each sample has its own mean/std and the result
    has their (broadcast) shape and dtype, as in PyTorch.

    Example:
        >>> import ember
        >>> ember.normal(ember.zeros(2, 3), 1.0).shape
        (2, 3)
    """
    g = _gen(generator)
    like = mean if isinstance(mean, Tensor) else std if isinstance(std, Tensor) else None
    if like is not None:
        m = _host(mean.data) if isinstance(mean, Tensor) else mean
        sd = _host(std.data) if isinstance(std, Tensor) else std
        size = np.broadcast_shapes(np.shape(m), np.shape(sd)) if size is None else size
        dtype = like.dtype if dtype is None else dtype
        device = like.device if device is None else device
        mean, std = m, sd
    return _random(lambda s: g.normal(mean, std, s), (tuple(size or ()),), dtype, device,
                   requires_grad, "normal")


def uniform(low=0.0, high=1.0, size=(), *, generator=None, dtype=None, device=None,
            requires_grad=False) -> Tensor:
    """Uniform samples in ``[low, high)``."""
    g = _gen(generator)
    return _random(lambda s: g.uniform(low, high, s), (tuple(size),), dtype, device,
                   requires_grad, "uniform")


def _host(arr) -> np.ndarray:
    """A backend array's values on the host (a GPU array is copied: draws happen there)."""
    return arr if arr.__class__ is np.ndarray else arr.get()


def bernoulli(p, *, generator=None) -> Tensor:
    """1.0 with probability ``p`` (a tensor of probabilities), else 0.0."""
    g = _gen(generator)
    arr = (g.random(p.shape) < _host(p.data)).astype(p.data.dtype)
    return _finish(arr, None, p.device, False)  # on p's device (drawn on the host)
