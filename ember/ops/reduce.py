"""Reductions: sum, mean, prod, amax/amin, max/min, argmax/argmin, logsumexp, cumsum,
cumprod, var, std, all, any, and ``sum_to`` (the adjoint of broadcasting).

``dim``/``axis`` may be an int, a tuple or None (all dimensions); ``keepdim`` keeps the
reduced dimensions with size 1. Attributes are normalised before reaching the primitive:
``axis`` is a sorted tuple of non-negative ints or None.
"""

from __future__ import annotations

import builtins

from .. import dtypes as _dt
from ..autograd.node import apply
from ..errors import ShapeError
from ..tensor import Tensor
from .registry import Op, diff, fill_cost, reduce_cost, register, scaled_cost


def _kept_shape(shape, axis):
    """``shape`` with the reduced ``axis`` set to 1."""
    if axis is None:
        return (1,) * len(shape)
    return tuple(1 if i in axis else s for i, s in enumerate(shape))


def _expand(F, g, shape, axis, keepdims):
    """Broadcast a reduced gradient back over the reduced dimensions."""
    if not keepdims:
        g = F.reshape(g, shape=_kept_shape(shape, axis))
    return F.broadcast_to(g, shape=tuple(shape))


def _count(shape, axis):
    n = 1
    for i, s in enumerate(shape):
        if axis is None or i in axis:
            n *= s
    return n


@register
class SumTo(Op):
    """Sum a broadcast array back down to ``shape`` (the vjp of broadcasting)."""

    uses_input_values = False  # the vjp needs only shapes

    cost = reduce_cost

    def forward(xp, x, shape):
        lead = x.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(
            i + lead for i, s in enumerate(shape) if s == 1 and x.shape[i + lead] != 1
        )
        y = x.sum(axis=axes, keepdims=True) if axes else x
        return y.reshape(shape)

    def vjp(F, g, out, x, shape):
        return (F.broadcast_to(g, shape=tuple(x.shape)),)


@register
class Sum(Op):
    uses_input_values = False  # the vjp needs only shapes

    cost = reduce_cost

    def forward(xp, x, axis=None, keepdims=False):
        if x.dtype.kind in "iu":  # NumPy would widen int8/int32 sums; keep the dtype asked for
            return xp.sum(x, axis=axis, keepdims=keepdims, dtype=x.dtype)
        return xp.sum(x, axis=axis, keepdims=keepdims)

    def vjp(F, g, out, x, axis=None, keepdims=False):
        return (_expand(F, g, x.shape, axis, keepdims),)


@register
class Mean(Op):
    uses_input_values = False  # the vjp needs only shapes

    cost = reduce_cost

    def forward(xp, x, axis=None, keepdims=False):
        return xp.mean(x, axis=axis, keepdims=keepdims)

    def vjp(F, g, out, x, axis=None, keepdims=False):
        return (_expand(F, g, x.shape, axis, keepdims) * (1.0 / _count(x.shape, axis)),)


@register
class Prod(Op):
    needs_output = True

    cost = reduce_cost

    def forward(xp, x, axis=None, keepdims=False):
        if x.dtype.kind in "iu":
            return xp.prod(x, axis=axis, keepdims=keepdims, dtype=x.dtype)
        return xp.prod(x, axis=axis, keepdims=keepdims)

    def vjp(F, g, out, x, axis=None, keepdims=False):
        shape = tuple(x.shape)
        ge = _expand(F, g, shape, axis, keepdims)
        # recorded (create_graph, ember.jit): no branch on values, so a graph can hold it
        if F is not diff and not bool((x == 0).any()):
            ok = out if keepdims else F.reshape(out, shape=_kept_shape(shape, axis))
            return (ge * (ok / x),)
        return (ge * _product_of_others(F, x, axis),)


