"""oneDNN on the CPU backend: convolutions, products and LSTM layers against ember's NumPy
kernels and PyTorch, the fallbacks, the switch, and OpenBLAS held to one thread beside it."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import ember
from ember.backend import onednn
from ember.ops import conv_kernels as K
from ember.ops.conv import _output_padding

pytestmark = pytest.mark.skipif(not ember.backends.onednn.is_available(),
                                reason=ember.backends.onednn.why_unavailable() or "oneDNN")

RNG = np.random.default_rng(0)


def _rel(a, b) -> float:
    return float(np.abs(a - b).max() / (np.abs(b).max() + 1e-30))


def _nhwc(x):
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


GEOMETRIES = list(itertools.product(
    [4, 6],             # channels in
    [(7, 9), (8, 8)],   # input height, width
    [6],                # channels out
    [1, 3],             # kernel
    [1, 2],             # stride
    [0, 1, (1, 2)],     # padding (symmetric, or (top/left, bottom/right))
    [1, 2],             # dilation
    [1, 2],             # groups
))


@pytest.mark.parametrize("c,hw,o,k,s,p,d,g", GEOMETRIES)
def test_conv_three_ways_equal_numpy_kernels(c, hw, o, k, s, p, d, g):
    pad = ((p, p), (p, p)) if isinstance(p, int) else ((p[0], p[1]), (p[1], p[0]))
    x = RNG.standard_normal((2, c) + hw, dtype=np.float32)
    w = RNG.standard_normal((o, c // g, k, k), dtype=np.float32)
    b = RNG.standard_normal(o).astype(np.float32)
    ref = K.conv2d(np, x, w, b, (s, s), pad, (d, d), g)
    y = onednn.conv2d(x, w, b, (s, s), pad, (d, d), g)
    assert y is not None and y.shape == ref.shape and _rel(y, ref) < 1e-5
    assert y.transpose(0, 2, 3, 1).flags.c_contiguous  # ember's channels-last activations
    gy = RNG.standard_normal(ref.shape, dtype=np.float32)
    dw = onednn.conv2d_weight(_nhwc(x), gy, (k, k), (s, s), pad, (d, d), g)
    assert _rel(dw, K.conv2d_weight(np, x, gy, (k, k), (s, s), pad, (d, d), g)) < 1e-5
    op = _output_padding(hw, ref.shape[2:], (k, k), (s, s), pad, (d, d))
    dx = onednn.conv2d_input_grad(gy, w, hw, (s, s), pad, (d, d), g)
    assert _rel(dx, K.conv_transpose2d(np, gy, w, None, (s, s), pad, op, (d, d), g)) < 1e-5


def test_conv_layers_match_torch_forward_and_gradients():
    torch = pytest.importorskip("torch")
    ember.manual_seed(0)
    for conv, tconv in [
        (ember.nn.Conv2d(3, 8, 3, stride=2, padding=1),
         torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)),
        (ember.nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=4),
         torch.nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=4)),
        (ember.nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1),
         torch.nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1)),
    ]:
        with torch.no_grad():
            tconv.weight.copy_(torch.from_numpy(conv.weight.detach().numpy()))
            tconv.bias.copy_(torch.from_numpy(conv.bias.detach().numpy()))
        cin = conv.weight.shape[1] * conv.groups if isinstance(conv, ember.nn.Conv2d) \
            else conv.weight.shape[0]
        xa = RNG.standard_normal((2, cin, 9, 9), dtype=np.float32)
        x, tx = ember.tensor(xa, requires_grad=True), torch.tensor(xa, requires_grad=True)
        y, ty = conv(x), tconv(tx)
        assert _rel(y.detach().numpy(), ty.detach().numpy()) < 1e-5
        ga = RNG.standard_normal(tuple(y.shape), dtype=np.float32)
        y.backward(ember.tensor(ga))
        ty.backward(torch.from_numpy(ga))
        assert _rel(x.grad.numpy(), tx.grad.numpy()) < 1e-5
        assert _rel(conv.weight.grad.numpy(), tconv.weight.grad.numpy()) < 1e-5
        assert _rel(conv.bias.grad.numpy(), tconv.bias.grad.numpy()) < 1e-5


@pytest.mark.parametrize("a_shape,b_shape,ta,tb", [
    ((5, 7), (7, 3), False, False),
    ((5, 7), (7, 3), True, True),       # transposed views: no copies
    ((4, 5, 7), (7, 3), False, False),  # batch against a matrix
    ((4, 5, 7), (4, 7, 3), False, True),
    ((2, 1, 5, 7), (3, 7, 3), False, False),  # broadcast batch dimensions
])
def test_matmul_equals_numpy(a_shape, b_shape, ta, tb):
    a = RNG.standard_normal(a_shape, dtype=np.float32)
    b = RNG.standard_normal(b_shape, dtype=np.float32)
    if ta:
        a = np.ascontiguousarray(np.swapaxes(a, -1, -2)).swapaxes(-1, -2)
    if tb:
        b = np.ascontiguousarray(np.swapaxes(b, -1, -2)).swapaxes(-1, -2)
    out = onednn.matmul(a, b)
    assert out is not None and out.shape == np.matmul(a, b).shape
    assert _rel(out, np.matmul(a.astype(np.float64), b.astype(np.float64))) < 1e-5


def test_matmul_with_bias_into_out_and_strided_inputs():
    a = RNG.standard_normal((6, 10), dtype=np.float32)[:, ::2]  # no dense axis: copied
    b = RNG.standard_normal((5, 4), dtype=np.float32)
    bias = RNG.standard_normal(4).astype(np.float32)
    out = np.empty((6, 4), np.float32)
    assert onednn.matmul(a, b, bias, out=out) is out
    assert _rel(out, a @ b + bias) < 1e-5


def test_linear_and_matmul_ops_go_through_onednn_and_match_torch(monkeypatch):
    torch = pytest.importorskip("torch")
    calls = []
    real = onednn.matmul
    monkeypatch.setattr(onednn, "matmul", lambda *a, **k: calls.append(1) or real(*a, **k))
    lin = ember.nn.Linear(7, 3)
    tl = torch.nn.Linear(7, 3)
    with torch.no_grad():
        tl.weight.copy_(torch.from_numpy(lin.weight.detach().numpy()))
        tl.bias.copy_(torch.from_numpy(lin.bias.detach().numpy()))
    xa = RNG.standard_normal((2, 4, 7), dtype=np.float32)
    x, tx = ember.tensor(xa, requires_grad=True), torch.tensor(xa, requires_grad=True)
    lin(x).sum().backward()
    tl(tx).sum().backward()
    assert calls  # the forward and both products of the backward
    assert _rel(x.grad.numpy(), tx.grad.numpy()) < 1e-5
    assert _rel(lin.weight.grad.numpy(), tl.weight.grad.numpy()) < 1e-5


def test_other_dtypes_and_the_switch_use_the_numpy_kernels(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("oneDNN must not run here")

    x64 = ember.tensor(RNG.standard_normal((2, 3, 6, 6)))
    conv = ember.nn.Conv2d(3, 4, 3).double()
    monkeypatch.setattr(onednn._conv, "_problem", boom)
    conv(x64).sum().backward()  # float64: NumPy kernels
    assert conv.weight.grad.dtype == ember.float64
    monkeypatch.undo()
    monkeypatch.setattr(ember.backends.onednn, "enabled", False)
    assert not onednn.active()
    assert onednn.conv2d(np.ones((1, 1, 3, 3), np.float32), np.ones((1, 1, 3, 3), np.float32),
                         None, (1, 1), ((0, 0), (0, 0)), (1, 1), 1) is None
    assert onednn.matmul(np.ones((2, 2), np.float32), np.ones((2, 2), np.float32)) is None
    y = ember.nn.functional.conv2d(ember.ones(1, 1, 3, 3), ember.ones(1, 1, 3, 3))
    assert float(y.item()) == 9.0


def test_float32_blas_ops_hold_openblas_to_one_thread_while_onednn_is_active(monkeypatch):
    seen = []

    def fn(*arrays):
        ob = onednn._openblas._instance
        seen.append(None if ob is None or ob.get is None else ob.get())

    f32, f64 = np.ones(3, np.float32), np.ones(3)
    onednn.single_blas(fn)(f32)
    ob = onednn._openblas._instance
    if ob is None or ob.get is None:
        pytest.skip("NumPy's BLAS is not OpenBLAS")
    before = ob.get()
    onednn.single_blas(fn)(f32)
    assert seen[-1] == 1 and ob.get() == before
    onednn.single_blas(fn)(f64)  # float64: oneDNN never runs it, OpenBLAS keeps its threads
    assert seen[-1] == before
    monkeypatch.setattr(ember.backends.onednn, "enabled", False)
    onednn.single_blas(fn)(f32)
    assert seen[-1] == before
    cpu, ops = ember.backend.get_backend("cpu"), ember.ops.registry.REGISTRY
    assert hasattr(cpu.forward(ops["einsum"]), "__wrapped__")  # BLAS-using, no oneDNN path
    # oneDNN's overrides are not wrapped (no OpenBLAS calls on their oneDNN path): their
    # NumPy fallbacks hold OpenBLAS themselves
    assert not hasattr(cpu.forward(ops["batch_norm"]), "__wrapped__")
    monkeypatch.setattr(ember.backends.onednn, "enabled", True)
    calls = []
    real_get = ob.get
    monkeypatch.setattr(ob, "get", lambda: calls.append(1) or real_get())
    x64 = ember.randn(2, 3, 5, 5, dtype="float64")
    ember.nn.functional.conv2d(x64.float(), ember.randn(4, 3, 3, 3))  # oneDNN: no hold
    assert calls == []
    monkeypatch.setattr(onednn._conv, "_problem", lambda *a: None)  # oneDNN declines:
    ember.nn.functional.conv2d(x64.float(), ember.randn(4, 3, 3, 3))  # the fallback holds
    assert calls


def test_training_steps_equal_with_and_without_onednn(monkeypatch):
    def run():
        ember.manual_seed(0)
        nn = ember.nn
        model = nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Flatten(),
                              nn.Linear(8 * 5 * 5, 10))
        opt = ember.optim.Adam(model.parameters(), lr=1e-2)
        rng = np.random.default_rng(1)
        x = ember.tensor(rng.standard_normal((8, 1, 12, 12), dtype=np.float32))
        y = ember.tensor(rng.integers(0, 10, 8))
        losses = []
        for _ in range(5):
            opt.zero_grad()
            loss = ember.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return np.array(losses)

    with_dnnl = run()
    monkeypatch.setattr(ember.backends.onednn, "enabled", False)
    without = run()
    assert np.allclose(with_dnnl, without, rtol=1e-4, atol=0)
    assert with_dnnl[-1] < with_dnnl[0]


def test_a_library_that_does_not_load_is_reported(monkeypatch, tmp_path):
    bogus = tmp_path / "libdnnl.so.3"
    bogus.write_bytes(b"not a library")
    monkeypatch.setattr(onednn._lib, "_STATE", {})
    monkeypatch.setattr(onednn._lib, "_candidates", lambda: [str(bogus)])
    lib, why = onednn.load()
    assert lib is None and str(bogus) in why
    assert not ember.backends.onednn.is_available()
    assert onednn.conv2d(np.ones((1, 1, 3, 3), np.float32), np.ones((1, 1, 3, 3), np.float32),
                         None, (1, 1), ((0, 0), (0, 0)), (1, 1), 1) is None


def _lstm_run(bidirectional, batch_first, with_state, layers, bias):
    ember.manual_seed(0)
    lstm = ember.nn.LSTM(5, 7, num_layers=layers, batch_first=batch_first,
                         bidirectional=bidirectional, bias=bias)
    rng = np.random.default_rng(0)
    x = ember.tensor(rng.standard_normal((3, 4, 5) if batch_first else (4, 3, 5),
                                         dtype=np.float32), requires_grad=True)
    d = 2 if bidirectional else 1
    hx = None
    if with_state:
        hx = tuple(ember.tensor(rng.standard_normal((layers * d, 3, 7), dtype=np.float32),
                                requires_grad=True) for _ in range(2))
    out, (h, c) = lstm(x, hx)
    weights = ember.tensor(rng.standard_normal(tuple(out.shape), dtype=np.float32))
    ((out * weights).sum() + (h * 2.0).sum() + (c * 3.0).sum()).backward()
    got = [out, h, c, x.grad] + [p.grad for p in lstm.parameters()]
    got += [] if hx is None else [hx[0].grad, hx[1].grad]
    return [t.detach().numpy() for t in got]


@pytest.mark.parametrize("bidirectional,batch_first,with_state,layers,bias", list(
    itertools.product([False, True], [False, True], [False, True], [1, 2], [True, False])))
def test_lstm_layers_equal_numpy_kernels(monkeypatch, bidirectional, batch_first, with_state,
                                         layers, bias):
    from ember.backend import onednn as impl

    calls = []
    real = impl.lstm_backward
    monkeypatch.setattr(impl, "lstm_backward", lambda *a: calls.append(1) or real(*a))
    fast = _lstm_run(bidirectional, batch_first, with_state, layers, bias)
    assert len(calls) == layers * (2 if bidirectional else 1)  # oneDNN ran every backward
    monkeypatch.setattr(ember.backends.onednn, "enabled", False)
    slow = _lstm_run(bidirectional, batch_first, with_state, layers, bias)
    for a, b in zip(fast, slow):
        assert a.shape == b.shape and _rel(a, b) < 1e-5


def test_lstm_matches_torch():
    torch = pytest.importorskip("torch")
    ember.manual_seed(0)
    lstm = ember.nn.LSTM(6, 5, batch_first=True)
    tl = torch.nn.LSTM(6, 5, batch_first=True)
    with torch.no_grad():
        for (_, p), (_, q) in zip(lstm.named_parameters(), tl.named_parameters()):
            q.copy_(torch.from_numpy(p.detach().numpy()))
    xa = RNG.standard_normal((2, 9, 6), dtype=np.float32)
    x, tx = ember.tensor(xa, requires_grad=True), torch.tensor(xa, requires_grad=True)
    out, _ = lstm(x)
    tout, _ = tl(tx)
    assert _rel(out.detach().numpy(), tout.detach().numpy()) < 1e-5
    out.sum().backward()
    tout.sum().backward()
    assert _rel(x.grad.numpy(), tx.grad.numpy()) < 1e-5
    for p, q in zip(lstm.parameters(), tl.parameters()):
        assert _rel(p.grad.numpy(), q.grad.numpy()) < 1e-5


def test_lstm_switched_off_between_forward_and_backward_still_uses_its_workspace(monkeypatch):
    lstm = ember.nn.LSTM(3, 4)
    x = ember.randn(5, 2, 3, requires_grad=True)
    out, _ = lstm(x)  # oneDNN forward: its workspace is saved for the backward
    monkeypatch.setattr(ember.backends.onednn, "enabled", False)
    out.sum().backward()
    assert x.grad.shape == (5, 2, 3) and np.isfinite(x.grad.numpy()).all()
    monkeypatch.undo()
    x2 = ember.tensor(x.detach().numpy(), requires_grad=True)
    lstm(x2)[0].sum().backward()
    assert _rel(x.grad.numpy(), x2.grad.numpy()) < 1e-6


def test_lstm_inference_needs_no_workspace(monkeypatch):
    lstm = ember.nn.LSTM(3, 4)
    x = ember.randn(5, 2, 3)
    with ember.no_grad():
        out, (h, c) = lstm(x)
    assert not out.requires_grad
    monkeypatch.setattr(ember.backends.onednn, "enabled", False)
    with ember.no_grad():
        ref, (h_ref, c_ref) = lstm(x)
    for a, b in ((out, ref), (h, h_ref), (c, c_ref)):
        assert _rel(a.numpy(), b.numpy()) < 1e-5


POOLS = [(k, s, p, d, ceil) for k, s, p, d, ceil in itertools.product(
    [2, 3], [1, 2, 3], [0, 1], [1, 2], [False, True]) if p <= k // 2]


@pytest.mark.parametrize("k,s,p,d,ceil", POOLS)
def test_max_pool_equals_numpy_kernels_including_ties(k, s, p, d, ceil):
    from ember.ops import pool_kernels as PK

    x = np.maximum(RNG.standard_normal((2, 8, 9, 7), dtype=np.float32), 0)  # ReLU'd: ties
    x = _nhwc(x)
    args = ((k, k), (s, s), (p, p), (d, d), ceil)
    ref = PK.max_pool2d(np, x, *args)
    out_hw, pads = PK._geometry(x.shape[2:], *args[:4], ceil)
    y = onednn.max_pool2d(x, out_hw, (k, k), (s, s), pads, (d, d))
    assert y is not None and np.array_equal(y, ref)
    g = RNG.standard_normal(ref.shape, dtype=np.float32)
    dx = onednn.max_pool2d(x, out_hw, (k, k), (s, s), pads, (d, d), grad=g)
    np.testing.assert_allclose(dx, PK.max_pool2d_grad(np, g, x, ref, *args), rtol=1e-6,
                               atol=1e-6)  # each window's first maximum gets the gradient
    saved = onednn.max_pool2d(x, out_hw, (k, k), (s, s), pads, (d, d), grad=g, out=y)
    assert np.array_equal(saved, dx)  # with the forward's own workspace


def test_max_pool_layer_matches_torch():
    torch = pytest.importorskip("torch")
    xa = np.maximum(RNG.standard_normal((2, 4, 10, 10), dtype=np.float32), 0)
    x, tx = ember.tensor(xa, requires_grad=True), torch.tensor(xa, requires_grad=True)
    y = ember.nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)(x)
    ty = torch.nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)(tx)
    assert np.array_equal(y.detach().numpy(), ty.detach().numpy())
    ga = RNG.standard_normal(tuple(y.shape), dtype=np.float32)
    y.backward(ember.tensor(ga))
    ty.backward(torch.from_numpy(ga))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("channels_last,affine,offset", list(itertools.product(
    [False, True], [False, True], [0.0, 5.0])))
def test_batch_norm_equals_numpy_kernels(channels_last, affine, offset):
    from ember.ops.normalization import BatchNorm, BatchNormBackward

    x = (RNG.standard_normal((4, 16, 7, 9), dtype=np.float32) * 2 + offset).astype(np.float32)
    x = _nhwc(x) if channels_last else x
    w = RNG.standard_normal(16).astype(np.float32) if affine else None
    b = RNG.standard_normal(16).astype(np.float32) if affine else None
    ref = BatchNorm.forward(np, x, w, b, 1e-5)
    got = onednn.batch_norm(x, w, b, 1e-5)
    g = RNG.standard_normal(x.shape, dtype=np.float32)
    refb = BatchNormBackward.forward(np, g, x, w, ref[1], ref[2], 1e-5)
    gotb = onednn.batch_norm_backward(g, x, w, ref[1], ref[2], 1e-5)
    for a, r in zip(list(got) + list(gotb), list(ref) + list(refb)):
        assert _rel(a, r) < 1e-5


def test_batch_norm_layer_matches_torch_and_updates_running_stats():
    torch = pytest.importorskip("torch")
    bn, tbn = ember.nn.BatchNorm2d(6), torch.nn.BatchNorm2d(6)
    with torch.no_grad():
        tbn.weight.copy_(torch.from_numpy(RNG.standard_normal(6).astype(np.float32)))
    bn.weight.data[...] = tbn.weight.detach().numpy()
    xa = RNG.standard_normal((5, 6, 4, 4), dtype=np.float32)
    x, tx = ember.tensor(xa, requires_grad=True), torch.tensor(xa, requires_grad=True)
    y, ty = bn(x), tbn(tx)
    assert _rel(y.detach().numpy(), ty.detach().numpy()) < 1e-5
    ga = RNG.standard_normal(xa.shape, dtype=np.float32)
    y.backward(ember.tensor(ga))
    ty.backward(torch.from_numpy(ga))
    assert _rel(x.grad.numpy(), tx.grad.numpy()) < 1e-5
    assert _rel(bn.weight.grad.numpy(), tbn.weight.grad.numpy()) < 1e-5
    assert _rel(bn.running_var.numpy(), tbn.running_var.numpy()) < 1e-5


def test_the_layer_and_op_suites_pass_without_onednn(tmp_path):
    """Machines without oneDNN run ember's own kernels everywhere: the nn and op suites (which
    take the oneDNN paths here) run again in a fresh process with ``EMBER_ONEDNN=0``."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).parent
    env = dict(os.environ, EMBER_ONEDNN="0")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
         str(root / "nn"), str(root / "ops"), str(root / "optim"),
         str(root / "graph" / "test_jit.py"), str(root / "graph" / "test_static.py")],
        env=env, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout


