"""Merge layers, called on a list of tensors: Concatenate, Add, Subtract, Multiply, Average,
Maximum, Minimum."""

from __future__ import annotations

from functools import reduce

from ...errors import ShapeError
from ...ops.elementwise import maximum, minimum
from ...ops.shape import concat
from .base import Layer

__all__ = ["Concatenate", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"]


def _check_list(shapes, n: int | None = None) -> None:
    if not isinstance(shapes, list) or len(shapes) < 2:
        raise ShapeError("expects a list of at least 2 inputs")
    if n is not None and len(shapes) != n:
        raise ShapeError(f"expects exactly {n} inputs, got {len(shapes)}")


def _same(a, b) -> bool:
    return a is None or b is None or a == b


class _Merge(Layer):
    n_inputs: int | None = None

    def compute_output_shape(self, input_shape):
        _check_list(input_shape, self.n_inputs)
        first = input_shape[0]
        for s in input_shape[1:]:
            if len(s) != len(first) or not all(_same(a, b) for a, b in zip(first, s)):
                raise ShapeError(f"all inputs must have the same shape, got "
                                 f"{[tuple(x) for x in input_shape]}")
        return tuple(next((d for d in dims if d is not None), None)
                     for dims in zip(*input_shape))

    def call(self, inputs):
        return reduce(self._op, inputs)


class Add(_Merge):
    """The sum of a list of tensors of the same shape.

    Example:
        >>> import ember
        >>> from ember.keras import layers
        >>> layers.Add()([ember.ones(1, 2), ember.ones(1, 2)])
        tensor([[2., 2.]])
    """

    @staticmethod
    def _op(a, b):
        return a + b


class Subtract(_Merge):
    """``inputs[0] - inputs[1]``."""

    n_inputs = 2

    @staticmethod
    def _op(a, b):
        return a - b


class Multiply(_Merge):
    """The elementwise product of a list of tensors."""

    @staticmethod
    def _op(a, b):
        return a * b


class Maximum(_Merge):
    """The elementwise maximum of a list of tensors."""

    _op = staticmethod(maximum)


class Minimum(_Merge):
    """The elementwise minimum of a list of tensors."""

    _op = staticmethod(minimum)


class Average(_Merge):
    """The elementwise mean of a list of tensors."""

    def call(self, inputs):
        return reduce(lambda a, b: a + b, inputs) * (1.0 / len(inputs))


class Concatenate(Layer):
    """Join a list of tensors along ``axis`` (the last one by default).

    Example:
        >>> import ember
        >>> from ember.keras import layers
        >>> layers.Concatenate()([ember.ones(2, 3), ember.ones(2, 4)]).shape
        (2, 7)
    """

    def __init__(self, axis: int = -1, **kwargs) -> None:
        super().__init__(**kwargs)
        self.axis = int(axis)

    def call(self, inputs):
        return concat(list(inputs), dim=self.axis)

    def compute_output_shape(self, input_shape):
        _check_list(input_shape)
        n = len(input_shape[0])
        axis = self.axis + n if self.axis < 0 else self.axis
        if not 0 < axis < n or any(len(s) != n for s in input_shape):
            raise ShapeError(f"cannot concatenate shapes {[tuple(s) for s in input_shape]} "
                             f"along axis {self.axis}")
        out = list(input_shape[0])
        for s in input_shape[1:]:
            for i, (a, b) in enumerate(zip(out, s)):
                if i != axis and not _same(a, b):
                    raise ShapeError(f"cannot concatenate shapes "
                                     f"{[tuple(x) for x in input_shape]} along axis "
                                     f"{self.axis}: they differ on axis {i}")
        sizes = [s[axis] for s in input_shape]
        out[axis] = None if None in sizes else sum(sizes)
        return tuple(out)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}
