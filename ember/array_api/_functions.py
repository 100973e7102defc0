"""The array API's statistical, searching, sorting, set, manipulation, indexing, utility and
matrix-product functions over ember's ops."""

from __future__ import annotations

import builtins
from typing import NamedTuple

import numpy as np

from .. import dtypes as _dt
from ..errors import ShapeError, op_error
from ..ops import creation as _cr
from ..ops import elementwise as _ew
from ..ops import index as _ix
from ..ops import linalg as _la
from ..ops import reduce as _rd
from ..ops import sets as _sets
from ..ops import shape as _sh
from ..ops import sorting as _so
from ..ops.einsum import einsum
from ..tensor import Tensor
from ._dtypes import _dtype
from ._elementwise import _promoted


def _axes(axis):
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


# ----------------------------------------------------------------------------- statistical


def _sum_dtype(x: Tensor, dtype) -> _dt.DType:
    if dtype is not None:
        return _dtype(dtype)
    if x.data.dtype.kind in "iub":  # the standard: the default integer dtype
        return _dt.default_int
    return x.dtype


def _accumulate(fn, x: Tensor, d: _dt.DType, *args, **kwargs) -> Tensor:
    """``fn`` (sum, prod, cumsum) computed in dtype ``d``. ember's reductions accumulate
    small integers in int64 (PyTorch's rule); the int64 result cast to ``d`` wraps exactly as
    accumulating in ``d`` would."""
    out = fn(_ew.astype(x, d, copy=False), *args, **kwargs)
    return out if out.dtype is d else _ew.astype(out, d, copy=False)


def max(x: Tensor, /, *, axis=None, keepdims: builtins.bool = False) -> Tensor:  # noqa: A001
    """The largest element (NaN if any is NaN) over ``axis`` (an int, tuple or None)."""
    return _rd.amax(x, axis=_axes(axis), keepdims=keepdims)


def min(x: Tensor, /, *, axis=None, keepdims: builtins.bool = False) -> Tensor:  # noqa: A001
    """The smallest element over ``axis``."""
    return _rd.amin(x, axis=_axes(axis), keepdims=keepdims)


def mean(x: Tensor, /, *, axis=None, keepdims: builtins.bool = False) -> Tensor:
    """The arithmetic mean over ``axis``."""
    return _rd.mean(x, axis=_axes(axis), keepdims=keepdims)


def sum(x: Tensor, /, *, axis=None, dtype=None,  # noqa: A001
        keepdims: builtins.bool = False) -> Tensor:
    """The sum over ``axis``; integers accumulate in int64 unless ``dtype`` says otherwise."""
    return _accumulate(_rd.sum, x, _sum_dtype(x, dtype), axis=_axes(axis), keepdims=keepdims)


def prod(x: Tensor, /, *, axis=None, dtype=None, keepdims: builtins.bool = False) -> Tensor:
    """The product over ``axis``; integers accumulate in int64 unless ``dtype`` says
    otherwise."""
    return _accumulate(_rd.prod, x, _sum_dtype(x, dtype), axis=_axes(axis), keepdims=keepdims)


def std(x: Tensor, /, *, axis=None, correction=0.0, keepdims: builtins.bool = False) -> Tensor:
    """The standard deviation over ``axis`` with ``N - correction`` degrees of freedom."""
    return _rd.std(x, axis=_axes(axis), correction=correction, keepdims=keepdims)


def var(x: Tensor, /, *, axis=None, correction=0.0, keepdims: builtins.bool = False) -> Tensor:
    """The variance over ``axis`` with ``N - correction`` degrees of freedom."""
    return _rd.var(x, axis=_axes(axis), correction=correction, keepdims=keepdims)


def cumulative_sum(x: Tensor, /, *, axis: int | None = None, dtype=None,
                   include_initial: builtins.bool = False) -> Tensor:
    """Running sums along ``axis`` (may be omitted for 1-d x); ``include_initial`` starts
    with a zero, so the result is one longer."""
    return _cumulative("cumulative_sum", _rd.cumsum, _cr.zeros, x, axis, dtype,
                       include_initial)


