"""The NCCL backend's own code on CPU: CuPy and NCCL replaced by stand-ins that move the
bytes at the given device pointers with MPI. Checks the backend's calls, not NCCL itself."""

import ctypes
import os
import sys
import types

import numpy as np
from mpi4py import MPI

import ember.distributed as dist
from ember.errors import ShapeError

say = lambda *p: os.write(1, (" ".join(map(str, p)) + "\n").encode())  # noqa: E731

DT = {1: np.float32, 2: np.float64, 3: np.int64}
OPS = {10: MPI.SUM, 11: MPI.MAX, 12: MPI.MIN, 13: MPI.PROD, 14: "avg"}
EVENTS_DONE = [True]


def view(ptr, count, dt):
    dtype = np.dtype(DT[dt])
    raw = (ctypes.c_char * (count * dtype.itemsize)).from_address(ptr)
    return np.frombuffer(raw, dtype=dtype)


class Communicator:
    def __init__(self, n, uid, rank):
        assert uid == ("unique", 0) and n == MPI.COMM_WORLD.size
        self.c = MPI.COMM_WORLD.Dup()
        self.aborted = False

    def allReduce(self, s, r, count, dt, op, stream):  # noqa: N802
        out = view(r, count, dt)
        mop = MPI.SUM if OPS[op] == "avg" else OPS[op]
        self.c.Allreduce(MPI.IN_PLACE if s == r else view(s, count, dt), out, op=mop)
        if OPS[op] == "avg":
            out /= self.c.size

    def broadcast(self, s, r, count, dt, root, stream):
        self.c.Bcast(view(r, count, dt), root=root)

    def allGather(self, s, r, count, dt, stream):  # noqa: N802
        self.c.Allgather(view(s, count, dt), view(r, count * self.c.size, dt))

    def reduceScatter(self, s, r, count, dt, op, stream):  # noqa: N802
        self.c.Reduce_scatter_block(view(s, count * self.c.size, dt), view(r, count, dt),
                                    op=OPS[op])

    def send(self, s, count, dt, peer, stream):
        self.c.Send(view(s, count, dt), dest=peer)

    def recv(self, r, count, dt, peer, stream):
        self.c.Recv(view(r, count, dt), source=peer)

    def abort(self):
        self.aborted = True
        say("ABORTED")

    def destroy(self):
        pass


class Event:
    @property
    def done(self):
        return EVENTS_DONE[0]


class Stream:
    ptr = 0

    def __init__(self, non_blocking=False):
        pass

    def wait_event(self, e):
        pass

    def record(self):
        return Event()

    def synchronize(self):
        pass


nccl = types.SimpleNamespace(
    NCCL_FLOAT32=1, NCCL_FLOAT64=2, NCCL_INT64=3, NCCL_SUM=10, NCCL_MAX=11, NCCL_MIN=12,
    NCCL_PROD=13, NCCL_AVG=14, get_unique_id=lambda: ("unique", 0),
    NcclCommunicator=Communicator)
cuda = types.SimpleNamespace(
    runtime=types.SimpleNamespace(getDeviceCount=lambda: 1),
    Device=lambda i: types.SimpleNamespace(use=lambda: None), Stream=Stream,
    get_current_stream=lambda: Stream(), nccl=nccl)
cupy = types.ModuleType("cupy")
cupy.cuda, cupy.float32 = cuda, np.float32
cupy.zeros = lambda n, dtype: Dev(np.zeros(n, dtype))
sys.modules.update({"cupy": cupy, "cupy.cuda": cuda, "cupy.cuda.nccl": nccl})


class Ptr:
    def __init__(self, a):
        self.ptr = a.ctypes.data


class Dev(np.ndarray):
    """A NumPy array that answers ``.data.ptr`` as a CuPy array does."""

    def __new__(cls, a):
        return np.array(a, order="C").view(cls)  # a copy, as a transfer to the GPU

    @property
    def data(self):
        return Ptr(self.view(np.ndarray))


g = dist.init_process_group("nccl", timeout=1.0)
rank, world = g.rank, g.world_size
assert g.backend == "nccl"
every = [np.arange(6.0) * (r + 1) for r in range(world)]
for op, ref in [("sum", sum(every)), ("mean", sum(every) / world),
                ("max", np.maximum.reduce(every))]:
    a = Dev(every[rank])
    g.all_reduce(a, op).wait()
    np.testing.assert_array_equal(np.asarray(a), ref)
a = Dev(every[rank])
g.broadcast(a, 1).wait()
np.testing.assert_array_equal(np.asarray(a), every[1])
out = Dev(np.zeros((world, 6)))
g.all_gather(out, Dev(every[rank])).wait()
np.testing.assert_array_equal(np.asarray(out), np.stack(every))
out = Dev(np.zeros(3))
g.reduce_scatter(out, Dev(np.arange(3.0 * world) + rank), "sum").wait()
total = sum(np.arange(3.0 * world) + r for r in range(world))
np.testing.assert_array_equal(np.asarray(out), total[3 * rank:3 * rank + 3])
if rank == 0:
    g.send(Dev(np.full(4, 7.0)), 1, 0).wait()
elif rank == 1:
    got = Dev(np.zeros(4))
    assert g.recv(got, 0, 0).result() == 0
    np.testing.assert_array_equal(np.asarray(got), np.full(4, 7.0))
g.barrier().wait()
say("OK nccl collectives")
try:
    g.all_reduce(Dev(np.zeros(3 + rank)), "sum").wait()
except ShapeError as e:
    assert "rank 0: all_reduce shape (3,) float64 (sum); rank 1: all_reduce shape (4,)" in str(e)
    say("OK nccl shape mismatch")
EVENTS_DONE[0] = False  # a collective that never completes: the deadline aborts NCCL
try:
    g.all_reduce(Dev(np.zeros(2)), "sum", check=False).wait()
except dist.DistributedTimeoutError as e:
    assert "all_reduce timed out after 1 s" in str(e), e
    say("OK nccl timeout")
os._exit(0)
