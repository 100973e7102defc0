"""Sorting and searching primitives: ``sort`` and ``topk`` (differentiable), ``argsort``,
``searchsorted``; ``kthvalue`` and ``bucketize`` are built on them.

A descending sort is stable like an ascending one: equal elements keep their original order
(NaNs sort as the largest values, so they come last ascending and first descending).

Example:
    >>> import ember
    >>> values, indices = ember.sort(ember.tensor([3.0, 1.0, 2.0]))
    >>> values, indices
    (tensor([1., 2., 3.]), tensor([1, 2, 0]))
"""

from __future__ import annotations

import math

from ..autograd.node import apply
from ..errors import DTypeError, ShapeError, op_error
from ..tensor import Tensor
from .registry import Op, io_bytes, numel, register


def _sort_cost(out_specs, in_specs, attrs):
    """About ``n log2(len)`` comparisons for ``n`` elements sorted along an axis of ``len``."""
    shape = in_specs[0][0]
    length = shape[attrs.get("axis", -1)] if shape else 1
    return int(numel(shape) * math.log2(max(length, 2))), io_bytes(out_specs, in_specs)


def _search_cost(out_specs, in_specs, attrs):
    """About ``log2(len)`` comparisons per value searched."""
    length = in_specs[0][0][-1] if in_specs[0][0] else 1
    return int(numel(in_specs[1][0]) * math.log2(max(length, 2))), io_bytes(out_specs,
                                                                             in_specs)


def _argsort(xp, x, axis, descending, stable):
    # CuPy sorts stably and accepts no other kind
    kind = "quicksort" if not stable and xp.__name__ == "numpy" else "stable"
    if not descending:
        return xp.argsort(x, axis=axis, kind=kind)
    # a stable descending order: sort the reversed array ascending, then reverse back
    rev = xp.flip(xp.argsort(xp.flip(x, axis=axis), axis=axis, kind=kind), axis=axis)
    return (x.shape[axis] - 1) - rev


@register
class Sort(Op):
    """Sorted values and the indices that sort, along ``axis``."""

    n_outputs = 2
    needs_output = True
    uses_input_values = False  # the vjp needs only the indices (an output)
    cost = _sort_cost

    def forward(xp, x, axis=-1, descending=False, stable=True):
        idx = _argsort(xp, x, axis, descending, stable)
        return xp.take_along_axis(x, idx, axis=axis), idx

    def vjp(F, g, out, x, axis=-1, descending=False, stable=True):
        # each value came from one position: send its gradient back there
        return (F.scatter_add(F.zeros_of(x), out[1], g[0], axis=axis),)


@register
class Argsort(Op):
    differentiable = False
    cost = _sort_cost

    def forward(xp, x, axis=-1, descending=False, stable=True):
        return _argsort(xp, x, axis, descending, stable)


@register
class Searchsorted(Op):
    """Insertion points of ``values`` in ``seq`` (sorted along its last axis)."""

    differentiable = False
    cost = _search_cost

    def forward(xp, seq, values, right=False):
        side = "right" if right else "left"
        if seq.ndim == 1:
            return xp.searchsorted(seq, values, side=side).astype(xp.int64)
        rows, vals = seq.reshape(-1, seq.shape[-1]), values.reshape(-1, values.shape[-1])
        out = xp.empty(vals.shape, dtype=xp.int64)
        for i in range(rows.shape[0]):
            out[i] = xp.searchsorted(rows[i], vals[i], side=side)
        return out.reshape(values.shape)


def _topk(xp, x, k, axis, largest, sorted):  # noqa: A002
    # rows of the moved axis; argpartition finds the k-th value t in O(n), then every value
    # strictly past t is taken plus the first (lowest-index) values equal to t, so ties at
    # the boundary are resolved as ONNX asks and as PyTorch's CPU kernel usually does
    moved = xp.moveaxis(x, axis, -1)
    lead, n = moved.shape[:-1], moved.shape[-1]
    rows = moved.reshape(-1, n)
    if k in (0, n) or (rows.dtype.kind == "f" and bool(xp.isnan(rows).any())):
        idx = _argsort(xp, rows, -1, largest, True)[:, :k]  # NaN is the largest value
    else:
        kth = n - k if largest else k - 1
        part = xp.argpartition(rows, kth, axis=-1)[:, kth:kth + 1]
        t = xp.take_along_axis(rows, part, axis=-1)
        past = rows > t if largest else rows < t
        tied = rows == t
        need = k - past.sum(axis=-1, keepdims=True)
        keep = past | (tied & (xp.cumsum(tied, axis=-1) <= need))
        idx = xp.nonzero(keep)[1].reshape(-1, k)  # k per row, in index order
        if sorted:
            vals = xp.take_along_axis(rows, idx, axis=-1)
            idx = xp.take_along_axis(idx, _argsort(xp, vals, -1, largest, True), axis=-1)
    idx = idx.astype(xp.int64)
    vals = xp.take_along_axis(rows, idx, axis=-1)
    shape = lead + (k,)
    return (xp.moveaxis(vals.reshape(shape), -1, axis),
            xp.moveaxis(idx.reshape(shape), -1, axis))


