"""Loaders for real datasets, read from local files (ember never downloads).

``digits()`` comes with scikit-learn; ``MNIST``/``FashionMNIST`` read IDX files,
``CIFAR10``/``CIFAR100`` the binary versions, ``ImageFolder`` a folder per class (Pillow),
``CSVDataset`` and ``NumpyDataset`` tabular data. A missing folder or file raises
``DatasetNotFoundError`` listing the files expected and where; a malformed one raises
``DatasetFormatError``.
"""

from __future__ import annotations

from ._arrays import ImageArrayDataset
from ._files import DatasetFormatError, DatasetNotFoundError
from .cifar import CIFAR10, CIFAR100, read_cifar_binary
from .digits import digits
from .folder import IMG_EXTENSIONS, DatasetFolder, ImageFolder, pil_loader
from .mnist import MNIST, FashionMNIST, read_idx
from .tabular import CSVDataset, NumpyDataset

__all__ = [
    "CIFAR10", "CIFAR100", "CSVDataset", "DatasetFolder", "DatasetFormatError",
    "DatasetNotFoundError", "FashionMNIST", "IMG_EXTENSIONS", "ImageArrayDataset",
    "ImageFolder", "MNIST", "NumpyDataset", "digits", "pil_loader", "read_cifar_binary",
    "read_idx",
]
