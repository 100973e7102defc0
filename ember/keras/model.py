"""``Model``: a Keras layer that can be trained -- and an ``ember.nn.Module``.

Three ways to make one, as in Keras: ``Sequential([...])``, the functional
``Model(inputs, outputs)`` (which returns a ``Functional``), or a subclass that creates
layers in ``__init__`` and defines ``call``. Any ``ember.nn.Module`` trains with ``fit`` when
held by a model (as an attribute of a subclass, or via ``layers.ModuleWrapper``).
"""

from __future__ import annotations

from ..autograd.grad_mode import no_grad
from .layers.base import Layer, _run_for_shape, shape_of
from .training import Trainer

__all__ = ["Model"]


class Model(Trainer, Layer):
    """A trainable graph of layers with ``compile``/``fit``/``evaluate``/``predict``.

    Subclass it (layers in ``__init__``, the computation in ``call(inputs, training=None)``)
    or call ``Model(inputs=..., outputs=...)`` on symbolic tensors from ``Input``.

    Example:
        >>> import ember
        >>> from ember import keras
        >>> class TwoLayer(keras.Model):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.hidden = keras.layers.Dense(8, activation="relu")
        ...         self.out = keras.layers.Dense(2)
        ...     def call(self, x):
        ...         return self.out(self.hidden(x))
        >>> model = TwoLayer()
        >>> model(ember.ones(3, 4)).shape
        (3, 2)
        >>> isinstance(model, ember.nn.Module), model.count_params()
        (True, 58)
    """

    def __new__(cls, *args, **kwargs):
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            from .functional import Functional

            return Functional.__new__(Functional)
        return super().__new__(cls)

    def __init__(self, *args, name: str | None = None, trainable: bool = True, dtype=None,
                 **kwargs) -> None:
        if args or kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected arguments; Model() takes "
                            "inputs= and outputs= (functional API) or nothing (subclassing)")
        Layer.__init__(self, name=name, trainable=trainable, dtype=dtype)

    # ------------------------------------------------------------------ building
    def build(self, input_shape) -> None:
        """Create the weights by running the model once on zeros of ``input_shape``."""
        self.built = True
        self._build_input_shape = input_shape
        _run_for_shape(self, input_shape)

    def _build_from_example(self, x) -> None:
        was_training = self.training
        self.eval()
        self.built = True
        self._build_input_shape = shape_of(x)
        try:
            with no_grad():
                self(x)
        finally:
            self.train(was_training)

    # ------------------------------------------------------------------ layers
    @property
    def layers(self) -> list[Layer]:
        """The model's layers (direct sub-layers for a subclassed model)."""
        return [m for m in self._modules.values() if isinstance(m, Layer)]

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer by name or by position in ``layers``."""
        layers = self.layers
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise IndexError(f"get_layer: index {index} is out of range for "
                                 f"{len(layers)} layers")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"no layer named {name!r}; layers: "
                         + ", ".join(layer.name for layer in layers))

    def summary(self, line_length: int | None = None, positions=None, print_fn=None,
                expand_nested: bool = False, show_trainable: bool = False) -> None:
        """Print a table of the layers, their output shapes and parameter counts."""
        from .summary import print_summary

        print_summary(self, line_length=line_length, print_fn=print_fn,
                      show_trainable=show_trainable)

    # ------------------------------------------------------------------ saving
    def get_config(self) -> dict:
        raise NotImplementedError(
            f"{type(self).__name__} is a subclassed model: its structure is Python code, so it "
            "has no config. Define get_config()/from_config() (and pass the class in "
            "custom_objects when loading), or save only the weights with save_weights()")

    def save(self, filepath, overwrite: bool = True) -> None:
        """Save the architecture (JSON config), weights and optimiser state to one file
        (a zip holding JSON and safetensors; no pickle)."""
        from .saving import save_model

        save_model(self, filepath, overwrite=overwrite)

    def save_weights(self, filepath, overwrite: bool = True) -> None:
        """Save the weights (the state dict) as a safetensors file."""
        from .saving import save_weights

        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath) -> None:
        """Load weights written by ``save_weights`` (the model must be built)."""
        from .saving import load_weights

        load_weights(self, filepath)

    def to_json(self) -> str:
        """The architecture as JSON (``models.model_from_json`` rebuilds it)."""
        import json

        return json.dumps({"class_name": type(self).__name__, "config": self.get_config()})
