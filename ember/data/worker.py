"""What runs inside a DataLoader worker (a thread or a process), and what workers share.

A worker receives tasks ``(epoch, task_id, indices, base_seed)`` and answers
``(epoch, task_id, worker_id, batch)``; a batch that failed travels as an ``ExceptionInfo``
carrying the worker's traceback and the sample index. Randomness inside a batch comes from
``sample_generator()``, reseeded per batch from ``(base_seed, task_id)``, so a seed gives the
same batches whichever worker (or how many workers) loads them.

Example:
    >>> from ember.data import get_worker_info, sample_generator
    >>> get_worker_info() is None          # not inside a worker
    True
    >>> import ember
    >>> sample_generator() is ember.random.default_generator
    True
"""

from __future__ import annotations

import queue
import random
import signal
import sys
import threading
import traceback
from dataclasses import dataclass

import numpy as np

from ..errors import EmberError
from ..random import Generator, default_generator

_local = threading.local()


class WorkerError(EmberError, RuntimeError):
    """A DataLoader worker failed: it died, timed out, or raised an exception of its own."""


@dataclass
class WorkerInfo:
    """What a worker knows about itself (``get_worker_info()`` inside a worker).

    Attributes:
        id: the worker's number, ``0 .. num_workers - 1``.
        num_workers: how many workers the loader runs.
        seed: the worker's seed (the loader's base seed plus ``id``).
        dataset: the worker's copy of the dataset (for sharding an ``IterableDataset``).
    """

    id: int
    num_workers: int
    seed: int
    dataset: object


def get_worker_info() -> WorkerInfo | None:
    """The ``WorkerInfo`` of the calling worker, or None outside DataLoader workers."""
    return getattr(_local, "worker_info", None)


