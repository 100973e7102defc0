"""CUDA-only behaviour: moves, streams and events, memory statistics and out-of-memory, dtype
and device errors, cuDNN against the im2col kernels, channels-last, fused kernels, fused
optimisers, CUDA graphs, pinned loading and autocast. Skipped without CUDA."""

from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember.errors import DeviceError, DTypeError

from .conftest import requires_cuda

pytestmark = requires_cuda


def _backend():
    from ember.backend import get_backend

    return get_backend("cuda")


def test_round_trip_and_devices():
    x = ember.randn(3, 4)
    y = x.cuda()
    assert y.device == ember.device("cuda:0") and y.is_cuda
    np.testing.assert_array_equal(y.cpu().numpy(), x.numpy())
    z = ember.zeros(2, device="cuda")
    assert z.device.type == "cuda"
    w = x.cuda().requires_grad_()
    (w * 2.0).sum().backward()
    assert w.grad.device.type == "cuda"
    np.testing.assert_array_equal(w.grad.cpu().numpy(), np.full((3, 4), 2.0, np.float32))


def test_gradient_flows_back_across_devices():
    x = ember.randn(3, requires_grad=True)
    (x.cuda() * 3.0).sum().backward()
    assert x.grad.device.type == "cpu"
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0, 3.0])


def test_mixing_cpu_and_cuda_names_both():
    with pytest.raises(DeviceError, match=r"add: expected all tensors on one device, got "
                       r"argument 0 \(shape \(2,\) float32\) on cuda:0, argument 1 "
                       r"\(shape \(2,\) float32\) on cpu"):
        ember.ones(2).cuda() + ember.ones(2)


def test_missing_device_index():
    n = ember.cuda.device_count()
    with pytest.raises(DeviceError, match=f"cuda:{n} does not exist; this machine has {n}"):
        ember.ones(2).to(f"cuda:{n}")


def test_bfloat16_refused_unless_cupy_supports_it():
    if _backend().bf16:
        pytest.skip("this CuPy holds bfloat16")
    with pytest.raises(DTypeError, match="dtype bfloat16 is not supported on CUDA: .*CuPy >= 14"):
        ember.ones(2, dtype=ember.bfloat16).cuda()


def _needs_bf16():
    if not _backend().bf16:
        pytest.skip(f"no bfloat16 on this CUDA: {_backend().bf16_why}")


@pytest.mark.parametrize("sa,sb,transpose", [
    ((64, 96), (96, 48), False), ((3, 64, 96), (96, 48), False),
    ((2, 1, 33, 40), (1, 3, 40, 17), False), ((64, 96), (48, 96), True)])
def test_bfloat16_matmul_on_cublas_matches_torch(sa, sb, transpose):
    torch = pytest.importorskip("torch")
    _needs_bf16()
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(sa, np.float32), rng.standard_normal(sb, np.float32)
    ea, eb = ember.from_numpy(a).cuda().to(ember.bfloat16), \
        ember.from_numpy(b).cuda().to(ember.bfloat16)
    ta, tb = torch.from_numpy(a).cuda().bfloat16(), torch.from_numpy(b).cuda().bfloat16()
    if transpose:
        eb, tb = eb.transpose(-1, -2), tb.transpose(-1, -2)
    got = (ea @ eb)
    assert got.dtype == ember.bfloat16 and got.device.type == "cuda"
    want = (ta @ tb).float().cpu().numpy()
    # both sum in float32 and round once to bfloat16: equal up to one bfloat16 ulp
    np.testing.assert_allclose(got.float().cpu().numpy(), want, rtol=2 ** -7, atol=1e-2)


def test_bfloat16_linear_and_autocast_train_on_cuda():
    _needs_bf16()
    lin = ember.nn.Linear(32, 8).cuda()
    x = ember.randn(16, 32, device="cuda")
    with ember.amp.autocast("cuda", dtype=ember.bfloat16):
        y = lin(x)
    assert y.dtype == ember.bfloat16
    ref = x.float().cpu().numpy() @ lin.weight.detach().cpu().numpy().T + \
        lin.bias.detach().cpu().numpy()
    np.testing.assert_allclose(y.float().cpu().numpy(), ref, rtol=2e-2, atol=3e-2)
    y.float().sum().backward()
    assert lin.weight.grad.dtype == ember.float32
    np.testing.assert_allclose(lin.weight.grad.cpu().numpy(),
                               np.broadcast_to(x.cpu().numpy().sum(0), (8, 32)),
                               rtol=2e-2, atol=5e-2)


