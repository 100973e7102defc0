"""``ember.keras.applications``: VGG16, ResNet50 and MobileNetV2 with Keras's signatures.

Each is a functional ``ember.keras`` model built from Keras layers with Keras's layer names
(``block1_conv1``, ``conv2_block1_1_conv``, ``block_1_expand`` ...), channels-last, so
``compile``/``fit``, ``layer.trainable`` and ``Model(inputs=base.input, outputs=...)`` work
as in seed 004's transfer-learning script. Nothing is downloaded: ``weights`` is ``None``
(random initialisation) or the path of a weights file you have -- ember's own
``save_weights`` output (safetensors), or a Keras ``.h5``/``.weights.h5`` file through
``ember.zoo.load_weights``.

Example:
    >>> from ember.keras.applications import VGG16
    >>> base = VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    >>> base.output.shape
    (None, 1, 1, 512)
"""

from __future__ import annotations

import os
import sys
import types

from ..errors import ShapeError
from . import layers as L
from .models import Model

__all__ = ["VGG16", "ResNet50", "MobileNetV2", "vgg16", "resnet50", "mobilenet_v2"]

_DEFAULT_SHAPE = (224, 224, 3)


def _input_shape(name: str, input_shape, include_top: bool, weights, min_size: int = 32,
                 head_needs_default: bool = False) -> tuple:
    """Check ``input_shape`` the way Keras's ``obtain_input_shape`` does, with clear errors."""
    shape = _DEFAULT_SHAPE if input_shape is None else tuple(input_shape)
    if len(shape) != 3:
        raise ShapeError(f"{name}: input_shape must be (height, width, channels), got "
                         f"{input_shape!r}")
    h, w, _ = shape
    if include_top and (h is None or w is None):
        raise ShapeError(f"{name}: include_top=True needs a fixed input size, got input_shape "
                         f"{shape}; give the height and width, or use include_top=False")
    if any(s is not None and s < min_size for s in (h, w)):
        raise ShapeError(f"{name}: the input must be at least {min_size}x{min_size}, got "
                         f"input_shape {shape}")
    if include_top and head_needs_default and shape != _DEFAULT_SHAPE:
        raise ShapeError(f"{name}: include_top=True takes input_shape {_DEFAULT_SHAPE}, got "
                         f"{shape}: its classifier (Flatten + Dense 4096) is sized for 7x7x512 "
                         "features; use include_top=False (optionally with pooling='avg') and "
                         "add your own head for other sizes")
    return shape


def _check_args(name: str, weights, pooling, classes: int, include_top: bool) -> None:
    if weights == "imagenet":
        raise ValueError(f"{name}: weights='imagenet' would need a download, and ember never "
                         "downloads; pass weights=None, or the path of a weights file you have "
                         "(e.g. a Keras .h5 file or ember's save_weights output)")
    if weights is not None and not isinstance(weights, (str, os.PathLike)):
        raise TypeError(f"{name}: weights must be None or a file path, got "
                        f"{type(weights).__name__}")
    if weights is not None and not os.path.isfile(weights):
        raise FileNotFoundError(f"{name}: the weights file {os.fspath(weights)!r} does not "
                                "exist")
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"{name}: pooling must be None, 'avg' or 'max', got {pooling!r}")
    if not isinstance(classes, int) or classes < 1:
        raise ValueError(f"{name}: classes must be a positive integer, got {classes!r}")


def _finish(name: str, inputs, x, include_top: bool, pooling, classes: int,
            classifier_activation, weights, top_layers=None):
    if include_top:
        for layer in top_layers or [L.GlobalAveragePooling2D(name="avg_pool")]:
            x = layer(x)
        x = L.Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = L.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = L.GlobalMaxPooling2D(name="max_pool")(x)
    model = Model(inputs=inputs, outputs=x, name=name)
    if weights is not None:
        _load(model, os.fspath(weights))
    return model


def _load(model, path: str) -> None:
    """Load a weights file strictly (every name and shape), mapping Keras's names and
    layouts when it is a Keras file."""
    from ..zoo.weights import load_weights

    load_weights(model, path)


