"""Every collective against a NumPy reference, on each rank; prints one OK line per check."""

import os

import numpy as np

import ember
import ember.distributed as dist
from ember.errors import DTypeError, ShapeError


def say(*parts):
    """One whole line per write, so the ranks' lines do not interleave mid-line."""
    os.write(1, (" ".join(map(str, parts)) + "\n").encode())

dist.init_process_group("mpi", timeout=20)
rank, world = dist.get_rank(), dist.get_world_size()


def data(r, shape=(3, 4), dtype=np.float64):
    return (np.arange(np.prod(shape)).reshape(shape) * (r + 1) + r).astype(dtype)


every = [data(r) for r in range(world)]
refs = {"sum": sum(every), "mean": sum(every) / world, "max": np.maximum.reduce(every),
        "min": np.minimum.reduce(every), "product": np.multiply.reduce(every)}
for op, ref in refs.items():
    t = ember.from_numpy(data(rank))
    dist.all_reduce(t, op=op)
    np.testing.assert_array_equal(t.numpy(), ref)
    say("OK all_reduce", op)
t = ember.from_numpy(data(rank, dtype=np.float32))
w = dist.all_reduce(t, op=dist.ReduceOp.AVG, async_op=True)
w.wait()
assert w.is_completed()
np.testing.assert_allclose(t.numpy(), refs["mean"].astype(np.float32), rtol=1e-6)
say("OK all_reduce async float32")
ti = ember.from_numpy(data(rank, dtype=np.int64))
dist.all_reduce(ti)
np.testing.assert_array_equal(ti.numpy(), refs["sum"].astype(np.int64))
try:
    dist.all_reduce(ember.from_numpy(data(rank, dtype=np.int64)), op="mean")
except DTypeError as e:
    assert "mean needs a floating" in str(e)
    say("OK all_reduce int mean refused")
# non-contiguous view: reduced in place through a copy
base = ember.from_numpy(np.stack([data(rank), data(rank)], axis=-1))
view = base[..., 0]
dist.all_reduce(view)
np.testing.assert_array_equal(base.numpy()[..., 0], refs["sum"])
np.testing.assert_array_equal(base.numpy()[..., 1], data(rank))
say("OK all_reduce strided view")
# several async ops in flight, waited in reverse order
ts = [ember.from_numpy(data(rank, (1000 * (i + 1),))) for i in range(4)]
works = [dist.all_reduce(t, async_op=True) for t in ts]
for w, t, i in reversed(list(zip(works, ts, range(4)))):
    w.wait()
    np.testing.assert_array_equal(t.numpy(), sum(data(r, (1000 * (i + 1),)) for r in range(world)))
say("OK async handles")
# one rank's small all-reduce queues behind its async one, the other's runs inline: they match
big, small = ember.from_numpy(data(rank, (1 << 18,))), ember.from_numpy(data(rank, (8,)))
w = dist.all_reduce(big, async_op=True)
if rank % 2:
    w.wait()
dist.all_reduce(small)
w.wait()
np.testing.assert_array_equal(small.numpy(), sum(data(r, (8,)) for r in range(world)))
np.testing.assert_array_equal(big.numpy(), sum(data(r, (1 << 18,)) for r in range(world)))
say("OK inline and queued all-reduces match")

t = ember.from_numpy(data(rank))
dist.broadcast(t, src=world - 1)
np.testing.assert_array_equal(t.numpy(), data(world - 1))
say("OK broadcast")

outs = [ember.zeros(3, 4, dtype=ember.float64) for _ in range(world)]
dist.all_gather(outs, ember.from_numpy(data(rank)))
for r in range(world):
    np.testing.assert_array_equal(outs[r].numpy(), data(r))
out = ember.zeros(3 * world, 4, dtype=ember.float64)
dist.all_gather_into_tensor(out, ember.from_numpy(data(rank)))
np.testing.assert_array_equal(out.numpy(), np.concatenate(every))
say("OK all_gather")

big = [data(r, (2 * world, 5)) for r in range(world)]
out = ember.zeros(2, 5, dtype=ember.float64)
dist.reduce_scatter_tensor(out, ember.from_numpy(big[rank]))
np.testing.assert_array_equal(out.numpy(), sum(big)[2 * rank:2 * rank + 2])
out = ember.zeros(2, 5, dtype=ember.float64)
dist.reduce_scatter(out, [ember.from_numpy(b) for b in np.split(big[rank], world)], op="max")
np.testing.assert_array_equal(out.numpy(), np.maximum.reduce(big)[2 * rank:2 * rank + 2])
say("OK reduce_scatter")

# point to point: a ring, async send and receive in flight together (large: rendezvous)
n = 1 << 20
send = ember.from_numpy(np.full(n, float(rank)))
got = ember.zeros(n, dtype=ember.float64)
ws = dist.isend(send, (rank + 1) % world)
wr = dist.irecv(got, (rank - 1) % world)
assert wr.result() == (rank - 1) % world
ws.wait()
np.testing.assert_array_equal(got.numpy(), np.full(n, float((rank - 1) % world)))
if rank == 0:
    dist.send(ember.ones(3, dtype=ember.float64), 1, tag=7)
    bad = ember.ones(4, dtype=ember.float64)
    dist.send(bad, 1, tag=8)
elif rank == 1:
    x = ember.zeros(3, dtype=ember.float64)
    assert dist.recv(x, tag=7) == 0
    np.testing.assert_array_equal(x.numpy(), np.ones(3))
    try:
        dist.recv(ember.zeros(3, dtype=ember.float64), src=0, tag=8)
    except ShapeError as e:
        assert "sent 4 elements" in str(e), e
        say("OK recv size mismatch")
say("OK send/recv")

objs = dist.all_gather_object({"rank": rank})
assert objs == [{"rank": r} for r in range(world)]
dist.barrier()
say("OK barrier and objects")

# different shapes across ranks: every rank raises ShapeError naming both
try:
    dist.all_reduce(ember.zeros(3 + rank, dtype=ember.float64))
except ShapeError as e:
    msg = str(e)
    assert "rank 0: all_reduce shape (3,)" in msg and "rank 1: all_reduce shape (4,)" in msg, e
    say("OK shape mismatch")
# different collectives across ranks
try:
    t = ember.zeros(3, dtype=ember.float64)
    dist.all_reduce(t) if rank == 0 else dist.broadcast(t, 0)
except ShapeError as e:
    assert "different collectives" in str(e)
    say("OK collective mismatch")
dist.barrier()
dist.destroy_process_group()
say("DONE", rank)