def test_a_forked_child_uses_the_numpy_kernels():
    import multiprocessing as mp

    x = ember.randn(2, 3, 8, 8)
    conv = ember.nn.Conv2d(3, 4, 3)
    want = conv(x).detach().numpy()  # oneDNN in the parent: its OpenMP threads are running
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as pool:
        why, got = pool.apply(_conv_in_child, (x.numpy(), conv.weight.detach().numpy(),
                                               conv.bias.detach().numpy()))
    assert "forked" in why
    assert _rel(got, want) < 1e-5


def _conv_in_child(x, w, b):
    y = ember.nn.functional.conv2d(ember.tensor(x), ember.tensor(w), ember.tensor(b))
    return ember.backends.onednn.why_unavailable(), y.numpy()


def test_lstm_backward_without_onednn_for_a_onednn_forward_says_so(monkeypatch):
    from ember.backend.onednn import _lib

    lstm = ember.nn.LSTM(3, 4)
    out, _ = lstm(ember.randn(5, 2, 3, requires_grad=True))
    monkeypatch.setitem(_lib._STATE, "lib", None)  # as in a forked child
    monkeypatch.setitem(_lib._STATE, "why", "gone")
    with pytest.raises(onednn.OneDNNError, match="lstm backward: the forward ran on oneDNN"):
        out.sum().backward()


