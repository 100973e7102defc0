"""Recurrent layers: ``RNN``, ``LSTM``, ``GRU`` and their one-step cells, as PyTorch's.

Parameter names, shapes, gate order (LSTM ``i, f, g, o``; GRU ``r, z, n``) and initialisation
(``U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))`` for everything) are PyTorch's, so state
dicts load either way. Each layer and direction computes its input projection for all time
steps in one matmul and then, a GRU or RNN, one matmul and one cell op per step; an LSTM
runs each layer and direction as one op (``ember.ops.lstm``: projection and recurrence,
oneDNN's LSTM primitive on the CPU when it is installed).

Example:
    >>> import ember
    >>> lstm = ember.nn.LSTM(10, 20, num_layers=2, batch_first=True)
    >>> out, (h, c) = lstm(ember.randn(3, 5, 10))
    >>> out.shape, h.shape, c.shape
    ((3, 5, 20), (2, 3, 20), (2, 3, 20))
"""

from __future__ import annotations

import math

from ...autograd.node import apply
from ...ops import creation, nn_ops
from ...ops import elementwise as E
from ...ops import rnn as R
from ...ops import shape as S
from ...ops.lstm import lstm as lstm_op
from .. import init
from ..module import Module, layer_error
from ..parameter import Parameter

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _linear(x, weight, bias):
    return apply(nn_ops.Linear, x, weight, bias)


def _run_direction(mode, steps, h, c, w_hh, b_hh, reverse):
    """Run one GRU or RNN layer in one direction over the projected ``steps``, one cell op
    per step; returns the per-step hidden states (in time order) and the final (h, c)."""
    outs = [None] * len(steps)
    order = range(len(steps) - 1, -1, -1) if reverse else range(len(steps))
    if h is None and len(steps) == 1:  # keep PyTorch's zero (not None) gradient of w_hh
        h = creation.zeros(*steps[0].shape[:-1], w_hh.shape[1], dtype=steps[0].dtype)
    for t in order:
        xg = steps[t]
        if mode == "GRU":
            h = R.gru_cell(xg, _linear(h, w_hh, b_hh), h)
        else:
            pre = xg if h is None else xg + _linear(h, w_hh, None)
            h = E.tanh(pre) if mode == "RNN_TANH" else E.relu(pre)
        outs[t] = h
    return outs, h, c


