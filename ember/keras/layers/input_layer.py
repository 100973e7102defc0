"""``Input`` and ``InputLayer``: where a functional model's graph starts."""

from __future__ import annotations

from ... import dtypes as _dt
from .base import Layer, unique_name
from .symbolic import KerasTensor, Node

__all__ = ["InputLayer", "Input"]


class InputLayer(Layer):
    """The entry point of a functional model; holds the input's shape and dtype.

    Args:
        shape: the shape of one sample, without the batch dimension.
        batch_size: a fixed batch size, or None.
        dtype: the input dtype (``"float32"``; ``"int64"`` for token ids).
    """

    def __init__(self, shape=None, batch_size: int | None = None, dtype: str = "float32",
                 name: str | None = None, batch_input_shape=None, **kwargs) -> None:
        kwargs.pop("trainable", None)
        super().__init__(name=name or unique_name("input_layer"), **kwargs)
        if batch_input_shape is None:
            if shape is None:
                raise ValueError("InputLayer: give shape= (the shape of one sample)")
            batch_input_shape = (batch_size,) + tuple(shape)
        self._batch_input_shape = tuple(batch_input_shape)
        self.input_dtype = _dt.to_dtype(dtype).name
        self.built = True
        out = KerasTensor(self._batch_input_shape, self.input_dtype, self.name)
        node = Node(self, [], out, {})
        self._inbound_nodes.append(node)
        out._keras_history = (self, 0, 0)
        self._output_shape = self._batch_input_shape

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {"name": self.name, "batch_input_shape": list(self._batch_input_shape),
                "dtype": self.input_dtype}

    @property
    def input(self):
        return self._inbound_nodes[0].outputs


def Input(shape=None, batch_size: int | None = None, dtype: str = "float32",
          name: str | None = None) -> KerasTensor:
    """A symbolic input for the functional API.

    Args:
        shape: the shape of one sample (no batch dimension); ``None`` entries are unknown.
        batch_size: a fixed batch size, or None.
        dtype: ``"float32"`` by default; integer ids for ``Embedding`` use ``"int64"``.
        name: the input's name.

    Example:
        >>> from ember import keras
        >>> x = keras.Input(shape=(8,))
        >>> x.shape
        (None, 8)
        >>> keras.layers.Dense(3)(x).shape
        (None, 3)
    """
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name).output
