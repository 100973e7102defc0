"""Matrix structure: diagonal, diag_embed, diag, trace, tril, triu.

Example:
    >>> import ember
    >>> ember.trace(ember.tensor([[1.0, 2.0], [3.0, 4.0]]))
    tensor(5.)
"""

from __future__ import annotations

from ..autograd.node import apply
from ..errors import ShapeError
from ..tensor import Tensor
from .registry import Op, copy_cost, fill_cost, register


@register
class Diagonal(Op):
    """The diagonal at ``offset`` of the last two dimensions, as a new last dimension."""

    uses_input_values = False  # the vjp needs only shapes

    cost = copy_cost

    def forward(xp, x, offset=0):
        return xp.diagonal(x, offset, axis1=-2, axis2=-1).copy()

    def vjp(F, g, out, x, offset=0):
        return (F.diag_embed(g, offset=offset, n=x.shape[-2], m=x.shape[-1]),)


@register
class DiagEmbed(Op):
    """Matrices of shape (..., n, m) with ``x`` on the diagonal at ``offset``, zeros elsewhere."""

    uses_input_values = False  # the vjp needs only shapes

    cost = copy_cost

    def forward(xp, x, offset=0, n=None, m=None):
        k = x.shape[-1]
        n = n if n is not None else k + abs(offset)
        m = m if m is not None else k + abs(offset)
        out = xp.zeros(x.shape[:-1] + (n, m), dtype=x.dtype)
        rows = xp.arange(k) + (-offset if offset < 0 else 0)
        cols = xp.arange(k) + (offset if offset > 0 else 0)
        out[..., rows, cols] = x
        return out

    def vjp(F, g, out, x, offset=0, n=None, m=None):
        return (F.diagonal(g, offset=offset),)


@register
class TriMask(Op):
    differentiable = False

    cost = fill_cost

    def forward(xp, n, m, k, lower):
        ones = xp.ones((n, m), dtype=bool)
        return xp.tril(ones, k) if lower else xp.triu(ones, k)


def diagonal(x, offset: int = 0) -> Tensor:
    """The diagonal of the last two dimensions (batched)."""
    if x.ndim < 2:
        raise ShapeError(f"diagonal: needs at least 2 dimensions, got {tuple(x.shape)}")
    return apply(Diagonal, x, offset=int(offset))


def diag_embed(x, offset: int = 0) -> Tensor:
    """Square matrices with ``x`` (last dimension) on the diagonal."""
    return apply(DiagEmbed, x, offset=int(offset))


def diag(x, diagonal: int = 0) -> Tensor:
    """A 1-d tensor's diagonal matrix, or a 2-d tensor's diagonal (PyTorch's ``diag``)."""
    if x.ndim == 1:
        return diag_embed(x, diagonal)
    if x.ndim == 2:
        return apply(Diagonal, x, offset=int(diagonal))
    raise ShapeError(f"diag: expects a 1-d or 2-d tensor, got {tuple(x.shape)}")


def trace(x) -> Tensor:
    """The sum of the diagonal of a matrix."""
    if x.ndim != 2:
        raise ShapeError(f"trace: expects a 2-d tensor, got {tuple(x.shape)}")
    return apply(Diagonal, x, offset=0).sum()


def _tri(x, k, lower, name):
    if x.ndim < 2:
        raise ShapeError(f"{name}: needs at least 2 dimensions, got {tuple(x.shape)}")
    from .elementwise import where

    mask = Tensor(_mask(x, k, lower))
    kind = x.data.dtype.kind
    return where(mask, x, 0.0 if kind == "f" else (False if kind == "b" else 0))


def _mask(x, k, lower):
    """The boolean triangle mask, on x's backend."""
    from ..backend import backend_of

    b = backend_of(x.data)
    return b.forward(TriMask)(b.xp, x.shape[-2], x.shape[-1], int(k), lower)


def tril(x, diagonal: int = 0) -> Tensor:
    """The lower triangle (elements on and below the ``diagonal``-th diagonal), zeros above."""
    return _tri(x, diagonal, True, "tril")


def triu(x, diagonal: int = 0) -> Tensor:
    """The upper triangle (elements on and above the ``diagonal``-th diagonal), zeros below."""
    return _tri(x, diagonal, False, "triu")
