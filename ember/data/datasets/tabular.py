"""Tabular data held in memory: numeric CSV files and NumPy ``.npy``/``.npz`` files.

Both are ``ArrayDataset``s, so the ``DataLoader`` slices their batches with one fancy-index.
``.npy``/``.npz`` files are read with ``allow_pickle=False``: arrays of Python objects are
refused, never unpickled.

Example:
    >>> import os, tempfile
    >>> from ember.data.datasets import CSVDataset
    >>> path = os.path.join(tempfile.mkdtemp(), "iris.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("length,width,species\\n5.1,3.5,setosa\\n7.0,3.25,versicolor\\n")
    >>> ds = CSVDataset(path, target="species")
    >>> ds.classes, ds[1][0].tolist(), ds[1][1].item()
    (['setosa', 'versicolor'], [7.0, 3.25], 1)
"""

from __future__ import annotations

import csv
import os

import numpy as np

from ... import dtypes as _dt
from ..dataset import ArrayDataset
from ._files import DatasetFormatError, DatasetNotFoundError


def _exists(name: str, path) -> str:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DatasetNotFoundError(f"{name}: no file at {path}")
    return path


def _numbers(values: list, lines: list, column: str, path: str, dtype) -> np.ndarray:
    try:
        return np.array(values, dtype=np.float64).astype(dtype, copy=False)
    except ValueError:
        for r, row in enumerate(values):
            for c, v in enumerate(row if isinstance(row, list) else [row]):
                try:
                    float(v)
                except ValueError:
                    col = column if column else f"column {c}"
                    raise DatasetFormatError(
                        f"CSVDataset: {path} line {lines[r]}, {col}: cannot read {v!r} as a "
                        "number") from None
        raise


class CSVDataset(ArrayDataset):
    """The rows of a numeric CSV file; one column may be the target.

    Args:
        path: the CSV file.
        target: the target column, by name (needs a header) or index (negative counts from
            the end), or None for features only. Non-numeric targets become class indices
            (sorted names in ``self.classes``); integer-valued targets become int64, others
            float32.
        header: the first line names the columns.
        delimiter: the field separator.
        dtype: the feature dtype (float32).

    Item ``i`` is ``(features, target)`` (or ``(features,)`` without a target).

    Attributes:
        columns: the feature column names; classes: the target classes (or None).
    """

    def __init__(self, path, target: str | int | None = -1, header: bool = True,
                 delimiter: str = ",", dtype=None) -> None:
        path = _exists("CSVDataset", path)
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f, delimiter=delimiter)
            rows, lines = [], []
            for row in reader:
                if any(cell.strip() for cell in row):
                    rows.append([cell.strip() for cell in row])
                    lines.append(reader.line_num)
        if not rows or (header and len(rows) == 1):
            raise DatasetFormatError(f"CSVDataset: {path} holds no data rows")
        names = rows[0] if header else [f"column {i}" for i in range(len(rows[0]))]
        if header:
            rows, lines = rows[1:], lines[1:]
        width = len(names)
        for row, line in zip(rows, lines):
            if len(row) != width:
                raise DatasetFormatError(f"CSVDataset: {path} line {line} has {len(row)} fields, "
                                         f"the {'header' if header else 'first line'} has {width}")
        t = self._target_index(target, names, path)
        keep = [i for i in range(width) if i != t]
        feat_dtype = _dt.to_dtype(dtype).np if dtype is not None else np.float32
        features = _numbers([[row[i] for i in keep] for row in rows], lines, "", path,
                            feat_dtype)
        self.columns = [names[i] for i in keep]
        self.classes = None
        if t is None:
            super().__init__(features)
            return
        super().__init__(features, self._targets([row[t] for row in rows]))

    @staticmethod
    def _target_index(target, names: list, path: str) -> int | None:
        if target is None:
            return None
        if isinstance(target, str):
            if target not in names:
                raise ValueError(f"CSVDataset: {path} has no column {target!r}; its columns are "
                                 f"{', '.join(names)}")
            return names.index(target)
        if not -len(names) <= target < len(names):
            raise ValueError(f"CSVDataset: target column {target} is out of range for "
                             f"{len(names)} columns in {path}")
        return target % len(names)

    def _targets(self, values: list) -> np.ndarray:
        try:
            numbers = np.array(values, dtype=np.float64)
        except ValueError:
            self.classes = sorted(set(values))
            index = {c: i for i, c in enumerate(self.classes)}
            return np.array([index[v] for v in values], dtype=np.int64)
        if np.all(np.isfinite(numbers)) and np.all(numbers == np.round(numbers)):
            return numbers.astype(np.int64)
        return numbers.astype(np.float32)


class NumpyDataset(ArrayDataset):
    """Arrays from a ``.npy`` file (one array) or a ``.npz`` archive (several, by name).

    Args:
        path: the ``.npy`` or ``.npz`` file.
        keys: for ``.npz``, the arrays to use, in item order (default: all, in stored order).
        mmap_mode: for ``.npy``, memory-map instead of reading (``"r"``), for sets larger
            than RAM.

    Item ``i`` is ``tuple(array[i] for each array)``.
    """

    def __init__(self, path, keys: list | None = None, mmap_mode: str | None = None) -> None:
        path = _exists("NumpyDataset", path)
        with open(path, "rb") as f:
            magic = f.read(6)
        if magic != b"\x93NUMPY" and magic[:4] != b"PK\x03\x04":
            raise DatasetFormatError(f"NumpyDataset: {path} is not a .npy or .npz file (it "
                                     f"starts with {magic!r})")
        try:
            loaded = np.load(path, allow_pickle=False, mmap_mode=mmap_mode)
        except ValueError as exc:
            if "allow_pickle" in str(exc):
                raise DatasetFormatError(f"NumpyDataset: {path} holds Python objects, which "
                                         "would need unpickling; ember reads only numeric "
                                         "arrays") from None
            raise DatasetFormatError(f"NumpyDataset: cannot read {path}: {exc}") from None
        except (OSError, EOFError) as exc:
            raise DatasetFormatError(f"NumpyDataset: cannot read {path} as .npy/.npz: "
                                     f"{exc}") from None
        if isinstance(loaded, np.ndarray):
            if keys is not None:
                raise ValueError(f"NumpyDataset: {path} is a single .npy array; keys apply to "
                                 ".npz archives")
            self.keys = None
            super().__init__(loaded)
            return
        with loaded:
            names = list(loaded.files)
            keys = names if keys is None else list(keys)
            missing = [k for k in keys if k not in names]
            if missing:
                raise KeyError(f"NumpyDataset: {path} has no array named {missing[0]!r}; it "
                               f"holds {', '.join(names)}")
            try:
                arrays = [loaded[k] for k in keys]
            except ValueError as exc:
                raise DatasetFormatError(f"NumpyDataset: array in {path} cannot be read "
                                         f"without unpickling: {exc}") from None
        self.keys = keys
        super().__init__(*arrays)