def _topk_cost(out_specs, in_specs, attrs):
    """About ``n`` comparisons to partition plus ``k log2(k)`` per row to sort the k."""
    shape = in_specs[0][0]
    length = shape[attrs["axis"]] if shape else 1
    rows = numel(shape) // max(length, 1)
    k = attrs["k"]
    return int(numel(shape) + rows * k * math.log2(max(k, 2))), io_bytes(out_specs, in_specs)


@register
class Topk(Op):
    """The ``k`` largest (or smallest) values along ``axis`` and their indices."""

    n_outputs = 2
    needs_output = True
    uses_input_values = False  # the vjp needs only the indices (an output)
    cost = _topk_cost

    def forward(xp, x, k, axis, largest=True, sorted=True):  # noqa: A002
        return _topk(xp, x, k, axis, largest, sorted)

    def vjp(F, g, out, x, k, axis, largest=True, sorted=True):  # noqa: A002
        # each value came from one position: send its gradient back there
        return (F.scatter_add(F.zeros_of(x), out[1], g[0], axis=axis),)


# ----------------------------------------------------------------------------- public API


def _check(name, x, dim):
    from .shape import _axis

    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected an ember Tensor, got {type(x).__name__}")
    if x.data.dtype.kind not in "iufV":
        raise op_error(DTypeError, name, f"cannot sort {x.dtype.name} values", args=[x],
                       hint="convert with .to(ember.int64) or .float() first")
    if x.ndim == 0:
        return 0
    return _axis(dim, x.ndim, name)


def _zero_index(x):
    from .creation import zeros_like

    return zeros_like(x, dtype="int64")


class SortResult(tuple):
    """``(values, indices)`` from ``sort``, also readable by name."""

    __slots__ = ()

    @property
    def values(self) -> Tensor:
        return self[0]

    @property
    def indices(self) -> Tensor:
        return self[1]


def sort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False
         ) -> SortResult:
    """Sort along ``dim``; returns ``(values, indices)`` with ``values == x.gather(dim,
    indices)``.

    Args:
        x: a real tensor.
        dim: the axis to sort along.
        descending: largest first.
        stable: keep the order of equal elements (ember's sort is always stable; the flag is
            accepted for PyTorch's signature).

    Example:
        >>> import ember
        >>> ember.sort(ember.tensor([[2, 9, 4]]), descending=True).values
        tensor([[9, 4, 2]])
    """
    d = _check("sort", x, dim)
    if x.ndim == 0:
        return SortResult((x, _zero_index(x)))
    values, indices = apply(Sort, x, axis=d, descending=bool(descending), stable=True)
    return SortResult((values, indices.detach()))  # integer indices carry no gradient


def argsort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False
            ) -> Tensor:
    """The indices that sort ``x`` along ``dim`` (stable: ties keep their order).

    Example:
        >>> import ember
        >>> ember.argsort(ember.tensor([3.0, 1.0, 3.0, 0.0]), descending=True)
        tensor([0, 2, 1, 3])
    """
    d = _check("argsort", x, dim)
    if x.ndim == 0:
        return _zero_index(x)
    return apply(Argsort, x, axis=d, descending=bool(descending), stable=True)


def searchsorted(sorted_sequence: Tensor, values, *, right: bool = False,
                 side: str | None = None, sorter: Tensor | None = None) -> Tensor:
    """Indices where ``values`` would be inserted to keep ``sorted_sequence`` sorted.

    Args:
        sorted_sequence: 1-d, or N-d sorted along its last axis with the same leading
            dimensions as ``values``.
        values: a tensor or a Python number.
        right: insert after equal elements (``side="right"`` is the same).
        sorter: indices that sort an unsorted 1-d ``sorted_sequence``.

    Example:
        >>> import ember
        >>> ember.searchsorted(ember.tensor([1.0, 2.0, 3.0]), ember.tensor([2.0, 0.5]))
        tensor([1, 0])
    """
    from .creation import tensor
    from .elementwise import _promote
    from .index import take_along_dim

    seq = sorted_sequence
    if side is not None:
        if side not in ("left", "right"):
            raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
        if right and side == "left":
            raise ValueError("searchsorted: right=True contradicts side='left'")
        right = side == "right"
    if not isinstance(values, Tensor):
        values = tensor(values, dtype=seq.dtype, device=seq.device)
    if seq.ndim == 0:
        raise op_error(ShapeError, "searchsorted", "the sorted sequence must have at least one "
                       "dimension", args=[seq], hint="reshape it to 1-d")
    if sorter is not None:
        seq = take_along_dim(seq, sorter, dim=-1)
    if seq.ndim > 1 and (values.ndim != seq.ndim or values.shape[:-1] != seq.shape[:-1]):
        raise op_error(ShapeError, "searchsorted", "an N-d sorted sequence needs values with the "
                       "same leading dimensions", args=[seq, values],
                       hint="use a 1-d sequence or match the leading dimensions")
    if seq.dtype is not values.dtype:
        seq, values = _promote(seq, values)
    return apply(Searchsorted, seq, values, right=bool(right))


