"""What ``fit``/``evaluate``/``predict`` accept as data, turned into batches of tensors.

Arrays (NumPy, ember tensors, nested lists; a list of them for several inputs) are held
whole in memory and batched by indexing, with one permutation per epoch drawn from ember's
default generator (so ``ember.manual_seed`` makes training repeatable and a resumed run can
redraw the same order). An ``ember.data.DataLoader`` (or any re-iterable of ``(x, y)`` or
``(x, y, sample_weight)`` batches) is used as it is.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ShapeError
from ..ops.creation import from_numpy, randperm
from ..tensor import Tensor

__all__ = ["ArrayData", "LoaderData", "adapt", "to_tensor", "unpack"]


def to_tensor(a, what: str = "x") -> Tensor:
    """A tensor for array-like ``a``: float64 NumPy becomes float32 (Keras's floatx)."""
    if isinstance(a, Tensor):
        return a.detach()
    arr = np.asarray(a)
    if arr.dtype == np.float64 or arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    elif arr.dtype.kind in "iu" and arr.dtype != np.uint8:
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "fiub":
        raise TypeError(f"{what}: cannot use an array of dtype {arr.dtype} as training data; "
                        "give numbers")
    return from_numpy(np.ascontiguousarray(arr))


def _structure(x, what: str):
    if isinstance(x, (list, tuple)) and x and all(
            isinstance(a, (np.ndarray, Tensor)) for a in x):
        return [to_tensor(a, f"{what}[{i}]") for i, a in enumerate(x)]
    return to_tensor(x, what)


def _first(x) -> Tensor:
    return x[0] if isinstance(x, list) else x


def _take(x, index):
    if x is None:
        return None
    if isinstance(x, list):
        return [a[index] for a in x]
    return x[index]


def unpack(data) -> tuple:
    """``(x, y, sample_weight)`` from a batch given as ``x``, ``(x,)``, ``(x, y)`` or
    ``(x, y, sample_weight)``."""
    if isinstance(data, (list, tuple)):
        if len(data) == 1:
            return data[0], None, None
        if len(data) == 2:
            return data[0], data[1], None
        if len(data) == 3:
            return data[0], data[1], data[2]
        raise ValueError(f"a batch must be x, (x, y) or (x, y, sample_weight); got a sequence "
                         f"of {len(data)} items")
    return data, None, None


class ArrayData:
    """Whole arrays in memory, batched by index."""

    def __init__(self, x, y=None, sample_weight=None, batch_size: int = 32,
                 what: str = "fit") -> None:
        if x is None:
            raise ValueError(f"{what}: x is required")
        self.x = _structure(x, "x")
        self.y = None if y is None else _structure(y, "y")
        self.sample_weight = None if sample_weight is None else to_tensor(sample_weight).float()
        self.batch_size = _batch_size(batch_size, what)
        n = _first(self.x).shape[0]
        for name, value in (("x", self.x), ("y", self.y), ("sample_weight", self.sample_weight)):
            for i, a in enumerate(value if isinstance(value, list) else [value]):
                if a is not None and a.shape[0] != n:
                    label = name if not isinstance(value, list) else f"{name}[{i}]"
                    raise ShapeError(
                        f"{what}: x has {n} samples but {label} has {a.shape[0]}; x, y and "
                        "sample_weight must have the same first dimension (one entry per sample)")
        self.n = n

    @property
    def num_batches(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def split(self, fraction: float) -> tuple[ArrayData, ArrayData]:
        """Keras's validation_split: the last ``fraction`` of the samples, before shuffling."""
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"validation_split must be in (0, 1), got {fraction!r}")
        cut = int(self.n * (1.0 - fraction))
        if cut == 0 or cut == self.n:
            raise ValueError(f"validation_split={fraction} leaves no samples on one side "
                             f"(there are {self.n})")
        return self._part(slice(0, cut)), self._part(slice(cut, self.n))

    def _part(self, index: slice) -> ArrayData:
        part = ArrayData.__new__(ArrayData)
        part.x, part.y = _take(self.x, index), _take(self.y, index)
        part.sample_weight = _take(self.sample_weight, index)
        part.batch_size, part.n = self.batch_size, index.stop - index.start
        return part

    def order(self, shuffle: bool):
        """One epoch's sample order (None: in order); draws from ember's default generator."""
        return randperm(self.n) if shuffle else None

    def batches(self, order=None, start: int = 0):
        """Yield ``(x, y, sample_weight)`` batches, skipping the first ``start`` ones."""
        bs = self.batch_size
        for b in range(start, self.num_batches):
            lo, hi = b * bs, min((b + 1) * bs, self.n)
            index = slice(lo, hi) if order is None else order[lo:hi]
            yield _take(self.x, index), _take(self.y, index), _take(self.sample_weight, index)

    def first_x(self):
        return _take(self.x, slice(0, min(self.batch_size, self.n)))


class LoaderData:
    """A DataLoader or any re-iterable of batches."""

    def __init__(self, loader, what: str = "fit") -> None:
        if not hasattr(loader, "__iter__"):
            raise TypeError(f"{what}: x must be arrays, a tensor or an iterable of batches "
                            f"(such as ember.data.DataLoader), got {type(loader).__name__}")
        self.loader = loader
        try:
            self._len = len(loader)
        except TypeError:
            self._len = None

    @property
    def num_batches(self):
        return self._len

    def order(self, shuffle: bool):
        return None

    def batches(self, order=None, start: int = 0):
        for i, batch in enumerate(self.loader):
            if i < start:
                continue
            x, y, sw = unpack(batch)
            yield x, y, sw

    def first_x(self):
        for batch in self.loader:
            return unpack(batch)[0]
        raise ValueError("the data loader yielded no batches")

    def split(self, fraction: float):
        raise ValueError("validation_split works with arrays only; for a DataLoader pass "
                         "validation_data=another_loader")


def _batch_size(batch_size, what: str) -> int:
    if batch_size is None:
        return 32
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"{what}: batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def adapt(x, y=None, sample_weight=None, batch_size=None, what: str = "fit"):
    """The adapter for ``x``: arrays/tensors -> ArrayData; a loader -> LoaderData."""
    if isinstance(x, (np.ndarray, Tensor, list, tuple)):
        return ArrayData(x, y, sample_weight, batch_size, what)
    if y is not None:
        raise ValueError(f"{what}: when x is a data loader it yields the labels too; do not "
                         "pass y")
    return LoaderData(x, what)