def test_compiled_graph_products_into_strided_buffers():
    cpu = ember.backend.get_backend("cpu")
    a = RNG.standard_normal((6, 5), dtype=np.float32)
    b = RNG.standard_normal((5, 4), dtype=np.float32)
    w = RNG.standard_normal((4, 5), dtype=np.float32)
    bias = RNG.standard_normal(4).astype(np.float32)
    out = np.empty((4, 6), np.float32).T  # a planned buffer in another memory order
    assert cpu.matmul_into(a, b, out) is out and _rel(out, a @ b) < 1e-6
    out2 = np.empty((4, 6), np.float32).T
    assert cpu.linear_into(a, w, bias, out2) is out2 and _rel(out2, a @ w.T + bias) < 1e-6
    a64 = a.astype(np.float64)
    out3 = np.empty((6, 4))
    cpu.matmul_into(a64, b.astype(np.float64), out3)  # float64: NumPy's matmul
    np.testing.assert_allclose(out3, a64 @ b.astype(np.float64), rtol=1e-12)


# ----------------------------------------------------------------------------- Adam

ADAM_SHAPES = [(256, 160), (40000,), (3, 7)]  # two take oneDNN's update, one NumPy's


def _adam_trajectory(lib, opt_name, steps=12, **kw):
    """Parameters after ``steps`` steps of optimiser ``opt_name`` on a loss with curvature
    and a moving linear term (a StepLR halves lr every 4 steps, so the step's scalars change
    at run time)."""
    rng = np.random.default_rng(3)
    ps = [lib.nn.Parameter(lib.from_numpy(rng.standard_normal(s).astype(np.float32) * 0.5))
          for s in ADAM_SHAPES]
    opt = getattr(lib.optim, opt_name)(ps, lr=0.05, **kw)
    sched = lib.optim.lr_scheduler.StepLR(opt, 4, gamma=0.5)
    for step in range(steps):
        opt.zero_grad()
        loss = sum((p * p).sum() * 0.5 + p.sin().sum() + (p * float(step % 3 - 1)).mean()
                   for p in ps)
        loss.backward()
        opt.step()
        sched.step()
    return [p.detach().numpy().copy() for p in ps]