# ---------------------------------------------------------------------- VGG16
def VGG16(include_top: bool = True, weights=None, input_tensor=None, input_shape=None,
          pooling: str | None = None, classes: int = 1000,
          classifier_activation="softmax") -> Model:
    """VGG-16 as Keras builds it: five conv blocks, then Flatten, fc1, fc2, predictions.

    Args:
        include_top: add the classifier (Flatten, two Dense 4096, Dense ``classes``); it
            takes 224x224x3 inputs only.
        weights: ``None`` (random) or a weights file path (``.h5`` or ember safetensors).
        input_tensor: a ``keras.Input`` to build on (its shape is the input shape).
        input_shape: ``(height, width, 3)``, at least 32x32; (224, 224, 3) by default.
        pooling: without the top, ``None`` (4-D features), ``"avg"`` or ``"max"``.
        classes, classifier_activation: the classifier's size and activation.

    Shape:
        ``(N, H, W, 3)`` -> ``(N, classes)`` with the top, else ``(N, H/32, W/32, 512)``.

    Example:
        >>> from ember.keras.applications import VGG16
        >>> model = VGG16(weights=None, include_top=False, input_shape=(32, 32, 3),
        ...               pooling="avg")
        >>> model.output.shape, model.layers[1].name
        ((None, 512), 'block1_conv1')
    """
    _check_args("VGG16", weights, pooling, classes, include_top)
    inputs = _inputs("VGG16", input_tensor, input_shape, include_top, weights,
                     head_needs_default=True)
    x = inputs
    for block, (filters, convs) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3),
                                              (512, 3)], start=1):
        for i in range(1, convs + 1):
            x = L.Conv2D(filters, (3, 3), activation="relu", padding="same",
                         name=f"block{block}_conv{i}")(x)
        x = L.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
    top = [L.Flatten(name="flatten"), L.Dense(4096, activation="relu", name="fc1"),
           L.Dense(4096, activation="relu", name="fc2")]
    return _finish("vgg16", inputs, x, include_top, pooling, classes, classifier_activation,
                   weights, top)


def _inputs(name, input_tensor, input_shape, include_top, weights, min_size=32,
            head_needs_default=False):
    if input_tensor is not None:
        input_shape = tuple(input_tensor.shape[1:])
    shape = _input_shape(name, input_shape, include_top, weights, min_size, head_needs_default)
    return input_tensor if input_tensor is not None else L.Input(shape=shape)


# ---------------------------------------------------------------------- ResNet50
def _bn(name: str):
    return L.BatchNormalization(axis=3, epsilon=1.001e-5, name=name)


def _resnet_block(x, filters: int, stride: int = 1, conv_shortcut: bool = True,
                  name: str = ""):
    if conv_shortcut:
        shortcut = L.Conv2D(4 * filters, 1, strides=stride, name=name + "_0_conv")(x)
        shortcut = _bn(name + "_0_bn")(shortcut)
    else:
        shortcut = x
    x = L.Conv2D(filters, 1, strides=stride, name=name + "_1_conv")(x)
    x = L.Activation("relu", name=name + "_1_relu")(_bn(name + "_1_bn")(x))
    x = L.Conv2D(filters, 3, padding="same", name=name + "_2_conv")(x)
    x = L.Activation("relu", name=name + "_2_relu")(_bn(name + "_2_bn")(x))
    x = _bn(name + "_3_bn")(L.Conv2D(4 * filters, 1, name=name + "_3_conv")(x))
    x = L.Add(name=name + "_add")([shortcut, x])
    return L.Activation("relu", name=name + "_out")(x)


def ResNet50(include_top: bool = True, weights=None, input_tensor=None, input_shape=None,
             pooling: str | None = None, classes: int = 1000,
             classifier_activation="softmax") -> Model:
    """ResNet-50 (v1, the stride on each stage's first 1x1 convolution) as Keras builds it.

    Arguments as ``VGG16``; the top (global average pool, Dense) takes any fixed input size.

    Example:
        >>> from ember.keras.applications import ResNet50
        >>> model = ResNet50(weights=None, include_top=False, input_shape=(32, 32, 3))
        >>> model.output.shape, model.get_layer("conv5_block3_out").name
        ((None, 1, 1, 2048), 'conv5_block3_out')
    """
    _check_args("ResNet50", weights, pooling, classes, include_top)
    inputs = _inputs("ResNet50", input_tensor, input_shape, include_top, weights)
    x = L.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(inputs)
    x = L.Conv2D(64, 7, strides=2, name="conv1_conv")(x)
    x = L.Activation("relu", name="conv1_relu")(_bn("conv1_bn")(x))
    x = L.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = L.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for stage, (filters, blocks, stride) in enumerate([(64, 3, 1), (128, 4, 2), (256, 6, 2),
                                                       (512, 3, 2)], start=2):
        x = _resnet_block(x, filters, stride=stride, name=f"conv{stage}_block1")
        for i in range(2, blocks + 1):
            x = _resnet_block(x, filters, conv_shortcut=False, name=f"conv{stage}_block{i}")
    return _finish("resnet50", inputs, x, include_top, pooling, classes, classifier_activation,
                   weights)


# ---------------------------------------------------------------------- MobileNetV2
def _make_divisible(v: float, divisor: int = 8) -> int:
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def _mbn(name: str):
    return L.BatchNormalization(epsilon=1e-3, momentum=0.999, name=name)


