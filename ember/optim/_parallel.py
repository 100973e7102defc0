"""Runs an optimiser's elementwise update over its parameters in chunks, on a few threads.

An optimiser step is a dozen elementwise passes over every parameter, and NumPy runs each
ufunc on one core. The step is therefore cut into chunks of at most ``CHUNK`` elements which
the calling thread and a few workers claim one by one (NumPy releases the GIL inside its
ufunc loops), and each thread owns small scratch buffers for the update's temporaries, so a
step allocates no parameter-sized arrays. Small parameters (biases, normalisation weights)
whose step coefficients are equal are packed into one flat job first, and copied back after.
The update itself is written once, for arrays of any shape, and must be elementwise; this
module only decides which slices it runs on, and where.

Example:
    >>> import ember
    >>> ember.optim.get_num_threads() >= 1
    True
"""

from __future__ import annotations

import itertools
import os
import queue
import threading

CHUNK = 1 << 16  # elements per chunk: small enough to share out, large enough to amortise calls
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


class _Job:
    """One step's chunks, claimed one at a time by whichever thread is free (work sharing).

    The calling thread works through the chunks too, so a worker that the OS does not
    schedule in time only takes fewer chunks; the caller never waits for work nobody
    started.
    """

    def __init__(self, update, n_scratch: int, scratch: list, chunks: list) -> None:
        self.update, self.n_scratch, self.scratch, self.chunks = update, n_scratch, scratch, chunks
        self.claim = itertools.count().__next__  # atomic under the GIL
        self.finished = 0
        self.error: BaseException | None = None
        self.cond = threading.Condition()

    def work(self, slot: int) -> None:
        n = len(self.chunks)
        while True:
            i = self.claim()
            if i >= n:
                return
            try:
                _run_chunk(self.update, self.n_scratch, self.scratch[slot], self.chunks[i])
            except BaseException as exc:  # re-raised by the calling thread
                if self.error is None:
                    self.error = exc
            with self.cond:
                self.finished += 1
                if self.finished == n:
                    self.cond.notify_all()

    def wait(self) -> None:
        with self.cond:
            while self.finished < len(self.chunks):
                self.cond.wait()
        if self.error is not None:
            raise self.error


class _Pool:
    """Daemon worker threads that help with the jobs put on their queue."""

    def __init__(self) -> None:
        self.tasks: queue.SimpleQueue = queue.SimpleQueue()
        self.threads: list[threading.Thread] = []
        self.lock = threading.Lock()

    def _serve(self) -> None:
        while True:
            job, slot = self.tasks.get()
            job.work(slot)

    def run(self, job: _Job, n_threads: int) -> None:
        with self.lock:
            while len(self.threads) < n_threads - 1:
                t = threading.Thread(target=self._serve, name="ember-optim", daemon=True)
                t.start()
                self.threads.append(t)
        for slot in range(1, n_threads):
            self.tasks.put((job, slot))
        job.work(0)
        job.wait()


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
    if jobs and jobs[0][0].__name__ != "numpy":  # GPU arrays: whole arrays, this thread only
        for xp, coefs, p, g, bufs in jobs:  # (its CUDA stream; also inside graph capture)
            update(xp, coefs, p, g, bufs, [xp.empty(p.shape, dtype=p.dtype)
                                           for _ in range(n_scratch)])
        return
    jobs, packs = _pack_small(jobs)
    chunks = []
    total = 0
    for xp, coefs, p, g, bufs in jobs:
        n = p.size
        total += n
        if not p.flags.c_contiguous:  # a strided parameter is updated whole
            chunks.append((xp, coefs, p, g, bufs))
            continue
        if not g.flags.c_contiguous:
            g = xp.ascontiguousarray(g)
        p, g, bufs = p.reshape(-1), g.reshape(-1), tuple(b.reshape(-1) for b in bufs)
        if n <= CHUNK:
            chunks.append((xp, coefs, p, g, bufs))
            continue
        for a in range(0, n, CHUNK):
            b = a + CHUNK
            chunks.append((xp, coefs, p[a:b], g[a:b], tuple(x[a:b] for x in bufs)))
    n_threads = max(1, min(_num_threads, total // MIN_PER_THREAD, len(chunks)))
    if n_threads > 1 and _onednn_active():
        n_threads = 1  # oneDNN's OpenMP workers spin on the other cores after each primitive
    while len(scratch) < n_threads:
        scratch.append({})
    job = _Job(update, n_scratch, scratch, chunks)
    if n_threads == 1:
        job.work(0)
        job.wait()
    else:
        _pool.run(job, n_threads)
    for members, flat in packs:  # the packed parameters and states back into place
        _unpack(members, flat)


SMALL = 1 << 12  # elements: parameters up to this size with equal coefficients are packed


def _pack_small(jobs: list) -> tuple[list, list]:
    """``(jobs, packs)``: small C-contiguous parameters whose step coefficients and dtypes
    are equal become one flat job (their parameters, gradients and states concatenated),
    so a dozen ufunc calls serve all of them instead of a dozen each (a network's biases and
    normalisation weights: often most of its parameter tensors). The update is elementwise,
    so the bits are the same; ``_unpack`` copies the results back."""
    groups: dict = {}
    rest = []
    for job in jobs:
        _, coefs, p, g, bufs = job
        if p.size > SMALL or not (p.flags.c_contiguous and g.flags.c_contiguous and
                                  all(b.flags.c_contiguous for b in bufs)):
            rest.append(job)
            continue
        key = (coefs, p.dtype, g.dtype, tuple(b.dtype for b in bufs))
        try:
            groups.setdefault(key, []).append(job)
        except TypeError:  # coefficients that are not plain numbers
            rest.append(job)
    packs = []
    for members in groups.values():
        if len(members) == 1:
            rest.append(members[0])
            continue
        xp, coefs = members[0][0], members[0][1]
        flat = (xp, coefs, xp.concatenate([m[2].reshape(-1) for m in members]),
                xp.concatenate([m[3].reshape(-1) for m in members]),
                tuple(xp.concatenate([m[4][k].reshape(-1) for m in members])
                      for k in range(len(members[0][4]))))
        rest.append(flat)
        packs.append((members, flat))
    return rest, packs


def _unpack(members: list, flat: tuple) -> None:
    at = 0
    for _, _, p, _, bufs in members:
        n = p.size
        p.reshape(-1)[...] = flat[2][at:at + n]
        for b, fb in zip(bufs, flat[4]):
            b.reshape(-1)[...] = fb[at:at + n]
        at += n


def _onednn_active() -> bool:
    """While oneDNN runs the CPU's convolutions and products, its OpenMP workers keep
    spinning on the other cores for milliseconds after each primitive: a worker thread here
    would share a core with one, and the step measured slower (W3 1.23 -> 0.96 of PyTorch
    with the update on the calling thread alone)."""
    if not _ONEDNN:  # imported once: this runs every step
        from ..backend import onednn

        _ONEDNN.append(onednn)
    return _ONEDNN[0].active()


_ONEDNN: list = []


def _run_chunk(update, n_scratch: int, scratch: dict, chunk) -> None:
    xp, coefs, p, g, bufs = chunk
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