@pytest.mark.parametrize("opt_name,kw", [
    ("Adam", {}), ("AdamW", {}), ("Adam", {"maximize": True}),
    ("AdamW", {"weight_decay": 0.3, "betas": (0.8, 0.95), "eps": 1e-3}),
], ids=["adam", "adamw", "maximize", "adamw_hyper"])
def test_adam_update_through_onednn_matches_torch_and_the_numpy_rule(monkeypatch, opt_name, kw):
    import torch

    made = []
    real = onednn._optim._AdamProblem
    monkeypatch.setattr(onednn._optim, "_AdamProblem",
                        lambda lib, n: made.append(n) or real(lib, n))
    monkeypatch.setattr(onednn._lib, "_PROBLEMS", type(onednn._lib._PROBLEMS)())
    got = _adam_trajectory(ember, opt_name, **kw)
    assert sorted(made) == [40000, 40960]  # the (3, 7) parameter stays with NumPy
    want = _adam_trajectory(torch, opt_name, **kw)
    monkeypatch.setattr(ember.backends.onednn, "enabled", False)
    numpy_rule = _adam_trajectory(ember, opt_name, **kw)
    for g, w, n in zip(got, want, numpy_rule):
        assert _rel(g, w) < 2e-6 and _rel(n, w) < 2e-6
        assert np.abs(g - n).max() < 2e-6  # rounding only: the order of two multiplications


