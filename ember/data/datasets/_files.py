"""Finding dataset files on disk, and the errors that say what is missing or malformed."""

from __future__ import annotations

import os

import numpy as np

from ...errors import EmberError


class DatasetNotFoundError(EmberError, FileNotFoundError):
    """A dataset's folder or files are missing (ember never downloads: it says what goes where)."""


class DatasetFormatError(EmberError, ValueError):
    """A dataset file exists but is not in the expected format (truncated, wrong magic, size)."""


def find_file(dataset: str, dirs: list[str], names: list[str], expected: list[str],
              source: str) -> str:
    """The first of ``names`` found in one of ``dirs``; otherwise a message listing all files."""
    for d in dirs:
        for name in names:
            path = os.path.join(d, name)
            if os.path.isfile(path):
                return path
    where = " or ".join(dirs)
    raise DatasetNotFoundError(
        f"{dataset}: cannot find {names[0]} in {where}. The dataset needs these files: "
        f"{', '.join(expected)}. ember does not download data: get them from {source} and put "
        f"them in {dirs[-1]}"
    )


def check_root(dataset: str, root) -> str:
    root = os.path.expanduser(os.fspath(root))
    if not os.path.isdir(root):
        raise DatasetNotFoundError(f"{dataset}: the folder {root} does not exist; create it and "
                                   "put the dataset files there (see the class docstring)")
    return root


def check_labels(dataset: str, path: str, labels: np.ndarray, n_classes: int) -> None:
    if labels.size and int(labels.max()) >= n_classes:
        raise DatasetFormatError(f"{dataset}: {path} holds label {int(labels.max())}, but there "
                                 f"are only {n_classes} classes; the file is corrupt or belongs "
                                 "to another dataset")


DatasetNotFoundError.__module__ = DatasetFormatError.__module__ = "ember.data.datasets"
