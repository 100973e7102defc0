"""``Sequential``: a plain stack of layers, each feeding the next."""

from __future__ import annotations

from ..errors import EmberError, ShapeError
from ..nn.module import Module
from .layers.base import Layer, _in_context
from .layers.core import Embedding
from .layers.input_layer import InputLayer
from .layers.symbolic import KerasTensor, fmt_shape
from .model import Model

__all__ = ["Sequential"]


def check_input(model: Layer, expected: tuple, x) -> None:
    """A ShapeError naming the model when ``x`` does not fit ``expected`` (None: any size)."""
    shape = tuple(x.shape)
    if len(shape) != len(expected) or any(
            e is not None and e != s for e, s in zip(expected[1:], shape[1:])):
        raise ShapeError(f"model '{model.name}' expects input of shape {fmt_shape(expected)}, got "
                         f"{shape}")


class Sequential(Model):
    """A model whose layers run one after the other.

    Give the first layer ``input_shape=`` (or start with ``keras.Input``) and the model is
    built at once, every layer's shape checked as it is added; otherwise it is built from the
    first batch it sees.

    Example:
        >>> import ember
        >>> from ember.keras import Sequential, layers
        >>> model = Sequential()
        >>> model.add(layers.Dense(8, activation="relu", input_shape=(4,)))
        >>> model.add(layers.Dense(3, activation="softmax"))
        >>> model.output_shape, model.count_params()
        ((None, 3), 67)
        >>> model(ember.ones(2, 4)).shape
        (2, 3)
    """

    def __init__(self, layers=None, name: str | None = None, trainable: bool = True) -> None:
        super().__init__(name=name, trainable=trainable)
        self._stack: list[Layer] = []
        self._input_spec: tuple | None = None  # (batch shape, dtype)
        self._graph = None
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self) -> list[Layer]:
        return list(self._stack)

    def add(self, layer) -> None:
        """Append a layer (or a ``keras.Input``, which must come first)."""
        if isinstance(layer, KerasTensor):
            layer = layer._keras_history[0]
        if isinstance(layer, InputLayer):
            if self._stack:
                raise ValueError("Sequential.add: an Input must come before every other layer")
            self._input_spec = (layer._batch_input_shape, layer.input_dtype)
            self._build_symbolic()
            return
        if not isinstance(layer, Layer):
            hint = " (wrap an ember.nn.Module with keras.layers.ModuleWrapper(module))" \
                if isinstance(layer, Module) else ""
            raise TypeError(f"Sequential.add takes Keras layers, got {type(layer).__name__}"
                            + hint)
        if not self._stack and self._input_spec is None and layer._batch_input_shape is not None:
            dtype = "int64" if isinstance(layer, Embedding) else "float32"
            self._input_spec = (layer._batch_input_shape, dtype)
        self._stack.append(layer)
        self.add_module(str(len(self._stack) - 1), layer)
        self._graph = None
        if self._input_spec is not None:
            self._build_symbolic()

    def pop(self) -> Layer:
        """Remove and return the last layer."""
        if not self._stack:
            raise IndexError("Sequential.pop: the model has no layers")
        layer = self._stack.pop()
        del self._modules[str(len(self._stack))]
        self._graph = None
        if self._input_spec is not None and self._stack:
            self._build_symbolic()
        return layer

    def _build_symbolic(self) -> None:
        shape = self._input_spec[0]
        for layer in self._stack:
            layer._maybe_build(shape)
            try:
                out = layer.compute_output_shape(shape)
            except EmberError as e:
                raise _in_context(e, layer, shape) from e
            layer._output_shape = out
            shape = out
        self.built = True
        self._build_input_shape = self._input_spec[0]
        self._output_shape = shape

    def build(self, input_shape=None) -> None:
        """Build every layer for inputs of ``input_shape`` (with the batch dimension)."""
        if input_shape is None:
            if self._input_spec is None:
                raise ValueError("Sequential.build: give input_shape (with the batch "
                                 "dimension, e.g. (None, 8, 8, 1))")
        else:
            dtype = self._input_spec[1] if self._input_spec else (
                "int64" if self._stack and isinstance(self._stack[0], Embedding) else "float32")
            self._input_spec = (tuple(input_shape), dtype)
        self._build_symbolic()

    def _build_from_example(self, x) -> None:
        shape = (None,) + tuple(x.shape[1:])
        self._input_spec = (shape, x.dtype.name)
        self._build_symbolic()

    def call(self, inputs, training=None):
        if self._input_spec is not None:
            check_input(self, self._input_spec[0], inputs)
        x = inputs
        for layer in self._stack:
            if training is not None and layer._call_accepts("training"):
                x = layer(x, training=training)
            else:
                x = layer(x)
        return x

    def compute_output_shape(self, input_shape):
        shape = input_shape
        for layer in self._stack:
            try:
                shape = layer.compute_output_shape(shape)
            except EmberError as e:
                raise _in_context(e, layer, shape) from e
        return shape

    # ------------------------------------------------------------------ symbolic graph
    def _symbolic(self):
        if self._graph is None:
            if self._input_spec is None:
                raise AttributeError(f"Sequential model '{self.name}' has no input yet: give "
                                     "its first layer input_shape= or start with keras.Input")
            x = inputs = InputLayer(batch_input_shape=self._input_spec[0],
                                    dtype=self._input_spec[1]).output
            for layer in self._stack:
                x = layer(x)
            self._graph = (inputs, x)
        return self._graph

    @property
    def input(self):
        return self._symbolic()[0]

    @property
    def output(self):
        return self._symbolic()[1]

    @property
    def inputs(self) -> list:
        return [self.input]

    @property
    def outputs(self) -> list:
        return [self.output]

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict:
        from .layers import serialize

        return {"name": self.name, "trainable": self.trainable,
                "layers": [serialize(layer) for layer in self._stack],
                "build_input_shape": None if self._input_spec is None
                else list(self._input_spec[0]),
                "input_dtype": None if self._input_spec is None else self._input_spec[1]}

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> Sequential:
        from .layers import deserialize

        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        if config.get("build_input_shape") is not None:
            model._input_spec = (tuple(config["build_input_shape"]),
                                 config.get("input_dtype") or "float32")
        for layer_config in config["layers"]:
            model.add(deserialize(layer_config, custom_objects))
        if model._input_spec is not None and not model._stack:
            model._build_symbolic()
        return model
