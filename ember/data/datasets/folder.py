"""``ImageFolder``: images sorted into one sub-folder per class, decoded with Pillow.

Layout (torchvision's)::

    root/cat/001.png
    root/cat/nested/002.jpg
    root/dog/003.png

Classes are the sub-folder names in sorted order; their indices follow that order.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from ..dataset import Dataset
from ._files import DatasetFormatError, DatasetNotFoundError, check_root

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp",
                  ".gif")


def _pil():
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("ImageFolder decodes images with Pillow: pip install pillow") from None
    return Image


def pil_loader(path: str) -> np.ndarray:
    """Decode an image file to an RGB ``(H, W, 3)`` uint8 array."""
    image = _pil()
    with open(path, "rb") as f:
        img = image.open(f)
        return np.array(img.convert("RGB"))


class DatasetFolder(Dataset):
    """Files sorted into one sub-folder per class; ``loader(path)`` reads one sample.

    Args:
        root: the folder holding one sub-folder per class.
        loader: reads a file into a sample.
        extensions: file endings to include (case-insensitive); exclusive with is_valid_file.
        transform: applied to each sample.
        target_transform: applied to each class index.
        is_valid_file: ``fn(path) -> bool`` choosing the files instead of ``extensions``.
        skip_bad: read every file once at construction and leave out those that fail
            (listed in ``self.skipped``, with a warning); by default a file that fails
            raises an error naming it when it is loaded.

    Attributes:
        classes, class_to_idx, samples (``(path, class_index)`` pairs), targets.
    """

    def __init__(self, root, loader, extensions=None, transform=None, target_transform=None,
                 is_valid_file=None, skip_bad: bool = False) -> None:
        name = type(self).__name__
        self.root = check_root(name, root)
        if (extensions is None) == (is_valid_file is None):
            raise ValueError(f"{name}: give exactly one of extensions and is_valid_file")
        if is_valid_file is None:
            ends = tuple(e.lower() for e in extensions)
            is_valid_file = lambda p: p.lower().endswith(ends)  # noqa: E731
        self.loader = loader
        self.extensions = extensions
        self.transform = transform
        self.target_transform = target_transform
        self.classes, self.class_to_idx = self.find_classes(self.root)
        self.samples = self._scan(is_valid_file, extensions)
        self.skipped: list = []
        if skip_bad:
            self._drop_bad()
        self.targets = [t for _, t in self.samples]

    def find_classes(self, root: str) -> tuple[list, dict]:
        """The class names (sorted sub-folder names) and their indices."""
        classes = sorted(e.name for e in os.scandir(root) if e.is_dir())
        if not classes:
            raise DatasetNotFoundError(
                f"{type(self).__name__}: no class folders in {root}. Expected one sub-folder "
                f"per class holding its files, e.g. {os.path.join(root, 'cat', '001.png')}")
        return classes, {c: i for i, c in enumerate(classes)}

    def _scan(self, is_valid_file, extensions) -> list:
        samples, empty = [], []
        for c in self.classes:
            found = []
            folder = os.path.join(self.root, c)
            for dirpath, dirnames, files in os.walk(folder, followlinks=True):
                dirnames.sort()
                for f in sorted(files):
                    path = os.path.join(dirpath, f)
                    if is_valid_file(path):
                        found.append((path, self.class_to_idx[c]))
            if not found:
                empty.append(c)
            samples += found
        if empty:
            which = f"extensions {', '.join(extensions)}" if extensions else "is_valid_file"
            raise DatasetNotFoundError(
                f"{type(self).__name__}: found no files matching {which} for the classes "
                f"{', '.join(empty)} in {self.root}; put at least one file in each class folder")
        return samples

    def _drop_bad(self) -> None:
        good = []
        for path, target in self.samples:
            try:
                self.loader(path)
            except Exception as exc:  # any decoding failure: the file is left out, and listed
                self.skipped.append((path, f"{type(exc).__name__}: {exc}"))
            else:
                good.append((path, target))
        if self.skipped:
            shown = ", ".join(p for p, _ in self.skipped[:3])
            warnings.warn(f"{type(self).__name__}: skipped {len(self.skipped)} file(s) that "
                          f"could not be read: {shown}{' ...' if len(self.skipped) > 3 else ''}",
                          stacklevel=3)
        self.samples = good

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        path, target = self.samples[index]
        try:
            sample = self.loader(path)
        except Exception as exc:
            raise DatasetFormatError(
                f"{type(self).__name__}: cannot read {path}: {type(exc).__name__}: {exc}. "
                "Replace or delete the file, or pass skip_bad=True to leave unreadable files "
                "out") from exc
        if self.transform is not None:
            sample = self.transform(sample)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return sample, target


class ImageFolder(DatasetFolder):
    """Images in one sub-folder per class, decoded with Pillow to RGB ``(H, W, 3)`` uint8 arrays.

    Args:
        root: the folder holding one sub-folder per class.
        transform: applied to each image array, e.g. ``Compose([ToTensor(), Resize(32)])``.
        target_transform: applied to each class index.
        loader: decodes a file (default: Pillow, converted to RGB).
        is_valid_file: ``fn(path) -> bool`` choosing the files (default: image extensions).
        skip_bad: decode every image at construction and leave out the undecodable ones.

    Example:
        >>> from ember.data.datasets import ImageFolder
        >>> try:
        ...     ImageFolder("/no/such/folder")
        ... except FileNotFoundError as e:
        ...     print(type(e).__name__)
        DatasetNotFoundError
    """

    def __init__(self, root, transform=None, target_transform=None, loader=pil_loader,
                 is_valid_file=None, skip_bad: bool = False) -> None:
        super().__init__(root, loader, None if is_valid_file else IMG_EXTENSIONS, transform,
                         target_transform, is_valid_file, skip_bad)
        self.imgs = self.samples
