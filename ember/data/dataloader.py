"""``DataLoader``: batches from a dataset, prefetched by worker threads or processes.

With ``num_workers=0`` batches are loaded in the calling thread. With workers, up to
``prefetch_factor * num_workers`` batches are loaded ahead while the model computes: by
threads (the default; NumPy, file reads and image decoding release the GIL) or by processes
(``worker_type="process"``, started with ``spawn``, results sent back through pipes).
Batches always come back in sampler order, and a seed (``generator``) fixes both the order and
every random augmentation drawn from ``sample_generator()``, whatever the number of workers.

Example:
    >>> import numpy as np
    >>> from ember.data import ArrayDataset, DataLoader
    >>> ds = ArrayDataset(np.arange(10, dtype=np.float32).reshape(5, 2), np.arange(5))
    >>> [y.tolist() for _, y in DataLoader(ds, batch_size=2)]
    [[0, 1], [2, 3], [4]]
"""

from __future__ import annotations

import numbers

from ..autograd.grad_mode import state as _grad_state
from ..random import Generator, default_generator
from .collate import default_collate, default_convert
from .dataset import IterableDataset, _has_fast_path
from .prefetch import WorkerIter, pin_batch
from .sampler import BatchSampler, RandomSampler, SequentialSampler
from .worker import EXHAUSTED, Fetcher, set_batch_key, take_stream_generator

WORKER_TYPES = ("thread", "process")


class DataLoader:
    """Iterate over a dataset in batches, optionally shuffled and prefetched by workers.

    Args:
        dataset: a map-style ``Dataset`` (``__getitem__``/``__len__``) or an ``IterableDataset``.
        batch_size: samples per batch; None yields single samples without collation.
        shuffle: visit samples in a new random order each epoch (map-style datasets only).
        sampler: the order of sample indices (exclusive with ``shuffle``).
        batch_sampler: yields whole lists of indices (exclusive with batch_size, shuffle,
            sampler and drop_last).
        num_workers: how many workers load batches ahead; 0 loads in the calling thread.
        collate_fn: turns a list of samples into a batch (``default_collate``).
        pin_memory: put batches in page-locked host memory when a CUDA backend provides it
            (faster host-to-GPU copies); a no-op on a CPU-only installation.
        drop_last: drop the last batch if it is smaller than ``batch_size``.
        timeout: seconds to wait for a batch from the workers before raising (0: no limit;
            a dead worker is reported at once either way).
        worker_init_fn: called as ``fn(worker_id)`` in each worker before it loads data.
        multiprocessing_context: start method for process workers (default ``"spawn"``).
        generator: the ``ember.Generator`` for the order and the per-batch seeds.
        prefetch_factor: batches in flight per worker (default 2).
        persistent_workers: keep workers alive between epochs.
        worker_type: ``"thread"`` (default) or ``"process"``.
        in_order: deliver batches in sampler order (default); False hands out whichever
            batch is ready first.

    With ``ArrayDataset``/``TensorDataset`` (arrays in memory) and the default collate_fn,
    each batch is one fancy-index per array instead of a collation of single samples.

    Example:
        >>> import ember
        >>> from ember.data import DataLoader, TensorDataset
        >>> ds = TensorDataset(ember.arange(6).float(), ember.arange(6))
        >>> loader = DataLoader(ds, batch_size=4, shuffle=True, generator=ember.Generator(seed=0))
        >>> [len(x) for x, y in loader], len(loader)
        ([4, 2], 2)
    """

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler=None, batch_sampler=None, num_workers: int = 0, collate_fn=None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn=None, multiprocessing_context=None,
                 generator: Generator | None = None, *, prefetch_factor: int | None = None,
                 persistent_workers: bool = False, worker_type: str = "thread",
                 in_order: bool = True) -> None:
        _check_args(dataset, batch_size, shuffle, sampler, batch_sampler, num_workers,
                    drop_last, timeout, prefetch_factor, persistent_workers, worker_type)
        self.dataset = dataset
        self._iterable = isinstance(dataset, IterableDataset)
        if batch_sampler is not None:
            batch_size, drop_last = None, False
        elif not self._iterable:
            if sampler is None:
                sampler = (RandomSampler(dataset, generator=generator) if shuffle else
                           SequentialSampler(dataset))
            if batch_size is not None:
                batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self._auto_collation = batch_sampler is not None or (self._iterable and
                                                             batch_size is not None)
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self._fast = (self._auto_collation and collate_fn is default_collate and
                      not self._iterable and _has_fast_path(dataset))
        self.pin_memory = bool(pin_memory)
        self.timeout = float(timeout)
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.generator = generator
        self.prefetch_factor = 2 if prefetch_factor is None else prefetch_factor
        self.persistent_workers = persistent_workers
        self.worker_type = worker_type
        self.in_order = bool(in_order)
        self._iterator = None

    def __iter__(self):
        it = self._new_iterator()
        prof = _grad_state.profiler
        return it if prof is None else prof.data_iterator(it)  # ember.profiler: data wait

    def _new_iterator(self):
        if self.num_workers == 0:
            return _SingleProcessIter(self)
        if not self.persistent_workers:
            return WorkerIter(self)
        if self._iterator is None or self._iterator._shut:
            self._iterator = WorkerIter(self)
        else:
            self._iterator._reset(self)
        return self._iterator

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)  # TypeError for streams without a length, as in PyTorch
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
            return n
        return len(self.batch_sampler) if self._auto_collation else len(self.sampler)

    def __repr__(self) -> str:
        return (f"DataLoader({type(self.dataset).__name__}, batch_size={self.batch_size}, "
                f"num_workers={self.num_workers}, worker_type={self.worker_type!r})")

    # ------------------------------------------------------------------ used by iterators
    def _make_fetcher(self) -> Fetcher:
        return Fetcher(self.dataset, self._auto_collation, self.collate_fn, self.drop_last,
                       self.batch_size, self._fast, self._iterable)

    def _draw_base_seed(self) -> int:
        return int((self.generator or default_generator).np.integers(0, 2**62))

    def _index_source(self):
        """This epoch's indices: lists (or index arrays on the fast path), or single indices."""
        if self._iterable:
            return None
        if not self._auto_collation:
            return iter(self.sampler)
        if self._fast:
            batches = getattr(self.batch_sampler, "_index_batches", lambda: None)()
            if batches is not None:
                return batches
        return iter(self.batch_sampler)

    def _pin_fn(self):
        if not self.pin_memory:
            return None
        from ..backend import try_backend

        cuda, why = try_backend("cuda")
        if cuda is None:  # PyTorch's behaviour: pinning without a GPU is a no-op, said once
            from ..backend.cupy_backend import warn_once

            warn_once("pin_memory", "DataLoader: pin_memory=True has no effect: CUDA is not "
                      f"available ({why}); batches stay in ordinary memory")
            return None
        return cuda.pin_memory