def _cumulative(name: str, fn, initial, x: Tensor, axis: int | None, dtype,
                include_initial: builtins.bool) -> Tensor:
    """``fn`` (cumsum/cumprod) along ``axis`` in the summation dtype, preceded by a slice
    of ``initial`` (zeros/ones) when ``include_initial``; shared by cumulative_sum/_prod."""
    if axis is None:
        if x.ndim != 1:
            raise op_error(ShapeError, name, "axis may be omitted only for 1-d input",
                           args=[x], hint="pass axis=")
        axis = 0
    x = _ew.astype(x, _sum_dtype(x, dtype), copy=False)
    out = _accumulate(fn, x, x.dtype, axis)
    if include_initial:
        shape = list(x.shape)
        shape[axis] = 1
        out = _sh.concat([initial(*shape, dtype=x.dtype, device=x.device), out], axis)
    return out


# ----------------------------------------------------------------------------- utility


def all(x: Tensor, /, *, axis=None, keepdims: builtins.bool = False) -> Tensor:  # noqa: A001
    """True where every element over ``axis`` is non-zero."""
    return _rd.all(x, axis=_axes(axis), keepdims=keepdims)


def any(x: Tensor, /, *, axis=None, keepdims: builtins.bool = False) -> Tensor:  # noqa: A001
    """True where some element over ``axis`` is non-zero."""
    return _rd.any(x, axis=_axes(axis), keepdims=keepdims)


# ----------------------------------------------------------------------------- searching


def argmax(x: Tensor, /, *, axis: int | None = None, keepdims: builtins.bool = False) -> Tensor:
    """The index of the first largest element (of the flattened x when axis is None)."""
    return _rd.argmax(x, axis=axis, keepdims=keepdims)


def argmin(x: Tensor, /, *, axis: int | None = None, keepdims: builtins.bool = False) -> Tensor:
    """The index of the first smallest element."""
    return _rd.argmin(x, axis=axis, keepdims=keepdims)


def nonzero(x: Tensor, /) -> tuple[Tensor, ...]:
    """One index tensor per dimension, for the non-zero elements in C order."""
    if x.ndim == 0:
        raise op_error(ShapeError, "nonzero", "0-d input is not allowed by the standard",
                       args=[x], hint="reshape it to 1-d first")
    return _sets.nonzero(x, as_tuple=True)


def searchsorted(x1: Tensor, x2: Tensor, /, *, side: str = "left", sorter=None) -> Tensor:
    """Where the values ``x2`` go in the sorted 1-d ``x1``."""
    return _so.searchsorted(x1, x2, side=side, sorter=sorter)


def where(condition: Tensor, x1, x2, /) -> Tensor:
    """Elements of ``x1`` where ``condition`` holds, of ``x2`` elsewhere."""
    return _ew.where(condition, *_promoted(x1, x2))


# ----------------------------------------------------------------------------- sorting


def argsort(x: Tensor, /, *, axis: int = -1, descending: builtins.bool = False,
            stable: builtins.bool = True) -> Tensor:
    """The indices that sort ``x`` along ``axis`` (always stable)."""
    return _so.argsort(x, axis, descending=descending, stable=stable)


def sort(x: Tensor, /, *, axis: int = -1, descending: builtins.bool = False,
         stable: builtins.bool = True) -> Tensor:
    """``x`` sorted along ``axis`` (differentiable)."""
    return _so.sort(x, axis, descending=descending, stable=stable)[0]


# ----------------------------------------------------------------------------- sets


class UniqueAllResult(NamedTuple):
    values: Tensor
    indices: Tensor
    inverse_indices: Tensor
    counts: Tensor


class UniqueCountsResult(NamedTuple):
    values: Tensor
    counts: Tensor


class UniqueInverseResult(NamedTuple):
    values: Tensor
    inverse_indices: Tensor


