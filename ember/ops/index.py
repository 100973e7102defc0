"""Indexing primitives: ``x[index]``, ``x[index] = v``, gather, scatter_add, one_hot.

An index is normalised once (tensors to backend arrays, lists to arrays) and kept as an op
attribute. Basic indices (ints, slices, None, ``...``) give views; integer-array and boolean
indices give copies, and their gradients accumulate repeated positions.
"""

from __future__ import annotations

import numpy as np

from ..autograd.node import apply
from ..errors import EmberIndexError, ShapeError
from ..tensor import Tensor
from .registry import Op, copy_cost, fill_cost, free_cost, io_bytes, numel, reduce_cost, register


@register
class GetItem(Op):
    """Basic indexing (ints, slices, None, Ellipsis): a view."""

    uses_input_values = False  # the vjp needs only shapes

    is_view = True

    cost = free_cost

    def forward(xp, x, index):
        return x[index]

    def vjp(F, g, out, x, index):
        return (F.index_adjoint(g, shape=tuple(x.shape), index=index, basic=True),)


@register
class Index(Op):
    """Advanced indexing (integer arrays, boolean masks): a copy."""

    uses_input_values = False  # the vjp needs only shapes

    cost = copy_cost

    def forward(xp, x, index):
        return x[index]

    def vjp(F, g, out, x, index):
        return (F.index_adjoint(g, shape=tuple(x.shape), index=index, basic=False),)


@register
class IndexAdjoint(Op):
    """Zeros of ``shape`` with ``g`` summed into ``[index]`` (the transpose of indexing)."""

    uses_input_values = False  # the vjp needs only shapes

    cost = reduce_cost  # one add per gradient element

    def forward(xp, g, shape, index, basic):
        z = xp.zeros(shape, dtype=g.dtype)
        if basic:
            z[index] = g
        else:
            xp.add.at(z, index, g)
        return z

    def vjp(F, g, out, g0, shape, index, basic):
        return (F.get_item(g, index=index) if basic else F.index(g, index=index),)


@register
class IndexPut(Op):
    """``x`` with ``x[index] = v`` (out of place; ``Tensor.__setitem__`` writes it back)."""

    uses_input_values = False  # the vjp needs only shapes

    cost = copy_cost

    def forward(xp, x, v, index):
        out = x.copy()
        out[index] = v
        return out

    def vjp(F, g, out, x, v, index):
        gv = F.index(g, index=index)
        return F.index_put(g, 0.0, index=index), gv


@register
class Gather(Op):
    """``out[..., i, ...] = x[..., index[..., i, ...], ...]`` along ``axis``."""

    cost = copy_cost

    def forward(xp, x, index, axis):
        return xp.take_along_axis(x, index, axis=axis)

    def vjp(F, g, out, x, index, axis):
        zeros = F.zeros_of(x)
        return F.scatter_add(zeros, index, g, axis=axis), None


@register
class ScatterAdd(Op):
    """``x`` with ``src`` added at ``index`` along ``axis`` (repeated indices accumulate)."""

    def cost(out_specs, in_specs, attrs):
        """One add per element of ``src``; reads x, index and src, writes the output."""
        return numel(in_specs[2][0]), io_bytes(out_specs, in_specs)

    def forward(xp, x, index, src, axis):
        out = x.copy()
        grids = list(xp.ogrid[tuple(slice(0, n) for n in index.shape)])
        grids[axis] = index
        xp.add.at(out, tuple(grids), src)
        return out

    def vjp(F, g, out, x, index, src, axis):
        if tuple(index.shape) != tuple(g.shape):  # index covers only part of x
            g_src = F.get_item(g, index=tuple(slice(None) if i == axis else slice(0, n)
                                              for i, n in enumerate(index.shape)))
        else:
            g_src = g
        return g, None, F.gather(g_src, index, axis=axis)


@register
class ZerosOf(Op):
    differentiable = False

    cost = fill_cost

    def forward(xp, x):
        return xp.zeros_like(x)


@register
class OneHot(Op):
    differentiable = False

    cost = copy_cost

    def forward(xp, x, num_classes):
        return (x[..., None] == xp.arange(num_classes)).astype(xp.int64)


# ----------------------------------------------------------------------------- public API


def _is_basic(item) -> bool:
    return item is None or item is Ellipsis or isinstance(item, (int, slice, np.integer))


def normalize_index(index, like) -> tuple:
    """An index as a tuple of ints, slices, None, Ellipsis and backend arrays."""
    if not isinstance(index, tuple):
        index = (index,)
    out = []
    xp_cls = like.data.__class__
    for item in index:
        if isinstance(item, Tensor):
            item = item.data
            if item.__class__ is not xp_cls:  # an index on another device, as PyTorch allows
                from ..backend import backend_of

                item = backend_of(like.data).move_in(item)
        elif isinstance(item, (list, np.ndarray)) and not isinstance(item, xp_cls):
            # an empty list selects nothing (NumPy would read it as float64)
            empty = isinstance(item, list) and not item
            item = np.zeros(0, dtype=np.int64) if empty else np.asarray(item)
            if xp_cls is not np.ndarray:
                from ..backend import backend_of

                item = backend_of(like.data).xp.asarray(item)
        elif isinstance(item, bool):
            item = np.asarray(item)
        if hasattr(item, "dtype") and item.dtype.kind not in "iub":
            raise EmberIndexError(
                f"getitem: tensors used as indices must be integer or bool, got {item.dtype}"
            )
        if hasattr(item, "ndim") and item.ndim == 0 and item.dtype.kind in "iu":
            item = int(item)
        out.append(item)
    return tuple(out)


