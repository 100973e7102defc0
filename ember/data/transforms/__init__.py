"""torchvision-style transforms that work on one image and, batched, on a whole batch.

A transform takes a ``(C, H, W)`` tensor or an ``(N, C, H, W)`` batch; random transforms
draw separate parameters for every sample of a batch, and all the pixel work is done with
ember ops, so augmentation runs on the batch's device (a GPU batch stays on the GPU).
``ToTensor`` converts PIL images and ``(H, W, C)`` arrays at the start of a pipeline.

Example:
    >>> import ember
    >>> from ember.data import transforms as T
    >>> augment = T.Compose([
    ...     T.RandomCrop(32, padding=4, padding_mode="reflect"),
    ...     T.RandomHorizontalFlip(),
    ...     T.Normalize([0.49, 0.48, 0.45], [0.25, 0.24, 0.26]),
    ... ])
    >>> augment(ember.rand(16, 3, 32, 32)).shape
    (16, 3, 32, 32)
"""

from __future__ import annotations

from . import functional
from .base import Compose, Lambda, Normalize, RandomTransform, ToTensor, Transform
from .color import ColorJitter, RandomErasing
from .geometry import (
    CenterCrop,
    Pad,
    RandomCrop,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomRotation,
    RandomVerticalFlip,
    Resize,
)

__all__ = [
    "CenterCrop", "ColorJitter", "Compose", "Lambda", "Normalize", "Pad", "RandomCrop",
    "RandomErasing", "RandomHorizontalFlip", "RandomResizedCrop", "RandomRotation",
    "RandomTransform", "RandomVerticalFlip", "Resize", "ToTensor", "Transform", "functional",
]