class RNNBase(Module):
    """Shared machinery of ``RNN``, ``LSTM`` and ``GRU`` (parameters, checks, the layer loop)."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device=None, dtype=None) -> None:
        super().__init__()
        name = type(self).__name__
        if not isinstance(hidden_size, int) or hidden_size <= 0:
            raise ValueError(f"{name}: hidden_size must be a positive int, got {hidden_size!r}")
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError(f"{name}: num_layers must be a positive int, got {num_layers!r}")
        if not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError(f"{name}: dropout must be a number in [0, 1], got {dropout!r}")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        gate = _GATES[mode] * hidden_size
        dirs = 2 if bidirectional else 1
        self._flat_weights_names = []
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else hidden_size * dirs
            for d in range(dirs):
                suffix = f"_l{layer}" + ("_reverse" if d else "")
                shapes = [("weight_ih", (gate, layer_in)), ("weight_hh", (gate, hidden_size))]
                if bias:
                    shapes += [("bias_ih", (gate,)), ("bias_hh", (gate,))]
                for pname, shape in shapes:
                    setattr(self, pname + suffix,
                            Parameter(creation.empty(*shape, dtype=dtype, device=device)))
                    self._flat_weights_names.append(pname + suffix)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    @property
    def all_weights(self) -> list:
        """The parameters per layer and direction: ``[[w_ih, w_hh, b_ih, b_hh], ...]``."""
        per = 4 if self.bias else 2
        flat = [getattr(self, n) for n in self._flat_weights_names]
        return [flat[i:i + per] for i in range(0, len(flat), per)]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    def _check_input(self, input) -> bool:
        """Validate ``input``; returns True when it is batched (3-d)."""
        shape = tuple(input.shape)
        layout = "(N, L, H_in)" if self.batch_first else "(L, N, H_in)"
        if len(shape) not in (2, 3):
            raise layer_error(self, f"expected a 3-d input {layout} or a 2-d unbatched input "
                              f"(L, H_in), got shape {shape}")
        if shape[-1] != self.input_size:
            raise layer_error(self, f"expected input with {self.input_size} features (last "
                              f"dimension), got shape {shape}")
        if not input.dtype.is_floating_point or input.dtype != self.weight_ih_l0.dtype:
            nn_ops._check_same_dtype(type(self).__name__, input, self.weight_ih_l0)
        return len(shape) == 3

    def _check_state(self, state, name: str, batch: int | None):
        dirs = 2 if self.bidirectional else 1
        want = ((self.num_layers * dirs,) + ((batch,) if batch is not None else ())
                + (self.hidden_size,))
        if tuple(state.shape) != want:
            raise layer_error(self, f"expected {name} of shape {want}, got "
                              f"{tuple(state.shape)}")

    def _states(self, hx, batched: bool, batch: int):
        """(h0, c0) as batched tensors or None, after checking their shapes."""
        if hx is None:
            return None, None
        if self.mode == "LSTM":
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise layer_error(self, "expected hx to be a tuple (h_0, c_0)")
            states = list(hx)
        else:
            states = [hx]
        names = ["h_0", "c_0"]
        for i, s in enumerate(states):
            self._check_state(s, names[i], batch if batched else None)
            if not batched:
                states[i] = S.unsqueeze(s, 1)
        return states[0], (states[1] if len(states) > 1 else None)

    def forward(self, input, hx=None):
        batched = self._check_input(input)
        batch_axis = 0 if self.batch_first else 1
        if not batched:
            input = S.unsqueeze(input, batch_axis)
        batch = input.shape[batch_axis]
        h0, c0 = self._states(hx, batched, batch)
        time_axis = 1 - batch_axis
        if self.mode == "GRU" and h0 is None:
            dirs = 2 if self.bidirectional else 1
            h0 = creation.zeros(self.num_layers * dirs, batch, self.hidden_size,
                                dtype=input.dtype)
        x = input
        h_n, c_n = [], []
        dirs = 2 if self.bidirectional else 1
        for layer in range(self.num_layers):
            if layer and self.dropout and self.training:
                x = nn_ops.dropout(x, self.dropout, training=True)
            outputs = []
            for d in range(dirs):
                suffix = f"_l{layer}" + ("_reverse" if d else "")
                w_ih = getattr(self, "weight_ih" + suffix)
                w_hh = getattr(self, "weight_hh" + suffix)
                b_ih = getattr(self, "bias_ih" + suffix) if self.bias else None
                b_hh = getattr(self, "bias_hh" + suffix) if self.bias else None
                if b_ih is not None and self.mode != "GRU":
                    b_ih = b_ih + b_hh  # both biases enter the gates unchanged
                k = layer * dirs + d
                h = None if h0 is None else h0[k]
                c = None if c0 is None else c0[k]
                if self.mode == "LSTM":  # one op for the projection and all time steps
                    out, h, c = lstm_op(x, w_ih, w_hh, b_ih, h, c, d == 1, time_axis)
                else:
                    xg = _linear(x, w_ih, b_ih)
                    outs, h, c = _run_direction(self.mode, R.unstack(xg, time_axis), h, c,
                                                w_hh, b_hh, d == 1)
                    out = S.stack(outs, time_axis)
                outputs.append(out)
                h_n.append(h)
                c_n.append(c)
            x = outputs[0] if dirs == 1 else S.concat(outputs, -1)
        h_n = S.stack(h_n, 0)
        if not batched:
            x = S.squeeze(x, batch_axis)
            h_n = S.squeeze(h_n, 1)
        if self.mode != "LSTM":
            return x, h_n
        c_n = S.stack(c_n, 0)
        return x, (h_n, S.squeeze(c_n, 1) if not batched else c_n)


class RNN(RNNBase):
    """Elman RNN: ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` (or ReLU).

    Args:
        input_size: features of ``x_t``.
        hidden_size: features of ``h_t``.
        num_layers: stacked layers (each layer's input is the previous layer's output).
        nonlinearity: ``'tanh'`` or ``'relu'``.
        bias: learn ``b_ih`` and ``b_hh``.
        batch_first: input and output are (N, L, H) instead of (L, N, H).
        dropout: dropout probability on each layer's output except the last (training only).
        bidirectional: run a second pass backwards in time and concatenate the outputs.

    Shape:
        input (L, N, H_in) (or (N, L, H_in) with ``batch_first``; (L, H_in) unbatched),
        h_0 (num_layers * D, N, H) -> output (L, N, D * H), h_n (num_layers * D, N, H).

    Example:
        >>> import ember
        >>> rnn = ember.nn.RNN(4, 6, nonlinearity="relu", bidirectional=True)
        >>> out, h = rnn(ember.randn(7, 2, 4))
        >>> out.shape, h.shape
        ((7, 2, 12), (2, 2, 6))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, device=None,
                 dtype=None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity {nonlinearity!r}; use 'tanh' or "
                             "'relu'")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device, dtype)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory, PyTorch's gates: ``i, f, g, o`` in that order.

    ``c_t = f * c_{t-1} + i * g``, ``h_t = o * tanh(c_t)``, with i, f, o sigmoids and g a
    tanh of ``x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh``.

    Args: as ``RNN`` (without ``nonlinearity``).

    Shape:
        input as ``RNN``; ``hx = (h_0, c_0)``, each (num_layers * D, N, H) ->
        output (L, N, D * H), ``(h_n, c_n)``.

    Example:
        >>> import ember
        >>> lstm = ember.nn.LSTM(8, 16, bidirectional=True)
        >>> out, (h, c) = lstm(ember.randn(5, 3, 8))
        >>> out.shape, h.shape
        ((5, 3, 32), (2, 3, 16))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device=None, dtype=None) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, device, dtype)


class GRU(RNNBase):
    """Gated recurrent unit, PyTorch's gates ``r, z, n``.

    ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, ``h' = (1 - z) * n + z * h``.

    Args: as ``RNN`` (without ``nonlinearity``).

    Example:
        >>> import ember
        >>> gru = ember.nn.GRU(8, 16, num_layers=2)
        >>> out, h = gru(ember.randn(5, 3, 8))
        >>> out.shape, h.shape
        ((5, 3, 16), (2, 3, 16))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device=None, dtype=None) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, device, dtype)


class RNNCellBase(Module):
    """Shared parameters and checks of the one-step cells."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, gates: int,
                 device=None, dtype=None) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        gate = gates * hidden_size
        self.weight_ih = Parameter(creation.empty(gate, input_size, dtype=dtype, device=device))
        self.weight_hh = Parameter(creation.empty(gate, hidden_size, dtype=dtype,
                                                  device=device))
        if bias:
            self.bias_ih = Parameter(creation.empty(gate, dtype=dtype, device=device))
            self.bias_hh = Parameter(creation.empty(gate, dtype=dtype, device=device))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def _prepare(self, input, states):
        """Check shapes; returns (batched input, batched states or Nones, was it batched)."""
        shape = tuple(input.shape)
        if len(shape) not in (1, 2) or shape[-1] != self.input_size:
            raise layer_error(self, f"expected input of shape (N, {self.input_size}) or "
                              f"({self.input_size},), got {shape}")
        if input.dtype != self.weight_ih.dtype:
            nn_ops._check_same_dtype(type(self).__name__, input, self.weight_ih)
        batched = len(shape) == 2
        want = ((shape[0],) if batched else ()) + (self.hidden_size,)
        out = []
        for name, s in states:
            if s is not None and tuple(s.shape) != want:
                raise layer_error(self, f"expected {name} of shape {want}, got "
                                  f"{tuple(s.shape)}")
            out.append(s if s is None or batched else S.unsqueeze(s, 0))
        return (input if batched else S.unsqueeze(input, 0)), out, batched


class RNNCell(RNNCellBase):
    """One Elman RNN step: ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (or ReLU).

    Example:
        >>> import ember
        >>> ember.nn.RNNCell(3, 5)(ember.randn(2, 3)).shape
        (2, 5)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device=None, dtype=None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: unknown nonlinearity {nonlinearity!r}; use 'tanh' or "
                             "'relu'")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare(input, [("hx", hx)])
        if h is None:  # zeros, as PyTorch: weight_hh then gets a zero gradient, not None
            h = creation.zeros(x.shape[0], self.hidden_size, dtype=x.dtype)
        pre = _linear(x, self.weight_ih, self.bias_ih) + _linear(h, self.weight_hh, self.bias_hh)
        h = E.tanh(pre) if self.nonlinearity == "tanh" else E.relu(pre)
        return h if batched else S.squeeze(h, 0)


class LSTMCell(RNNCellBase):
    """One LSTM step; ``hx = (h, c)`` (zeros when omitted) -> ``(h', c')``.

    Example:
        >>> import ember
        >>> h, c = ember.nn.LSTMCell(3, 5)(ember.randn(2, 3))
        >>> h.shape, c.shape
        ((2, 5), (2, 5))
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input, hx=None):
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise layer_error(self, "expected hx to be a tuple (h, c)")
        h, c = hx if hx is not None else (None, None)
        x, (h, c), batched = self._prepare(input, [("h", h), ("c", c)])
        if h is None:  # zeros, as PyTorch: weight_hh then gets a zero gradient, not None
            h = c = creation.zeros(x.shape[0], self.hidden_size, dtype=x.dtype)
        h, c = R.lstm_cell(_linear(x, self.weight_ih, self.bias_ih),
                           _linear(h, self.weight_hh, self.bias_hh), c)
        return (h, c) if batched else (S.squeeze(h, 0), S.squeeze(c, 0))


class GRUCell(RNNCellBase):
    """One GRU step; ``hx`` (zeros when omitted) -> ``h'``.

    Example:
        >>> import ember
        >>> ember.nn.GRUCell(3, 5)(ember.randn(2, 3)).shape
        (2, 5)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare(input, [("hx", hx)])
        if h is None:
            h = creation.zeros(x.shape[0], self.hidden_size, dtype=x.dtype)
        h = R.gru_cell(_linear(x, self.weight_ih, self.bias_ih),
                       _linear(h, self.weight_hh, self.bias_hh), h)
        return h if batched else S.squeeze(h, 0)

