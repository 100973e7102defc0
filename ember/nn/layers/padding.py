"""Padding layers: constant/zero, reflection, replication, circular and symmetric, in 1-D,
2-D and 3-D, all through ``ember.pad`` (which has gradients for every mode).

``padding`` is an int (the same on every side) or a tuple ``(left, right)`` for 1-D,
``(left, right, top, bottom)`` for 2-D and ``(left, right, top, bottom, front, back)`` for
3-D. Reflection mirrors without repeating the edge (``3 2 [1 2 3] 2 1``); symmetric mirrors
repeating it (``2 1 [1 2 3] 3 2``).

Example:
    >>> import ember
    >>> ember.nn.SymmetricPad1d(2)(ember.tensor([[[1.0, 2.0, 3.0]]]))
    tensor([[[2., 1., 1., 2., 3., 3., 2.]]])
"""

from __future__ import annotations

from ...ops import shape as sh
from ..module import Module, layer_error

__all__ = [
    "ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d",
    "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d",
    "ReplicationPad2d", "ReplicationPad3d", "CircularPad1d", "CircularPad2d", "CircularPad3d",
    "SymmetricPad1d", "SymmetricPad2d", "SymmetricPad3d",
]


class _PadNd(Module):
    mode = "constant"
    dims = 1

    def __init__(self, padding) -> None:
        super().__init__()
        n = 2 * self.dims
        if isinstance(padding, int):
            padding = (padding,) * n
        padding = tuple(int(p) for p in padding)
        if len(padding) != n:
            raise ValueError(f"{type(self).__name__}: padding must be an int or a tuple of "
                             f"{n} ints, got {padding}")
        self.padding = padding
        self.value = 0.0

    def forward(self, input):
        d = self.dims
        if input.ndim not in (d + 1, d + 2):
            raise layer_error(self, f"expected {d + 1}-D (unbatched) or {d + 2}-D (batched) "
                              f"input, got shape {tuple(input.shape)}")
        if self.mode != "constant":
            for i in range(d):
                size = input.shape[input.ndim - 1 - i]
                before, after = self.padding[2 * i], self.padding[2 * i + 1]
                limit = size - 1 if self.mode == "reflect" else size
                if max(before, after) > limit or min(before, after) < 0:
                    raise layer_error(self, f"{self.mode} padding of ({before}, {after}) needs "
                                      f"non-negative pads of at most {limit} for a dimension "
                                      f"of size {size}; got input of shape "
                                      f"{tuple(input.shape)}")
        return sh.pad(input, self.padding, self.mode, self.value)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value: float) -> None:
        super().__init__(padding)
        self.value = value

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pad the last dimension with ``value``."""


class ConstantPad2d(_ConstantPadNd):
    """Pad the last two dimensions with ``value``."""

    dims = 2


class ConstantPad3d(_ConstantPadNd):
    """Pad the last three dimensions with ``value``."""

    dims = 3


class ZeroPad1d(ConstantPad1d):
    """Pad the last dimension with zeros."""

    def __init__(self, padding) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad2d(ConstantPad2d):
    """Pad the last two dimensions with zeros."""

    def __init__(self, padding) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad3d(ConstantPad3d):
    """Pad the last three dimensions with zeros."""

    def __init__(self, padding) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ReflectionPad1d(_PadNd):
    """Mirror the last dimension at its edges without repeating the edge value."""

    mode = "reflect"


class ReflectionPad2d(ReflectionPad1d):
    """Mirror the last two dimensions without repeating the edge values."""

    dims = 2


class ReflectionPad3d(ReflectionPad1d):
    """Mirror the last three dimensions without repeating the edge values."""

    dims = 3


class ReplicationPad1d(_PadNd):
    """Repeat the edge value of the last dimension."""

    mode = "replicate"


class ReplicationPad2d(ReplicationPad1d):
    """Repeat the edge values of the last two dimensions."""

    dims = 2


class ReplicationPad3d(ReplicationPad1d):
    """Repeat the edge values of the last three dimensions."""

    dims = 3


class CircularPad1d(_PadNd):
    """Wrap the last dimension around (periodic boundary)."""

    mode = "circular"


class CircularPad2d(CircularPad1d):
    """Wrap the last two dimensions around."""

    dims = 2


class CircularPad3d(CircularPad1d):
    """Wrap the last three dimensions around."""

    dims = 3


class SymmetricPad1d(_PadNd):
    """Mirror the last dimension repeating the edge value (NumPy/TensorFlow "symmetric")."""

    mode = "symmetric"


class SymmetricPad2d(SymmetricPad1d):
    """Mirror the last two dimensions repeating the edge values.

    Example:
        >>> import ember
        >>> x = ember.arange(4.0).reshape(1, 1, 2, 2)
        >>> ember.nn.SymmetricPad2d(1)(x)[0, 0]
        tensor([[0., 0., 1., 1.],
                [0., 0., 1., 1.],
                [2., 2., 3., 3.],
                [2., 2., 3., 3.]])
    """

    dims = 2


class SymmetricPad3d(SymmetricPad1d):
    """Mirror the last three dimensions repeating the edge values."""

    dims = 3