def getitem(x, index) -> Tensor:
    """``x[index]`` with NumPy's rules; differentiable."""
    index = normalize_index(index, x)
    if all(_is_basic(i) for i in index):
        return apply(GetItem, x, index=index)
    return apply(Index, x, index=index)


def index_put(x, index, value) -> Tensor:
    """A copy of ``x`` with ``x[index] = value`` (functional form of ``__setitem__``)."""
    index = normalize_index(index, x)
    if not isinstance(value, Tensor):
        from .creation import tensor

        value = tensor(value, dtype=x.dtype, device=x.device)
    elif value.data.dtype != x.data.dtype:
        value = value.to(x.dtype)
    return apply(IndexPut, x, value, index=index)


def _check_index_tensor(op, index):
    if not isinstance(index, Tensor) or index.data.dtype.kind not in "iu":
        raise EmberIndexError(f"{op}: index must be an integer tensor, got {index!r:.60}")


def gather(x, dim: int, index) -> Tensor:
    """PyTorch's ``gather``: ``out[i][j] = x[index[i][j]][j]`` for ``dim=0``.

    Example:
        >>> import ember
        >>> x = ember.tensor([[1.0, 2.0], [3.0, 4.0]])
        >>> ember.gather(x, 1, ember.tensor([[1], [0]]))
        tensor([[2.],
                [3.]])
    """
    from .shape import _axis

    _check_index_tensor("gather", index)
    d = _axis(dim, x.ndim, "gather")
    if index.ndim != x.ndim:
        raise ShapeError(
            f"gather: index has {index.ndim} dimensions, input {tuple(x.shape)} has {x.ndim}; "
            "they must match"
        )
    if any(i > s for j, (i, s) in enumerate(zip(index.shape, x.shape)) if j != d):
        raise ShapeError(
            f"gather: index shape {tuple(index.shape)} exceeds input shape {tuple(x.shape)} "
            f"outside dim {d}"
        )
    n = x.shape[d]
    if index.numel() and (int(index.data.max()) >= n or int(index.data.min()) < -n):
        raise EmberIndexError(
            f"gather: index out of range for dim {d} of size {n} (input {tuple(x.shape)})"
        )
    if tuple(index.shape) != tuple(x.shape):
        x = x[tuple(slice(0, i) if j != d else slice(None) for j, i in enumerate(index.shape))]
    return apply(Gather, x, index, axis=d)


def take_along_dim(x, indices, dim: int | None = None) -> Tensor:
    """Pick values along ``dim`` at ``indices`` (NumPy's ``take_along_axis``); with
    ``dim=None``, from the flattened ``x`` at the flattened ``indices``."""
    from .shape import _axis, broadcast_to, reshape

    if dim is None:
        return gather(reshape(x, -1), 0, reshape(indices, -1))
    d = _axis(dim, x.ndim, "take_along_dim")
    shape = list(np.broadcast_shapes(
        tuple(s for j, s in enumerate(x.shape) if j != d),
        tuple(s for j, s in enumerate(indices.shape) if j != d),
    ))
    xs = list(shape)
    xs.insert(d, x.shape[d])
    ins = list(shape)
    ins.insert(d, indices.shape[d])
    return gather(broadcast_to(x, xs), d, broadcast_to(indices, ins))


def scatter_add(x, dim: int, index, src) -> Tensor:
    """PyTorch's ``scatter_add``: ``out[index[i][j]][j] += src[i][j]`` for ``dim=0``."""
    from .shape import _axis

    _check_index_tensor("scatter_add", index)
    d = _axis(dim, x.ndim, "scatter_add")
    if tuple(src.shape) != tuple(index.shape):
        src = src[tuple(slice(0, i) for i in index.shape)]
    return apply(ScatterAdd, x, index, src, axis=d)


def index_select(x, dim: int, index) -> Tensor:
    """The slices of ``x`` along ``dim`` at the positions in the 1-d ``index``."""
    from .shape import _axis

    _check_index_tensor("index_select", index)
    d = _axis(dim, x.ndim, "index_select")
    if index.ndim > 1:
        raise ShapeError(f"index_select: index must be 0-d or 1-d, got {tuple(index.shape)}")
    if index.ndim == 0:  # PyTorch keeps the dimension: a 0-d index acts as a 1-element one
        index = index.reshape(1)
    n = x.shape[d]
    if index.numel() and (int(index.data.max()) >= n or int(index.data.min()) < -n):
        bad = int(index.data.max()) if int(index.data.max()) >= n else int(index.data.min())
        raise EmberIndexError(
            f"index_select: index {bad} is out of range for dim {d} of size {n} "
            f"(input {tuple(x.shape)})"
        )
    return getitem(x, (slice(None),) * d + (index,))


def masked_fill(x, mask, value) -> Tensor:
    """``x`` with ``value`` where ``mask`` is true."""
    from .elementwise import where

    return where(mask, value, x)


def one_hot(x, num_classes: int = -1) -> Tensor:
    """Integer class indices to one-hot rows (int64), as ``torch.nn.functional.one_hot``."""
    if x.data.dtype.kind not in "iu":
        raise EmberIndexError(f"one_hot: expects integer class indices, got {x.dtype.name}")
    if num_classes < 0:
        num_classes = int(x.data.max()) + 1 if x.numel() else 0
    if x.numel() and (int(x.data.min()) < 0 or int(x.data.max()) >= num_classes):
        raise EmberIndexError(
            f"one_hot: class values must lie in [0, {num_classes}), got "
            f"[{int(x.data.min())}, {int(x.data.max())}]"
        )
    return apply(OneHot, x, num_classes=int(num_classes))