LAYER_FNS = [
    ("max_pool", lambda x: F.max_pool2d(x, 3, 2, 1)),
    ("avg_pool", lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)),
    ("batch_norm", lambda x: F.batch_norm(x, None, None, ember.ones(4, device="cuda") * 1.5,
                                          ember.zeros(4, device="cuda") + 0.25,
                                          training=True)),
    ("softmax", lambda x: F.softmax(x, dim=1)),
    ("log_softmax", lambda x: F.log_softmax(x, dim=-1)),
]


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("name,fn", LAYER_FNS, ids=[f[0] for f in LAYER_FNS])
def test_cudnn_layers_match_plain_kernels(name, fn, channels_last):
    if not ember.backends.cudnn.is_available():
        pytest.skip(ember.backends.cudnn.why_unavailable())
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4, 9, 10)).astype(np.float32)
    g = None
    results = []
    backend = _backend()
    try:
        for on in (True, False):
            backend.cudnn_layers = on
            x = ember.from_numpy(a).cuda()
            if channels_last:
                x = x.contiguous(memory_format=ember.channels_last)
            x.requires_grad_()
            y = fn(x)
            if g is None:
                g = ember.from_numpy(rng.standard_normal(tuple(y.shape)).astype(np.float32))
            (y * g.cuda()).sum().backward()
            results.append((y.detach().cpu().numpy(), x.grad.cpu().numpy()))
    finally:
        backend.cudnn_layers = True
    from ember.backend import cupy_overrides

    refused = cupy_overrides.REFUSED
    assert not [k for k in refused if k[1] == "float32"], refused
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_stream_event_timing_and_sync():
    s = ember.cuda.Stream()
    start, end = ember.cuda.Event(), ember.cuda.Event()
    a = ember.randn(512, 512, device="cuda")
    with s:
        start.record(s)
        for _ in range(10):
            a = a @ a * 0.01
        end.record(s)
    end.synchronize()
    assert start.elapsed_time(end) > 0
    assert s.query() and end.query()
    ember.cuda.synchronize()


def test_memory_statistics():
    ember.cuda.empty_cache()
    ember.cuda.reset_peak_memory_stats()
    base = ember.cuda.memory_allocated()
    a = ember.zeros(1 << 20, device="cuda")  # 4 MiB
    assert ember.cuda.memory_allocated() - base >= 4 << 20
    del a
    assert ember.cuda.max_memory_allocated() - base >= 4 << 20
    assert ember.cuda.memory_allocated() - base < 4 << 20
    ember.cuda.reset_peak_memory_stats()
    assert ember.cuda.max_memory_allocated() == ember.cuda.memory_allocated()


def test_out_of_memory_message():
    free, total = _backend().cp.cuda.runtime.memGetInfo()
    with pytest.raises(ember.cuda.OutOfMemoryError, match=r"CUDA out of memory on cuda:0: "
                       r"tried to allocate .* MiB free of .*Use a smaller batch size"):
        ember.empty(int(total // 4) * 2, device="cuda")  # twice the device's memory


def test_manual_seed_reproduces_dropout():
    x = ember.ones(1000, device="cuda")
    ember.cuda.manual_seed(5)
    a = F.dropout(x, 0.5, training=True).cpu().numpy()
    ember.cuda.manual_seed(5)
    b = F.dropout(x, 0.5, training=True).cpu().numpy()
    np.testing.assert_array_equal(a, b)
    assert 400 < (a == 0).sum() < 600


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("cudnn", [True, False])
def test_convolution_matches_cpu(cudnn, channels_last):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 6, 13, 11))
    w = rng.standard_normal((8, 3, 3, 3))
    b = rng.standard_normal(8)
    old = ember.backends.cudnn.enabled
    ember.backends.cudnn.enabled = cudnn
    try:
        res = []
        for dev in ("cpu", "cuda"):
            xt = ember.from_numpy(x).to(dev)
            if channels_last and dev == "cuda":
                xt = ember.Tensor(_backend().cp.ascontiguousarray(
                    xt.data.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2))
            xt.requires_grad_()
            wt = ember.from_numpy(w).to(dev).requires_grad_()
            bt = ember.from_numpy(b).to(dev).requires_grad_()
            y = F.conv2d(xt, wt, bt, stride=(2, 1), padding=1, dilation=(1, 2), groups=2)
            (y * y).sum().backward()
            res.append([t.detach().cpu().numpy() for t in (y, xt.grad, wt.grad, bt.grad)])
    finally:
        ember.backends.cudnn.enabled = old
    for a, c in zip(*res):
        np.testing.assert_allclose(a, c, rtol=1e-10, atol=1e-10)


