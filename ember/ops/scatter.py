"""Scatter primitives: ``scatter`` (write ``src`` at ``index`` along a dimension) and
``scatter_reduce`` (combine ``src`` into the input with sum, prod, mean, amax or amin), plus
``masked_select``, a composite of boolean indexing.

For ``dim=0``: ``out[index[i][j]][j] = src[i][j]`` (scatter), or ``out[index[i][j]][j] =
reduce(out[...], src[i][j])`` (scatter_reduce). Where ``index`` repeats a position, scatter
keeps one of the written values (NumPy's last; PyTorch documents no order), and the
reductions combine all of them.

Example:
    >>> import ember
    >>> x = ember.zeros(2, 3)
    >>> ember.scatter(x, 1, ember.tensor([[2], [0]]), ember.tensor([[1.0], [2.0]]))
    tensor([[0., 0., 1.],
            [2., 0., 0.]])
"""

from __future__ import annotations

from ..autograd.node import apply
from ..errors import EmberIndexError, ShapeError, op_error
from ..tensor import Tensor
from .registry import Op, io_bytes, numel, register

REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")


def _positions(xp, index, axis):
    grids = list(xp.ogrid[tuple(slice(0, n) for n in index.shape)])
    grids[axis] = index
    return tuple(grids)


def _gather(F, g, index, axis):
    """``g`` gathered at ``index`` along ``axis``, ``g`` first cut to ``index``'s extent."""
    if tuple(index.shape) != tuple(g.shape):
        g = F.get_item(g, index=tuple(slice(None) if i == axis else slice(0, n)
                                      for i, n in enumerate(index.shape)))
    return F.gather(g, index, axis=axis)


def _scatter_cost(out_specs, in_specs, attrs):
    """One write (or combine) per element of ``index``; reads x, index and src, writes out."""
    return numel(in_specs[1][0]), io_bytes(out_specs, in_specs)


@register
class Scatter(Op):
    """``x`` with ``src`` written at ``index`` along ``axis``."""

    uses_input_values = False  # the vjp needs only the index
    cost = _scatter_cost

    def forward(xp, x, index, src, axis):
        out = x.copy()
        out[_positions(xp, index, axis)] = src
        return out

    def vjp(F, g, out, x, index, src, axis):
        # overwritten positions take no gradient from x; each src element gets its target's
        return F.scatter(g, index, F.zeros_of(src), axis=axis), None, _gather(F, g, index, axis)


@register
class ScatterReduce(Op):
    """``x`` with ``src`` combined at ``index`` along ``axis`` by ``reduce``; without
    ``include_self`` the scattered-to positions start from ``src`` alone."""

    needs_output = True
    cost = _scatter_cost

    def forward(xp, x, index, src, axis, reduce, include_self):
        where = _positions(xp, index, axis)
        out = x.copy()
        if not include_self:
            start = {"sum": 0, "mean": 0, "prod": 1}.get(reduce)
            if start is None and x.dtype.kind in "iu":  # amax / amin: their identity
                start = xp.iinfo(x.dtype).min if reduce == "amax" else xp.iinfo(x.dtype).max
            elif start is None:  # float (kind "f", or "V" for bfloat16)
                start = -xp.inf if reduce == "amax" else xp.inf
            out[where] = start
        ufunc = {"sum": xp.add, "mean": xp.add, "prod": xp.multiply, "amax": xp.maximum,
                 "amin": xp.minimum}[reduce]
        ufunc.at(out, where, src)
        if reduce == "mean":
            count = xp.zeros(x.shape, dtype=xp.int64)
            xp.add.at(count, where, 1)
            count += int(include_self)
            count = xp.maximum(count, 1)
            out = out // count if x.dtype.kind in "iu" else out / count
            out = out.astype(x.dtype)
        return out

    def vjp(F, g, out, x, index, src, axis, reduce, include_self):
        # PyTorch's scatter_reduce_backward, written with ember ops
        hit = F.scatter_add(F.zeros_of(x), index, F.zeros_of(src) + 1.0, axis=axis)
        untouched = F.eq(hit, 0.0)
        if reduce == "sum":
            gx = g if include_self else F.where(untouched, g, 0.0)
            return gx, None, _gather(F, g, index, axis)
        if reduce == "mean":
            gm = g / F.maximum(hit + float(include_self), 1.0)
            gx = gm if include_self else F.where(untouched, g, 0.0)
            return gx, None, _gather(F, gm, index, axis)
        if reduce == "prod":
            # d out / d x = out / x and d out / d src = out / src (exact when none is zero)
            go = g * out
            gx = go / x if include_self else F.where(untouched, g, 0.0)
            return gx, None, _gather(F, go, index, axis) / src
        # amax / amin: the gradient is shared equally among the elements equal to the result
        self_is = F.where(F.eq(x, out), 1.0, 0.0) if include_self else F.zeros_of(x)
        src_is = F.where(F.eq(src, _gather(F, out, index, axis)), 1.0, 0.0)
        count = self_is + F.scatter_add(F.zeros_of(x), index, src_is, axis=axis)
        share = g / F.maximum(count, 1.0)
        gx = self_is * share if include_self else F.where(untouched, g, 0.0)
        return gx, None, src_is * _gather(F, share, index, axis)


# ----------------------------------------------------------------------------- public API


