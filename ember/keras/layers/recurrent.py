"""Recurrent layers: SimpleRNN, LSTM, GRU over ember.nn's fused RNN modules, and Bidirectional.

The inputs are ``(batch, steps, features)`` (ember.nn's ``batch_first=True``). Keras's
``dropout`` drops the same input features at every step (one mask per sequence), as Keras
does. Gates follow PyTorch's formulation, which for GRU is Keras's ``reset_after=True``
default; the forget-gate bias starts at 1 (``unit_forget_bias``) as in Keras.
"""

from __future__ import annotations

from ... import nn
from ...errors import ShapeError
from ...nn import functional as F
from ...ops.creation import ones
from ...ops.shape import concat as _concat
from .. import initializers
from .base import Layer
from .core import check_ndim

__all__ = ["SimpleRNN", "LSTM", "GRU", "Bidirectional"]


class _RNN(Layer):
    module = nn.LSTM
    n_states = 1

    def __init__(self, units: int, activation="tanh", recurrent_activation="sigmoid",
                 use_bias: bool = True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias: bool = True, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, return_sequences: bool = False,
                 return_state: bool = False, go_backwards: bool = False, stateful: bool = False,
                 unroll: bool = False, reset_after: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        kind = type(self).__name__
        if not isinstance(units, int) or units < 1:
            raise ValueError(f"{kind}: units must be a positive integer, got {units!r}")
        allowed = ("tanh", "relu") if kind == "SimpleRNN" else ("tanh",)
        if activation not in allowed:
            raise ValueError(f"{kind}: activation must be one of {allowed} (ember.nn's fused "
                             f"recurrent kernels), got {activation!r}")
        if kind != "SimpleRNN" and recurrent_activation != "sigmoid":
            raise ValueError(f"{kind}: recurrent_activation must be 'sigmoid', "
                             f"got {recurrent_activation!r}")
        if recurrent_dropout or stateful or not reset_after:
            raise ValueError(f"{kind}: recurrent_dropout, stateful=True and reset_after=False "
                             "are not supported by ember.nn's fused recurrent layers")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"{kind}: dropout must be in [0, 1), got {dropout!r}")
        self.units = units
        self.activation = activation
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.dropout = float(dropout)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)

    def _features(self, input_shape) -> int:
        check_ndim(input_shape, ndim=3, layout="(batch, steps, features)")
        if input_shape[-1] is None:
            raise ShapeError("the number of input features must be known")
        return input_shape[-1]

    def _make(self, features: int) -> nn.Module:
        return self.module(features, self.units, batch_first=True, bias=self.use_bias)

    def build(self, input_shape) -> None:
        self.rnn = self._make(self._features(input_shape))
        self.kernel_initializer(self.rnn.weight_ih_l0)
        self.recurrent_initializer(self.rnn.weight_hh_l0)
        if self.use_bias:
            self.bias_initializer(self.rnn.bias_ih_l0)
            initializers.Zeros()(self.rnn.bias_hh_l0)

    def _initial(self, initial_state):
        if initial_state is None:
            return None
        states = initial_state if isinstance(initial_state, (list, tuple)) else [initial_state]
        if len(states) != self.n_states:
            raise ValueError(f"{type(self).__name__} '{self.name}' takes {self.n_states} initial "
                             f"state tensor(s), got {len(states)}")
        states = [s.unsqueeze(0) for s in states]
        return tuple(states) if self.n_states > 1 else states[0]

    def call(self, inputs, initial_state=None, training=None):
        training = self.training if training is None else training
        x = inputs.flip(1) if self.go_backwards else inputs
        if self.dropout and training:
            mask = F.dropout(ones(x.shape[0], 1, x.shape[2], dtype=x.dtype), p=self.dropout,
                             training=True)
            x = x * mask
        out, state = self.rnn(x, self._initial(initial_state))
        states = list(state) if isinstance(state, tuple) else [state]
        states = [s[0] for s in states]
        result = out if self.return_sequences else out[:, -1]
        return [result] + states if self.return_state else result

    def compute_output_shape(self, input_shape):
        f = self._features(input_shape)
        if f != self.rnn.input_size:
            raise ShapeError(f"this layer was built for {self.rnn.input_size} input features")
        n = input_shape[0]
        out = (n, input_shape[1], self.units) if self.return_sequences else (n, self.units)
        if self.return_state:
            return [out] + [(n, self.units)] * self.n_states
        return out

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units, "activation": self.activation,
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "dropout": self.dropout, "return_sequences": self.return_sequences,
                "return_state": self.return_state, "go_backwards": self.go_backwards}


class SimpleRNN(_RNN):
    """A fully connected recurrent layer, ``h_t = tanh(x_t W + h_{t-1} U + b)``; wraps
    ``ember.nn.RNN``.

    Example:
        >>> import ember
        >>> from ember.keras import layers
        >>> layers.SimpleRNN(5, return_sequences=True)(ember.ones(2, 7, 3)).shape
        (2, 7, 5)
    """

    module = nn.RNN

    def _make(self, features: int) -> nn.Module:
        return nn.RNN(features, self.units, nonlinearity=self.activation, batch_first=True,
                      bias=self.use_bias)


