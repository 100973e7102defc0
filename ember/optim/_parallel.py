"""Runs an optimiser's elementwise update over its parameters in chunks, on a few threads.

An optimiser step is a dozen elementwise passes over every parameter, and NumPy runs each
ufunc on one core. The step is therefore cut into chunks of at most ``CHUNK`` elements which
a few threads share (NumPy releases the GIL inside its ufunc loops), and each thread owns
small scratch buffers for the update's temporaries, so a step allocates no parameter-sized
arrays. The update itself is written once, for arrays of any shape; this module only decides
which slices it runs on.

Example:
    >>> import ember
    >>> ember.optim.get_num_threads() >= 1
    True
"""

from __future__ import annotations

import os
import queue
import threading

CHUNK = 1 << 18  # elements per chunk: bounds the scratch memory (chunks no smaller run slower)
MIN_PER_THREAD = 1 << 16  # below this many elements per thread a hand-off costs more than it saves


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


_num_threads = min(_usable_cpus(), 8)


def set_num_threads(n: int) -> None:
    """Set how many threads an optimiser step may use on the CPU (1 runs it serially).

    Example:
        >>> import ember
        >>> old = ember.optim.get_num_threads()
        >>> ember.optim.set_num_threads(1)
        >>> ember.optim.get_num_threads()
        1
        >>> ember.optim.set_num_threads(old)
    """
    global _num_threads
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive int, got {n!r}")
    _num_threads = n


def get_num_threads() -> int:
    """The number of threads an optimiser step may use on the CPU."""
    return _num_threads


class _Pool:
    """Daemon worker threads that run ``fn(part)`` and report back (None or the exception)."""

    def __init__(self) -> None:
        self.tasks: queue.SimpleQueue = queue.SimpleQueue()
        self.done: queue.SimpleQueue = queue.SimpleQueue()
        self.threads: list[threading.Thread] = []
        self.lock = threading.Lock()

    def _work(self) -> None:
        while True:
            fn, part = self.tasks.get()
            try:
                fn(part)
            except BaseException as exc:  # handed to the caller, which re-raises it
                self.done.put(exc)
            else:
                self.done.put(None)

    def map(self, fn, parts: list) -> None:
        """Run ``fn`` on every part: the first here, the rest on worker threads."""
        with self.lock:  # one step at a time uses the workers
            while len(self.threads) < len(parts) - 1:
                t = threading.Thread(target=self._work, name="ember-optim", daemon=True)
                t.start()
                self.threads.append(t)
            for part in parts[1:]:
                self.tasks.put((fn, part))
            error = None
            try:
                fn(parts[0])
            except BaseException as exc:
                error = exc
            for _ in parts[1:]:
                exc = self.done.get()
                if exc is not None and error is None:
                    error = exc
            if error is not None:
                raise error


_pool = _Pool()


def _reset_after_fork() -> None:
    global _pool
    _pool = _Pool()  # a forked child has none of the parent's threads


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def run(update, jobs: list, n_scratch: int, scratch: list) -> None:
    """Apply ``update(xp, coefs, p, g, bufs, s)`` to every job, chunked and threaded.

    Args:
        update: the per-parameter update on backend arrays; ``s`` holds ``n_scratch``
            scratch arrays shaped like ``p``.
        jobs: ``(xp, coefs, p, g, bufs)`` per parameter; ``g`` and ``bufs`` are shaped like
            ``p``, and ``bufs`` (the optimiser state) are C-contiguous.
        scratch: one dict per thread, kept by the optimiser between steps.
    """
    pieces = []  # (xp, coefs, p, g, bufs, n) with p, g, bufs 1-d views or whole arrays
    total = 0
    for xp, coefs, p, g, bufs in jobs:
        n = p.size
        if p.flags.c_contiguous:
            if not g.flags.c_contiguous:
                g = xp.ascontiguousarray(g)
            pieces.append((xp, coefs, p.reshape(-1), g.reshape(-1),
                           tuple(b.reshape(-1) for b in bufs), True))
        else:  # a strided parameter is updated whole, with its own temporaries
            pieces.append((xp, coefs, p, g, bufs, False))
        total += n
    n_threads = max(1, min(_num_threads, total // MIN_PER_THREAD))
    while len(scratch) < n_threads:
        scratch.append({})
    per_thread = -(-total // n_threads)
    parts = [[] for _ in range(n_threads)]
    t, room = 0, per_thread
    for xp, coefs, p, g, bufs, flat in pieces:
        if not flat:
            parts[t].append((xp, coefs, p, g, bufs))
            room -= p.size
            if room <= 0 and t < n_threads - 1:
                t, room = t + 1, per_thread
            continue
        start, n = 0, p.size
        while start < n:
            stop = min(n, start + CHUNK, start + max(room, 1))
            parts[t].append((xp, coefs, p[start:stop], g[start:stop],
                             tuple(b[start:stop] for b in bufs)))
            room -= stop - start
            start = stop
            if room <= 0 and t < n_threads - 1:
                t, room = t + 1, per_thread
    work = [(update, n_scratch, scratch[i], part) for i, part in enumerate(parts) if part]
    if len(work) == 1:
        _run_part(work[0])
    elif work:
        _pool.map(_run_part, work)


def _run_part(work) -> None:
    update, n_scratch, scratch, part = work
    for xp, coefs, p, g, bufs in part:
        n = p.size
        if p.ndim == 1 and n <= CHUNK:
            key = (xp.__name__, p.dtype)
            s = scratch.get(key)
            if s is None:
                s = scratch[key] = [xp.empty(CHUNK, dtype=p.dtype) for _ in range(n_scratch)]
            s = [a[:n] for a in s]
        else:
            s = [xp.empty(p.shape, dtype=p.dtype) for _ in range(n_scratch)]
        update(xp, coefs, p, g, bufs, s)
