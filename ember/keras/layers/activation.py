"""Activation layers: Activation (by name), ReLU, LeakyReLU, Softmax."""

from __future__ import annotations

from ...nn import functional as F
from .. import activations
from .base import Layer

__all__ = ["Activation", "ReLU", "LeakyReLU", "Softmax"]


class Activation(Layer):
    """Apply an activation function by name or callable.

    Example:
        >>> import ember
        >>> from ember.keras import layers
        >>> layers.Activation("relu")(ember.tensor([[-1.0, 1.0]]))
        tensor([[0., 1.]])
    """

    def __init__(self, activation, **kwargs) -> None:
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs):
        return self.activation(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class ReLU(Layer):
    """Rectified linear unit: ``max(x, 0)`` (or ``negative_slope * x`` below 0), capped at
    ``max_value`` if given.

    Example:
        >>> import ember
        >>> from ember.keras import layers
        >>> layers.ReLU(max_value=1.0)(ember.tensor([[-1.0, 0.5, 3.0]]))
        tensor([[0. , 0.5, 1. ]])
    """

    def __init__(self, max_value: float | None = None, negative_slope: float = 0.0,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.max_value = None if max_value is None else float(max_value)
        self.negative_slope = float(negative_slope)

    def call(self, inputs):
        out = F.leaky_relu(inputs, self.negative_slope) if self.negative_slope else \
            F.relu(inputs)
        return out.clamp(max=self.max_value) if self.max_value is not None else out

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "max_value": self.max_value,
                "negative_slope": self.negative_slope}


class LeakyReLU(Layer):
    """``x`` for x >= 0, ``negative_slope * x`` below (Keras 3 default slope 0.3)."""

    def __init__(self, negative_slope: float = 0.3, **kwargs) -> None:
        super().__init__(**kwargs)
        self.negative_slope = float(negative_slope)

    def call(self, inputs):
        return F.leaky_relu(inputs, self.negative_slope)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "negative_slope": self.negative_slope}


class Softmax(Layer):
    """Softmax along ``axis`` (the last one by default)."""

    def __init__(self, axis: int = -1, **kwargs) -> None:
        super().__init__(**kwargs)
        self.axis = int(axis)

    def call(self, inputs):
        return activations.softmax(inputs, axis=self.axis)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}