def _product_of_others(F, x, axis):
    """For each element, the product of the other elements of its slice over ``axis``.

    Exclusive prefix times exclusive suffix products along the reduced axes (moved last and
    flattened): exact with any number of zeros, and differentiable again (unlike out / x).
    """
    axes = tuple(range(x.ndim)) if axis is None else axis
    perm = tuple(i for i in range(x.ndim) if i not in axes) + axes
    xm = F.permute(x, axes=perm)
    lead = tuple(xm.shape[:x.ndim - len(axes)])
    n = _count(x.shape, axes)
    flat = F.reshape(xm, shape=lead + (n,))
    width = ((0, 0),) * len(lead) + ((1, 0),)
    first = (slice(None),) * len(lead) + (slice(0, n),)

    def exclusive(v):
        return F.get_item(F.cumprod(F.pad(v, pad_width=width, mode="constant", value=1.0),
                                    axis=len(lead)), index=first)

    rev = (len(lead),)
    others = exclusive(flat) * F.flip(exclusive(F.flip(flat, axis=rev)), axis=rev)
    inverse = tuple(sorted(range(x.ndim), key=perm.__getitem__))
    return F.permute(F.reshape(others, shape=tuple(xm.shape)), axes=inverse)


class _Extremum(Op):
    """amax/amin: the gradient is shared evenly among the elements that attain it."""

    needs_output = True

    cost = reduce_cost

    def vjp(F, g, out, x, axis=None, keepdims=False):
        shape = tuple(x.shape)
        ok = out if keepdims else F.reshape(out, shape=_kept_shape(shape, axis))
        mask = x == ok
        count = F.sum(mask, axis=axis, keepdims=True)
        return (_expand(F, g, shape, axis, keepdims) * mask / count,)


@register
class Amax(_Extremum):
    def forward(xp, x, axis=None, keepdims=False):
        return xp.max(x, axis=axis, keepdims=keepdims)


@register
class Amin(_Extremum):
    def forward(xp, x, axis=None, keepdims=False):
        return xp.min(x, axis=axis, keepdims=keepdims)


@register
class Argmax(Op):
    differentiable = False

    cost = reduce_cost

    def forward(xp, x, axis=None, keepdims=False):
        return xp.argmax(x, axis=axis, keepdims=keepdims)


@register
class Argmin(Op):
    differentiable = False

    cost = reduce_cost

    def forward(xp, x, axis=None, keepdims=False):
        return xp.argmin(x, axis=axis, keepdims=keepdims)


@register
class All(Op):
    differentiable = False

    cost = reduce_cost

    def forward(xp, x, axis=None, keepdims=False):
        return xp.all(x, axis=axis, keepdims=keepdims)


@register
class Any(Op):
    differentiable = False

    cost = reduce_cost

    def forward(xp, x, axis=None, keepdims=False):
        return xp.any(x, axis=axis, keepdims=keepdims)


@register
class Logsumexp(Op):
    needs_output = True

    cost = scaled_cost(4)  # max, subtract, exp, sum

    def forward(xp, x, axis=None, keepdims=False):
        m = xp.max(x, axis=axis, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        s = xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True)) + m
        return s if keepdims else s.reshape(
            tuple(d for i, d in enumerate(x.shape) if axis is not None and i not in axis)
        )

    def vjp(F, g, out, x, axis=None, keepdims=False):
        shape = tuple(x.shape)
        ok = out if keepdims else F.reshape(out, shape=_kept_shape(shape, axis))
        return (_expand(F, g, shape, axis, keepdims) * F.exp(x - ok),)


@register
class Cumsum(Op):
    uses_input_values = False  # the vjp needs only shapes

    cost = reduce_cost

    def forward(xp, x, axis):
        return xp.cumsum(x, axis=axis)

    def vjp(F, g, out, x, axis):
        return (F.flip(F.cumsum(F.flip(g, axis=(axis,)), axis=axis), axis=(axis,)),)