class TopkResult(SortResult):
    """``(values, indices)`` from ``topk`` and ``kthvalue``, also readable by name (as
    ``torch.return_types.topk``)."""

    __slots__ = ()


def topk(x: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True  # noqa: A002
         ) -> TopkResult:
    """The ``k`` largest (or smallest) elements along ``dim`` and their indices.

    Equal values are taken lowest index first, and with ``sorted`` equal values keep index
    order; PyTorch documents no order for ties, so tests should avoid them. NaN counts as the
    largest value. The gradient flows back to the positions the values came from.

    Args:
        x: a real tensor.
        k: how many elements to take, ``0 <= k <= x.shape[dim]``.
        dim: the dimension to search.
        largest: take the largest (True) or the smallest (False).
        sorted: return the values in order (largest first when ``largest``); otherwise in
            the order of their indices.

    Shape:
        values and indices have ``x``'s shape with ``k`` in place of ``x.shape[dim]``.

    Example:
        >>> import ember
        >>> values, indices = ember.topk(ember.tensor([1.0, 5.0, 3.0, 4.0]), 2)
        >>> values, indices
        (tensor([5., 4.]), tensor([1, 3]))
        >>> ember.tensor([[1, 9, 2]]).topk(2, largest=False).indices
        tensor([[0, 2]])
    """
    import numbers

    d = _check("topk", x, dim)
    if isinstance(k, Tensor) and k.ndim == 0 and k.data.dtype.kind in "iu":
        k = int(k.item())
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise op_error(TypeError, "topk", f"k must be an integer, got {k!r}", args=[x])
    size = x.shape[d] if x.ndim else 1
    if not 0 <= k <= size:
        raise op_error(ShapeError, "topk", f"k={k} is out of range for dim {d} of size {size}",
                       args=[x], hint=f"use 0 <= k <= {size}")
    if x.ndim == 0:
        return TopkResult((x, _zero_index(x)))
    values, indices = apply(Topk, x, k=int(k), axis=d, largest=bool(largest),
                            sorted=bool(sorted))
    return TopkResult((values, indices.detach()))


def kthvalue(x: Tensor, k: int, dim: int = -1, keepdim: bool = False) -> TopkResult:
    """The ``k``-th smallest element along ``dim`` (``k`` counts from 1) and its index.

    Example:
        >>> import ember
        >>> ember.kthvalue(ember.tensor([[4.0, 1.0, 3.0]]), 2)
        (tensor([3.]), tensor([2]))
    """
    d = _check("kthvalue", x, dim)
    size = x.shape[d] if x.ndim else 1
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= size:
        raise op_error(ShapeError, "kthvalue", f"k={k!r} is out of range for dim {d} of size "
                       f"{size}", args=[x], hint=f"use an integer 1 <= k <= {size}")
    values, indices = topk(x, k, dim=d, largest=False, sorted=True)
    if x.ndim == 0:
        return TopkResult((values, indices))
    pick = (slice(None),) * d + (slice(k - 1, k) if keepdim else k - 1,)
    return TopkResult((values[pick], indices[pick]))


def bucketize(input: Tensor, boundaries: Tensor, *, out_int32: bool = False,  # noqa: A002
              right: bool = False) -> Tensor:
    """The index of the bucket of each element of ``input`` given the increasing 1-d
    ``boundaries``: ``boundaries[i-1] < x <= boundaries[i]``, or ``boundaries[i-1] <= x <
    boundaries[i]`` with ``right=True`` (PyTorch's convention).

    Example:
        >>> import ember
        >>> ember.bucketize(ember.tensor([0.5, 2.0, 7.0]), ember.tensor([1.0, 2.0, 5.0]))
        tensor([0, 1, 3])
    """
    from .creation import tensor

    if not isinstance(boundaries, Tensor) or boundaries.ndim != 1:
        raise op_error(ShapeError, "bucketize", "boundaries must be a 1-d tensor",
                       args=[boundaries] if isinstance(boundaries, Tensor) else [])
    scalar = not isinstance(input, Tensor)
    if scalar:
        input = tensor(input, dtype=boundaries.dtype, device=boundaries.device)
    out = searchsorted(boundaries, input, right=right)
    return out.to("int32") if out_int32 else out