@pytest.mark.parametrize("kw", [
    {}, {"momentum": 0.9}, {"momentum": 0.9, "nesterov": True},
    {"momentum": 0.8, "dampening": 0.3}, {"momentum": 0.9, "maximize": True},
    {"maximize": True},
], ids=["plain", "momentum", "nesterov", "dampening", "maximize_momentum", "maximize"])
def test_sgd_update_through_onednn_matches_torch_and_the_numpy_rule(monkeypatch, kw):
    import torch

    made = []
    real = onednn._optim._SgdProblem
    monkeypatch.setattr(onednn._optim, "_SgdProblem",
                        lambda lib, n: made.append(n) or real(lib, n))
    monkeypatch.setattr(onednn._lib, "_PROBLEMS", type(onednn._lib._PROBLEMS)())
    got = _adam_trajectory(ember, "SGD", **kw)  # the same problem, with SGD
    assert sorted(made) == [40000, 40960]  # the (3, 7) parameter stays with NumPy
    want = _adam_trajectory(torch, "SGD", **kw)
    monkeypatch.setattr(ember.backends.onednn, "enabled", False)
    numpy_rule = _adam_trajectory(ember, "SGD", **kw)
    for g, w, n in zip(got, want, numpy_rule):
        assert _rel(g, w) < 2e-6 and _rel(n, w) < 2e-6 and np.abs(g - n).max() < 2e-6


def test_sgd_with_weight_decay_stays_with_numpy():
    p = np.zeros(1 << 15, np.float32)
    job = (np, (0.1, 0.01, False, 0.9, 1.0, False, True), p, np.ones_like(p),
           (np.zeros_like(p),))
    assert onednn.sgd_update([job]) == [job] and not p.any()


