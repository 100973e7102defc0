"""CIFAR-10 and CIFAR-100 from their binary versions (not the pickled Python versions).

A CIFAR-10 binary file is a run of 3073-byte records: one label byte, then 3072 pixel bytes
(the 1024 red values of the 32x32 image row by row, then green, then blue). CIFAR-100
records carry two label bytes (coarse, fine) before the pixels: 3074 bytes each.
"""

from __future__ import annotations

import os

import numpy as np

from ._arrays import ImageArrayDataset
from ._files import DatasetFormatError, check_labels, check_root, find_file

_PIXELS = 3 * 32 * 32


def read_cifar_binary(path: str, n_labels: int, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """Read one binary CIFAR file: images ``(N, 32, 32, 3)`` uint8 and labels ``(N, n_labels)``."""
    raw = np.fromfile(path, dtype=np.uint8)
    size = n_labels + _PIXELS
    if raw.size == 0 or raw.size % size:
        raise DatasetFormatError(
            f"{dataset}: {path} has {raw.size} bytes, which is not a whole number of {size}-byte "
            f"records ({n_labels} label byte{'s' if n_labels > 1 else ''} + {_PIXELS} pixel "
            "bytes). The file is truncated, or it is not the binary version (ember does not "
            "read the pickled 'python version')")
    records = raw.reshape(-1, size)
    images = records[:, n_labels:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), records[:, :n_labels].astype(np.int64)


def _read_names(path: str | None, default: list) -> list:
    if path is None:
        return default
    with open(path, encoding="utf-8") as f:
        names = [line.strip() for line in f if line.strip()]
    return names if len(names) == len(default) else default


class CIFAR10(ImageArrayDataset):
    """CIFAR-10: 50,000 train / 10,000 test 32x32 colour images in 10 classes.

    Files (the "binary version") in ``root/cifar-10-batches-bin`` or in ``root``:
    ``data_batch_1.bin`` ... ``data_batch_5.bin`` and ``test_batch.bin``
    (``batches.meta.txt``, if present, names the classes). Nothing is downloaded.

    Args:
        root: the folder holding ``cifar-10-batches-bin`` (or the files themselves).
        train: the training set (True) or the test set.
        transform: applied to each image (a ``(32, 32, 3)`` uint8 array), e.g. ``ToTensor()``.
        target_transform: applied to each label.
    """

    folder = "cifar-10-batches-bin"
    source = "www.cs.toronto.edu/~kriz/cifar.html (the CIFAR-10 binary version)"
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck"]
    train_files = [f"data_batch_{i}.bin" for i in range(1, 6)]
    test_files = ["test_batch.bin"]
    meta_file = "batches.meta.txt"
    n_labels = 1

    def __init__(self, root, train: bool = True, transform=None, target_transform=None) -> None:
        name = type(self).__name__
        root = check_root(name, root)
        self.root, self.train = root, bool(train)
        dirs = self._dirs = [root, os.path.join(root, self.folder)]
        expected = self.train_files + self.test_files
        paths = [find_file(name, dirs, [f], expected, self.source)
                 for f in (self.train_files if self.train else self.test_files)]
        parts = [read_cifar_binary(p, self.n_labels, name) for p in paths]
        images = np.concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
        labels = np.concatenate([p[1] for p in parts]) if len(parts) > 1 else parts[0][1]
        self.classes = _read_names(self._meta(self.meta_file), type(self).classes)
        targets = self._targets(labels, paths)
        super().__init__(images, targets, transform, target_transform)

    def _meta(self, name: str) -> str | None:
        paths = [os.path.join(d, name) for d in self._dirs]
        return next((m for m in paths if os.path.isfile(m)), None)

    def _targets(self, labels: np.ndarray, paths: list) -> np.ndarray:
        check_labels(type(self).__name__, ", ".join(paths), labels[:, 0], len(self.classes))
        return labels[:, 0]


class CIFAR100(CIFAR10):
    """CIFAR-100: 50,000 train / 10,000 test 32x32 colour images in 100 classes (20 coarse).

    Files (the "binary version") in ``root/cifar-100-binary`` or in ``root``: ``train.bin``
    and ``test.bin`` (``fine_label_names.txt`` and ``coarse_label_names.txt``, if present,
    name the classes).

    Args:
        root, train, transform, target_transform: as for ``CIFAR10``.
        label_mode: ``"fine"`` (100 classes, default) or ``"coarse"`` (20 superclasses).

    Attributes:
        coarse_targets, fine_targets: both label sets, whatever ``label_mode`` is.
    """

    folder = "cifar-100-binary"
    source = "www.cs.toronto.edu/~kriz/cifar.html (the CIFAR-100 binary version)"
    classes = [f"class_{i}" for i in range(100)]
    train_files = ["train.bin"]
    test_files = ["test.bin"]
    meta_file = "fine_label_names.txt"
    n_labels = 2

    def __init__(self, root, train: bool = True, transform=None, target_transform=None,
                 label_mode: str = "fine") -> None:
        if label_mode not in ("fine", "coarse"):
            raise ValueError(f"CIFAR100: label_mode must be 'fine' or 'coarse', got "
                             f"{label_mode!r}")
        self.label_mode = label_mode
        super().__init__(root, train, transform, target_transform)

    def _targets(self, labels: np.ndarray, paths: list) -> np.ndarray:
        where = ", ".join(paths)
        check_labels("CIFAR100", where, labels[:, 0], 20)
        check_labels("CIFAR100", where, labels[:, 1], 100)
        self.coarse_targets, self.fine_targets = labels[:, 0], labels[:, 1]
        if self.label_mode == "coarse":
            self.classes = _read_names(self._meta("coarse_label_names.txt"),
                                       [f"superclass_{i}" for i in range(20)])
            return self.coarse_targets
        return self.fine_targets
