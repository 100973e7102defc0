"""The array API's creation functions over ember's (``ember.zeros``, ``ember.arange`` …).

Python floats give the default floating dtype, float32 (``__array_namespace_info__()
.default_dtypes()`` says so); Python ints give int64.
"""

from __future__ import annotations

import builtins
import math

import numpy as np

from .. import dtypes as _dt
from ..backend import get_backend
from ..ops import creation as _cr
from ..ops import elementwise as _ew
from ..ops import matrix as _mx
from ..ops import shape as _sh
from ..tensor import Tensor
from ._dtypes import _dtype


def _xp(device):
    return get_backend(device or "cpu").xp


def _shape(shape) -> tuple:
    return (int(shape),) if isinstance(shape, int) else tuple(int(s) for s in shape)


def _scalar_dtype(value) -> _dt.DType:
    if isinstance(value, builtins.bool):
        return _dt.bool_
    if isinstance(value, int):
        return _dt.default_int
    if isinstance(value, float):
        return _dt.default_float
    raise TypeError(f"expected a Python bool, int or float, got {type(value).__name__}")


def asarray(obj, /, *, dtype=None, device=None, copy: builtins.bool | None = None) -> Tensor:
    """A tensor from a tensor, NumPy array, DLPack/buffer object, number or nested sequence;
    shares memory unless ``copy=True`` or a conversion is needed (``copy=False`` then raises).

    Example:
        >>> import ember.array_api as xp
        >>> xp.asarray([[1, 2], [3, 4]], dtype=xp.float64)
        tensor([[1., 2.],
                [3., 4.]], dtype=ember.float64)
    """
    d = _dtype(dtype) if dtype is not None else None
    if isinstance(obj, Tensor):
        if copy is False and d is not None and d is not obj.dtype:
            raise ValueError("asarray: copy=False, but converting the dtype needs a copy")
        out = obj if d is None else obj.to(d)
        out = out.to(device) if device is not None else out
        return _ew.clone(out) if copy and out is obj else out
    if isinstance(obj, (builtins.bool, int, float, list, tuple)):
        if copy is False:
            raise ValueError("asarray: copy=False, but Python objects must be copied")
        return _cr.tensor(obj, dtype=d, device=device)
    arr = np.asarray(obj) if copy is not True else np.array(obj)
    if d is not None and arr.dtype != d.np:
        if copy is False:
            raise ValueError("asarray: copy=False, but converting the dtype needs a copy")
        arr = arr.astype(d.np)
    _dt.from_numpy_dtype(arr.dtype)
    return _cr.asarray(arr, device=device, copy=False)


def from_dlpack(x, /, *, device=None, copy: builtins.bool | None = None) -> Tensor:
    """A tensor sharing memory with any object that implements ``__dlpack__``
    (``ember.from_dlpack``)."""
    from ..interop.dlpack import from_dlpack as _from_dlpack

    return _from_dlpack(x, device=device, copy=copy)


def arange(start, /, stop=None, step=1, *, dtype=None, device=None) -> Tensor:
    """Values from ``start`` up to (excluding) ``stop`` in steps of ``step``."""
    if stop is None:
        start, stop = 0, start
    if dtype is None:
        ints = all(isinstance(v, int) for v in (start, stop, step))
        dtype = _dt.default_int if ints else _dt.default_float
    arr = _xp(device).arange(start, stop, step, dtype=_dtype(dtype).np)
    return _cr.asarray(arr, device=device)


def _filled(shape, value, dtype, device) -> Tensor:
    d = _dtype(dtype) if dtype is not None else _scalar_dtype(value)
    return _cr.full(_shape(shape), value, dtype=d, device=device)


def empty(shape, *, dtype=None, device=None) -> Tensor:
    """An uninitialised tensor (float32 unless ``dtype`` says otherwise)."""
    return _cr.empty(_shape(shape), dtype=_dtype(dtype or _dt.default_float), device=device)


