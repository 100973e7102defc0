"""MNIST and Fashion-MNIST from their IDX files (gzipped or not), and the IDX reader.

An IDX file is a 4-byte magic number -- two zero bytes, a type code (0x08 uint8, 0x09 int8,
0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64) and the number of dimensions -- then one
big-endian uint32 per dimension, then the values, big-endian, in C order.

Example:
    >>> import gzip, os, struct, tempfile
    >>> from ember.data.datasets import read_idx
    >>> path = os.path.join(tempfile.mkdtemp(), "x-idx1-ubyte.gz")
    >>> with gzip.open(path, "wb") as f:
    ...     _ = f.write(struct.pack(">BBBBI", 0, 0, 8, 1, 3) + bytes([7, 8, 9]))
    >>> read_idx(path).tolist()
    [7, 8, 9]
"""

from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

from ._arrays import ImageArrayDataset
from ._files import DatasetFormatError, check_labels, check_root, find_file

_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    """Read an IDX file (``.gz`` or plain, detected from its bytes) into a NumPy array.

    Raises:
        DatasetFormatError: wrong magic number, truncated or over-long file, bad gzip data.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:
            raise DatasetFormatError(f"read_idx: {path} is a damaged or truncated gzip file "
                                     f"({exc}); download it again") from None
    if len(raw) < 4:
        raise DatasetFormatError(f"read_idx: {path} is truncated: {len(raw)} bytes, but the IDX "
                                 "magic number alone takes 4")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DatasetFormatError(
            f"read_idx: {path} is not an IDX file: it starts with bytes {raw[:4].hex(' ')}, "
            "expected 00 00 <type 08/09/0b/0c/0d/0e> <ndim>")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetFormatError(f"read_idx: {path} is truncated inside its header "
                                 f"({len(raw)} bytes, the header of {ndim} dims takes {header})")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, 4))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    need = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) != need:
        what = "truncated" if len(raw) < need else "longer than its header says"
        raise DatasetFormatError(
            f"read_idx: {path} is {what}: {len(raw)} bytes, but a header of shape {dims} and "
            f"type {dtype.newbyteorder('=').name} needs {need}; download the file again")
    arr = np.frombuffer(raw, dtype, (need - header) // dtype.itemsize, header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))


class MNIST(ImageArrayDataset):
    """The MNIST handwritten digits (60,000 train / 10,000 test 28x28 grey images) from IDX files.

    Files, gzipped or not, in ``root`` or in ``root/MNIST/raw`` (torchvision's layout):
    ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
    ``t10k-labels-idx1-ubyte``. Nothing is downloaded.

    Args:
        root: the folder holding the files.
        train: the training set (True) or the test set.
        transform: applied to each image (a ``(28, 28)`` uint8 array), e.g. ``ToTensor()``.
        target_transform: applied to each label.

    Example:
        >>> from ember.data.datasets import MNIST
        >>> try:
        ...     MNIST("/no/such/folder")
        ... except FileNotFoundError as e:
        ...     print(type(e).__name__)
        DatasetNotFoundError
    """

    folder = "MNIST"
    source = "the MNIST page (yann.lecun.com/exdb/mnist) or a mirror"
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five",
               "6 - six", "7 - seven", "8 - eight", "9 - nine"]
    _files = {True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
              False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}

    def __init__(self, root, train: bool = True, transform=None, target_transform=None) -> None:
        name = type(self).__name__
        root = check_root(name, root)
        self.root, self.train = root, bool(train)
        dirs = [root, os.path.join(root, self.folder, "raw")]
        expected = [f"{f}[.gz]" for pair in self._files.values() for f in pair]
        paths = [find_file(name, dirs, [f, f + ".gz"], expected, self.source)
                 for f in self._files[self.train]]
        images, labels = read_idx(paths[0]), read_idx(paths[1])
        if images.ndim != 3 or images.dtype != np.uint8:
            raise DatasetFormatError(f"{name}: {paths[0]} holds a {images.dtype} array of shape "
                                     f"{images.shape}; expected uint8 images (N, H, W)")
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise DatasetFormatError(f"{name}: {paths[1]} holds labels of shape {labels.shape} "
                                     f"for {images.shape[0]} images in {paths[0]}")
        check_labels(name, paths[1], labels, len(self.classes))
        super().__init__(images, labels, transform, target_transform)


class FashionMNIST(MNIST):
    """Fashion-MNIST (Zalando's clothing images), in MNIST's IDX format and file names.

    Files in ``root`` or ``root/FashionMNIST/raw``; see ``MNIST`` for the arguments.
    """

    folder = "FashionMNIST"
    source = "github.com/zalandoresearch/fashion-mnist"
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]