def _batch_seed(base_seed: int, key: int) -> int:
    state = np.random.SeedSequence([base_seed, key]).generate_state(2, np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


def sample_generator() -> Generator:
    """The generator random transforms draw from while a batch is being loaded.

    Inside a ``DataLoader`` it is seeded per batch from the loader's seed and the batch's
    position (per worker stream for an ``IterableDataset``), so the same seed gives the same
    augmented batches with any number of workers. Elsewhere it is ember's default generator.
    """
    gen = getattr(_local, "gen", None)
    if gen is not None:
        return gen
    key = getattr(_local, "key", None)
    if key is None:
        return default_generator
    gen = _local.gen = Generator(seed=_batch_seed(*key))
    return gen


def set_batch_key(key, gen: Generator | None = None) -> None:
    """Make ``sample_generator()`` draw from the stream of ``key`` (None: the default).

    ``gen`` resumes a stream already started (an ``IterableDataset`` read in several calls).
    """
    _local.key = key
    _local.gen = gen


def take_stream_generator() -> Generator | None:
    """The generator of the current stream, if one was created (to resume it later)."""
    return getattr(_local, "gen", None)


class ExceptionInfo:
    """An exception raised while loading a batch, ready to cross to the main process."""

    def __init__(self, exc: BaseException, where: str, worker_id: int, kind: str) -> None:
        self.exc_type = type(exc)
        self.type_name = type(exc).__name__
        self.where = where
        self.worker_id = worker_id
        self.kind = kind
        # A thread hands over the exception itself; SystemExit and the like are reported as
        # WorkerError, so that a dataset's sys.exit() cannot end the main program.
        self.exc = exc if kind == "thread" and isinstance(exc, Exception) else None
        self.text = "" if self.exc is not None else "".join(
            traceback.format_exception(type(exc), exc, exc.__traceback__))
        if not isinstance(exc, Exception) or (kind == "process" and
                                              not _picklable(self.exc_type)):
            self.exc_type = WorkerError

    def message(self) -> str:
        return (f"Caught {self.type_name} in DataLoader {self.kind} worker "
                f"{self.worker_id} while loading {self.where}")

    def reraise(self):
        """Raise the worker's exception in the caller, with the worker traceback attached."""
        # (no exception is kept in a local variable: exception -> traceback -> this frame
        # -> exception would be a cycle that keeps the DataLoader iterator alive)
        if self.exc is not None:  # a thread: the original object, traceback included
            if hasattr(self.exc, "add_note"):
                self.exc.add_note(self.message())
            try:
                raise self.exc
            finally:
                self.exc = None
        msg = f"{self.message()}.\nOriginal traceback in the worker:\n{self.text}"
        if issubclass(self.exc_type, KeyError):  # KeyError quotes its message: unreadable
            raise WorkerError(msg)
        try:
            self.exc_type(msg)
        except Exception:
            raise WorkerError(msg) from None
        raise self.exc_type(msg)


class _Exhausted:
    """Answer of an iterable-dataset worker whose stream has ended."""

    def __reduce__(self):
        return "EXHAUSTED"  # unpickles as the module's single instance, so ``is`` works


EXHAUSTED = _Exhausted()


class Fetcher:
    """Loads one batch: items one by one then ``collate_fn``, or one ``_get_batch`` call."""

    def __init__(self, dataset, auto_collation: bool, collate_fn, drop_last: bool,
                 batch_size: int | None, fast: bool, iterable: bool) -> None:
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.batch_size = batch_size
        self.fast = fast
        self.iterable = iterable
        self.where = ""
        self.epoch = None
        self.stream = None
        self.done = False

    def fetch(self, index, epoch=None):
        if self.iterable:
            return self._next_from_stream(epoch)
        try:
            if self.fast:
                return self.dataset._get_batch(index)
            if not self.auto_collation:
                return self.collate_fn(self.dataset[index])
        except BaseException:  # noted, then re-raised
            self.where = (f"the batch of sample indices {_short(index)}" if self.fast else
                          f"sample index {index!r}")
            raise
        data = []
        dataset, append = self.dataset, data.append
        try:
            for i in index:
                append(dataset[i])
        except BaseException:  # noted, then re-raised
            self.where = f"sample index {i!r}"
            raise
        try:
            return self.collate_fn(data)
        except BaseException:  # noted, then re-raised
            self.where = f"collate_fn on the batch of sample indices {_short(index)}"
            raise

    def _next_from_stream(self, epoch):
        if epoch != self.epoch:
            self.epoch, self.stream, self.done = epoch, iter(self.dataset), False
        if self.done:
            return EXHAUSTED
        self.where = "the next item of the IterableDataset"
        if not self.auto_collation:
            try:
                item = next(self.stream)
            except StopIteration:
                self.done = True
                return EXHAUSTED
            return self.collate_fn(item)
        data = []
        for _ in range(self.batch_size):
            try:
                data.append(next(self.stream))
            except StopIteration:
                self.done = True
                break
        if not data or (self.done and self.drop_last and len(data) < self.batch_size):
            return EXHAUSTED
        self.where = "collate_fn on a batch of the IterableDataset"
        return self.collate_fn(data)


def _short(index) -> str:
    items = list(index[:8]) if hasattr(index, "__getitem__") else list(index)
    text = ", ".join(str(int(i)) for i in items[:8])
    return f"[{text}{', ...' if len(index) > 8 else ''}]"


def worker_loop(kind: str, worker_id: int, num_workers: int, seed: int, fetcher: Fetcher,
                init_fn, get_task, put, done) -> None:
    """Serve tasks until a None task arrives or ``done`` is set (threads and processes)."""
    _local.worker_info = WorkerInfo(worker_id, num_workers, seed, fetcher.dataset)
    if init_fn is not None:
        try:
            init_fn(worker_id)
        except BaseException as exc:  # reported to the main process, never swallowed
            put((None, None, worker_id, ExceptionInfo(exc, "worker_init_fn", worker_id, kind)))
            return
    while True:
        task = get_task()
        if task is None or done.is_set():
            return
        epoch, tid, index, base_seed = task
        if fetcher.iterable:
            if epoch != fetcher.epoch:
                set_batch_key((base_seed, worker_id))
        else:
            set_batch_key((base_seed, tid))
        try:
            data = fetcher.fetch(index, epoch)
        except BaseException as exc:  # every failure goes back to the main process
            data = ExceptionInfo(exc, fetcher.where, worker_id, kind)
        put((epoch, tid, worker_id, data))


def thread_main(worker_id, num_workers, seed, fetcher, init_fn, tasks: queue.Queue,
                results: queue.Queue, done) -> None:
    """Entry point of a thread worker."""
    worker_loop("thread", worker_id, num_workers, seed, fetcher, init_fn, tasks.get,
                results.put, done)


def process_main(worker_id, num_workers, seed, fetcher, init_fn, task_conn, result_conn,
                 done) -> None:
    """Entry point of a process worker: tasks arrive on one pipe, results leave on another.

    Results go through a sender thread, so the worker keeps loading while the main process
    is busy; SIGINT is ignored because the main process owns shutdown.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    default_generator.manual_seed(seed)
    random.seed(seed)
    outbox: queue.Queue = queue.Queue()
    sender = threading.Thread(target=_send_loop, args=(outbox, result_conn), daemon=True)
    sender.start()

    def get_task():
        try:
            return task_conn.recv()
        except (EOFError, OSError):  # the main process has gone: stop
            return None

    try:
        worker_loop("process", worker_id, num_workers, seed, fetcher, init_fn, get_task,
                    outbox.put, done)
    finally:
        outbox.put(None)
        sender.join()
        sys.stdout.flush()


def _send_loop(outbox: queue.Queue, conn) -> None:
    while True:
        item = outbox.get()
        if item is None:
            return
        try:
            conn.send(item)
        except (BrokenPipeError, EOFError, ConnectionError, OSError):
            return
        except Exception as exc:  # the batch could not be pickled: report that instead
            epoch, tid, worker_id, _ = item
            info = ExceptionInfo(exc, "sending the batch to the main process (batches must be "
                                 "picklable with worker_type='process')", worker_id, "process")
            try:
                conn.send((epoch, tid, worker_id, info))
            except Exception:
                return


def _picklable(obj) -> bool:
    import pickle

    try:
        pickle.dumps(obj)
        return True
    except Exception:
        return False
WorkerError.__module__ = "ember.data"
