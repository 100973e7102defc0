"""The zoo's architectures, one module per family."""

from __future__ import annotations

from ._common import ZooError
from .lenet import LeNet5, lenet5
from .lstm_lm import LSTMLanguageModel, lstm_lm
from .mobilenet import MobileNetV2, mobilenet_v2
from .resnet import BasicBlock, Bottleneck, ResNet, resnet18, resnet34, resnet50, resnet101
from .vgg import (
    VGG,
    vgg11,
    vgg11_bn,
    vgg13,
    vgg13_bn,
    vgg16,
    vgg16_bn,
    vgg19,
    vgg19_bn,
)
from .vit import VisionTransformer, vit_b_16, vit_tiny

__all__ = ["ZooError", "LeNet5", "lenet5", "LSTMLanguageModel", "lstm_lm", "MobileNetV2",
           "mobilenet_v2", "BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet34",
           "resnet50", "resnet101", "VGG", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16",
           "vgg16_bn", "vgg19", "vgg19_bn", "VisionTransformer", "vit_tiny", "vit_b_16"]
