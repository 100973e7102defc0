"""The zoo's catalogue: ``list_models``, ``get_model`` and ``model_info``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..nn import Module
from . import models as M
from .models._common import ZooError

__all__ = ["ModelInfo", "MODELS", "list_models", "get_model", "model_info"]


@dataclass(frozen=True)
class ModelInfo:
    """What the zoo knows about one model: its constructor, input, reference and weights."""

    name: str
    builder: Callable[..., Module]
    family: str
    input_shape: tuple
    reference: str
    summary: str
    pretrained: tuple[str, ...] = field(default=())


def _entries() -> list[ModelInfo]:
    tv = "torchvision.models.{}"
    vision = (3, 224, 224)
    out = [ModelInfo("lenet5", M.lenet5, "lenet", (1, 32, 32),
                     "PyTorch's tutorial LeNet (conv1, conv2, fc1-fc3)",
                     "LeNet-5: two 5x5 convolutions, three linear layers", ("digits",))]
    for depth in (11, 13, 16, 19):
        for bn in ("", "_bn"):
            name = f"vgg{depth}{bn}"
            out.append(ModelInfo(name, getattr(M, name), "vgg", vision, tv.format(name),
                                 f"VGG-{depth}" + (" with batch norm" if bn else "")))
    for depth in (18, 34, 50, 101):
        name = f"resnet{depth}"
        kind = "basic" if depth < 50 else "bottleneck"
        out.append(ModelInfo(name, getattr(M, name), "resnet", vision, tv.format(name),
                             f"ResNet-{depth} ({kind} blocks)"))
    out += [
        ModelInfo("mobilenet_v2", M.mobilenet_v2, "mobilenet", vision,
                  tv.format("mobilenet_v2"), "MobileNetV2: inverted residuals, ReLU6"),
        ModelInfo("vit_tiny", M.vit_tiny, "vit", (3, 32, 32),
                  "torchvision.models.VisionTransformer (same module names)",
                  "a small Vision Transformer for 32x32 images (6 layers, width 128)"),
        ModelInfo("vit_b_16", M.vit_b_16, "vit", vision, tv.format("vit_b_16"),
                  "ViT-B/16: 12 layers of width 768, patches of 16"),
        ModelInfo("lstm_lm", M.lstm_lm, "lstm", ("seq", "batch"),
                  "PyTorch examples word_language_model RNNModel (encoder, rnn, decoder)",
                  "an LSTM language model: embedding, stacked LSTM, decoder"),
    ]
    return out


#: Every zoo model by name.
MODELS: dict[str, ModelInfo] = {info.name: info for info in _entries()}


def list_models(family: str | None = None) -> list[str]:
    """The names of the zoo's models, sorted; only one ``family`` ("vgg", "resnet" ...) if given.

    Example:
        >>> import ember
        >>> ember.zoo.list_models("resnet")
        ['resnet101', 'resnet18', 'resnet34', 'resnet50']
    """
    return sorted(n for n, info in MODELS.items() if family is None or info.family == family)


def model_info(name: str) -> ModelInfo:
    """The ``ModelInfo`` of model ``name``; an unknown name lists the known ones.

    Example:
        >>> import ember
        >>> ember.zoo.model_info("lenet5").input_shape
        (1, 32, 32)
    """
    info = MODELS.get(name)
    if info is None:
        raise ZooError(f"ember.zoo: no model named {name!r}; known models: "
                       + ", ".join(list_models()))
    return info


def get_model(name: str, **kwargs) -> Module:
    """Build the zoo model ``name`` with ``kwargs`` (``num_classes``, ``in_channels``,
    ``dropout``, ``pretrained`` where it ships weights ...).

    Example:
        >>> import ember
        >>> model = ember.zoo.get_model("resnet18", num_classes=10)
        >>> model.fc.out_features
        10
    """
    return model_info(name).builder(**kwargs)
