"""The base of in-memory image datasets (MNIST, CIFAR): uint8 images and int64 labels."""

from __future__ import annotations

import numpy as np

from ...tensor import Tensor
from ..dataset import Dataset


class ImageArrayDataset(Dataset):
    """Images (``(N, H, W)`` or ``(N, H, W, C)`` uint8) and labels held in memory.

    Item ``i`` is ``(image, label)``: the image as a NumPy array in HWC layout (what
    ``transforms.ToTensor`` takes) and the label as an int, each passed through
    ``transform``/``target_transform`` when given. Without transforms the ``DataLoader``
    slices whole batches at once: ``(uint8 tensor (N, H, W[, C]), int64 tensor (N,))``.

    Attributes:
        data: the images as one uint8 array.
        targets: the labels as an int64 array.
        classes: the class names.
    """

    classes: list = []

    def __init__(self, data: np.ndarray, targets: np.ndarray, transform=None,
                 target_transform=None) -> None:
        self.data = data
        self.targets = np.asarray(targets, dtype=np.int64)
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self) -> int:
        return self.data.shape[0]

    def __getitem__(self, index: int):
        img, target = self.data[index], int(self.targets[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def _get_batch(self, indices) -> list:
        return [Tensor(self.data.take(indices, axis=0)), Tensor(self.targets.take(indices, axis=0))]

    @property
    def class_to_idx(self) -> dict:
        return {c: i for i, c in enumerate(self.classes)}

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({len(self)} images of shape {self.data.shape[1:]}, "
                f"{len(self.classes)} classes)")