@register
class Cumprod(Op):
    needs_output = True

    cost = reduce_cost

    def forward(xp, x, axis):
        return xp.cumprod(x, axis=axis)

    def vjp(F, g, out, x, axis):
        # recorded (create_graph, ember.jit): the exact form below, no branch on values
        if F is not diff and not bool((x == 0).any()):
            rev = F.flip(F.cumsum(F.flip(g * out, axis=(axis,)), axis=axis), axis=(axis,))
            return (rev / x,)
        # with zeros: d out_j / d x_i = prod_{k <= j, k != i} x_k for j >= i, built as an
        # (..., i, k) stack of copies of x whose diagonal is 1 (O(n^2) along the axis)
        n = x.shape[axis]
        to_last = tuple(i for i in range(x.ndim) if i != axis) + (axis,)
        back = tuple(sorted(range(x.ndim), key=to_last.__getitem__))
        xm = F.permute(x, axes=to_last)
        gm = F.permute(g, axes=to_last)
        lead = tuple(xm.shape[:-1])
        eye = F.eye_mask(n=n)
        rows = F.where(eye, 1.0, F.broadcast_to(F.reshape(xm, shape=lead + (1, n)),
                                                 shape=lead + (n, n)))
        partial = F.cumprod(rows, axis=len(lead) + 1)
        upper = F.triu_mask(n=n)
        gi = F.sum(F.where(upper, partial, 0.0) * F.reshape(gm, shape=lead + (1, n)),
                   axis=(len(lead) + 1,))
        return (F.permute(gi, axes=back),)


@register
class EyeMask(Op):
    differentiable = False

    cost = fill_cost

    def forward(xp, n):
        return xp.eye(n, dtype=bool)


@register
class TriuMask(Op):
    differentiable = False

    cost = fill_cost

    def forward(xp, n):
        return xp.triu(xp.ones((n, n), dtype=bool))


@register
class VectorNorm(Op):
    needs_output = True

    cost = scaled_cost(2)  # |x|^p and sum

    def forward(xp, x, ord=2.0, axis=None, keepdims=False):
        a = xp.abs(x)
        if ord == float("inf"):
            return xp.max(a, axis=axis, keepdims=keepdims)
        if ord == float("-inf"):
            return xp.min(a, axis=axis, keepdims=keepdims)
        if ord == 0:
            return xp.sum(a != 0, axis=axis, keepdims=keepdims).astype(x.dtype)
        if ord == 1:
            return xp.sum(a, axis=axis, keepdims=keepdims)
        if ord == 2:
            return xp.sqrt(xp.sum(x * x, axis=axis, keepdims=keepdims))
        # a Python-float power widens bfloat16 (ml_dtypes) to float32
        p = xp.sum(a**ord, axis=axis, keepdims=keepdims) ** (1.0 / ord)
        return p.astype(x.dtype, copy=False)

    def vjp(F, g, out, x, ord=2.0, axis=None, keepdims=False):
        shape = tuple(x.shape)
        ge = _expand(F, g, shape, axis, keepdims)
        ok = out if keepdims else F.reshape(out, shape=_kept_shape(shape, axis))
        if ord == 0:
            return (ge * 0.0,)
        if ord == 1:
            return (ge * F.sign(x),)
        if ord in (float("inf"), float("-inf")):
            a = F.abs(x)
            mask = a == ok
            return (ge * F.sign(x) * mask / F.sum(mask, axis=axis, keepdims=True),)
        safe = F.where(ok == 0, 1.0, ok)
        if ord == 2:
            return (F.where(ok == 0, 0.0, ge * x / safe),)
        a = F.abs(x)
        return (F.where(ok == 0, 0.0, ge * F.sign(x) * a ** (ord - 1) / safe ** (ord - 1)),)


# ----------------------------------------------------------------------------- public API


def normalize_axis(axis, ndim: int, op: str = "reduce"):
    """``axis`` as a sorted tuple of non-negative ints, or None for all dimensions."""
    if axis is None:
        return None
    if isinstance(axis, (list, tuple)):
        axes = tuple(axis)
    else:
        axes = (axis,)
    out = []
    n = builtins.max(ndim, 1)
    for a in axes:
        a = int(a)
        if not -n <= a < n:
            raise ShapeError(
                f"{op}: dim {a} is out of range for a tensor with {ndim} dimension(s); "
                f"use a dim in [{-n}, {n - 1}]"
            )
        out.append(a % n)
    if ndim == 0:
        return None
    return tuple(sorted(set(out)))


