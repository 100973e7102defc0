"""The NCCL backend: collectives on CuPy (GPU) arrays through ``cupy.cuda.nccl``.

One process per GPU. Rank 0 creates NCCL's unique id and broadcasts it over MPI (the
launcher already connected the processes), then every rank opens an ``NcclCommunicator``.
Collectives are enqueued on a dedicated CUDA stream that first waits for the current stream
(so they see finished gradients); a handle records an event after the collective, and
``wait()`` polls that event until the group's deadline. On a timeout the communicator is
aborted (``ncclCommAbort``), so a rank that died makes the others raise instead of hanging.
CuPy is imported only when this backend is requested.
"""

from __future__ import annotations

import os
import time

from ..errors import DTypeError, ShapeError
from .group import DistributedError, ProcessGroup, Work, mismatch_error

_DTYPES = {"float16": "NCCL_FLOAT16", "float32": "NCCL_FLOAT32", "float64": "NCCL_FLOAT64",
           "int8": "NCCL_INT8", "uint8": "NCCL_UINT8", "int32": "NCCL_INT32",
           "int64": "NCCL_INT64", "bfloat16": "NCCL_BFLOAT16"}


def _import_cupy():
    try:
        import cupy
        from cupy.cuda import nccl
    except ImportError as e:
        raise DistributedError(
            "init_process_group(backend='nccl'): CuPy with NCCL is not installed "
            f"({e}); install `cupy-cuda12x` on a machine with NVIDIA GPUs, or use "
            "backend='mpi' for CPU tensors") from e
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CUDARuntimeError when there is no driver or GPU
        raise DistributedError(f"init_process_group(backend='nccl'): no usable CUDA GPU "
                               f"({e}); use backend='mpi' on CPUs") from e
    if count == 0:
        raise DistributedError("init_process_group(backend='nccl'): no CUDA GPU is visible; "
                               "use backend='mpi' on CPUs")
    return cupy, nccl, count


class _EventWork(Work):
    """A collective enqueued on the NCCL stream; done when its CUDA event has completed."""

    __slots__ = ("_cuda_event", "_after")

    def __init__(self, group, name, what, event, after=None) -> None:
        super().__init__(group, name, what, None)
        self._cuda_event, self._after = event, after

    def is_completed(self) -> bool:
        return self._event.is_set() or self._cuda_event.done

    def wait(self, timeout: float | None = None) -> bool:
        if not self._event.is_set():
            deadline = self.deadline if timeout is None else time.monotonic() + timeout
            while not self._cuda_event.done:
                if time.monotonic() > deadline:
                    err = self.group._timed_out(self)
                    self.group.abort()
                    raise err
                time.sleep(1e-5)
            if self._after is not None:
                self._after()
            self._event.set()
        return True


