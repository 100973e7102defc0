"""Primitives whose output size depends on the values: ``unique`` and ``nonzero``.

``unique`` counts every NaN as distinct (NaN != NaN), as the array API standard asks.

Example:
    >>> import ember
    >>> ember.unique(ember.tensor([3, 1, 3, 2]))
    tensor([1, 2, 3])
"""

from __future__ import annotations

from ..autograd.node import apply
from ..errors import op_error
from ..tensor import Tensor
from .registry import Op, register


@register
class Unique(Op):
    """Sorted distinct values of the flattened input, the first index of each, the inverse
    (x's shape: the position of each element in the values) and the counts."""

    n_outputs = 4
    differentiable = False

    def forward(xp, x):
        values, index, inverse, counts = xp.unique(
            x.reshape(-1), return_index=True, return_inverse=True, return_counts=True,
            equal_nan=False)
        return (values, index.astype(xp.int64), inverse.reshape(x.shape).astype(xp.int64),
                counts.astype(xp.int64))


@register
class Nonzero(Op):
    """The indices of the non-zero elements, one row ``(n, ndim)`` per element, in C order."""

    differentiable = False

    def forward(xp, x):
        return xp.argwhere(x).astype(xp.int64)


def unique(x: Tensor, sorted: bool = True, return_inverse: bool = False,  # noqa: A002
           return_counts: bool = False, dim: int | None = None):
    """The distinct values of ``x`` (flattened), sorted.

    Args:
        x: any tensor.
        sorted: accepted for PyTorch's signature; the values are always sorted.
        return_inverse: also return, for each element of ``x``, the index of its value.
        return_counts: also return how often each value occurs.
        dim: must be None (unique slices along a dimension are not supported).

    Returns:
        ``values``, or a tuple ``(values, inverse?, counts?)`` when either flag is set.

    Example:
        >>> import ember
        >>> values, counts = ember.unique(ember.tensor([2.0, 1.0, 2.0]), return_counts=True)
        >>> values, counts
        (tensor([1., 2.]), tensor([1, 2]))
    """
    if dim is not None:
        raise op_error(ValueError, "unique", f"dim={dim} (unique slices) is not supported",
                       args=[x], hint="call unique on the flattened tensor (dim=None)")
    values, _, inverse, counts = unique_all(x)
    extra = ((inverse,) if return_inverse else ()) + ((counts,) if return_counts else ())
    return (values, *extra) if extra else values


def unique_all(x: Tensor):
    """``(values, first_indices, inverse_indices, counts)`` of the flattened ``x``."""
    if not isinstance(x, Tensor):
        raise TypeError(f"unique: expected an ember Tensor, got {type(x).__name__}")
    return apply(Unique, x)


def nonzero(x: Tensor, *, as_tuple: bool = False):
    """The indices of the non-zero elements of ``x``.

    Args:
        x: any tensor.
        as_tuple: return one 1-d index tensor per dimension (usable as ``x[idx]``) instead
            of one ``(n, x.ndim)`` tensor.

    Example:
        >>> import ember
        >>> ember.nonzero(ember.tensor([[0, 1], [2, 0]]))
        tensor([[0, 1],
                [1, 0]])
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"nonzero: expected an ember Tensor, got {type(x).__name__}")
    if as_tuple and x.ndim == 0:
        x = x.reshape(1)
    rows = apply(Nonzero, x)
    if not as_tuple:
        return rows
    return tuple(rows[:, i] for i in range(x.ndim))