def unique_all(x: Tensor, /) -> UniqueAllResult:
    """Distinct values, the first index of each, the inverse (x's shape) and the counts."""
    return UniqueAllResult(*_sets.unique_all(x))


def unique_counts(x: Tensor, /) -> UniqueCountsResult:
    """Distinct values and how often each occurs."""
    values, _, _, counts = _sets.unique_all(x)
    return UniqueCountsResult(values, counts)


def unique_inverse(x: Tensor, /) -> UniqueInverseResult:
    """Distinct values and, for each element of x, the index of its value."""
    values, _, inverse, _ = _sets.unique_all(x)
    return UniqueInverseResult(values, inverse)


def unique_values(x: Tensor, /) -> Tensor:
    """The distinct values of x, sorted (every NaN counts as distinct)."""
    return _sets.unique_all(x)[0]


# ----------------------------------------------------------------------------- manipulation


def broadcast_arrays(*arrays: Tensor) -> list[Tensor]:
    """The tensors broadcast against each other."""
    return list(_sh.broadcast_tensors(*arrays))


def broadcast_to(x: Tensor, /, shape) -> Tensor:
    """``x`` broadcast to ``shape``."""
    return _sh.broadcast_to(x, tuple(shape))


def concat(arrays, /, *, axis: int | None = 0) -> Tensor:
    """The tensors joined along ``axis`` (flattened first when ``axis`` is None)."""
    arrays = list(arrays)
    if axis is None:
        arrays, axis = [_sh.reshape(a, -1) for a in arrays], 0
    if len({a.dtype for a in arrays}) > 1:
        d = arrays[0].dtype
        for a in arrays[1:]:
            d = _dt.result_type(d, a.dtype)
        arrays = [_ew.astype(a, d, copy=False) for a in arrays]
    return _sh.concat(arrays, axis)


def expand_dims(x: Tensor, /, *, axis: int = 0) -> Tensor:
    """``x`` with a new axis of size 1 at ``axis`` (in ``[-x.ndim - 1, x.ndim]``)."""
    if not -x.ndim - 1 <= axis <= x.ndim:
        raise op_error(IndexError, "expand_dims", f"axis {axis} is out of range for a new axis "
                       f"of a {x.ndim}-d tensor", args=[x])
    return _sh.unsqueeze(x, axis if axis >= 0 else axis + x.ndim + 1)


def flip(x: Tensor, /, *, axis=None) -> Tensor:
    """``x`` reversed along ``axis`` (every axis when None)."""
    return _sh.flip(x, axis=_axes(axis))


def moveaxis(x: Tensor, source, destination, /) -> Tensor:
    """``x`` with axes moved from ``source`` to ``destination`` (ints or tuples)."""
    return _sh.moveaxis(x, source, destination)


def permute_dims(x: Tensor, /, axes) -> Tensor:
    """``x`` with its axes reordered."""
    return _sh.permute(x, tuple(axes))


def repeat(x: Tensor, repeats, /, *, axis: int | None = None) -> Tensor:
    """Each element repeated ``repeats`` times (an int or a 1-d integer tensor) along
    ``axis`` (of the flattened x when None)."""
    if axis is None:
        x, axis = _sh.reshape(x, -1), 0
    n = x.shape[axis]
    reps = repeats.tolist() if isinstance(repeats, Tensor) else [int(repeats)] * n
    if isinstance(reps, int):
        reps = [reps] * n
    if len(reps) != n:
        raise op_error(ShapeError, "repeat", f"got {len(reps)} repeats for an axis of size {n}",
                       args=[x], hint="give one count per element, or a single int")
    if builtins.any(r < 0 for r in reps):
        raise op_error(ValueError, "repeat", "repeats must be non-negative", args=[x])
    index = np.repeat(np.arange(n, dtype=np.int64), reps)  # host-side index, like a list
    return _ix.index_select(x, axis, _cr.tensor(index, device=x.device))