def zeros(shape, *, dtype=None, device=None) -> Tensor:
    """A tensor of zeros (float32 unless ``dtype`` says otherwise)."""
    return _filled(shape, 0.0 if dtype is None else 0, dtype, device)


def ones(shape, *, dtype=None, device=None) -> Tensor:
    """A tensor of ones (float32 unless ``dtype`` says otherwise)."""
    return _filled(shape, 1.0 if dtype is None else 1, dtype, device)


def full(shape, fill_value, *, dtype=None, device=None) -> Tensor:
    """A tensor filled with ``fill_value``; the dtype follows the value's Python type."""
    return _filled(shape, fill_value, dtype, device)


def _like(x: Tensor, value, dtype, device) -> Tensor:
    return _cr.full(tuple(x.shape), value, dtype=_dtype(dtype) if dtype is not None else x.dtype,
                    device=device if device is not None else x.device)


def empty_like(x: Tensor, /, *, dtype=None, device=None) -> Tensor:
    """An uninitialised tensor of x's shape (and dtype and device unless given)."""
    return _cr.empty_like(x, dtype=_dtype(dtype) if dtype is not None else None,
                          device=device)


def zeros_like(x: Tensor, /, *, dtype=None, device=None) -> Tensor:
    """Zeros of x's shape (and dtype and device unless given)."""
    return _like(x, 0, dtype, device)


def ones_like(x: Tensor, /, *, dtype=None, device=None) -> Tensor:
    """Ones of x's shape (and dtype and device unless given)."""
    return _like(x, 1, dtype, device)


def full_like(x: Tensor, /, fill_value, *, dtype=None, device=None) -> Tensor:
    """``fill_value`` in x's shape (and dtype and device unless given)."""
    return _like(x, fill_value, dtype, device)


def eye(n_rows: int, n_cols: int | None = None, /, *, k: int = 0, dtype=None,
        device=None) -> Tensor:
    """Ones on the ``k``-th diagonal of an ``n_rows x n_cols`` matrix, zeros elsewhere."""
    d = _dtype(dtype or _dt.default_float)
    return _cr.asarray(_xp(device).eye(n_rows, n_cols, k=k, dtype=d.np), device=device)


def linspace(start, stop, /, num: int, *, dtype=None, device=None,
             endpoint: builtins.bool = True) -> Tensor:
    """``num`` evenly spaced values from ``start`` to ``stop`` (inclusive with
    ``endpoint``)."""
    d = _dtype(dtype or _dt.default_float)
    arr = _xp(device).linspace(start, stop, num, endpoint=endpoint, dtype=d.np)
    return _cr.asarray(arr, device=device)


def meshgrid(*arrays: Tensor, indexing: str = "xy") -> list[Tensor]:
    """Coordinate grids from 1-d tensors (``indexing="xy"``: Cartesian, ``"ij"``: matrix)."""
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    n = len(arrays)
    sizes = [int(math.prod(a.shape)) for a in arrays]
    if indexing == "xy" and n >= 2:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    out = []
    for i, a in enumerate(arrays):
        view = [1] * n
        j = (1 - i if i < 2 else i) if indexing == "xy" and n >= 2 else i
        view[j] = -1
        out.append(_sh.broadcast_to(_sh.reshape(a, tuple(view)), tuple(sizes)))
    return out


def tril(x: Tensor, /, *, k: int = 0) -> Tensor:
    """The lower triangle of the last two axes (below the ``k``-th diagonal is kept)."""
    return _triangle(_mx.tril, x, k)


def triu(x: Tensor, /, *, k: int = 0) -> Tensor:
    """The upper triangle of the last two axes."""
    return _triangle(_mx.triu, x, k)


def _triangle(fn, x: Tensor, k: int) -> Tensor:
    if x.dtype is _dt.bool_:  # ember.tril fills with the int 0, which widens bool to int64
        return _ew.astype(fn(_ew.astype(x, _dt.uint8), k), _dt.bool_)
    return fn(x, k)
