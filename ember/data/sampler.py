"""Samplers: the order in which a ``DataLoader`` visits a map-style dataset.

``SequentialSampler`` and ``RandomSampler`` yield sample indices; ``BatchSampler`` groups
them into lists. Random samplers draw from an ``ember.Generator``: pass one for a
reproducible order, or leave it out to take a fresh seed from ember's default generator
(``ember.manual_seed``) on each pass, as PyTorch does.

Example:
    >>> import ember
    >>> from ember.data import BatchSampler, RandomSampler, SequentialSampler
    >>> list(BatchSampler(SequentialSampler(range(5)), batch_size=2, drop_last=False))
    [[0, 1], [2, 3], [4]]
    >>> sorted(RandomSampler(range(4), generator=ember.Generator(seed=0)))
    [0, 1, 2, 3]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice

import numpy as np

from ..random import Generator, default_generator


def _numpy_rng(generator: Generator | None) -> np.random.Generator:
    """The generator's NumPy stream, or a fresh one seeded from the default generator."""
    if generator is not None:
        return generator.np
    seed = int(default_generator.np.integers(0, 2**63 - 1))
    return np.random.Generator(np.random.PCG64(seed))


def _check_count(name: str, what: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name}: {what} must be a positive integer, got {value!r}")
    return int(value)


class Sampler:
    """Base class: ``__iter__`` yields indices (or lists of indices for batch samplers)."""

    def __iter__(self) -> Iterator:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


class SequentialSampler(Sampler):
    """Indices ``0, 1, ..., len(data_source) - 1`` in order."""

    def __init__(self, data_source) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)

    def _index_array(self) -> np.ndarray:
        return np.arange(len(self.data_source))


class RandomSampler(Sampler):
    """Indices in random order: a permutation, or draws with ``replacement=True``.

    Args:
        data_source: the dataset (only its length is used).
        replacement: draw ``num_samples`` indices independently (with repeats).
        num_samples: how many indices per pass (default ``len(data_source)``); without
            replacement, more than the length chains several permutations.
        generator: the ``ember.Generator`` to draw from.

    Example:
        >>> import ember
        >>> from ember.data import RandomSampler
        >>> s = RandomSampler(range(100), generator=ember.Generator(seed=3))
        >>> len(list(s)), len(set(s))
        (100, 100)
    """

    def __init__(self, data_source, replacement: bool = False, num_samples: int | None = None,
                 generator: Generator | None = None) -> None:
        if not isinstance(replacement, bool):
            raise TypeError(f"RandomSampler: replacement must be a bool, got {replacement!r}")
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = (None if num_samples is None else
                             _check_count("RandomSampler", "num_samples", num_samples))
        self.generator = generator

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __len__(self) -> int:
        return self.num_samples

    def _index_array(self) -> np.ndarray:
        n, k = len(self.data_source), self.num_samples
        rng = _numpy_rng(self.generator)
        if self.replacement:
            return rng.integers(0, n, size=k)
        parts = [rng.permutation(n) for _ in range(k // n)]
        if k % n:
            parts.append(rng.permutation(n)[: k % n])
        return np.concatenate(parts) if len(parts) != 1 else parts[0]

    def __iter__(self) -> Iterator[int]:
        return iter(self._index_array().tolist())


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a random order (no replacement).

    Example:
        >>> import ember
        >>> from ember.data import SubsetRandomSampler
        >>> sorted(SubsetRandomSampler([5, 9, 2], generator=ember.Generator(seed=0)))
        [2, 5, 9]
    """

    def __init__(self, indices: Sequence[int], generator: Generator | None = None) -> None:
        self.indices = indices
        self.generator = generator

    def __len__(self) -> int:
        return len(self.indices)

    def _index_array(self) -> np.ndarray:
        perm = _numpy_rng(self.generator).permutation(len(self.indices))
        return np.asarray(self.indices)[perm]

    def __iter__(self) -> Iterator[int]:
        return iter(self._index_array().tolist())


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn with probability proportional to ``weights``.

    Args:
        weights: one non-negative weight per sample (need not sum to 1).
        num_samples: how many indices per pass.
        replacement: draw with repeats (default); without, each index appears at most once.
        generator: the ``ember.Generator`` to draw from.

    Example:
        >>> import ember
        >>> from ember.data import WeightedRandomSampler
        >>> s = WeightedRandomSampler([0.0, 1.0, 0.0], 4, generator=ember.Generator(seed=0))
        >>> list(s)
        [1, 1, 1, 1]
    """

    def __init__(self, weights, num_samples: int, replacement: bool = True,
                 generator: Generator | None = None) -> None:
        w = np.asarray(getattr(weights, "data", weights), dtype=np.float64)
        if w.ndim != 1 or w.size == 0:
            raise ValueError(f"WeightedRandomSampler: weights must be a non-empty 1-d sequence, "
                             f"got shape {w.shape}")
        if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError("WeightedRandomSampler: weights must be finite, non-negative and "
                             "not all zero")
        if not isinstance(replacement, bool):
            raise TypeError(f"WeightedRandomSampler: replacement must be a bool, got "
                            f"{replacement!r}")
        self.num_samples = _check_count("WeightedRandomSampler", "num_samples", num_samples)
        nonzero = int(np.count_nonzero(w))
        if not replacement and self.num_samples > nonzero:
            raise ValueError(f"WeightedRandomSampler: cannot draw {self.num_samples} distinct "
                             f"indices without replacement: only {nonzero} weights are non-zero")
        self.weights = w
        self._p = w / w.sum()
        self.replacement = replacement
        self.generator = generator

    def __len__(self) -> int:
        return self.num_samples

    def _index_array(self) -> np.ndarray:
        rng = _numpy_rng(self.generator)
        return rng.choice(self._p.size, size=self.num_samples, replace=self.replacement,
                          p=self._p)

    def __iter__(self) -> Iterator[int]:
        return iter(self._index_array().tolist())


class BatchSampler(Sampler):
    """Group the indices of ``sampler`` into lists of ``batch_size``.

    Args:
        sampler: any iterable of indices (a ``Sampler``, a list, a range).
        batch_size: indices per batch (a positive integer).
        drop_last: drop the final batch when it is smaller than ``batch_size``.

    Example:
        >>> from ember.data import BatchSampler
        >>> list(BatchSampler(range(5), 2, drop_last=True))
        [[0, 1], [2, 3]]
    """

    def __init__(self, sampler: Iterable, batch_size: int, drop_last: bool) -> None:
        self.batch_size = _check_count("BatchSampler", "batch_size", batch_size)
        if not isinstance(drop_last, bool):
            raise TypeError(f"BatchSampler: drop_last must be a bool, got {drop_last!r}")
        self.sampler = sampler
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list]:
        it, size = iter(self.sampler), self.batch_size
        while True:
            batch = list(islice(it, size))
            if not batch or (self.drop_last and len(batch) < size):
                return
            yield batch

    def _index_batches(self) -> Iterator[np.ndarray] | None:
        """The same batches as ``__iter__``, as index arrays, when the sampler can give them."""
        get = getattr(self.sampler, "_index_array", None)
        if get is None:
            if isinstance(self.sampler, range):
                get = lambda: np.arange(self.sampler.start, self.sampler.stop,  # noqa: E731
                                        self.sampler.step)
            else:
                return None
        return self._slices(get())

    def _slices(self, order: np.ndarray) -> Iterator[np.ndarray]:
        size, n = self.batch_size, len(order)
        stop = n - n % size if self.drop_last else n
        for start in range(0, stop, size):
            yield order[start:start + size]

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
