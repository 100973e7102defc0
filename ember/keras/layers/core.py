"""Core Keras layers: Dense, Flatten, Reshape, Dropout, Rescaling, Embedding."""

from __future__ import annotations

import math

from ... import nn
from ...errors import ShapeError
from ...nn import functional as F
from .. import activations, initializers
from .base import Layer
from .conv_utils import data_format as data_format_arg

__all__ = ["Dense", "Flatten", "Reshape", "Dropout", "Rescaling", "Embedding", "check_ndim"]


def check_ndim(shape, ndim: int | None = None, min_ndim: int | None = None,
               layout: str = "") -> None:
    """Raise a ShapeError when ``shape`` (batch included) does not have the expected rank."""
    if isinstance(shape, list):
        raise ShapeError("expects a single input, got a list of inputs")
    n = len(shape)
    if (ndim is not None and n != ndim) or (min_ndim is not None and n < min_ndim):
        want = f"{ndim}-D" if ndim is not None else f"at least {min_ndim}-D"
        raise ShapeError(f"expects {want} input{' ' + layout if layout else ''}, got {n}-D; "
                         "check the layer before it (a Flatten or Reshape may be missing)")


def _int(value, what: str, layer: str, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{layer}: {what} must be an integer >= {minimum}, got {value!r}")
    return value


class Dense(Layer):
    """A fully connected layer: ``activation(inputs @ kernel + bias)`` on the last axis.

    Wraps ``ember.nn.Linear`` (weight layout ``(units, input_dim)``).

    Args:
        units: the output size.
        activation: a name (``"relu"``, ``"softmax"``, ...) or callable; None is linear.
        use_bias: whether to add a bias.
        kernel_initializer, bias_initializer: Keras initialiser names or objects.

    Shape:
        ``(batch, ..., input_dim)`` -> ``(batch, ..., units)``.

    Example:
        >>> import ember
        >>> from ember.keras import layers
        >>> layers.Dense(4, activation="relu")(ember.ones(2, 3)).shape
        (2, 4)
    """

    def __init__(self, units: int, activation=None, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.units = _int(units, "units", "Dense")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def build(self, input_shape) -> None:
        check_ndim(input_shape, min_ndim=2)
        if input_shape[-1] is None:
            raise ShapeError("the last dimension of a Dense layer's input must be known")
        self.linear = nn.Linear(input_shape[-1], self.units, bias=self.use_bias)
        self.kernel_initializer(self.linear.weight)
        if self.use_bias:
            self.bias_initializer(self.linear.bias)

    def call(self, inputs):
        return self.activation(self.linear(inputs))

    def compute_output_shape(self, input_shape):
        check_ndim(input_shape, min_ndim=2)
        if input_shape[-1] != self.linear.in_features:
            raise ShapeError(f"this Dense layer was built for inputs whose last dimension is "
                             f"{self.linear.in_features}")
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer)}


