"""``Flatten`` and ``Unflatten``: reshape between a run of dimensions and one dimension.

Example:
    >>> import ember
    >>> ember.nn.Flatten()(ember.zeros(2, 3, 4)).shape
    (2, 12)
    >>> ember.nn.Unflatten(1, (3, 4))(ember.zeros(2, 12)).shape
    (2, 3, 4)
"""

from __future__ import annotations

import math

from ...ops import shape as sh
from ..module import Module, layer_error

__all__ = ["Flatten", "Unflatten"]


class Flatten(Module):
    """Flatten dimensions ``start_dim`` to ``end_dim`` (inclusive) into one.

    Shape:
        (*, S_start, ..., S_end, *) -> (*, S_start * ... * S_end, *).
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input):
        return sh.flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dimension ``dim`` into ``unflattened_size`` (one entry may be -1).

    Shape:
        (*, S_dim, *) -> (*, U_1, ..., U_n, *) with ``prod(U) == S_dim``.
    """

    def __init__(self, dim: int, unflattened_size) -> None:
        super().__init__()
        self.dim = dim
        self.unflattened_size = tuple(unflattened_size)

    def forward(self, input):
        n = input.ndim
        if not -n <= self.dim < n:
            raise layer_error(self, f"dim {self.dim} is out of range for input of shape "
                              f"{tuple(input.shape)}")
        size = input.shape[self.dim]
        known = math.prod(s for s in self.unflattened_size if s != -1)
        if (-1 not in self.unflattened_size and known != size) or (known and size % known):
            raise layer_error(self, f"cannot split dimension {self.dim} of size {size} into "
                              f"{self.unflattened_size}; got input of shape "
                              f"{tuple(input.shape)}")
        return sh.unflatten(input, self.dim, self.unflattened_size)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
