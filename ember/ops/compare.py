"""Closeness and equality of whole tensors: isclose, allclose, equal.

Example:
    >>> import ember
    >>> ember.allclose(ember.tensor([1.0, 2.0]), ember.tensor([1.0, 2.0 + 1e-9]))
    True
"""

from __future__ import annotations

from .elementwise import abs as _abs
from .elementwise import isnan, logical_and, logical_or
from .reduce import all as _all


def isclose(a, b, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False):
    """Elementwise ``|a - b| <= atol + rtol * |b|`` (PyTorch's and NumPy's rule)."""
    close = _abs(a - b) <= atol + rtol * _abs(b)
    close = logical_or(close, a == b)  # infinities of the same sign
    if equal_nan:
        close = logical_or(close, logical_and(isnan(a), isnan(b)))
    return close


def allclose(a, b, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> bool:
    """True if every element of ``a`` is close to ``b`` (see ``isclose``)."""
    return bool(_all(isclose(a, b, rtol, atol, equal_nan)).item())


def equal(a, b) -> bool:
    """True if ``a`` and ``b`` have the same shape and the same elements."""
    return tuple(a.shape) == tuple(b.shape) and bool(_all(a == b).item())