def reshape(x: Tensor, /, shape, *, copy: builtins.bool | None = None) -> Tensor:
    """``x`` with a new shape (one entry may be -1)."""
    out = _sh.reshape(x, tuple(shape))
    return _ew.clone(out) if copy else out


def roll(x: Tensor, /, shift, *, axis=None) -> Tensor:
    """``x`` shifted cyclically along ``axis`` (of the flattened x when None)."""
    return _sh.roll(x, _axes(shift), _axes(axis))


def squeeze(x: Tensor, /, axis) -> Tensor:
    """``x`` without the size-1 axes in ``axis`` (an error if one is not of size 1)."""
    axes = axis if isinstance(axis, tuple) else (axis,)
    norm = tuple(sorted(a % x.ndim if x.ndim else a for a in axes))
    for a in norm:
        if x.shape[a] != 1:
            raise op_error(ShapeError, "squeeze", f"axis {a} has size {x.shape[a]}, not 1",
                           args=[x], hint="squeeze only axes of size 1")
    return _sh.reshape(x, tuple(s for i, s in enumerate(x.shape) if i not in norm))


def stack(arrays, /, *, axis: int = 0) -> Tensor:
    """The tensors joined along a new axis."""
    return _sh.stack(list(arrays), axis)


def tile(x: Tensor, repetitions, /) -> Tensor:
    """``x`` repeated ``repetitions[i]`` times along each axis."""
    return _sh.tile(x, tuple(repetitions))


def unstack(x: Tensor, /, *, axis: int = 0) -> tuple[Tensor, ...]:
    """The slices of ``x`` along ``axis``."""
    return tuple(_sh.unbind(x, axis))


# ----------------------------------------------------------------------------- indexing


def take(x: Tensor, indices: Tensor, /, *, axis: int | None = None) -> Tensor:
    """The elements (or slices along ``axis``) of ``x`` at the 1-d ``indices``."""
    if axis is None:
        if x.ndim > 1:
            raise op_error(ShapeError, "take", "axis may be omitted only for 1-d input",
                           args=[x], hint="pass axis=")
        axis = 0
    return _ix.index_select(x, axis, indices)


# ----------------------------------------------------------------------------- linear algebra


def matmul(x1: Tensor, x2: Tensor, /) -> Tensor:
    """The matrix product (``x1 @ x2``) with NumPy's rules for 1-d operands."""
    return _la.matmul(*_promoted(x1, x2))


def matrix_transpose(x: Tensor, /) -> Tensor:
    """``x`` with its last two axes swapped."""
    return _sh.matrix_transpose(x)


def tensordot(x1: Tensor, x2: Tensor, /, *, axes=2) -> Tensor:
    """The sum of products over the last ``axes`` axes of x1 and first of x2 (or over the
    axis pairs ``axes = (x1_axes, x2_axes)``)."""
    x1, x2 = _promoted(x1, x2)
    if isinstance(axes, int):
        a1 = list(range(x1.ndim - axes, x1.ndim))
        a2 = list(range(axes))
    else:
        a1 = [a % x1.ndim for a in axes[0]]
        a2 = [a % x2.ndim for a in axes[1]]
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    s1 = list(letters[:x1.ndim])
    s2 = list(letters[x1.ndim:x1.ndim + x2.ndim])
    for i, j in zip(a1, a2):
        s2[j] = s1[i]
    out = [c for i, c in enumerate(s1) if i not in a1] + [
        c for j, c in enumerate(s2) if j not in a2]
    return einsum(f"{''.join(s1)},{''.join(s2)}->{''.join(out)}", x1, x2)


def vecdot(x1: Tensor, x2: Tensor, /, *, axis: int = -1) -> Tensor:
    """The dot product of vectors along ``axis`` (broadcasting the other axes)."""
    x1, x2 = _promoted(x1, x2)
    return _accumulate(_rd.sum, _ew.mul(x1, x2), x1.dtype, axis=axis)