def test_adam_update_leaves_what_it_does_not_serve():
    from ember.optim.adam import Adam

    big = 1 << 15
    f32 = np.zeros(big, np.float32)

    def job(p=None, g=None, bufs=None, wd=0.0, amsgrad=False, beta2=0.999, xp=np):
        p = f32.copy() if p is None else p
        coefs = (0.9, beta2, 0.1, 0.03, 1e-8, -1e-3, wd, False, 1.0, amsgrad)
        return (xp, coefs, p, np.ones_like(p) if g is None else g,
                (np.zeros_like(p), np.zeros_like(p)) if bufs is None else bufs)

    strided = np.zeros(2 * big, np.float32)[::2]
    left = [job(p=np.zeros(big - 1, np.float32)),            # too small to pay off
            job(p=np.zeros(big)),                            # float64
            job(p=strided, g=np.ones(big, np.float32),       # not contiguous
                bufs=(np.zeros(big, np.float32), np.zeros(big, np.float32))),
            job(wd=0.01), job(amsgrad=True), job(beta2=0.0),
            job(xp=object())]                               # another array library
    served = job()
    rest = onednn.adam_update([left[0], served] + left[1:])
    assert [id(j) for j in rest] == [id(j) for j in left]
    assert served[2][0] == pytest.approx(-1e-3 * 0.1 / (0.03 + 1e-8), rel=1e-6)  # p moved
    # the backend hook serves Adam and AdamW only
    cpu = ember.backend.get_backend("cpu")
    jobs = [job()]
    assert cpu.fused_optimizer_step(ember.optim.RMSprop, jobs) is jobs
    assert cpu.fused_optimizer_step(Adam, jobs) == []


def test_compiled_adam_step_equals_eager_with_onednn_updates():
    """The jit's optimiser op goes through the same backend hook: eager and compiled steps
    stay bit-identical with oneDNN's update."""

    def run(compiled):
        ember.manual_seed(0)
        model = ember.nn.Sequential(ember.nn.Linear(200, 256), ember.nn.ReLU(),
                                    ember.nn.Linear(256, 10))
        opt = ember.optim.Adam(model.parameters(), lr=1e-2)
        x = ember.tensor(np.random.default_rng(0).standard_normal((16, 200), dtype=np.float32))
        y = ember.tensor(np.arange(16) % 10)

        def step():
            opt.zero_grad()
            loss = ember.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        fn = ember.jit(step) if compiled else step
        return [fn().item() for _ in range(6)], model[0].weight.detach().numpy().copy()

    (le, we), (lj, wj) = run(False), run(True)
    assert le == lj and np.array_equal(we, wj)


def test_address_of_an_array_equals_numpys_for_every_kind_of_array():
    from ember.backend.onednn._lib import address

    base = np.arange(64, dtype=np.float32).reshape(4, 16)
    ro = base.copy()
    ro.flags.writeable = False
    for a in (base, base[1:], base[:, 3:], base.T, base[::2], ro, base[:0]):
        assert address(a) == a.ctypes.data


# ----------------------------------------------------------------------------- ReLU


@pytest.mark.parametrize("layout", ["nchw", "nhwc", "flat"])
def test_relu_and_its_gradient_equal_the_numpy_forms_bit_for_bit(layout):
    shape = (8, 16, 17, 19)  # 41344 elements: oneDNN's side of MIN_SIZE
    rng = np.random.default_rng(5)

    def make(special):
        a = rng.standard_normal(shape, dtype=np.float32)
        a.reshape(-1)[:len(special)] = special
        if layout == "nhwc":
            return _nhwc(a)
        return a.reshape(-1) if layout == "flat" else a

    def bits(a):
        return np.ascontiguousarray(a).view(np.uint32)

    x = make([np.nan, 0.0, -0.0, np.inf, -np.inf, 1e-45, -1e-45, -2.0, np.nan, 3.0])
    g = make([np.inf, -np.inf, np.inf, np.nan, -np.inf, -0.0, np.inf, -np.inf, 1.0, -0.0])
    y = onednn.relu(x)
    assert y is not None and y.strides == x.strides
    assert np.array_equal(bits(y), bits(np.maximum(x, 0)))  # nan stays nan, -0.0 gives 0.0
    d = onednn.relu_backward(g, x)
    assert d is not None and d.strides == x.strides
    with np.errstate(invalid="ignore"):
        assert np.array_equal(bits(d), bits(g * (x > 0)))  # 0 * inf is nan in both
    out = np.empty_like(x)
    assert onednn.relu_backward(g, x, out) is out and np.array_equal(bits(out), bits(d))


def test_relu_leaves_to_numpy_what_it_does_not_serve():
    big = np.ones((4, 8, 32, 33), np.float32)
    assert onednn.relu(big[:, :, :, :32]) is None          # gaps in memory
    assert onednn.relu(big.astype(np.float64)) is None     # another dtype
    assert onednn.relu(big[:1, :1]) is None                # small
    assert onednn.relu_backward(big, _nhwc(big)) is None   # layouts differ
    assert onednn.relu(big, np.empty((4, 8, 32, 33), np.float32)[::1]) is not None


def test_relu_layer_matches_torch_through_onednn(monkeypatch):
    import torch

    calls = []
    real = onednn._eltwise._ReluProblem
    monkeypatch.setattr(onednn._eltwise, "_ReluProblem",
                        lambda lib, n: calls.append(n) or real(lib, n))
    monkeypatch.setattr(onednn._lib, "_PROBLEMS", type(onednn._lib._PROBLEMS)())
    xn = np.random.default_rng(6).standard_normal((16, 8, 20, 20), dtype=np.float32)
    x = ember.tensor(xn, requires_grad=True)
    ember.nn.functional.relu(x).pow(2).sum().backward()
    t = torch.tensor(xn, requires_grad=True)
    torch.relu(t).pow(2).sum().backward()
    assert calls == [51200]
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())


