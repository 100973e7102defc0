"""The MPI backend: collectives on NumPy arrays through mpi4py, on a communication thread.

Collectives run one after another on a dedicated thread (MPI requires every rank to issue
them in the same order; one thread keeps the program's order). mpi4py releases the GIL inside
MPI, so an all-reduce proceeds while the main thread computes the rest of backward.
Point-to-point messages use a second communicator and non-blocking calls polled by the
waiting thread, so a send and a receive in flight at once never deadlock each other.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
import zlib

import numpy as np

from ..backend import backend_of
from ..errors import DTypeError, ShapeError
from .group import DistributedError, ProcessGroup, Work, mismatch_error

_NATIVE = frozenset("f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 c8 c16 b1".split())
_INLINE_BYTES = 1 << 16  # synchronous all-reduces up to this size skip the thread hop
_yield = getattr(os, "sched_yield", lambda: time.sleep(0))


def _describe(arr) -> str:
    return f"shape {tuple(arr.shape)} {arr.dtype}"


def _on_device(arr) -> bool:
    """A GPU array (CuPy's, which has ``.get()``), staged through host memory for MPI."""
    return type(arr) is not np.ndarray and hasattr(arr, "get")


def _buffer(arr):
    """A contiguous host array MPI can reduce, and whether it must be copied back into ``arr``.

    GPU arrays travel through a host copy (mpi4py from PyPI is not CUDA-aware; use the nccl
    backend for speed on GPUs).
    """
    if _on_device(arr):
        return _buffer(arr.get())[0], True
    if arr.dtype.kind + str(arr.dtype.itemsize) in _NATIVE:
        if arr.flags.c_contiguous:
            return arr, False
        return np.ascontiguousarray(arr), True
    if arr.dtype.kind in "fV" or "float" in arr.dtype.name:  # float16, bfloat16 -> float32
        return arr.astype(np.float32), True
    raise DTypeError(f"distributed: dtype {arr.dtype} cannot be communicated; use a float, "
                     "int, complex or bool tensor")


def _copy_back(arr, buf) -> None:
    """Write the host result ``buf`` into ``arr`` (on its device, in its dtype)."""
    if _on_device(arr):
        arr[...] = backend_of(arr).xp.asarray(buf.astype(arr.dtype, copy=False))
    else:
        arr[...] = buf


class _PollWork(Work):
    """A point-to-point message in flight: ``wait`` polls its MPI request until the deadline."""

    __slots__ = ("_req", "_after")

    def __init__(self, group, name, what, req, after=None) -> None:
        super().__init__(group, name, what, None)
        self._req, self._after = req, after

    def is_completed(self) -> bool:
        if self._event.is_set():
            return True
        if self._req.Test():
            self._finish()
            return True
        return False

    def _finish(self) -> None:
        if self._after is not None:
            self._result = self._after()
        self._event.set()

    def wait(self, timeout: float | None = None) -> bool:
        if self._event.is_set():
            return True
        deadline = self.deadline if timeout is None else time.monotonic() + timeout
        pause = 0.0
        while not self._req.Test():
            if time.monotonic() > deadline:
                self._req.Cancel()
                raise self.group._timed_out(self)
            time.sleep(pause)  # spin first, then back off up to 1 ms
            pause = min(pause * 2 + 1e-6, 1e-3)
        self._finish()
        return True


class MPIProcessGroup(ProcessGroup):
    """MPI through mpi4py: collectives on CPU (NumPy) arrays on a communication thread."""

    def __init__(self, comm, timeout: float, check_shapes: bool) -> None:
        from mpi4py import MPI

        super().__init__("mpi", comm.Get_rank(), comm.Get_size(), timeout, check_shapes)
        self.MPI = MPI
        self.comm = comm
        self.p2p = comm.Dup()
        self._ops = {"sum": MPI.SUM, "mean": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN,
                     "product": MPI.PROD}
        self._queue = queue.SimpleQueue()
        self._last = None  # the last Work given to the communication thread
        self._thread = threading.Thread(target=self._serve, name="ember-mpi-comm", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ machinery
    def _serve(self) -> None:
        q = self._queue
        while True:
            work = q.get()
            if work is None:
                return
            work._run()

    def submit(self, name: str, what: str, fn, done_cb=None) -> Work:
        """Queue ``fn`` on the communication thread; returns its handle."""
        self._check_usable(name)
        work = Work(self, name, what, fn, done_cb)
        self._last = work
        self._queue.put(work)
        return work

    def _blocking(self, buf, mop, work) -> None:
        """All-reduce on the communication thread. Up to the inline size: non-blocking MPI and
        a wait, because MPI matches non-blocking collectives only with non-blocking ones and
        another rank may run the same all-reduce inline (``_polled``); larger ones (never
        inline on any rank) use MPI's blocking call, the fastest for big buffers."""
        if buf.nbytes > _INLINE_BYTES:
            self.comm.Allreduce(self.MPI.IN_PLACE, buf, op=mop)
        else:
            self.comm.Iallreduce(self.MPI.IN_PLACE, buf, op=mop).Wait()

    def _polled(self, buf, mop, work) -> None:
        """All-reduce in the calling thread: non-blocking MPI, polled until the deadline."""
        req = self.comm.Iallreduce(self.MPI.IN_PLACE, buf, op=mop)
        test, clock, deadline = req.Test, time.monotonic, work.deadline
        spins = 0
        while not test():  # spin as MPI's blocking calls do (a sleep costs ~60 us a turn) ...
            spins += 1
            if spins > 64:  # ... but let a descheduled partner rank run (oversubscribed cores)
                _yield()
                if clock() > deadline:
                    raise self._timed_out(work)

    def shutdown(self) -> None:
        if self.broken is None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=self.timeout)

    def _agree(self, name: str, arr, extra="", reduce=None, work=None) -> None:
        """Raise on every rank unless every rank called ``name`` with the same shape and dtype."""
        if not self.check_shapes:
            return
        key = f"{name}|{tuple(arr.shape)}|{arr.dtype}|{extra}"
        sig = zlib.crc32(key.encode()) + 1
        buf = np.array([sig, -sig], dtype=np.int64)
        (reduce or self._blocking)(buf, self.MPI.MAX, work)
        if buf[0] == sig and buf[1] == -sig:
            return
        raise mismatch_error(name, self.comm.allgather(key))

    def _reduce_into(self, arr, op, mean, name, check=True, reduce=None, work=None):
        reduce = reduce or self._blocking
        if check:
            self._agree(name, arr, op, reduce, work)
        buf, copy = _buffer(arr)
        if op == "sum" and buf.dtype == np.bool_:
            mop = self.MPI.LOR
        elif buf.dtype == np.bool_ and op in ("max", "min", "product"):
            mop = self.MPI.LOR if op == "max" else self.MPI.LAND
        else:
            mop = self._ops[op]
        reduce(buf, mop, work)
        if mean:
            np.multiply(buf, 1.0 / self.world_size, out=buf)
        if copy:
            _copy_back(arr, buf)

    # ------------------------------------------------------------------ collectives
    def all_reduce(self, arr, op: str, check: bool = True, name: str = "all_reduce",
                   inline: bool = False) -> Work:
        """Queue the all-reduce; with ``inline``, a small one with nothing queued before it runs
        at once in this thread (no thread hop) and the returned handle is already done."""
        if op == "mean" and arr.dtype.kind not in "fcV":
            raise DTypeError(f"all_reduce: op mean needs a floating tensor, got {arr.dtype}; "
                             "use op='sum' and divide, or convert with .double()")
        last = self._last
        if inline and arr.nbytes <= _INLINE_BYTES and (last is None or last._event.is_set()):
            self._check_usable(name)
            work = Work(self, name, f"{op} of {_describe(arr)}", None)
            self._reduce_into(arr, op, op == "mean", "all_reduce", check, self._polled, work)
            work._event.set()
            return work
        return self.submit(name, f"{op} of {_describe(arr)}",
                           lambda: self._reduce_into(arr, op, op == "mean", "all_reduce", check))

    def broadcast(self, arr, src: int) -> Work:
        def run():
            self._agree("broadcast", arr, f"src {src}")
            buf, copy = _buffer(arr)
            self.comm.Bcast(buf, root=src)
            if copy:
                _copy_back(arr, buf)
        return self.submit("broadcast", f"{_describe(arr)} from rank {src}", run)

    def all_gather(self, out, arr) -> Work:
        def run():
            self._agree("all_gather", arr)
            buf, _ = _buffer(arr)
            dst, copy = _buffer(out)
            self.comm.Allgather(buf, dst)
            if copy:
                _copy_back(out, dst)
        return self.submit("all_gather", _describe(arr), run)

    def reduce_scatter(self, out, arr, op: str) -> Work:
        def run():
            self._agree("reduce_scatter", arr, op)
            buf, _ = _buffer(arr)
            dst, copy = _buffer(out)
            self.comm.Reduce_scatter_block(buf, dst, op=self._ops[op])
            if op == "mean":
                np.multiply(dst, 1.0 / self.world_size, out=dst)
            if copy or dst is not out:
                _copy_back(out, dst)
        return self.submit("reduce_scatter", f"{op} of {_describe(arr)}", run)

    def host_all_reduce(self, arr, op: str) -> None:
        """Reduce a small NumPy array (metric totals, flags), waiting with the timeout."""
        self.all_reduce(arr, op, check=False, inline=True).wait()

    def barrier(self) -> Work:
        return self.submit("barrier", "all ranks", self.comm.Barrier)

    def all_gather_object(self, obj, name: str):
        """Every rank's JSON-serialisable ``obj``, in rank order (waits with the timeout)."""
        text = json.dumps(obj)
        return self.submit(name, "a small description of each rank",
                           lambda: [json.loads(t) for t in self.comm.allgather(text)]).result()

    # ------------------------------------------------------------------ point to point
    def send(self, arr, dst: int, tag: int) -> Work:
        self._check_usable("send")
        buf, _ = _buffer(arr)
        req = self.p2p.Isend(buf, dest=dst, tag=tag)
        return _PollWork(self, "send", f"{_describe(arr)} to rank {dst}, tag {tag}", req)

    def recv(self, arr, src: int | None, tag: int) -> Work:
        self._check_usable("recv")
        MPI = self.MPI
        source = MPI.ANY_SOURCE if src is None else src
        buf, copy = _buffer(arr)
        status = MPI.Status()
        what = f"{_describe(arr)} from {'any rank' if src is None else f'rank {src}'}, tag {tag}"
        probe = _PollWork(self, "recv", what, _Probe(self.p2p, source, tag, status))

        def after():
            count = status.Get_count(MPI._typedict[buf.dtype.char])
            if count != buf.size:
                sender = status.Get_source()
                self.p2p.Recv(np.empty(status.Get_count(MPI.BYTE), np.uint8), source=sender,
                              tag=status.Get_tag())
                raise ShapeError(f"recv: rank {sender} sent {count} elements of {buf.dtype} "
                                 f"but this rank's tensor holds {buf.size} ({_describe(arr)}); "
                                 "send and receive tensors of the same shape and dtype")
            req = self.p2p.Irecv(buf, source=status.Get_source(), tag=status.Get_tag())
            _PollWork(self, "recv", what, req).wait()
            if copy:
                _copy_back(arr, buf)
            return status.Get_source()

        probe._after = after
        return probe


class _Probe:
    """An MPI request look-alike whose ``Test`` is a non-blocking probe for a message."""

    def __init__(self, comm, source, tag, status) -> None:
        self.comm, self.source, self.tag, self.status = comm, source, tag, status

    def Test(self) -> bool:  # noqa: N802 - MPI's name
        return self.comm.Iprobe(source=self.source, tag=self.tag, status=self.status)

    def Cancel(self) -> None:  # noqa: N802
        pass


__all__ = ["MPIProcessGroup", "DistributedError"]