def _inverted_res_block(inputs, expansion: int, stride: int, alpha: float, filters: int,
                        block_id: int):
    in_channels = inputs.shape[-1]
    pointwise = _make_divisible(int(filters * alpha), 8)
    x, prefix = inputs, f"block_{block_id}_"
    if block_id:
        x = L.Conv2D(expansion * in_channels, 1, padding="same", use_bias=False,
                     name=prefix + "expand")(x)
        x = L.ReLU(6.0, name=prefix + "expand_relu")(_mbn(prefix + "expand_BN")(x))
    else:
        prefix = "expanded_conv_"
    channels = x.shape[-1]
    if stride == 2:
        h, w = x.shape[1:3]
        pads = tuple((0 if s is None else s % 2, 1) for s in (h, w))  # Keras's correct_pad
        x = L.ZeroPadding2D(padding=pads, name=prefix + "pad")(x)
    # Keras's DepthwiseConv2D is a convolution with one group per channel.
    x = L.Conv2D(channels, 3, strides=stride, use_bias=False, groups=channels,
                 padding="same" if stride == 1 else "valid", name=prefix + "depthwise")(x)
    x = L.ReLU(6.0, name=prefix + "depthwise_relu")(_mbn(prefix + "depthwise_BN")(x))
    x = L.Conv2D(pointwise, 1, padding="same", use_bias=False, name=prefix + "project")(x)
    x = _mbn(prefix + "project_BN")(x)
    if in_channels == pointwise and stride == 1:
        return L.Add(name=prefix + "add")([inputs, x])
    return x


_MOBILENET_BLOCKS = [  # filters, stride, expansion for block ids 0..16
    (16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6), (64, 2, 6),
    (64, 1, 6), (64, 1, 6), (64, 1, 6), (96, 1, 6), (96, 1, 6), (96, 1, 6), (160, 2, 6),
    (160, 1, 6), (160, 1, 6), (320, 1, 6)]


def MobileNetV2(input_shape=None, alpha: float = 1.0, include_top: bool = True, weights=None,
                input_tensor=None, pooling: str | None = None, classes: int = 1000,
                classifier_activation="softmax") -> Model:
    """MobileNetV2 as Keras builds it (``Conv1``, ``block_N_expand/depthwise/project``,
    ``Conv_1``, ``out_relu``); depthwise convolutions are ``Conv2D(groups=channels)``.

    Args:
        alpha: the width multiplier (channel counts rounded to multiples of 8).
        Others as ``VGG16``.

    Example:
        >>> from ember.keras.applications import MobileNetV2
        >>> model = MobileNetV2(input_shape=(32, 32, 3), alpha=0.5, weights=None, classes=10)
        >>> model.output.shape
        (None, 10)
    """
    _check_args("MobileNetV2", weights, pooling, classes, include_top)
    if not isinstance(alpha, (int, float)) or alpha <= 0:
        raise ValueError(f"MobileNetV2: alpha must be a positive number, got {alpha!r}")
    inputs = _inputs("MobileNetV2", input_tensor, input_shape, include_top, weights)
    x = L.Conv2D(_make_divisible(32 * alpha, 8), 3, strides=(2, 2), padding="same",
                 use_bias=False, name="Conv1")(inputs)
    x = L.ReLU(6.0, name="Conv1_relu")(_mbn("bn_Conv1")(x))
    for block_id, (filters, stride, expansion) in enumerate(_MOBILENET_BLOCKS):
        x = _inverted_res_block(x, expansion, stride, alpha, filters, block_id)
    last = _make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    x = L.Conv2D(last, 1, use_bias=False, name="Conv_1")(x)
    x = L.ReLU(6.0, name="out_relu")(_mbn("Conv_1_bn")(x))
    name = f"mobilenetv2_{alpha:.2f}_{inputs.shape[1]}"
    return _finish(name, inputs, x, include_top, pooling, classes, classifier_activation,
                   weights, [L.GlobalAveragePooling2D(name="global_average_pooling2d")])


# Keras's module paths: ``from ember.keras.applications.vgg16 import VGG16`` works as in Keras.
def _submodule(name: str, **members) -> types.ModuleType:
    module = types.ModuleType(f"{__name__}.{name}", f"Keras's applications.{name} path.")
    module.__dict__.update(members)
    sys.modules[module.__name__] = module
    return module


vgg16 = _submodule("vgg16", VGG16=VGG16)
resnet50 = _submodule("resnet50", ResNet50=ResNet50)
mobilenet_v2 = _submodule("mobilenet_v2", MobileNetV2=MobileNetV2)