def test_jit_fused_kernels_match_eager():
    x = ember.randn(64, 32, device="cuda")
    y = ember.randn(64, 32, device="cuda").abs() + 0.1

    def f(a, b):
        return ((a * 2.0 + b).exp() - 1.0) / (b * b + 1.0) + ember.where(a > b, a, b.sqrt())

    fast = ember.jit(f)
    want = f(x, y).cpu().numpy()
    for _ in range(2):
        np.testing.assert_allclose(fast(x, y).cpu().numpy(), want, rtol=1e-5, atol=1e-6)
    assert "g" in fast.compiled.source


@pytest.mark.parametrize("make", [
    lambda ps: ember.optim.Adam(ps, lr=1e-2, weight_decay=0.1),
    lambda ps: ember.optim.AdamW(ps, lr=1e-2, amsgrad=True),
    lambda ps: ember.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda ps: ember.optim.SGD(ps, lr=0.1, maximize=True),
])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("multi", [True, False], ids=["multi_tensor", "per_param"])
def test_fused_optimizer_matches_generic_path(make, multi, dtype):
    backend = _backend()
    rng = np.random.default_rng(1)
    shapes = [(37, 5), (70000,), (3,)]  # the second spans several chunks
    w0 = [rng.standard_normal(s).astype(dtype) for s in shapes]
    traj = []
    for fused in (True, False):
        backend.fuse_optimizers = fused
        backend.multi_tensor_optimizers = multi
        try:
            ws = [ember.nn.Parameter(ember.from_numpy(a.copy()).cuda()) for a in w0]
            opt = make(ws)
            for step in range(20):
                opt.zero_grad()
                sum(((w * w).sum() + (w * float(step)).mean()) for w in ws).backward()
                opt.step()
            traj.append([w.detach().float().cpu().numpy() for w in ws])
        finally:
            backend.fuse_optimizers = True
            backend.multi_tensor_optimizers = True
    # float16: a few ulps, since the fused kernels do their arithmetic in float32
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=5e-3, atol=5e-3)
    for a, b in zip(*traj):
        np.testing.assert_allclose(a, b, **tol)


def test_cuda_graph_training_step_equals_eager():
    def build():
        ember.manual_seed(0)
        m = ember.nn.Sequential(ember.nn.Linear(20, 32), ember.nn.ReLU(),
                                ember.nn.Linear(32, 5)).cuda()
        return m, ember.optim.Adam(m.parameters(), lr=1e-2)

    rng = np.random.default_rng(0)
    xs = [ember.from_numpy(rng.standard_normal((16, 20)).astype(np.float32)).cuda()
          for _ in range(8)]
    y = ember.from_numpy(rng.integers(0, 5, 16)).cuda()
    losses = []
    for graphed in (False, True):
        m, opt = build()

        def step(x, m=m, opt=opt):
            opt.zero_grad()
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            opt.step()
            return loss

        run = ember.jit(step, cuda_graph=True) if graphed else step
        losses.append([float(run(x).item()) for x in xs])
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)


def test_pinned_loader_batches():
    ds = ember.data.ArrayDataset(np.arange(40.0, dtype=np.float32).reshape(20, 2))
    loader = ember.data.DataLoader(ds, batch_size=8, pin_memory=True)
    batches = [b[0] if isinstance(b, (list, tuple)) else b for b in loader]
    assert batches[0].device.type == "cpu"
    np.testing.assert_array_equal(batches[0].numpy(), np.arange(16.0).reshape(8, 2))


def test_device_prefetcher_overlaps_and_delivers_in_order():
    from ember.cuda.prefetch import DevicePrefetcher

    ds = ember.data.ArrayDataset(np.arange(40.0, dtype=np.float32).reshape(20, 2))
    loader = ember.data.DataLoader(ds, batch_size=8, pin_memory=True)
    got = [b[0] if isinstance(b, (list, tuple)) else b for b in DevicePrefetcher(loader)]
    assert all(t.device.type == "cuda" for t in got)
    np.testing.assert_array_equal(np.concatenate([t.cpu().numpy() for t in got]),
                                  np.arange(40.0).reshape(20, 2))


def test_autocast_float16_decisions():
    a = ember.randn(8, 16, device="cuda")
    w = ember.randn(4, 16, device="cuda")
    with ember.amp.autocast("cuda", dtype=ember.float16):
        y = F.linear(a, w)
        s = F.softmax(y, dim=1)
        e = y.exp()
    assert (y.dtype, s.dtype, e.dtype) == (ember.float16, ember.float32, ember.float32)
