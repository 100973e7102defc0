"""Datasets: the map-style ``Dataset``, ``IterableDataset`` and the in-memory ``ArrayDataset``.

A map-style dataset has ``__getitem__(i)`` and ``__len__``; an iterable dataset has
``__iter__``. ``ArrayDataset`` (and ``TensorDataset``, PyTorch's name) keeps whole arrays in
memory: the ``DataLoader`` then slices each batch with one fancy-index instead of collating
samples one by one. ``Subset``, ``ConcatDataset`` and ``random_split`` combine datasets.

Example:
    >>> import numpy as np
    >>> from ember.data import ArrayDataset, random_split
    >>> ds = ArrayDataset(np.zeros((10, 3), np.float32), np.arange(10))
    >>> x, y = ds[4]
    >>> x.shape, int(y)
    ((3,), 4)
    >>> train, test = random_split(ds, [0.8, 0.2])
    >>> len(train), len(test)
    (8, 2)
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence

import numpy as np

from ..errors import ShapeError
from ..random import Generator, _gen
from ..tensor import Tensor


class Dataset:
    """A map-style dataset: subclasses define ``__getitem__(index)`` and ``__len__()``.

    Example:
        >>> from ember.data import Dataset
        >>> class Squares(Dataset):
        ...     def __len__(self):
        ...         return 5
        ...     def __getitem__(self, i):
        ...         return i * i
        >>> Squares()[3]
        9
    """

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A dataset that is a stream: subclasses define ``__iter__``.

    With worker processes or threads each worker iterates its own copy; use
    ``ember.data.get_worker_info()`` inside ``__iter__`` to give each worker its own shard.

    Example:
        >>> from ember.data import IterableDataset
        >>> class Count(IterableDataset):
        ...     def __iter__(self):
        ...         return iter(range(3))
        >>> list(Count())
        [0, 1, 2]
    """

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __add__(self, other):
        return ChainDataset([self, other])


def _as_array(a, i: int):
    if isinstance(a, Tensor):
        return a.data
    if not (hasattr(a, "shape") and hasattr(a, "dtype") and hasattr(a, "__getitem__")):
        a = np.asarray(a)
    if np.dtype(a.dtype).kind in "OUSV":
        raise TypeError(f"ArrayDataset: array {i} has dtype {a.dtype}; give numeric arrays")
    return a


class ArrayDataset(Dataset):
    """Whole arrays held in memory; item ``i`` is ``tuple(Tensor(a[i]) for a in arrays)``.

    The ``DataLoader`` recognises it and builds each batch with one fancy-index per array
    (``a[indices]``), which is many times faster than collating items one by one.

    Args:
        *arrays: NumPy arrays, tensors or array-likes with the same first dimension.

    Example:
        >>> import numpy as np
        >>> from ember.data import ArrayDataset
        >>> ds = ArrayDataset(np.ones((4, 2)), np.arange(4))
        >>> len(ds), ds[1][0].shape
        (4, (2,))
    """

    def __init__(self, *arrays) -> None:
        if not arrays:
            raise ValueError(f"{type(self).__name__}: give at least one array")
        arrays = tuple(_as_array(a, i) for i, a in enumerate(arrays))
        for i, a in enumerate(arrays):
            if a.ndim == 0:
                raise ShapeError(f"{type(self).__name__}: array {i} is 0-d; arrays need a "
                                 "first (sample) dimension")
        n = {a.shape[0] for a in arrays}
        if len(n) > 1:
            shapes = ", ".join(str(tuple(a.shape)) for a in arrays)
            raise ShapeError(f"{type(self).__name__}: arrays must have the same first "
                             f"dimension (number of samples), got shapes {shapes}")
        self.arrays = arrays

    def __len__(self) -> int:
        return self.arrays[0].shape[0]

    def __getitem__(self, index):
        # ``a[i, ...]`` is a 0-d array (not a NumPy scalar) when ``a`` is 1-d
        return tuple(Tensor(a[index, ...]) for a in self.arrays)

    def _get_batch(self, indices) -> list:
        """The collated batch for ``indices`` (what ``default_collate`` would build).

        ``take`` along axis 0 gathers the rows about a fifth faster than fancy indexing.
        """
        return [Tensor(a.take(indices, axis=0)) for a in self.arrays]

    @property
    def tensors(self) -> tuple:
        """The arrays as tensors (sharing memory)."""
        return tuple(Tensor(a) for a in self.arrays)