class LSTM(_RNN):
    """Long short-term memory, wrapping ``ember.nn.LSTM``.

    Args:
        units: the hidden size.
        return_sequences: return every step's output ``(batch, steps, units)`` instead of the
            last one ``(batch, units)``.
        return_state: also return the final ``h`` and ``c``.
        go_backwards: read the sequence from the end.
        dropout: the fraction of input features dropped while training.
        unit_forget_bias: start the forget gate's bias at 1.

    Example:
        >>> import ember
        >>> from ember.keras import layers
        >>> out, h, c = layers.LSTM(4, return_state=True)(ember.ones(2, 6, 3))
        >>> out.shape, h.shape, c.shape
        ((2, 4), (2, 4), (2, 4))
    """

    module = nn.LSTM
    n_states = 2

    def build(self, input_shape) -> None:
        super().build(input_shape)
        if self.use_bias and self.unit_forget_bias:
            from ...autograd.grad_mode import no_grad

            with no_grad():
                self.rnn.bias_ih_l0[self.units:2 * self.units] = 1.0

    def get_config(self) -> dict:
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


class GRU(_RNN):
    """Gated recurrent unit, wrapping ``ember.nn.GRU`` (Keras's ``reset_after=True``).

    Example:
        >>> import ember
        >>> from ember.keras import layers
        >>> layers.GRU(4)(ember.ones(2, 6, 3)).shape
        (2, 4)
    """

    module = nn.GRU


_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class Bidirectional(Layer):
    """Run a recurrent layer forwards and a copy of it backwards, and merge the outputs.

    Args:
        layer: a ``SimpleRNN``, ``LSTM`` or ``GRU`` instance (the forward direction).
        merge_mode: ``"concat"`` (default), ``"sum"``, ``"mul"``, ``"ave"`` or None (a list of
            both outputs).

    Example:
        >>> import ember
        >>> from ember.keras import layers
        >>> layers.Bidirectional(layers.LSTM(4, return_sequences=True))(ember.ones(2, 5, 3)).shape
        (2, 5, 8)
    """

    def __init__(self, layer: _RNN, merge_mode: str | None = "concat", backward_layer=None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(layer, _RNN):
            raise TypeError(f"Bidirectional wraps a SimpleRNN, LSTM or GRU layer, got "
                            f"{type(layer).__name__}")
        if merge_mode not in _MERGE_MODES:
            raise ValueError(f"Bidirectional: merge_mode must be one of {_MERGE_MODES}, "
                             f"got {merge_mode!r}")
        self.merge_mode = merge_mode
        config = layer.get_config()
        config.pop("batch_input_shape", None)
        self.forward_layer = type(layer).from_config(
            {**config, "name": "forward_" + layer.name})
        if backward_layer is None:
            backward_layer = type(layer).from_config(
                {**config, "name": "backward_" + layer.name,
                 "go_backwards": not layer.go_backwards})
        self.backward_layer = backward_layer
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state

    def build(self, input_shape) -> None:
        self.forward_layer._maybe_build(input_shape)
        self.backward_layer._maybe_build(input_shape)

    def _merge(self, f, b):
        if self.merge_mode == "concat":
            return _concat([f, b], dim=-1)
        if self.merge_mode == "sum":
            return f + b
        if self.merge_mode == "mul":
            return f * b
        if self.merge_mode == "ave":
            return (f + b) * 0.5
        return [f, b]

    def call(self, inputs, training=None):
        f = self.forward_layer(inputs, training=training)
        b = self.backward_layer(inputs, training=training)
        f_states = b_states = []
        if self.return_state:
            f, f_states, b, b_states = f[0], f[1:], b[0], b[1:]
        if self.return_sequences:
            b = b.flip(1)
        out = self._merge(f, b)
        if self.return_state:
            out = out if isinstance(out, list) else [out]
            return out + f_states + b_states
        return out

    def compute_output_shape(self, input_shape):
        f = self.forward_layer.compute_output_shape(input_shape)
        states = []
        if self.return_state:
            f, states = f[0], f[1:]
        if self.merge_mode == "concat":
            out = [tuple(f[:-1]) + (f[-1] * 2,)]
        elif self.merge_mode is None:
            out = [f, f]
        else:
            out = [f]
        out = out + states + states
        return out if len(out) > 1 else out[0]

    def get_config(self) -> dict:
        layer = self.forward_layer
        config = layer.get_config()
        config["name"] = layer.name[len("forward_"):]
        return {**super().get_config(), "merge_mode": self.merge_mode,
                "layer": {"class_name": type(layer).__name__, "config": config}}

    @classmethod
    def from_config(cls, config: dict) -> Bidirectional:
        from . import deserialize

        config = dict(config)
        layer = deserialize(config.pop("layer"))
        return cls(layer, **config)