class Flatten(Layer):
    """Flatten every dimension but the batch: ``(batch, d1, d2, ...)`` -> ``(batch, d1*d2*...)``.

    With ``data_format="channels_first"`` the channels are moved last first, so the flattened
    order is the same as for the channels-last model.

    Example:
        >>> import ember
        >>> from ember.keras import layers
        >>> layers.Flatten()(ember.ones(2, 3, 4, 5)).shape
        (2, 60)
    """

    def __init__(self, data_format: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.data_format = data_format_arg(data_format)

    def call(self, inputs):
        if self.data_format == "channels_first" and inputs.ndim > 2:
            inputs = inputs.movedim(1, -1)
        return inputs.reshape(inputs.shape[0], -1)

    def compute_output_shape(self, input_shape):
        check_ndim(input_shape, min_ndim=1)
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else math.prod(rest))

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """Reshape each sample to ``target_shape`` (one entry may be -1).

    Example:
        >>> import ember
        >>> from ember.keras import layers
        >>> layers.Reshape((2, -1))(ember.ones(3, 8)).shape
        (3, 2, 4)
    """

    def __init__(self, target_shape, **kwargs) -> None:
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)
        if sum(d == -1 for d in self.target_shape) > 1:
            raise ValueError(f"Reshape: at most one -1 in target_shape, got {self.target_shape}")

    def call(self, inputs):
        return inputs.reshape((inputs.shape[0],) + self.target_shape)

    def compute_output_shape(self, input_shape):
        check_ndim(input_shape, min_ndim=1)
        rest = input_shape[1:]
        target = list(self.target_shape)
        known = math.prod(d for d in target if d != -1)
        if None in rest:
            return (input_shape[0],) + tuple(None if d == -1 else d for d in target)
        total = math.prod(rest)
        if -1 in target:
            if known == 0 or total % known:
                raise ShapeError(f"cannot reshape {total} values per sample to "
                                 f"{self.target_shape}")
            target[target.index(-1)] = total // known
        elif known != total:
            raise ShapeError(f"cannot reshape {total} values per sample to {self.target_shape} "
                             f"({known} values)")
        return (input_shape[0],) + tuple(target)

    def get_config(self) -> dict:
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class Dropout(Layer):
    """Zero a fraction ``rate`` of the inputs while training, scaling the rest by 1/(1-rate).

    Active only in ``fit`` (or when called with ``training=True``).

    Example:
        >>> import ember
        >>> from ember.keras import layers
        >>> x = ember.ones(2, 4)
        >>> bool((layers.Dropout(0.5)(x) == x).all())
        True
    """

    def __init__(self, rate: float, noise_shape=None, seed: int | None = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"Dropout: rate must be in [0, 1), got {rate!r}")
        if noise_shape is not None:
            raise ValueError("Dropout: noise_shape is not supported by ember.keras; use "
                             "SpatialDropout-style masks via a custom layer")
        self.rate = float(rate)
        self.seed = seed

    def call(self, inputs, training=None):
        training = self.training if training is None else training
        if not training or self.rate == 0.0:
            return inputs
        return F.dropout(inputs, p=self.rate, training=True)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class Rescaling(Layer):
    """``inputs * scale + offset``, e.g. ``Rescaling(1/255)`` for pixel values.

    Example:
        >>> import ember
        >>> from ember.keras import layers
        >>> layers.Rescaling(0.5, offset=1.0)(ember.tensor([[2.0, 4.0]]))
        tensor([[2., 3.]])
    """

    def __init__(self, scale: float, offset: float = 0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.scale, self.offset = float(scale), float(offset)

    def call(self, inputs):
        if not inputs.dtype.is_floating_point:
            inputs = inputs.float()
        return inputs * self.scale + self.offset

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


class Embedding(Layer):
    """Map integer ids in ``[0, input_dim)`` to dense vectors of size ``output_dim``.

    Wraps ``ember.nn.Embedding``; initialised uniformly in [-0.05, 0.05] as in Keras.

    Args:
        input_dim: the vocabulary size.
        output_dim: the vector size.
        input_length: the sequence length (Keras 2's argument; lets a ``Sequential`` build).

    Shape:
        ``(batch, length)`` integers -> ``(batch, length, output_dim)``.

    Example:
        >>> import ember
        >>> from ember.keras import layers
        >>> layers.Embedding(10, 4)(ember.tensor([[1, 2, 3]])).shape
        (1, 3, 4)
    """

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer="uniform",
                 input_length: int | None = None, **kwargs) -> None:
        if input_length is not None and "input_shape" not in kwargs:
            kwargs["input_shape"] = (input_length,)
        super().__init__(**kwargs)
        self.input_dim = _int(input_dim, "input_dim", "Embedding")
        self.output_dim = _int(output_dim, "output_dim", "Embedding")
        init = "random_uniform" if embeddings_initializer == "uniform" else \
            embeddings_initializer
        self.embeddings_initializer = initializers.get(init)
        self.input_length = input_length

    def build(self, input_shape) -> None:
        self.embedding = nn.Embedding(self.input_dim, self.output_dim)
        self.embeddings_initializer(self.embedding.weight)

    def call(self, inputs):
        if inputs.dtype.is_floating_point:
            inputs = inputs.long()
        return self.embedding(inputs)

    def compute_output_shape(self, input_shape):
        check_ndim(input_shape, min_ndim=1)
        return tuple(input_shape) + (self.output_dim,)

    def _output_dtype(self, input_dtype: str) -> str:
        return self.dtype

    def get_config(self) -> dict:
        config = {**super().get_config(), "input_dim": self.input_dim,
                  "output_dim": self.output_dim,
                  "embeddings_initializer": initializers.serialize(self.embeddings_initializer)}
        if self.input_length is not None:
            config["input_length"] = self.input_length
            config.pop("batch_input_shape", None)
        return config