class TensorDataset(ArrayDataset):
    """PyTorch's name for an ``ArrayDataset`` of tensors: item ``i`` is ``(t[i] for t)``.

    Example:
        >>> import ember
        >>> from ember.data import TensorDataset
        >>> ds = TensorDataset(ember.zeros(6, 3), ember.arange(6))
        >>> ds[2][1].item()
        2
    """


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order.

    Example:
        >>> from ember.data import Subset
        >>> Subset(list(range(10)), [7, 2])[1]
        2
    """

    def __init__(self, dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, index):
        if isinstance(index, list):
            return [self.dataset[self.indices[i]] for i in index]
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)

    def _get_batch(self, indices) -> list:
        mapped = np.asarray(self.indices)[np.asarray(indices, dtype=np.intp)]
        return self.dataset._get_batch(mapped)


def _has_fast_path(dataset) -> bool:
    """Whether ``dataset._get_batch`` builds whole batches (arrays held in memory)."""
    if isinstance(dataset, Subset):
        return _has_fast_path(dataset.dataset)
    return callable(getattr(dataset, "_get_batch", None)) and getattr(
        dataset, "transform", None) is None and getattr(dataset, "target_transform", None) is None


class ConcatDataset(Dataset):
    """Several map-style datasets one after the other.

    Example:
        >>> from ember.data import ConcatDataset
        >>> ds = ConcatDataset([[1, 2], [3, 4, 5]])
        >>> len(ds), ds[3]
        (5, 4)
    """

    def __init__(self, datasets: Iterable) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: give at least one dataset")
        for i, d in enumerate(self.datasets):
            if isinstance(d, IterableDataset):
                raise TypeError(f"ConcatDataset: dataset {i} is an IterableDataset; "
                                "use ChainDataset for streams")
        self.cumulative_sizes = list(np.cumsum([len(d) for d in self.datasets]).tolist())

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int):
        n = len(self)
        if index < 0:
            if -index > n:
                raise IndexError(f"ConcatDataset: index {index} out of range for length {n}")
            index += n
        if index >= n:
            raise IndexError(f"ConcatDataset: index {index} out of range for length {n}")
        d = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[d - 1] if d else 0
        return self.datasets[d][index - start]


class ChainDataset(IterableDataset):
    """Several iterable datasets chained one after the other."""

    def __init__(self, datasets: Iterable) -> None:
        self.datasets = list(datasets)

    def __iter__(self):
        for d in self.datasets:
            yield from d


def random_split(dataset, lengths: Sequence, generator: Generator | None = None) -> list:
    """Split ``dataset`` into non-overlapping random ``Subset``s of the given lengths.

    ``lengths`` are counts summing to ``len(dataset)``, or fractions summing to 1 (the
    remainder after flooring is handed out one by one, round-robin, as PyTorch does).

    Example:
        >>> import ember
        >>> from ember.data import random_split
        >>> a, b = random_split(range(10), [3, 7], generator=ember.Generator(seed=1))
        >>> len(a), len(b), sorted(list(a) + list(b)) == list(range(10))
        (3, 7, True)
    """
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(isinstance(x, float) for x in lengths) and math.isclose(sum(lengths), 1):
        if any(x < 0 or x > 1 for x in lengths):
            raise ValueError(f"random_split: fractions must lie in [0, 1], got {lengths}")
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if any(int(x) != x or x < 0 for x in lengths):
        raise ValueError(f"random_split: lengths must be non-negative integers or fractions "
                         f"summing to 1, got {lengths}")
    if sum(lengths) != n:
        raise ValueError(f"random_split: lengths {lengths} sum to {sum(lengths)}, but the "
                         f"dataset has {n} samples")
    perm = _gen(generator).permutation(n).tolist()
    out, start = [], 0
    for size in lengths:
        out.append(Subset(dataset, perm[start:start + int(size)]))
        start += int(size)
    return out
