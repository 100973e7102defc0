"""The Keras layer: an ``ember.nn.Module`` that builds its weights from the first input's shape.

A layer is ``build(input_shape)`` (create the wrapped ``ember.nn`` modules once the input
shape is known), ``call(inputs)`` (the computation, in ember ops), ``compute_output_shape``
(the shape rule the functional API and ``summary`` use) and ``get_config`` (the arguments
that rebuild it). Called on a :class:`KerasTensor` (from :func:`Input`) a layer records a
:class:`Node` instead of computing, which is how ``Model(inputs, outputs)`` learns the graph.
"""

from __future__ import annotations

import functools
import inspect
import re

from ... import dtypes as _dt
from ...autograd.grad_mode import no_grad
from ...errors import EmberError, ShapeError
from ...nn.module import Module
from ...tensor import Tensor
from .symbolic import KerasTensor, Node, flatten, fmt_shape, pack_like, shape_of

__all__ = ["Layer", "clear_session", "KerasTensor", "Node", "flatten", "pack_like",
           "shape_of"]

_UIDS: dict[str, int] = {}


def to_snake_case(name: str) -> str:
    """Keras's layer-name rule: ``MaxPooling2D`` -> ``max_pooling2d``."""
    name = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(prefix: str) -> str:
    n = _UIDS.get(prefix, 0)
    _UIDS[prefix] = n + 1
    return prefix if n == 0 else f"{prefix}_{n}"


def clear_session() -> None:
    """Reset the counters behind automatic layer names (``dense``, ``dense_1``, ...).

    Example:
        >>> from ember.keras import layers, backend
        >>> backend.clear_session()
        >>> layers.Dense(2).name, layers.Dense(2).name
        ('dense', 'dense_1')
    """
    _UIDS.clear()


def _is_symbolic(inputs) -> bool:
    return any(isinstance(t, KerasTensor) for t in flatten(inputs))


