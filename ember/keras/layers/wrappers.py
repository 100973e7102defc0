"""Layers around Python code: Lambda (a function) and ModuleWrapper (an ``ember.nn.Module``)."""

from __future__ import annotations

from ... import nn
from .base import Layer

__all__ = ["Lambda", "ModuleWrapper"]


class Lambda(Layer):
    """Wrap a function of tensors as a layer (not saveable to a config: code is not data).

    Example:
        >>> import ember
        >>> from ember.keras import layers
        >>> layers.Lambda(lambda x: x * 2)(ember.tensor([[1.0]]))
        tensor([[2.]])
    """

    def __init__(self, function, **kwargs) -> None:
        super().__init__(**kwargs)
        self.function = function

    def call(self, inputs):
        return self.function(inputs)

    def get_config(self) -> dict:
        raise ValueError(f"Lambda layer '{self.name}' holds Python code and cannot be saved as a "
                         "config; write a Layer subclass with get_config, or save weights only")


class ModuleWrapper(Layer):
    """Use any ``ember.nn.Module`` as a Keras layer (so it can be trained with ``fit``).

    Example:
        >>> import ember
        >>> from ember import keras
        >>> net = ember.nn.Sequential(ember.nn.Linear(4, 8), ember.nn.ReLU(), ember.nn.Linear(8, 2))
        >>> model = keras.Sequential([keras.layers.ModuleWrapper(net)])
        >>> model(ember.ones(3, 4)).shape
        (3, 2)
    """

    def __init__(self, module: nn.Module, **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(module, nn.Module):
            raise TypeError(f"ModuleWrapper wraps an ember.nn.Module, got "
                            f"{type(module).__name__}")
        self.module = module
        self.built = True

    def call(self, inputs, training=None):
        training = self.training if training is None else training
        if self.module.training != training:
            self.module.train(training)
        return self.module(inputs)

    def get_config(self) -> dict:
        kind = type(self.module).__name__
        raise ValueError(f"ModuleWrapper '{self.name}' wraps Python code ({kind}) and cannot be "
                         "saved as a config; save its weights instead")