def _reducer(op, name, doc):
    def fn(x, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
        if axis is not None:
            dim = axis
        if keepdims is not None:
            keepdim = keepdims
        return apply(op, x, axis=normalize_axis(dim, x.ndim, name), keepdims=bool(keepdim))

    fn.__name__ = name
    fn.__doc__ = doc
    return fn


_sum = _reducer(Sum, "sum", "Sum over ``dim`` (all dimensions by default).")
_mean = _reducer(Mean, "mean", "Mean over ``dim`` (all dimensions by default).")
_prod = _reducer(Prod, "prod", "Product over ``dim`` (all dimensions by default).")
amax = _reducer(Amax, "amax", "Largest value over ``dim``; ties share the gradient.")
amin = _reducer(Amin, "amin", "Smallest value over ``dim``; ties share the gradient.")
_logsumexp = _reducer(Logsumexp, "logsumexp", "``log(sum(exp(x)))`` over ``dim``, stably.")
all = _reducer(All, "all", "True where every element over ``dim`` is true.")  # noqa: A001
any = _reducer(Any, "any", "True where some element over ``dim`` is true.")  # noqa: A001


def _int64(x):
    """Integer and bool x as int64: PyTorch accumulates sums and products of them in int64."""
    kind, size = x.data.dtype.kind, x.data.dtype.itemsize
    return x.to("int64") if kind in "bu" or (kind == "i" and size < 8) else x


def logsumexp(x, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
    """``log(sum(exp(x)))`` over ``dim``, stably; integer input gives the default float.

    Example:
        >>> import ember
        >>> ember.logsumexp(ember.zeros(2, 2), dim=1)
        tensor([0.6931, 0.6931])
    """
    if x.data.dtype.kind in "iub":
        x = x.to(_dt.default_float)
    return _logsumexp(x, dim, keepdim, axis=axis, keepdims=keepdims)


def sum(x, dim=None, keepdim: bool = False, *, axis=None, keepdims=None, dtype=None):  # noqa: A001
    """Sum over ``dim`` (all dimensions by default).

    Example:
        >>> import ember
        >>> ember.sum(ember.tensor([[1.0, 2.0], [3.0, 4.0]]), dim=0)
        tensor([4., 6.])
    """
    x = x.to(dtype) if dtype is not None else _int64(x)
    return _sum(x, dim, keepdim, axis=axis, keepdims=keepdims)


def mean(x, dim=None, keepdim: bool = False, *, axis=None, keepdims=None, dtype=None):
    """Mean over ``dim`` (all dimensions by default); integer or bool input gives the
    default float dtype (PyTorch refuses it).

    Example:
        >>> import ember
        >>> ember.mean(ember.tensor([[1.0, 2.0], [3.0, 4.0]]), dim=1)
        tensor([1.5, 3.5])
    """
    if dtype is not None:
        x = x.to(dtype)
    elif x.data.dtype.kind in "iub":
        x = x.to(_dt.default_float)
    return _mean(x, dim, keepdim, axis=axis, keepdims=keepdims)


def prod(x, dim=None, keepdim: bool = False, *, axis=None, keepdims=None, dtype=None):
    """Product over ``dim`` (all dimensions by default)."""
    x = x.to(dtype) if dtype is not None else _int64(x)
    return _prod(x, dim, keepdim, axis=axis, keepdims=keepdims)


def _arg(op, name):
    def fn(x, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
        if axis is not None:
            dim = axis
        if keepdims is not None:
            keepdim = keepdims
        if dim is None:
            return apply(op, x, axis=None, keepdims=bool(keepdim))
        (d,) = normalize_axis(dim, x.ndim, name) or (0,)
        return apply(op, x, axis=d, keepdims=bool(keepdim))

    fn.__name__ = name
    fn.__doc__ = f"Index of the {'largest' if 'max' in name else 'smallest'} value over ``dim``."
    return fn


argmax = _arg(Argmax, "argmax")
argmin = _arg(Argmin, "argmin")


class _MinMax(tuple):
    """``(values, indices)`` as returned by ``max(x, dim)``; fields by name too."""

    @property
    def values(self):
        return self[0]

    @property
    def indices(self):
        return self[1]


def _minmax(x, dim, keepdim, largest: bool):
    from .index import take_along_dim

    if isinstance(dim, Tensor):  # max(a, b): the elementwise form
        from .elementwise import maximum, minimum

        return maximum(x, dim) if largest else minimum(x, dim)
    if dim is None:
        return amax(x) if largest else amin(x)
    if x.ndim == 0:  # the one element, at index 0
        normalize_axis(dim, 0, "max" if largest else "min")
        return _MinMax((x.clone(), (argmax if largest else argmin)(x)))
    idx = (argmax if largest else argmin)(x, dim, keepdim=True)
    (d,) = normalize_axis(dim, x.ndim)
    values = take_along_dim(x, idx, dim=d)
    if not keepdim:
        values = values.squeeze(d)
        idx = idx.squeeze(d)
    return _MinMax((values, idx))


def max(x, dim=None, keepdim: bool = False):  # noqa: A001
    """Largest value; with ``dim``, ``(values, indices)`` (the gradient goes to the index)."""
    return _minmax(x, dim, keepdim, True)


def min(x, dim=None, keepdim: bool = False):  # noqa: A001
    """Smallest value; with ``dim``, ``(values, indices)`` (the gradient goes to the index)."""
    return _minmax(x, dim, keepdim, False)


def cumsum(x, dim: int, *, axis=None):
    """Cumulative sum along ``dim``."""
    (d,) = normalize_axis(dim if axis is None else axis, x.ndim, "cumsum") or (0,)
    x = _int64(x)
    if x.ndim == 0:
        return x.clone()
    return apply(Cumsum, x, axis=d)


def cumprod(x, dim: int, *, axis=None):
    """Cumulative product along ``dim`` (the gradient handles zeros exactly)."""
    (d,) = normalize_axis(dim if axis is None else axis, x.ndim, "cumprod") or (0,)
    x = _int64(x)
    if x.ndim == 0:
        return x.clone()
    return apply(Cumprod, x, axis=d)


def var(x, dim=None, keepdim: bool = False, *, correction=1, unbiased=None, axis=None,
        keepdims=None):
    """Variance over ``dim`` with Bessel's ``correction`` (1 by default, as in PyTorch)."""
    if axis is not None:
        dim = axis
    if keepdims is not None:
        keepdim = keepdims
    if unbiased is not None:
        correction = 1 if unbiased else 0
    axes = normalize_axis(dim, x.ndim, "var")
    n = _count(x.shape, axes)
    centered = x - mean(x, axes, keepdim=True)
    denom = n - correction
    scale = 1.0 / denom if denom > 0 else float("inf")  # PyTorch: x / 0 (nan when x is 0)
    return _sum(centered * centered, axes, keepdim) * scale


def std(x, dim=None, keepdim: bool = False, *, correction=1, unbiased=None, axis=None,
        keepdims=None):
    """Standard deviation over ``dim`` (square root of ``var``)."""
    from .elementwise import sqrt

    return sqrt(var(x, dim, keepdim, correction=correction, unbiased=unbiased, axis=axis,
                    keepdims=keepdims))


def vector_norm(x, ord=2, dim=None, keepdim: bool = False):
    """The ``ord``-norm of x over ``dim`` (flattened by default); gradient 0 at 0."""
    return apply(VectorNorm, x, ord=float(ord), axis=normalize_axis(dim, x.ndim, "norm"),
                 keepdims=bool(keepdim))


def norm(x, p="fro", dim=None, keepdim: bool = False):
    """PyTorch's ``norm``: the 2-norm (``"fro"``) or a ``p``-norm over ``dim``."""
    if p in ("fro", None):
        p = 2
    return vector_norm(x, p, dim, keepdim)