class Layer(Module):
    """Base class of the Keras layers; an ``ember.nn.Module`` with lazy, shape-driven build.

    Args:
        trainable: whether the layer's weights are updated by ``fit``.
        name: a unique name; the snake-cased class name with a counter by default.
        dtype: the weights' dtype (``"float32"`` by default).
        input_shape: the shape of one sample (without the batch dimension); lets a
            ``Sequential`` model build at once.

    Example:
        >>> import ember
        >>> from ember.keras import layers
        >>> dense = layers.Dense(3)
        >>> dense.built
        False
        >>> dense(ember.ones(2, 4)).shape
        (2, 3)
        >>> dense.built, dense.count_params()
        (True, 15)
    """

    def __init__(self, trainable: bool = True, name: str | None = None, dtype=None,
                 input_shape=None, batch_input_shape=None, input_dim: int | None = None,
                 batch_size: int | None = None, **kwargs) -> None:
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) "
                            f"{', '.join(sorted(kwargs))}")
        super().__init__()
        self.training = False  # Keras semantics: inference unless fit (or training=True)
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self._trainable = bool(trainable)
        self.dtype = _dt.to_dtype(dtype or "float32").name
        self.built = False
        self._build_input_shape = None
        self._output_shape = None
        self._inbound_nodes: list[Node] = []
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if batch_input_shape is not None:
            self._batch_input_shape = tuple(batch_input_shape)
        elif input_shape is not None:
            self._batch_input_shape = (batch_size,) + tuple(input_shape)
        else:
            self._batch_input_shape = None

    # ------------------------------------------------------------------ Keras API
    def build(self, input_shape) -> None:
        """Create the layer's weights for inputs of ``input_shape`` (batch dimension None)."""
        self.built = True

    def call(self, inputs, *args, **kwargs):
        """The layer's computation on real tensors."""
        raise NotImplementedError(f"{type(self).__name__} must define call(inputs)")

    def compute_output_shape(self, input_shape):
        """The output shape for ``input_shape``; by default found by running the layer once."""
        return _run_for_shape(self, input_shape)

    def get_config(self) -> dict:
        """The constructor arguments that rebuild this layer (JSON-serialisable)."""
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        return config

    @classmethod
    def from_config(cls, config: dict) -> Layer:
        """Rebuild a layer from ``get_config()``'s output."""
        return cls(**config)

    def forward(self, *args, **kwargs):
        return self.call(*args, **kwargs)

    # ------------------------------------------------------------------ calling
    def __call__(self, *args, **kwargs):
        inputs = args[0] if args else kwargs.get("inputs")
        if _is_symbolic(inputs):
            return self._symbolic_call(*args, **kwargs)
        if not self.built:
            self._maybe_build(shape_of(inputs))
        if self.dtype != "float32" and isinstance(inputs, Tensor) and \
                inputs.dtype.is_floating_point and inputs.dtype.name != self.dtype:
            args = (inputs.to(_dt.to_dtype(self.dtype)),) + args[1:]  # Keras's autocast
        try:
            return Module.__call__(self, *args, **kwargs)
        except EmberError as e:
            raise _in_context(e, self, shape_of(inputs)) from e

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        build = cls.__dict__.get("build")
        if build is not None and not getattr(build, "_keras_wrapped", False):
            @functools.wraps(build)
            def wrapped(self, input_shape=None, *args, **kw):
                build(self, input_shape, *args, **kw)
                self._after_build(input_shape)

            wrapped._keras_wrapped = True
            cls.build = wrapped

    def _maybe_build(self, input_shape) -> None:
        if self.built:
            return
        try:
            self.build(input_shape)
        except EmberError as e:
            raise _in_context(e, self, input_shape) from e
        self._after_build(input_shape)

    def _after_build(self, input_shape) -> None:
        """Mark built; give new weights the layer's dtype, trainable flag and mode."""
        self.built = True
        if self._build_input_shape is None:
            self._build_input_shape = input_shape
        if self.dtype != "float32":
            self.to(dtype=_dt.to_dtype(self.dtype))
        if not self._trainable:
            self.requires_grad_(False)
        self.train(self.training)

    def _symbolic_call(self, *args, **kwargs):
        inputs = args[0] if args else kwargs.pop("inputs")
        in_shape = [t.shape for t in inputs] if isinstance(inputs, (list, tuple)) else \
            inputs.shape
        self._maybe_build(in_shape)
        try:
            out_shape = self.compute_output_shape(in_shape)
        except EmberError as e:
            raise _in_context(e, self, in_shape) from e
        dtype = self._output_dtype(flatten(inputs)[0].dtype)
        if isinstance(out_shape, list):
            outputs = [KerasTensor(s, dtype) for s in out_shape]
        else:
            outputs = KerasTensor(out_shape, dtype)
        node = Node(self, inputs, outputs, dict(kwargs))
        self._inbound_nodes.append(node)
        for i, t in enumerate(node.flat_outputs):
            t._keras_history = (self, len(self._inbound_nodes) - 1, i)
            t.name = self.name if len(node.flat_outputs) == 1 else f"{self.name}_{i}"
        self._output_shape = out_shape
        return outputs

    def _output_dtype(self, input_dtype: str) -> str:
        return self.dtype

    # ------------------------------------------------------------------ weights
    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        for m in self.modules():
            if isinstance(m, Layer):
                m.__dict__["_trainable"] = bool(value)
        self.requires_grad_(bool(value))

    @property
    def weights(self) -> list[Tensor]:
        """All weights: parameters, then floating-point buffers (e.g. moving averages)."""
        params = list(self.parameters())
        return params + [b for b in self.buffers() if b.dtype.is_floating_point]

    @property
    def trainable_weights(self) -> list[Tensor]:
        return [p for p in self.parameters() if p.requires_grad]

    @property
    def non_trainable_weights(self) -> list[Tensor]:
        return [w for w in self.weights if not w.requires_grad]

    @property
    def variables(self) -> list[Tensor]:
        return self.weights

    def count_params(self) -> int:
        """The number of weights (trainable and not) the layer holds."""
        if not self.built:
            raise ValueError(f"layer '{self.name}' is not built yet, so its weights do not exist; "
                             "call it on an input (or give input_shape=) first")
        return sum(w.numel() for w in self.weights)

    def get_weights(self) -> list:
        """The weights as NumPy arrays (copies), in ``weights`` order (ember.nn's layouts)."""
        return [w.detach().numpy().copy() for w in self.weights]

    def set_weights(self, weights: list) -> None:
        """Copy NumPy arrays (as ``get_weights`` returns them) into the weights."""
        from ...ops.creation import tensor

        own = self.weights
        if len(weights) != len(own):
            raise ValueError(f"set_weights on '{self.name}': expected {len(own)} arrays "
                             f"(shapes {[tuple(w.shape) for w in own]}), got {len(weights)}")
        for i, (w, value) in enumerate(zip(own, weights)):
            value = tensor(value, dtype=w.dtype)
            if tuple(value.shape) != tuple(w.shape):
                raise ShapeError(f"set_weights on '{self.name}': weight {i} has shape "
                                 f"{tuple(w.shape)}, got an array of shape {tuple(value.shape)}")
            with no_grad():
                w.copy_(value)

    # ------------------------------------------------------------------ graph info
    @property
    def input(self):
        return self._node_attr("inputs")

    @property
    def output(self):
        return self._node_attr("outputs")

    @property
    def output_shape(self):
        if self._output_shape is None:
            raise AttributeError(f"layer '{self.name}' has no output shape yet: it has not been "
                                 "called on a symbolic input or built in a model")
        return self._output_shape

    def _node_attr(self, attr: str):
        if not self._inbound_nodes:
            raise AttributeError(f"layer '{self.name}' has never been called on a symbolic "
                                 "input (ember.keras.Input), so it has no input/output")
        return getattr(self._inbound_nodes[0], attr)

    def extra_repr(self) -> str:
        return f"name={self.name!r}"

    def _call_accepts(self, arg: str) -> bool:
        cache = type(self).__dict__.get("_accepts_cache")
        if cache is None:
            cache = {}
            type.__setattr__(type(self), "_accepts_cache", cache)
        if arg not in cache:
            params = inspect.signature(self.call).parameters
            cache[arg] = arg in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
        return cache[arg]


def _in_context(error: EmberError, layer: Layer, input_shape) -> EmberError:
    """The same error class, its message prefixed with the layer and its incoming shape."""
    if getattr(error, "_keras_layer", None):
        return error
    new = type(error)(f"layer '{layer.name}' ({type(layer).__name__}) cannot take input of "
                      f"shape {fmt_shape(input_shape)}: {error}")
    new._keras_layer = layer.name
    return new


def _run_for_shape(layer: Layer, input_shape):
    """Find an output shape by calling the layer on zeros (batch 1, unknown sizes 1)."""
    from ...ops.creation import zeros

    def example(shape):
        if isinstance(shape, list):
            return [example(s) for s in shape]
        return zeros(*[1 if d is None else d for d in shape], dtype=_dt.to_dtype(layer.dtype))

    was_training = layer.training
    layer.eval()
    try:
        with no_grad():
            out = layer(example(input_shape))
    finally:
        layer.train(was_training)
    return shape_of(out)