def test_weight_and_bias_gradients_from_one_primitive_equal_numpy_kernels():
    for c, hw, o, k, s, p, d, g in GEOMETRIES[::7]:
        pad = ((p, p), (p, p)) if isinstance(p, int) else ((p[0], p[1]), (p[1], p[0]))
        x = _nhwc(RNG.standard_normal((3, c) + hw, dtype=np.float32))
        w = RNG.standard_normal((o, c // g, k, k), dtype=np.float32)
        gy = K.conv2d(np, x, w, None, (s, s), pad, (d, d), g)
        gy = _nhwc(RNG.standard_normal(gy.shape, dtype=np.float32))
        dw, db = onednn.conv2d_weight(x, gy, (k, k), (s, s), pad, (d, d), g, bias=True)
        assert _rel(dw, K.conv2d_weight(np, x, gy, (k, k), (s, s), pad, (d, d), g)) < 1e-5
        assert _rel(db, K.channel_sum(np, gy)) < 1e-5


def test_conv_layer_takes_both_gradients_in_one_op_and_matches_torch(monkeypatch):
    import torch

    calls = []
    real = onednn.conv2d_weight
    monkeypatch.setattr(onednn, "conv2d_weight",
                        lambda *a, **k: calls.append(k.get("bias", False)) or real(*a, **k))
    xn = RNG.standard_normal((4, 6, 10, 9), dtype=np.float32)
    conv = ember.nn.Conv2d(6, 8, 3, stride=2, padding=1)
    tconv = torch.nn.Conv2d(6, 8, 3, stride=2, padding=1)
    with torch.no_grad():
        tconv.weight.copy_(torch.tensor(conv.weight.detach().numpy()))
        tconv.bias.copy_(torch.tensor(conv.bias.detach().numpy()))
    (conv(ember.tensor(xn)) ** 2).sum().backward()
    (tconv(torch.tensor(xn)) ** 2).sum().backward()
    assert calls == [True]  # one primitive for both gradients
    assert _rel(conv.weight.grad.numpy(), tconv.weight.grad.numpy()) < 1e-5
    assert _rel(conv.bias.grad.numpy(), tconv.bias.grad.numpy()) < 1e-5


def test_max_pool_gradient_reads_the_forwards_workspace_and_only_its_own(monkeypatch):
    from ember.backend.onednn import _pool_norm

    x = _nhwc(np.maximum(RNG.standard_normal((2, 4, 8, 8), dtype=np.float32), 0))
    geo = ((2, 2), (2, 2), ((0, 0), (0, 0)), (1, 1))
    y = onednn.max_pool2d(x, (4, 4), *geo)
    runs = []
    real = _pool_norm._STATE["lib"].execute
    monkeypatch.setattr(_pool_norm._STATE["lib"], "execute",
                        lambda prim, args: runs.append(len(args)) or real(prim, args))
    g = RNG.standard_normal(y.shape, dtype=np.float32)
    dx = onednn.max_pool2d(x, (4, 4), *geo, grad=g, out=y)
    assert runs == [3]  # the backward alone
    other = x.copy()  # equal values, another array: no workspace of its own, so a forward
    assert np.array_equal(onednn.max_pool2d(other, (4, 4), *geo, grad=g, out=y), dx)
    assert runs == [3, 3, 3]
    key = id(y)
    del y
    import gc

    gc.collect()
    assert key not in _pool_norm._SAVED  # the workspace goes with the output


CONV3D = [  # (transpose, in/out channels, kernel, keyword arguments)
    (False, (4, 6), (3, 3, 3), dict(padding=1)),
    (False, (4, 6), (3, 2, 3), dict(stride=(2, 1, 2), padding=(1, 0, 2), dilation=(1, 2, 1),
                                    groups=2)),
    (False, (3, 5), (1, 3, 2), dict(stride=2, dilation=(1, 1, 2))),
    (True, (4, 6), (2, 3, 3), dict(stride=2, output_padding=1)),
    (True, (4, 6), (3, 3, 2), dict(stride=(1, 2, 1), padding=(1, 1, 0), dilation=(2, 1, 1),
                                   groups=2)),
]


def _conv3d_run(transpose, channels, kernel, kw, dtype, gy=None, seed=0):
    """(output, input grad, weight grad, bias grad, the output gradient used) as arrays."""
    rng = np.random.default_rng(seed)
    cin, cout = channels
    groups = kw.get("groups", 1)
    wshape = (cin, cout // groups) + kernel if transpose else (cout, cin // groups) + kernel
    x, w, b = (ember.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True)
               for s in ((2, cin, 6, 7, 5), wshape, (cout,)))
    fn = ember.nn.functional.conv_transpose3d if transpose else ember.nn.functional.conv3d
    y = fn(x, w, b, **kw)
    if gy is None:
        gy = rng.standard_normal(tuple(y.shape)).astype(dtype)
    (y * ember.tensor(gy)).sum().backward()
    return [t.detach().numpy() for t in (y, x.grad, w.grad, b.grad)] + [gy]


@pytest.mark.parametrize("transpose,channels,kernel,kw", CONV3D)
def test_conv3d_onednn_matches_the_composite(monkeypatch, transpose, channels, kernel, kw):
    calls = []
    real = onednn._conv._problem
    monkeypatch.setattr(onednn._conv, "_problem",
                        lambda kind, *a: calls.append(kind) or real(kind, *a))
    *got, gy = _conv3d_run(transpose, channels, kernel, kw, np.float32)
    assert sorted(set(calls)) == ["backward_data", "backward_weights", "forward"]
    monkeypatch.setattr(ember.backends.onednn, "enabled", False)
    *want, _ = _conv3d_run(transpose, channels, kernel, kw, np.float32, gy)
    for name, g, w in zip(("output", "input grad", "weight grad", "bias grad"), got, want):
        assert _rel(g, w) < 1e-5, name


@pytest.mark.parametrize("transpose,channels,kernel,kw", CONV3D[1:4])
def test_conv3d_primitives_numpy_kernels_and_double_backward(monkeypatch, transpose, channels,
                                                              kernel, kw):
    # float64 through the 3-d primitives: their NumPy kernels (oneDNN's fallback) and vjps
    cpu = ember.backend.get_backend("cpu")
    *want, gy = _conv3d_run(transpose, channels, kernel, kw, np.float64)
    monkeypatch.setattr(cpu, "runs_natively", lambda op, dtype: True)
    *got, _ = _conv3d_run(transpose, channels, kernel, kw, np.float64, gy)
    for name, g, w in zip(("output", "input grad", "weight grad", "bias grad"), got, want):
        assert _rel(g, w) < 1e-12, name
    rng = np.random.default_rng(1)
    cin, cout = channels
    groups = kw.get("groups", 1)
    wshape = (cin, cout // groups) + kernel if transpose else (cout, cin // groups) + kernel
    x, w, b = (ember.tensor(rng.standard_normal(s), requires_grad=True)
               for s in ((1, cin, 4, 5, 4), wshape, (cout,)))
    fn = ember.nn.functional.conv_transpose3d if transpose else ember.nn.functional.conv3d
    assert ember.autograd.gradgradcheck(lambda x, w, b: fn(x, w, b, **kw), (x, w, b))


POOL3D = [  # (kernel, keyword arguments): stride, padding, ceil_mode
    (2, {}),
    (3, dict(stride=2, padding=1)),
    ((2, 3, 2), dict(stride=(1, 2, 2), padding=(1, 1, 0), ceil_mode=True)),
    (3, dict(stride=2, ceil_mode=True)),
]


def _pool3d_run(fn, kernel, kw, gy=None, seed=0, channels_last=False):
    """(output, input grad, the output gradient used) as float32 arrays; the input holds
    small integers, so windows tie; with ``channels_last`` its memory is (N, D, H, W, C)."""
    rng = np.random.default_rng(seed)
    a = np.round(2 * rng.standard_normal((2, 3, 7, 8, 9))).astype(np.float32)
    if channels_last:
        a = np.ascontiguousarray(a.transpose(0, 2, 3, 4, 1)).transpose(0, 4, 1, 2, 3)
    x = ember.from_numpy(a).requires_grad_()
    y = fn(x, kernel, **kw)
    if gy is None:
        gy = rng.standard_normal(tuple(y.shape)).astype(np.float32)
    (y * ember.tensor(gy)).sum().backward()
    return y.detach().numpy(), x.grad.numpy(), gy


def _pool3d_calls(monkeypatch):
    calls = []
    real = onednn._pool_norm._pool_problem
    monkeypatch.setattr(onednn._pool_norm, "_pool_problem",  # 3-d problems only (5-d shapes)
                        lambda *a: (len(a[0]) == 5 and calls.append(
                            a[-1] if len(a) == 7 else "max")) or real(*a))
    return calls


@pytest.mark.parametrize("kernel,kw", POOL3D)
def test_max_pool3d_onednn_matches_the_composite(monkeypatch, kernel, kw):
    calls = _pool3d_calls(monkeypatch)
    for layout in (False, True):  # (N, C, D, H, W) memory, copied for oneDNN; channels-last
        calls.clear()
        y, gx, gy = _pool3d_run(ember.nn.functional.max_pool3d, kernel, kw,
                                channels_last=layout)
        assert calls.count("max") == 2  # the forward, and the backward's primitive lookup
    monkeypatch.setattr(ember.backends.onednn, "enabled", False)
    want_y, want_gx, _ = _pool3d_run(ember.nn.functional.max_pool3d, kernel, kw, gy,
                                     channels_last=True)
    assert np.array_equal(y, want_y)
    # the same first maxima: equal gradients, up to the order overlapping windows add in
    assert _rel(gx, want_gx) < 1e-6
    if kw.get("stride", kernel) == kernel:
        assert np.array_equal(gx, want_gx)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("kernel,kw", POOL3D)
def test_avg_pool3d_onednn_matches_the_composite(monkeypatch, kernel, kw, count_include_pad):
    calls = _pool3d_calls(monkeypatch)
    kw = dict(kw, count_include_pad=count_include_pad)
    y, gx, gy = _pool3d_run(ember.nn.functional.avg_pool3d, kernel, kw)
    # counting the padding, windows past the padded input stay on the NumPy kernels
    spills = kw.get("ceil_mode") and count_include_pad
    assert len(calls) == (0 if spills else 2)
    monkeypatch.setattr(ember.backends.onednn, "enabled", False)
    want_y, want_gx, _ = _pool3d_run(ember.nn.functional.avg_pool3d, kernel, kw, gy)
    assert _rel(y, want_y) < 1e-6 and _rel(gx, want_gx) < 1e-6


@pytest.mark.parametrize("fn", ["max_pool3d", "avg_pool3d"])
def test_pool3d_primitives_numpy_kernels_and_double_backward(monkeypatch, fn):
    # float64 through the 3-d pooling primitives: their NumPy kernels and vjps
    pool = getattr(ember.nn.functional, fn)
    cpu = ember.backend.get_backend("cpu")
    kernel, kw = POOL3D[2]
    rng = np.random.default_rng(2)
    xa = rng.standard_normal((1, 2, 5, 6, 5))
    runs = []
    for native in (False, True):
        if native:
            monkeypatch.setattr(cpu, "runs_natively", lambda op, dtype: True)
        x = ember.tensor(xa, requires_grad=True)
        pool(x, kernel, **kw).sum().backward()
        runs.append(x.grad.numpy())
    assert _rel(runs[1], runs[0]) < 1e-12
    x = ember.tensor(xa, requires_grad=True)
    assert ember.autograd.gradgradcheck(lambda x: pool(x, kernel, **kw), (x,))