class NCCLProcessGroup(ProcessGroup):
    """NCCL through CuPy: one GPU per process, collectives on a dedicated stream."""

    def __init__(self, mpi_comm, timeout: float, check_shapes: bool,
                 device_id: int | None) -> None:
        cupy, nccl, count = _import_cupy()
        super().__init__("nccl", mpi_comm.Get_rank(), mpi_comm.Get_size(), timeout,
                         check_shapes)
        self.cupy, self.nccl, self.mpi = cupy, nccl, mpi_comm
        if device_id is None:
            local = int(os.environ.get("MPI_LOCALRANKID", os.environ.get(
                "OMPI_COMM_WORLD_LOCAL_RANK", os.environ.get("SLURM_LOCALID", self.rank))))
            device_id = local % count
        self.device = cupy.cuda.Device(device_id)
        self.device.use()
        uid = nccl.get_unique_id() if self.rank == 0 else None
        uid = mpi_comm.bcast(uid, root=0)
        self.comm = nccl.NcclCommunicator(self.world_size, uid, self.rank)
        self.stream = cupy.cuda.Stream(non_blocking=True)
        self._avg = getattr(nccl, "NCCL_AVG", None)  # NCCL >= 2.10 averages in the kernel
        self._ops = {"sum": nccl.NCCL_SUM, "mean": self._avg or nccl.NCCL_SUM,
                     "max": nccl.NCCL_MAX, "min": nccl.NCCL_MIN, "product": nccl.NCCL_PROD}

    def _dtype(self, arr, name):
        key = getattr(self.nccl, _DTYPES.get(str(arr.dtype), "-"), None)
        if key is None:
            raise DTypeError(f"{name}: NCCL cannot communicate {arr.dtype}; use float16/32/64, "
                             "bfloat16 or int8/32/64")
        return key

    def _agree(self, name, arr, extra=""):
        if not self.check_shapes:
            return
        key = f"{name}|{tuple(arr.shape)}|{arr.dtype}|{extra}"
        keys = self.mpi.allgather(key)
        if len(set(keys)) > 1:
            raise mismatch_error(name, keys)

    def _enqueue(self, name, what, launch, after=None) -> Work:
        self._check_usable(name)
        cupy = self.cupy
        self.stream.wait_event(cupy.cuda.get_current_stream().record())
        launch(self.stream.ptr)
        return _EventWork(self, name, what, self.stream.record(), after)

    def _contig(self, arr, name):
        if not arr.flags.c_contiguous:
            raise ShapeError(f"{name}: NCCL needs a contiguous tensor, got strides "
                             f"{arr.strides}; call .contiguous() first")
        return arr

    def all_reduce(self, arr, op: str, check: bool = True, name: str = "all_reduce",
                   inline: bool = False) -> Work:
        arr = self._contig(arr, "all_reduce")
        if check:
            self._agree("all_reduce", arr, op)
        dt = self._dtype(arr, "all_reduce")
        after = (lambda: arr.__imul__(1.0 / self.world_size)) \
            if op == "mean" and self._avg is None else None
        return self._enqueue(name, f"{op} of {arr.shape} {arr.dtype}",
                             lambda s: self.comm.allReduce(arr.data.ptr, arr.data.ptr, arr.size,
                                                           dt, self._ops[op], s), after)

    def broadcast(self, arr, src: int) -> Work:
        arr = self._contig(arr, "broadcast")
        self._agree("broadcast", arr, f"src {src}")
        dt = self._dtype(arr, "broadcast")
        return self._enqueue("broadcast", f"{arr.shape} from rank {src}",
                             lambda s: self.comm.broadcast(arr.data.ptr, arr.data.ptr, arr.size,
                                                           dt, src, s))

    def all_gather(self, out, arr) -> Work:
        arr = self._contig(arr, "all_gather")
        self._agree("all_gather", arr)
        dt = self._dtype(arr, "all_gather")
        return self._enqueue("all_gather", f"{arr.shape} {arr.dtype}",
                             lambda s: self.comm.allGather(arr.data.ptr, out.data.ptr, arr.size,
                                                           dt, s))

    def reduce_scatter(self, out, arr, op: str) -> Work:
        arr = self._contig(arr, "reduce_scatter")
        self._agree("reduce_scatter", arr, op)
        dt = self._dtype(arr, "reduce_scatter")
        after = (lambda: out.__imul__(1.0 / self.world_size)) \
            if op == "mean" and self._avg is None else None
        return self._enqueue("reduce_scatter", f"{op} of {arr.shape} {arr.dtype}",
                             lambda s: self.comm.reduceScatter(arr.data.ptr, out.data.ptr,
                                                               out.size, dt, self._ops[op], s),
                             after)

    def barrier(self) -> Work:
        one = self.cupy.zeros(1, dtype=self.cupy.float32)
        return self.all_reduce(one, "sum", check=False)

    def host_all_reduce(self, arr, op: str) -> None:
        """Reduce a small NumPy (host) array over MPI, e.g. metric totals and flags."""
        from mpi4py import MPI

        self.mpi.Allreduce(MPI.IN_PLACE, arr, op={"sum": MPI.SUM, "max": MPI.MAX}[op])

    def all_gather_object(self, obj, name: str):
        import json

        return [json.loads(t) for t in self.mpi.allgather(json.dumps(obj))]

    def send(self, arr, dst: int, tag: int) -> Work:
        arr = self._contig(arr, "send")
        dt = self._dtype(arr, "send")
        return self._enqueue("send", f"{arr.shape} to rank {dst}",
                             lambda s: self.comm.send(arr.data.ptr, arr.size, dt, dst, s))

    def recv(self, arr, src: int | None, tag: int) -> Work:
        if src is None:
            raise DistributedError("recv: NCCL needs the source rank (src=None is MPI only)")
        arr = self._contig(arr, "recv")
        dt = self._dtype(arr, "recv")
        work = self._enqueue("recv", f"{arr.shape} from rank {src}",
                             lambda s: self.comm.recv(arr.data.ptr, arr.size, dt, src, s))
        work._result = src
        return work

    def abort(self) -> None:
        """Abort the NCCL communicator (unblocks kernels waiting for a dead peer)."""
        try:
            self.comm.abort()
        except Exception:  # already destroyed
            pass

    def shutdown(self) -> None:
        if self.broken is None:
            self.stream.synchronize()
            self.comm.destroy()
