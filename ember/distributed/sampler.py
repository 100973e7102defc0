"""``DistributedSampler``: each rank visits its own disjoint share of a dataset."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..data.sampler import Sampler
from .group import DistributedError, get_rank, get_world_size


class DistributedSampler(Sampler):
    """Indices for one rank: a shuffled (or ordered) permutation split evenly across ranks.

    Every rank builds the same permutation from ``seed + epoch`` and takes every
    ``num_replicas``-th index starting at its rank, so the ranks never overlap within an
    epoch. Call ``set_epoch(e)`` at the start of each epoch for a new order. Without
    ``drop_last`` the permutation is padded with its own first indices to a multiple of the
    number of ranks (all ranks then run the same number of steps).

    Args:
        dataset: the dataset (only its length is used).
        num_replicas: number of ranks (default: the process group's world size).
        rank: this rank (default: the process group's rank).
        shuffle: permute the indices each epoch.
        seed: the shuffling seed; must be the same on every rank.
        drop_last: drop the tail that does not divide evenly instead of padding.

    Example:
        >>> from ember.distributed import DistributedSampler
        >>> s = DistributedSampler(range(10), num_replicas=2, rank=1, shuffle=False)
        >>> list(s)
        [1, 3, 5, 7, 9]
        >>> s = DistributedSampler(range(10), num_replicas=2, rank=0, seed=0)
        >>> s.set_epoch(3)
        >>> len(s)
        5
    """

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        n = get_world_size() if num_replicas is None else num_replicas
        r = get_rank() if rank is None else rank
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise DistributedError(f"DistributedSampler: num_replicas must be a positive int, "
                                   f"got {n!r}")
        if isinstance(r, bool) or not isinstance(r, int) or not 0 <= r < n:
            raise DistributedError(f"DistributedSampler: rank must be in 0..{n - 1} for "
                                   f"num_replicas={n}, got {r!r}")
        self.dataset, self.num_replicas, self.rank = dataset, n, r
        self.shuffle, self.seed, self.drop_last = bool(shuffle), int(seed), bool(drop_last)
        self.epoch = 0
        length = len(dataset)
        if drop_last:
            self.num_samples = length // n
        else:
            self.num_samples = -(-length // n)
        self.total_size = self.num_samples * n

    def set_epoch(self, epoch: int) -> None:
        """Use the permutation of epoch ``epoch`` (the same on every rank)."""
        self.epoch = int(epoch)

    def _index_array(self) -> np.ndarray:
        length = len(self.dataset)
        if self.shuffle:
            rng = np.random.Generator(np.random.PCG64(self.seed + self.epoch))
            idx = rng.permutation(length)
        else:
            idx = np.arange(length)
        if self.total_size > length:  # pad with the first indices (repeating if needed)
            idx = np.resize(idx, self.total_size)
        else:
            idx = idx[:self.total_size]
        return idx[self.rank::self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        return iter(self._index_array().tolist())

    def __len__(self) -> int:
        return self.num_samples
