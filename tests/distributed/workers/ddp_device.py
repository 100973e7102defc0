"""DDP and the collectives with GPU-like arrays: the strict stand-in device of tests/cuda
(arrays that refuse to mix with host arrays, as CuPy's do) on the MPI backend, which stages
device arrays through host memory. 2 ranks x batch B == one CPU process x batch 2B."""

import os
import sys
from pathlib import Path

import numpy as np

import ember
import ember.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "cuda"))
from strict_device import StrictArray, strict_cuda  # noqa: E402


def say(*parts):
    os.write(1, (" ".join(map(str, parts)) + "\n").encode())


dist.init_process_group("mpi", timeout=30)
rank, world = dist.get_rank(), dist.get_world_size()
F, nn, B = ember.nn.functional, ember.nn, 3
rng = np.random.default_rng(0)
xs = rng.standard_normal((4, world * B, 6))
ys = rng.integers(0, 3, (4, world * B))


def build(bn=False):
    ember.manual_seed(0)
    norm = dist.SyncBatchNorm(8) if bn == "sync" else nn.BatchNorm1d(8) if bn else nn.Identity()
    return nn.Sequential(nn.Linear(6, 8), norm, nn.Tanh(), nn.Linear(8, 3)).double()


def train(model, device, shard):
    opt = ember.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    for x, y in zip(xs, ys):
        if shard:
            x, y = x[rank * B:(rank + 1) * B], y[rank * B:(rank + 1) * B]
        opt.zero_grad()
        F.cross_entropy(model(ember.from_numpy(x).to(device)),
                        ember.from_numpy(y).to(device)).backward()
        opt.step()
    return [v.detach().cpu().numpy() for v in model.state_dict().values()]


with strict_cuda():
    t = ember.from_numpy(np.arange(4.0) * (rank + 1)).to("cuda")
    dist.all_reduce(t)
    assert isinstance(t.data, StrictArray)
    np.testing.assert_array_equal(t.cpu().numpy(), np.arange(4.0) * sum(range(1, world + 1)))
    model = build().to("cuda")
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=1e-4)
    assert all(isinstance(b.flat, StrictArray) for b in ddp._buckets)
    got = train(ddp, "cuda", shard=True)
    got_bn = train(dist.DistributedDataParallel(build("sync").to("cuda")), "cuda", shard=True)
want = train(build(), "cpu", shard=False)
for a, b in zip(got, want):
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
say("OK ddp on device arrays")
want_bn = train(build(True), "cpu", shard=False)  # BatchNorm over the whole batch 2B
assert len(got_bn) == len(want_bn) == 9  # weights, biases, running stats, batches tracked
for a, b in zip(got_bn, want_bn):
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
say("OK syncbn on device arrays")