def _check_args(dataset, batch_size, shuffle, sampler, batch_sampler, num_workers, drop_last,
                timeout, prefetch_factor, persistent_workers, worker_type) -> None:
    def bad(msg):
        raise ValueError("DataLoader: " + msg)

    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(
            batch_size, numbers.Integral) or batch_size <= 0):
        bad(f"batch_size must be a positive integer or None, got {batch_size!r}")
    if isinstance(num_workers, bool) or not isinstance(num_workers, numbers.Integral) or \
            num_workers < 0:
        bad(f"num_workers must be an integer >= 0, got {num_workers!r}")
    if not isinstance(timeout, numbers.Real) or timeout < 0:
        bad(f"timeout must be a number of seconds >= 0, got {timeout!r}")
    if worker_type not in WORKER_TYPES:
        bad(f"worker_type must be one of {WORKER_TYPES}, got {worker_type!r}")
    if num_workers == 0 and prefetch_factor is not None:
        bad("prefetch_factor needs num_workers > 0 (there is nothing to prefetch with)")
    if prefetch_factor is not None and (not isinstance(prefetch_factor, numbers.Integral) or
                                        prefetch_factor <= 0):
        bad(f"prefetch_factor must be a positive integer, got {prefetch_factor!r}")
    if persistent_workers and num_workers == 0:
        bad("persistent_workers=True needs num_workers > 0")
    if isinstance(dataset, IterableDataset):
        for name, value in (("shuffle", shuffle), ("sampler", sampler),
                            ("batch_sampler", batch_sampler)):
            if value not in (None, False):
                bad(f"{name} cannot be used with an IterableDataset, whose order is its own; "
                    "shuffle inside the dataset's __iter__ instead")
        return
    if not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
        raise TypeError(f"DataLoader: the dataset ({type(dataset).__name__}) needs __getitem__ "
                        "and __len__ (a map-style Dataset), or must be an IterableDataset")
    if sampler is not None and shuffle:
        bad("shuffle=True cannot be combined with a sampler: the sampler decides the order. "
            "Drop shuffle, or use sampler=RandomSampler(...)")
    if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None or
                                      drop_last):
        bad("batch_sampler yields whole batches, so it excludes batch_size, shuffle, sampler "
            "and drop_last; leave those at their defaults")


class _SingleProcessIter:
    """Loads each batch in the calling thread when it is asked for."""

    def __init__(self, loader: DataLoader) -> None:
        self._fetcher = loader._make_fetcher()
        self._base_seed = loader._draw_base_seed()
        self._indices = loader._index_source()
        self._iterable = loader._iterable
        self._pin = loader._pin_fn()
        self._tid = 0
        self._stream_gen = None

    def __iter__(self):
        return self

    def __next__(self):
        if self._iterable:
            set_batch_key((self._base_seed, 0), self._stream_gen)
            index = None
        else:
            index = next(self._indices)
            set_batch_key((self._base_seed, self._tid))
        self._tid += 1
        try:
            data = self._fetcher.fetch(index, 1)
        except Exception as exc:
            if hasattr(exc, "add_note"):
                exc.add_note(f"raised while the DataLoader was loading {self._fetcher.where}")
            raise
        finally:
            if self._iterable:
                self._stream_gen = take_stream_generator()
            set_batch_key(None)
        if data is EXHAUSTED:
            raise StopIteration
        return data if self._pin is None else pin_batch(data, self._pin)
