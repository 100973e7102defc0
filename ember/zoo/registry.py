"""The zoo's catalogue: ``list_models``, ``get_model`` and ``model_info``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from ..nn import Module
from . import models as M
from .models._common import ZooError
from .pretrained import seed_cnn

__all__ = ["ModelInfo", "MODELS", "list_models", "get_model", "model_info", "print_models",
           "print_info"]


@dataclass(frozen=True)
class ModelInfo:
    """What the zoo knows about one model: its constructor, input, reference and weights."""

    name: str
    builder: Callable[..., Module]
    family: str
    input_shape: tuple
    reference: str
    summary: str
    params: int | None = None
    pretrained: tuple[str, ...] = field(default=())


# Parameter counts with the default arguments (1000 classes), as torchvision lists them.
_VGG_PARAMS = {"vgg11": 132_863_336, "vgg11_bn": 132_868_840, "vgg13": 133_047_848,
               "vgg13_bn": 133_053_736, "vgg16": 138_357_544, "vgg16_bn": 138_365_992,
               "vgg19": 143_667_240, "vgg19_bn": 143_678_248}
_RESNET_PARAMS = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032, 101: 44_549_160}


def _entries() -> list[ModelInfo]:
    tv = "torchvision.models.{}"
    vision = (3, 224, 224)
    out = [ModelInfo("lenet5", M.lenet5, "lenet", (1, 32, 32),
                     "PyTorch's tutorial LeNet (conv1, conv2, fc1-fc3)",
                     "LeNet-5: two 5x5 convolutions, three linear layers", 61_706,
                     ("lenet5",)),
           ModelInfo("seed_cnn", seed_cnn, "keras", (8, 8, 1),
                     "ember train's built-in config (ember.keras.config.DEFAULT_CONFIG)",
                     "seed 004's CNN for 8x8 digits, an ember.keras Sequential", 72_842,
                     ("seed_cnn",))]
    for depth in (11, 13, 16, 19):
        for bn in ("", "_bn"):
            name = f"vgg{depth}{bn}"
            out.append(ModelInfo(name, getattr(M, name), "vgg", vision, tv.format(name),
                                 f"VGG-{depth}" + (" with batch norm" if bn else ""),
                                 _VGG_PARAMS[name]))
    for depth in (18, 34, 50, 101):
        name = f"resnet{depth}"
        kind = "basic" if depth < 50 else "bottleneck"
        out.append(ModelInfo(name, getattr(M, name), "resnet", vision, tv.format(name),
                             f"ResNet-{depth} ({kind} blocks)", _RESNET_PARAMS[depth]))
    out += [
        ModelInfo("mobilenet_v2", M.mobilenet_v2, "mobilenet", vision,
                  tv.format("mobilenet_v2"), "MobileNetV2: inverted residuals, ReLU6",
                  3_504_872),
        ModelInfo("vit_tiny", M.vit_tiny, "vit", (3, 32, 32),
                  "torchvision.models.VisionTransformer (same module names)",
                  "a small Vision Transformer for 32x32 images (6 layers, width 128)",
                  938_856),
        ModelInfo("vit_b_16", M.vit_b_16, "vit", vision, tv.format("vit_b_16"),
                  "ViT-B/16: 12 layers of width 768, patches of 16", 86_567_656),
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
    info = model_info(name)
    if kwargs.get("pretrained") and not info.pretrained:
        raise ZooError(f"ember.zoo: ember ships no pretrained weights for {name!r} (it ships "
                       f"{', '.join(n for n in list_models() if MODELS[n].pretrained)}) and "
                       "never downloads; build it, then load a weights file you have with "
                       f"ember.zoo.load_weights(model, path)")
    if not info.pretrained:
        kwargs.pop("pretrained", None)  # pretrained=False: the constructor takes no such flag
    return info.builder(**kwargs)


def print_models(out=None) -> None:
    """The table ``ember zoo list`` prints: name, parameters, input, pretrained weights."""
    out = out or sys.stdout
    print(f"{'model':<14}{'parameters':>13}  {'input':<16}{'pretrained':<12}description",
          file=out)
    for name in list_models():
        info = MODELS[name]
        params = f"{info.params:,}" if info.params else "-"
        shape = "x".join(map(str, info.input_shape))
        print(f"{name:<14}{params:>13}  {shape:<16}{', '.join(info.pretrained) or '-':<12}"
              f"{info.summary}", file=out)


def print_info(name: str, out=None) -> None:
    """What ``ember zoo info NAME`` prints: the model's facts and, for shipped weights, the
    model card (data, split, accuracy, seed, the command that reproduces them)."""
    from .pretrained import model_card

    out = out or sys.stdout
    info = model_info(name)
    params = f"{info.params:,}" if info.params else "depends on num_tokens"
    rows = [(2, "family", info.family), (2, "input", " x ".join(map(str, info.input_shape))),
            (2, "parameters", f"{params} (default arguments)"),
            (2, "names as", info.reference),
            (2, "build", f"ember.zoo.get_model({info.name!r}, ...)")]
    for weights in info.pretrained:
        card = model_card(weights)
        rows += [(2, "pretrained", f"ember.zoo.{info.name}(pretrained=True), shipped with ember"),
                 (4, "data", f"{card['data']['dataset']} -- {card['data']['source']}"),
                 (4, "split", card["data"]["split"]),
                 (4, "accuracy", f"{card['test_accuracy']:.4f} on {card['test_samples']} test "
                                 "samples"),
                 (4, "seed", card["seed"]), (4, "input", card["input"]),
                 (4, "reproduce", card["command"])]
    print(f"{info.name}: {info.summary}", file=out)
    for indent, label, value in rows:  # values start in column 15
        print(f"{' ' * indent}{label + ':':<{15 - indent}}{value}", file=out)
