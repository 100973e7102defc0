"""Sorting and searching primitives: ``sort`` (differentiable), ``argsort``, ``searchsorted``.

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
