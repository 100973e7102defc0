"""Datasets and functions for worker tests, at module level so process workers can load them."""

import os
import time

import numpy as np

from ember.data import Dataset, IterableDataset, get_worker_info, sample_generator

INIT_MARK = {"value": None}


class SeededItems(Dataset):
    """Item i: its index, a draw from sample_generator(), and the loading worker's id."""

    def __init__(self, n=23, fail_at=None, die_at=None, sleep=0.0):
        self.n, self.fail_at, self.die_at, self.sleep = n, fail_at, die_at, sleep

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if self.sleep:
            time.sleep(self.sleep)
        if i == self.fail_at:
            raise ValueError(f"sample {i} is broken")
        if i == self.die_at:
            os._exit(7)
        info = get_worker_info()
        return {"i": i, "r": float(sample_generator().np.random()),
                "x": np.full(3, i, np.float32), "worker": -1 if info is None else info.id,
                "mark": -1 if INIT_MARK["value"] is None else INIT_MARK["value"]}


class Stream(IterableDataset):
    """0..n-1, each worker reading every num_workers-th item (its shard)."""

    def __init__(self, n=10):
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        for i in range(start, self.n, step):
            yield {"i": i, "r": float(sample_generator().np.random())}


def mark_worker(worker_id):
    INIT_MARK["value"] = 100 + worker_id


def failing_init(worker_id):
    raise RuntimeError(f"init of worker {worker_id} failed")


class Unpicklable(Dataset):
    def __init__(self):
        self.fn = lambda i: i

    def __len__(self):
        return 4

    def __getitem__(self, i):
        return self.fn(i)
