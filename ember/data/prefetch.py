"""The DataLoader's multi-worker iterator: hands out batch tasks, reorders what comes back.

The main thread keeps ``prefetch_factor * num_workers`` tasks in flight. Each task goes to
the worker with the fewest outstanding tasks (round-robin over the live streams for an
``IterableDataset``, where each worker reads its own copy). Results are buffered by task
number and handed out in order. While waiting, the iterator watches the workers: a worker
that dies, or a wait longer than ``timeout``, raises ``WorkerError`` instead of hanging.
Workers stop when the epoch ends (unless persistent), when the iterator is garbage-collected
or abandoned, and on errors; they hold no reference to the iterator, so dropping the last
reference is enough.
"""

from __future__ import annotations

import multiprocessing as mp
import multiprocessing.connection as mpc
import pickle
import queue
import signal
import threading
import time

from ..tensor import Tensor
from .worker import EXHAUSTED, ExceptionInfo, WorkerError, process_main, thread_main

_POLL = 0.25  # seconds between liveness checks while waiting for thread workers
_JOIN = 2.0  # seconds a worker gets to stop before it is terminated
_GRACE = 0.1  # the same after an error (a dead or stuck worker)


class WorkerIter:
    """Iterates over a DataLoader's batches, loaded ahead by worker threads or processes."""

    def __init__(self, loader) -> None:
        self._kind = loader.worker_type
        self._n = loader.num_workers
        self._prefetch = loader.prefetch_factor
        self._timeout = loader.timeout
        self._in_order = loader.in_order
        self._persistent = loader.persistent_workers
        self._iterable = loader._iterable
        self._pin = loader._pin_fn()
        self._outstanding = [0] * self._n
        self._epoch = 0
        self._shut = True
        self._workers: list = []
        seed = loader._draw_base_seed()
        if self._kind == "thread":
            self._start_threads(loader, seed)
        else:
            self._start_processes(loader, seed)
        self._shut = False
        self._reset(loader, seed)

    # ------------------------------------------------------------------ workers
    def _start_threads(self, loader, seed: int) -> None:
        self._done = threading.Event()
        self._results: queue.Queue = queue.Queue()
        self._tasks = []
        for w in range(self._n):
            tasks: queue.Queue = queue.Queue()
            t = threading.Thread(
                target=thread_main, name=f"ember-data-worker-{w}", daemon=True,
                args=(w, self._n, seed + w, loader._make_fetcher(), loader.worker_init_fn,
                      tasks, self._results, self._done))
            self._tasks.append(tasks)
            self._workers.append(t)
            t.start()

    def _start_processes(self, loader, seed: int) -> None:
        ctx = _context(loader.multiprocessing_context)
        self._done = ctx.Event()
        self._tasks, self._conns = [], []
        for w in range(self._n):
            task_recv, task_send = ctx.Pipe(duplex=False)
            result_recv, result_send = ctx.Pipe(duplex=False)
            p = ctx.Process(
                target=process_main, name=f"ember-data-worker-{w}", daemon=True,
                args=(w, self._n, seed + w, loader._make_fetcher(), loader.worker_init_fn,
                      task_recv, result_send, self._done))
            self._tasks.append(task_send)
            self._conns.append(result_recv)
            try:
                p.start()
            except (pickle.PicklingError, AttributeError, TypeError) as exc:
                for c in (task_recv, result_send):
                    c.close()
                self._shut = False
                self._shutdown_workers()
                raise TypeError(
                    "DataLoader: worker_type='process' sends the dataset, collate_fn and "
                    f"worker_init_fn to each worker by pickling, and that failed: {exc}. Define "
                    "them at module level (no lambdas or local classes), or use "
                    "worker_type='thread'") from exc
            finally:
                task_recv.close()
                result_send.close()
            self._workers.append(p)

    def _send(self, w: int, task) -> None:
        if self._kind == "thread":
            self._tasks[w].put(task)
            return
        try:
            self._tasks[w].send(task)
        except (BrokenPipeError, OSError):
            self._raise_dead()
            raise

    def _poll(self, timeout: float) -> list:
        """Results that arrived within ``timeout`` seconds (an empty list if none)."""
        items = []
        if self._kind == "thread":
            try:
                items.append(self._results.get(timeout=timeout))
            except queue.Empty:
                return items
            while True:
                try:
                    items.append(self._results.get_nowait())
                except queue.Empty:
                    return items
        ready = mpc.wait(self._conns + [p.sentinel for p in self._workers], timeout)
        for conn in self._conns:
            if conn in ready:
                try:
                    while conn.poll():
                        items.append(conn.recv())
                except (EOFError, OSError):  # the worker has gone; reported below
                    pass
        return items

    def _raise_dead(self) -> None:
        for w, worker in enumerate(self._workers):
            if self._kind == "thread":
                if not worker.is_alive():
                    self._shutdown_workers(_GRACE)
                    raise WorkerError(f"DataLoader: thread worker {w} stopped unexpectedly")
                continue
            code, pid = worker.exitcode, worker.pid
            if code is not None:
                self._shutdown_workers(_GRACE)
                how = f"exit code {code}"
                if code < 0:
                    how = f"signal {signal.Signals(-code).name}"
                raise WorkerError(
                    f"DataLoader: worker {w} (pid {pid}) exited unexpectedly ({how}); "
                    "its batches are lost. If it ran out of memory, lower batch_size or "
                    "num_workers; num_workers=0 runs the loading in the main process, where "
                    "errors are easier to see")

    def _shutdown_workers(self, grace: float = 0.0) -> None:
        """Stop the workers: ask, wait up to ``_JOIN`` s (``grace`` after errors), then
        terminate processes. A thread busy in ``__getitem__`` stops after its batch."""
        if self._shut:
            return
        self._shut = True
        self._done.set()
        wait = grace or _JOIN
        if self._kind == "thread":
            for tasks in self._tasks:
                tasks.put(None)
            deadline = time.monotonic() + wait
            for t in self._workers:
                t.join(max(0.0, deadline - time.monotonic()))
            return
        for conn in self._tasks:
            try:
                conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        for conn in self._conns:  # a worker blocked sending a batch gets EPIPE and stops
            conn.close()
        deadline = time.monotonic() + wait
        for p in self._workers:
            p.join(max(0.0, deadline - time.monotonic()))
            if p.exitcode is None:
                p.terminate()
                p.join(1.0)
            if p.exitcode is None:
                p.kill()
                p.join()
            p.close()
        for conn in self._tasks:
            conn.close()

    def __del__(self) -> None:
        try:
            self._shutdown_workers()
        except Exception:  # interpreter shutdown: modules may already be gone
            pass

    # ------------------------------------------------------------------ epochs and tasks
    def _reset(self, loader, seed: int | None = None) -> None:
        """Start an epoch: a new base seed, the sampler's new order, tasks in flight."""
        self._epoch += 1
        self._base_seed = loader._draw_base_seed() if seed is None else seed
        self._indices = loader._index_source()
        self._next_tid = 0
        self._rcvd = 0
        self._pending = 0
        self._buffer: dict = {}
        self._sent_all = False
        self._active = list(range(self._n))
        self._rr = 0
        for _ in range(self._prefetch * self._n):
            if not self._put_task():
                break

    def _put_task(self) -> bool:
        if self._sent_all:
            return False
        if self._iterable:
            if not self._active:
                self._sent_all = True
                return False
            w = self._active[self._rr % len(self._active)]
            self._rr += 1
            index = None
        else:
            try:
                index = next(self._indices)
            except StopIteration:
                self._sent_all = True
                return False
            out = self._outstanding
            w = min(range(self._n), key=out.__getitem__)
        self._send(w, (self._epoch, self._next_tid, index, self._base_seed))
        self._outstanding[w] += 1
        self._next_tid += 1
        self._pending += 1
        return True

    def __iter__(self):
        return self

    def __next__(self):
        buffer = self._buffer
        while True:
            if self._in_order:
                key = self._rcvd if self._rcvd in buffer else None
            else:
                key = next(iter(buffer)) if buffer else None
            if key is not None:
                data = buffer.pop(key)
                self._rcvd += 1
                if data is EXHAUSTED:
                    self._put_task()
                    continue
                self._put_task()
                if type(data) is ExceptionInfo:
                    data.reraise()
                return data if self._pin is None else pin_batch(data, self._pin)
            if self._pending == 0:
                if not self._persistent:
                    self._shutdown_workers()
                raise StopIteration
            if self._shut:
                raise WorkerError("DataLoader: the workers of this iterator were shut down "
                                  "after an error; start a new epoch with iter(loader)")
            try:
                self._receive()
            except KeyboardInterrupt:  # Ctrl-C: stop the workers even if a traceback
                self._shutdown_workers(_GRACE)  # keeps this iterator alive
                raise

    def _receive(self) -> None:
        """Wait until at least one result of this epoch arrives; raise on death or timeout."""
        timeout = self._timeout
        start = time.monotonic()
        while True:
            wait = _POLL if self._kind == "thread" else 1.0
            if timeout:
                wait = max(0.0, min(wait, start + timeout - time.monotonic()))
            got = False
            for epoch, tid, w, data in self._poll(wait):
                if epoch is None:  # worker_init_fn failed
                    self._shutdown_workers()
                    data.reraise()
                self._outstanding[w] -= 1
                if epoch != self._epoch:
                    continue  # a batch of an abandoned epoch
                if data is EXHAUSTED and w in self._active:
                    self._active.remove(w)
                self._buffer[tid] = data
                self._pending -= 1
                got = True
            if got:
                return
            self._raise_dead()
            if timeout and time.monotonic() - start >= timeout:
                self._shutdown_workers(_GRACE)
                raise WorkerError(
                    f"DataLoader: no batch arrived from the workers within timeout={timeout} s "
                    f"(waiting for batch {self._rcvd} of this epoch). A worker may be stuck "
                    "in the dataset's __getitem__; raise the timeout if loading is just slow")


def pin_batch(data, pin):
    """Apply ``pin`` (a backend's page-locking copy) to every tensor in a batch."""
    if isinstance(data, Tensor):
        return Tensor(pin(data.data)) if data.device.type == "cpu" else data
    if isinstance(data, dict):
        return {k: pin_batch(v, pin) for k, v in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(pin_batch(v, pin) for v in data))
    if isinstance(data, (list, tuple)):
        return type(data)(pin_batch(v, pin) for v in data)
    return data


def _context(spec):
    if spec is None:
        return mp.get_context("spawn")
    if isinstance(spec, str):
        return mp.get_context(spec)
    return spec
