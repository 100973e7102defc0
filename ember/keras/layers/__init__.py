"""``ember.keras.layers``: Keras's layers, each an ``ember.nn.Module`` wrapping ember.nn.

Example:
    >>> import ember
    >>> from ember.keras import layers
    >>> layers.Flatten()(ember.ones(2, 3, 3, 1)).shape
    (2, 9)
"""

from __future__ import annotations

import inspect

from .activation import Activation, LeakyReLU, ReLU, Softmax
from .base import Layer
from .conv import Conv1D, Conv2D, Conv2DTranspose, ZeroPadding2D
from .core import Dense, Dropout, Embedding, Flatten, Rescaling, Reshape
from .input_layer import Input, InputLayer
from .merge import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract
from .normalization import BatchNormalization, LayerNormalization
from .pooling import (
    AveragePooling1D,
    AveragePooling2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPooling1D,
    MaxPooling2D,
)
from .recurrent import GRU, LSTM, Bidirectional, SimpleRNN
from .symbolic import KerasTensor, Node
from .upsampling import UpSampling2D
from .wrappers import Lambda, ModuleWrapper

Convolution2D = Conv2D
MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D

__all__ = ["Layer", "Input", "InputLayer", "KerasTensor", "Node", "Dense", "Activation", "ReLU",
           "LeakyReLU", "Softmax", "Flatten", "Reshape", "Dropout", "Rescaling", "Embedding",
           "Lambda", "ModuleWrapper", "Conv1D", "Conv2D", "Conv2DTranspose", "ZeroPadding2D",
           "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D",
           "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D",
           "GlobalMaxPooling2D", "BatchNormalization", "LayerNormalization", "SimpleRNN",
           "LSTM", "GRU", "Bidirectional", "Concatenate", "Add", "Subtract", "Multiply",
           "Average", "Maximum", "Minimum", "UpSampling2D", "Convolution2D", "MaxPool2D",
           "AvgPool2D", "LAYERS", "deserialize", "serialize", "get"]

#: Every layer class by its Keras name (what configs and ``ember train`` files may use).
LAYERS: dict[str, type] = {
    cls.__name__: cls for cls in (
        InputLayer, Dense, Activation, ReLU, LeakyReLU, Softmax, Flatten, Reshape, Dropout,
        Rescaling, Embedding, Conv1D, Conv2D, Conv2DTranspose, ZeroPadding2D, MaxPooling1D,
        MaxPooling2D, AveragePooling1D, AveragePooling2D, GlobalAveragePooling1D,
        GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D, BatchNormalization,
        LayerNormalization, SimpleRNN, LSTM, GRU, Bidirectional, Concatenate, Add, Subtract,
        Multiply, Average, Maximum, Minimum, UpSampling2D)
}


def get(name: str, custom_objects: dict | None = None) -> type:
    """The layer class called ``name``; an unknown name lists the known ones."""
    table = {**LAYERS, **(custom_objects or {})}
    cls = table.get(name)
    if cls is None:
        from ..models import MODELS

        cls = MODELS.get(name)
    if cls is None:
        raise ValueError(f"unknown layer type {name!r}; known layers: "
                         + ", ".join(sorted(LAYERS)))
    return cls


def serialize(layer: Layer) -> dict:
    """``{"class_name": ..., "config": ...}`` for a layer."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config: dict, custom_objects: dict | None = None) -> Layer:
    """Rebuild a layer from ``serialize``'s output."""
    cls = get(config["class_name"], custom_objects)
    if "custom_objects" in inspect.signature(cls.from_config).parameters:
        return cls.from_config(config["config"], custom_objects=custom_objects)
    return cls.from_config(config["config"])
