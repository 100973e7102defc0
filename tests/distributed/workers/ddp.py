"""DDP on N ranks with batch B each equals one process with batch N*B (float64, 1e-10)."""

import os
import sys

import numpy as np

import ember
import ember.distributed as dist
from ember import nn
from ember.distributed import DistributedDataParallel as DDP


def say(*parts):
    """One whole line per write, so the ranks' lines do not interleave mid-line."""
    os.write(1, (" ".join(map(str, parts)) + "\n").encode())

dist.init_process_group("mpi", timeout=30)
rank, world = dist.get_rank(), dist.get_world_size()
B = 4
F = ember.nn.functional


class Net(nn.Module):
    def __init__(self, sync_bn=False, bn=True):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        norm = nn.BatchNorm2d(4) if bn else nn.Identity()
        self.bn = dist.SyncBatchNorm.convert_sync_batchnorm(norm) if sync_bn else norm
        self.fc1 = nn.Linear(4 * 5 * 5, 16)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x):
        h = F.relu(self.bn(self.conv(x)))
        return self.fc2(F.relu(self.fc1(h.reshape(h.shape[0], -1))))


def batches(steps, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        yield (rng.standard_normal((world * B, 2, 5, 5)), rng.integers(0, 3, world * B))


def train(model, opt, steps, shard, micro=1):
    for x, y in batches(steps):
        if shard:
            x, y = x[rank * B:(rank + 1) * B], y[rank * B:(rank + 1) * B]
        opt.zero_grad()
        chunks = list(zip(np.array_split(x, micro), np.array_split(y, micro)))
        for i, (xc, yc) in enumerate(chunks):
            ctx = model.no_sync() if (shard and i < micro - 1) else _null()
            with ctx:
                loss = F.cross_entropy(model(ember.from_numpy(xc)), ember.from_numpy(yc)) / micro
                loss.backward()
        opt.step()
    return model


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def params(m):
    return {k: v.numpy().copy() for k, v in m.state_dict().items()}


def check(name, sync_bn=False, micro=1, bn=True, **ddp_kw):
    ember.manual_seed(1 + rank)  # different init per rank: DDP must broadcast rank 0's
    model = Net(sync_bn=sync_bn, bn=bn).double()
    ember.manual_seed(1)
    ref = Net(bn=bn).double()
    ddp = DDP(model, **ddp_kw)
    if rank == 0:
        ref.load_state_dict(model.state_dict())
    opt = ember.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
    train(ddp, opt, 10, shard=True, micro=micro)
    got = params(model)
    if rank == 0:
        ropt = ember.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
        train(ref, ropt, 10, shard=False, micro=micro)
        want = params(ref)
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-10, atol=1e-12,
                                       err_msg=f"{name} {k}")
        if name == "ddp small buckets overlap":  # the check can fail: no averaging differs
            ember.manual_seed(1)
            alone = Net(bn=bn).double()
            aopt = ember.optim.SGD(alone.parameters(), lr=0.1, momentum=0.9)
            train(alone, aopt, 10, shard=True)
            assert max(abs(params(alone)[k] - want[k]).max() for k in want) > 1e-3
    others = dist.all_gather_object(float(sum(v.sum() for v in got.values())))
    assert all(abs(o - others[0]) < 1e-9 for o in others), others
    say("OK", name)


which = sys.argv[1:] or ["all"]
if "all" in which or "ddp" in which:
    check("ddp small buckets overlap", bn=False, bucket_cap_mb=0.001)
    check("ddp one bucket no overlap", bn=False, overlap=False)
    check("ddp no_sync accumulation", bn=False, micro=2, bucket_cap_mb=0.002)
if "all" in which or "sync" in which:
    check("ddp syncbn small buckets", sync_bn=True, bucket_cap_mb=0.001)
if "all" in which or "overlap" in which:  # buckets start during backward, not after it
    for overlap in (True, False):
        launched = []
        net = DDP(Net(bn=False).double(), bucket_cap_mb=0.001, overlap=overlap)
        original = net._launch
        net.__dict__["_launch"] = lambda b, seen=launched, n=net, go=original: (
            seen.append(n._fired), go(b))[1]
        F.cross_entropy(net(ember.ones(2, 2, 5, 5, dtype=ember.float64)),
                        ember.tensor([0, 1])).backward()
        n_params = len(list(net.parameters()))
        assert len(launched) == len(net._buckets) > 2, launched
        if overlap:
            assert launched[0] < n_params, launched  # before conv's gradients existed
        else:
            assert set(launched) == {n_params}, launched
    say("OK buckets launched during backward")
if "all" in which or "unused" in which:
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 2), nn.Linear(3, 2)

        def forward(self, x):
            return self.a(x)  # self.b is never used

    xb = ember.ones(4, 3, dtype=ember.float64)
    m = DDP(Branchy().double())
    m(xb).sum().backward()
    try:
        m(xb)
    except dist.DistributedError as e:
        assert "b.weight" in str(e) and "find_unused_parameters=True" in str(e), e
        say("OK unused parameter named")
    ember.manual_seed(0)
    m = DDP(Branchy().double(), find_unused_parameters=True, bucket_cap_mb=1e-4)
    for _ in range(2):
        m.zero_grad()
        m(xb * (rank + 1.0)).sum().backward()
    assert m.module.b.weight.grad is None  # unused on every rank: left alone
    expect = np.full((2, 3), sum(r + 1.0 for r in range(world)) / world)
    np.testing.assert_allclose(m.module.a.weight.grad.numpy(), expect * 4, rtol=1e-12)
    say("OK find_unused_parameters")

    class Two(Branchy):
        def forward(self, x):
            return self.a(x), self.a(x) + self.b(x)

    m = DDP(Two().double())
    first, second = m(xb)
    first.sum().backward()  # a only: its bucket (a and b) is not complete yet
    try:
        second.sum().backward()
    except dist.DistributedError as e:
        assert "parameter 'a." in str(e) and "received a gradient twice" in str(e), e
        say("OK gradient twice refused")
dist.destroy_process_group()
say("DONE", rank)