def _prepare(op: str, x, dim: int, index, src):
    """Checked ``(axis, src)``: src a tensor of x's dtype cut to index's shape."""
    from .creation import full
    from .shape import _axis

    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected an ember Tensor, got {type(x).__name__}")
    if not isinstance(index, Tensor) or index.data.dtype.kind not in "iu":
        raise op_error(EmberIndexError, op, "index must be an integer tensor",
                       args=[index] if isinstance(index, Tensor) else [x])
    d = _axis(dim, x.ndim, op)
    if index.ndim != x.ndim and not (x.ndim == 0 and index.ndim <= 1):
        raise op_error(ShapeError, op, f"index has {index.ndim} dimension(s) and input "
                       f"{x.ndim}; they must match", args=[x, index])
    if not isinstance(src, Tensor):
        src = full(tuple(index.shape), src, dtype=x.dtype, device=x.device)
    elif src.dtype != x.dtype:
        raise op_error(ShapeError, op, f"src has dtype {src.dtype.name} and input "
                       f"{x.dtype.name}; they must match", args=[x, src],
                       hint="convert src with .to(input.dtype)")
    if src.ndim != index.ndim or any(i > s for i, s in zip(index.shape, src.shape)):
        raise op_error(ShapeError, op, "index must not be larger than src in any dimension",
                       args=[x, index, src])
    if any(i > s for j, (i, s) in enumerate(zip(index.shape, x.shape)) if j != d):
        raise op_error(ShapeError, op, f"index must not be larger than input outside dim {d}",
                       args=[x, index])
    n = x.shape[d] if x.ndim else 1
    if index.numel() and (int(index.data.max()) >= n or int(index.data.min()) < -n):
        raise op_error(EmberIndexError, op, f"index out of range for dim {d} of size {n}",
                       args=[x, index])
    if tuple(src.shape) != tuple(index.shape):
        src = src[tuple(slice(0, i) for i in index.shape)]
    if index.numel() and int(index.data.min()) < 0:
        index = index + (index < 0).to(index.dtype) * n  # PyTorch wraps negative indices
    return d, index, src


def scatter(input: Tensor, dim: int, index: Tensor, src=None, *, value=None,  # noqa: A002
            reduce: str | None = None) -> Tensor:
    """PyTorch's ``scatter``: a copy of ``input`` with ``src`` (a tensor, or a number)
    written at ``index`` along ``dim``: ``out[index[i][j]][j] = src[i][j]`` for ``dim=0``.

    Args:
        input: the tensor written into (not modified).
        dim: the dimension ``index`` addresses.
        index: an integer tensor with ``input``'s number of dimensions, no larger than
            ``src`` anywhere nor than ``input`` outside ``dim``.
        src: the values (a tensor of ``input``'s dtype, or a Python number).
        value: the keyword spelling of a number ``src``.
        reduce: None (write), ``"add"`` or ``"multiply"`` (combine with the input).

    Gradients: ``input`` gets ``grad`` with zeros where written; ``src`` gets ``grad``
    gathered at ``index``.

    Example:
        >>> import ember
        >>> ember.scatter(ember.zeros(3), 0, ember.tensor([2, 0]), value=5.0)
        tensor([5., 0., 5.])
    """
    if value is not None:
        src = value
    if src is None:
        raise TypeError("scatter: give src (a tensor or a number) or value")
    d, index, src = _prepare("scatter", input, dim, index, src)
    if reduce is None:
        return apply(Scatter, input, index, src, axis=d)
    if reduce not in ("add", "multiply"):
        raise op_error(ValueError, "scatter", f"reduce must be 'add' or 'multiply', got "
                       f"{reduce!r}", args=[input], hint="or use scatter_reduce")
    return apply(ScatterReduce, input, index, src, axis=d,
                 reduce="sum" if reduce == "add" else "prod", include_self=True)


def scatter_reduce(input: Tensor, dim: int, index: Tensor, src: Tensor,  # noqa: A002
                   reduce: str, *, include_self: bool = True) -> Tensor:
    """PyTorch's ``scatter_reduce``: ``src`` combined into a copy of ``input`` at ``index``
    along ``dim`` with ``reduce`` in ``"sum"``, ``"prod"``, ``"mean"``, ``"amax"``,
    ``"amin"``; ``include_self=False`` leaves the input's values out of the positions that
    ``index`` reaches. Differentiable in ``input`` and ``src`` as PyTorch defines it (prod's
    gradient divides by the values, so it is exact only away from zeros).

    Example:
        >>> import ember
        >>> x = ember.tensor([1.0, 2.0])
        >>> ember.scatter_reduce(x, 0, ember.tensor([0, 0, 1]), ember.tensor([5.0, 3.0, 1.0]),
        ...                      "amax", include_self=False)
        tensor([5., 1.])
    """
    if reduce not in REDUCTIONS:
        raise op_error(ValueError, "scatter_reduce", f"reduce must be one of {REDUCTIONS}, "
                       f"got {reduce!r}", args=[input])
    d, index, src = _prepare("scatter_reduce", input, dim, index, src)
    return apply(ScatterReduce, input, index, src, axis=d, reduce=reduce,
                 include_self=bool(include_self))


def masked_select(input: Tensor, mask: Tensor) -> Tensor:  # noqa: A002
    """The elements of ``input`` where ``mask`` (broadcast with it) is true, as a 1-d tensor
    in row-major order; the gradient flows back to the selected positions.

    Example:
        >>> import ember
        >>> x = ember.tensor([[1.0, 2.0], [3.0, 4.0]])
        >>> ember.masked_select(x, x > 1.5)
        tensor([2., 3., 4.])
    """
    from .shape import broadcast_tensors

    if not isinstance(mask, Tensor) or mask.data.dtype.kind != "b":
        raise op_error(EmberIndexError, "masked_select", "mask must be a bool tensor",
                       args=[input, mask] if isinstance(mask, Tensor) else [input])
    x, m = broadcast_tensors(input, mask)
    return x[m]
