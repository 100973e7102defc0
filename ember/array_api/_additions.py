"""The functions the 2024.12 revision of the standard added: ``count_nonzero``,
``cumulative_prod``, ``diff``, ``take_along_axis`` (``nextafter`` and ``reciprocal`` are with
the element-wise functions)."""

from __future__ import annotations

import builtins

from ..errors import ShapeError, op_error
from ..ops import creation as _cr
from ..ops import elementwise as _ew
from ..ops import index as _ix
from ..ops import reduce as _rd
from ..ops import shape as _sh
from ..tensor import Tensor
from ._functions import _axes, _cumulative


def count_nonzero(x: Tensor, /, *, axis=None, keepdims: builtins.bool = False) -> Tensor:
    """The number of non-zero elements (NaN counts) over ``axis``, as int64.

    Example:
        >>> import ember.array_api as xp
        >>> xp.count_nonzero(xp.asarray([[0, 1], [2, 3]]), axis=1)
        tensor([1, 2])
    """
    return _rd.sum(_ew.astype(_ew.ne(x, 0), "int64"), axis=_axes(axis), keepdims=keepdims)


def cumulative_prod(x: Tensor, /, *, axis: int | None = None, dtype=None,
                    include_initial: builtins.bool = False) -> Tensor:
    """Running products along ``axis`` (may be omitted for 1-d x); ``include_initial``
    starts with a one."""
    return _cumulative("cumulative_prod", _rd.cumprod, _cr.ones, x, axis, dtype,
                       include_initial)


def _slice(ndim: int, axis: int, piece: slice) -> tuple:
    return tuple(piece if i == axis else slice(None) for i in range(ndim))


def diff(x: Tensor, /, *, axis: int = -1, n: int = 1, prepend: Tensor | None = None,
         append: Tensor | None = None) -> Tensor:
    """The ``n``-th forward difference along ``axis`` (after joining ``prepend`` and
    ``append``); bool input differs where neighbours differ.

    Example:
        >>> import ember.array_api as xp
        >>> xp.diff(xp.asarray([1, 4, 9, 16]), n=2)
        tensor([2, 2])
    """
    if x.ndim == 0:
        raise op_error(ShapeError, "diff", "0-d input has no axis to difference", args=[x],
                       hint="reshape it to 1-d first")
    if n < 0:
        raise ValueError(f"diff: n must be non-negative, got {n}")
    axis = axis % x.ndim if -x.ndim <= axis < x.ndim else axis
    if not 0 <= axis < x.ndim:
        raise op_error(IndexError, "diff", f"axis {axis} is out of range", args=[x])
    if n == 0:  # NumPy's (and array-api-strict's) rule: nothing is joined either
        return x
    parts = [p for p in (prepend, x, append) if p is not None]
    if len(parts) > 1:
        x = _sh.concat(parts, axis)
    for _ in range(n):
        hi, lo = x[_slice(x.ndim, axis, slice(1, None))], x[_slice(x.ndim, axis, slice(None, -1))]
        x = _ew.ne(hi, lo) if x.dtype.kind == "b" else _ew.sub(hi, lo)
    return x


def take_along_axis(x: Tensor, indices: Tensor, /, *, axis: int = -1) -> Tensor:
    """The elements of ``x`` at ``indices`` along ``axis`` (other axes broadcast)."""
    return _ix.take_along_dim(x, indices, dim=axis)
