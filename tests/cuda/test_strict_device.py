"""The op table on a strict stand-in device (tests/cuda/strict_device.py): every op's forward
and backward on "cuda" arrays that refuse to mix with host arrays, as CuPy's do, equal to the
CPU. Finds forwards and gradients that build NumPy arrays where the backend's were needed."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from tests.nn.test_layers import CASES as LAYER_CASES
from tests.ops.harness import cast_inputs, is_diff
from tests.ops.op_table import cases

from .strict_device import StrictArray, strict_cuda
from .test_layers_devices import _run as _run_layer
from .test_op_table_devices import _run


@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")
@pytest.mark.parametrize("op,sample", cases(lambda op, s: "float32" in op.dtypes))
def test_op_on_strict_device_matches_cpu(op, sample):
    args = cast_inputs(sample, op, "float64")
    grad = op.grad and sample.grad and any(is_diff(a) for a in sample.args)
    want, gwant = _run(op, args, sample.kwargs, "cpu", grad)
    with strict_cuda():
        got, ggot = _run(op, args, sample.kwargs, "cuda", grad)
    for g, w in zip(got, want):
        assert not isinstance(g, StrictArray)
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12, equal_nan=True)
    for g, w in zip(ggot, gwant):
        if w is None:
            assert g is None
        else:
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12, equal_nan=True)


@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name,factory,inputs", LAYER_CASES, ids=[c[0] for c in LAYER_CASES])
def test_layer_on_strict_device_matches_cpu(name, factory, inputs, train):
    data = inputs()
    y_cpu, g_cpu, b_cpu = _run_layer(factory, data, "cpu", "float64", train)
    with strict_cuda():
        y_dev, g_dev, b_dev = _run_layer(factory, data, "cuda", "float64", train)
    np.testing.assert_allclose(y_dev, y_cpu, rtol=1e-12, atol=1e-12)
    assert len(g_dev) == len(g_cpu)
    for a, b in zip(g_dev + b_dev, g_cpu + b_cpu):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def _losses(F, out, y, prob, jit):
    out_ = [F.cross_entropy(out, y), F.cross_entropy(out, y, label_smoothing=0.1),
            F.nll_loss(F.log_softmax(out, dim=1), y), F.mse_loss(out, prob),
            F.l1_loss(out, prob), F.smooth_l1_loss(out, prob), F.huber_loss(out, prob),
            F.binary_cross_entropy_with_logits(out, prob),
            F.kl_div(F.log_softmax(out, dim=1), F.softmax(prob, dim=1), reduction="batchmean")]
    if not jit:  # binary_cross_entropy checks its input's range in Python: not traceable
        out_.append(F.binary_cross_entropy(F.sigmoid(out), prob))
    return out_


@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_training_steps_on_strict_device_match_cpu(jit):
    import ember.nn.functional as F

    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 1, 8, 8))
    y = rng.integers(0, 5, 6)
    prob = rng.uniform(0.05, 0.95, (6, 5))

    def train(device):
        ember.manual_seed(0)
        nn = ember.nn
        model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                              nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 5)).double()
        model = model.to(device)
        opt = ember.optim.Adam(model.parameters(), lr=1e-2)
        xt, yt = ember.from_numpy(x).to(device), ember.from_numpy(y).to(device)
        pt = ember.from_numpy(prob).to(device)

        def step():
            opt.zero_grad()
            total = None
            for v in _losses(F, model(xt), yt, pt, jit):
                total = v if total is None else total + v
            total.backward()
            opt.step()
            return total

        run = ember.jit(step) if jit else step
        losses = [float(run().item()) for _ in range(4)]
        return losses, [p.detach().cpu().numpy() for p in model.parameters()]

    want = train("cpu")
    with strict_cuda():
        got = train("cuda")
    np.testing.assert_allclose(got[0], want[0], rtol=1e-10)
    for a, b in zip(got[1], want[1]):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("make", [
    lambda ps: ember.optim.SGD(ps, lr=0.1, momentum=0.9),
    lambda ps: ember.optim.Adam(ps, lr=1e-2, amsgrad=True),
    lambda ps: ember.optim.AdamW(ps, lr=1e-2),
    lambda ps: ember.optim.Adagrad(ps, lr=0.1),
    lambda ps: ember.optim.RMSprop(ps, lr=1e-2, momentum=0.5, centered=True),
], ids=["sgd", "adam", "adamw", "adagrad", "rmsprop"])
def test_optimizers_on_strict_device_match_cpu(make):
    w0 = np.random.default_rng(2).standard_normal((300, 7))

    def run(device):
        w = ember.nn.Parameter(ember.from_numpy(w0.copy()).to(device))
        opt = make([w])
        for _ in range(5):
            opt.zero_grad()
            ((w * w).sum() + w.mean()).backward()
            opt.step()
        return w.detach().cpu().numpy()

    want = run("cpu")
    with strict_cuda():
        got = run("cuda")
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)


def test_cuda_autocast_policy_on_strict_device():
    import ember.nn.functional as F

    with strict_cuda():
        a = ember.randn(4, 8).to("cuda")
        w = ember.randn(3, 8).to("cuda")
        with ember.amp.autocast("cuda", dtype=ember.float16):
            y = F.linear(a, w)
            s, e, m = F.softmax(y, dim=1), y.exp(), (y * 2.0)
            lc = ember.amp.autocast_mode.autocast_active(y)
        cpu_y = F.linear(ember.randn(4, 8), ember.randn(3, 8))
    assert (y.dtype, s.dtype, e.dtype, m.dtype) == (ember.float16, ember.float32,
                                                    ember.float32, ember.float16)
    assert lc and cpu_y.dtype is ember.float32
    with strict_cuda():
        bn = ember.nn.BatchNorm2d(3).to("cuda")
        with ember.amp.autocast("cuda", dtype=ember.float16):
            z = bn(ember.nn.functional.conv2d(ember.randn(2, 3, 5, 5).to("cuda"),
                                              ember.randn(3, 3, 3, 3).to("cuda")))
    assert z.dtype is ember.float16 and bn.running_mean.dtype is ember.float32


@pytest.mark.parametrize("make", [
    lambda T: T.Compose([T.RandomResizedCrop(8), T.RandomHorizontalFlip(),
                         T.ColorJitter(0.3, 0.3, 0.3), T.Normalize([0.5] * 3, [0.2] * 3)]),
    lambda T: T.Compose([T.Pad(2), T.RandomCrop(16), T.RandomVerticalFlip(),
                         T.RandomRotation(15), T.RandomErasing(p=1.0)]),
    lambda T: T.Compose([T.Resize(10), T.CenterCrop(8)]),
], ids=["crop_flip_jitter_norm", "pad_crop_rotate_erase", "resize_center"])
def test_batched_transforms_on_strict_device_match_cpu(make):
    import ember.data.transforms as T

    a = np.random.default_rng(4).uniform(0, 1, (4, 3, 16, 16)).astype(np.float32)
    ember.manual_seed(7)
    want = make(T)(ember.from_numpy(a)).numpy()
    with strict_cuda():
        ember.manual_seed(7)
        got = make(T)(ember.from_numpy(a).to("cuda"))
        assert got.device.type == "cuda"
        got = got.cpu().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_grad_scaler_and_clipping_on_strict_device_match_cpu():
    import ember.nn.functional as F

    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((8, 6)), rng.integers(0, 3, 8)

    def run(device):
        ember.manual_seed(1)
        model = ember.nn.Linear(6, 3).double().to(device)
        opt = ember.optim.SGD(model.parameters(), lr=0.1)
        scaler = ember.amp.GradScaler("cuda", init_scale=8.0, growth_interval=2)
        xt, yt = ember.from_numpy(x).to(device), ember.from_numpy(y).to(device)
        scales = []
        for step in range(5):
            opt.zero_grad()
            loss = F.cross_entropy(model(xt), yt) * (float("inf") if step == 2 else 1.0)
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            ember.nn.utils.clip_grad_norm_(model.parameters(), 0.5, error_if_nonfinite=False)
            scaler.step(opt)
            scaler.update()
            scales.append(scaler.get_scale())
        return scales, model.weight.detach().cpu().numpy()

    want = run("cpu")
    with strict_cuda():
        got = run("cuda")
    assert got[0] == want[0] == [8.0, 16.0, 8.0, 8.0, 16.0]
    np.testing.assert_allclose(got[1], want[1], rtol=1e-13)


def test_bernoulli_of_device_probabilities_stays_on_the_device():
    ember.manual_seed(0)
    want = ember.bernoulli(ember.full((6,), 0.5)).numpy()
    with strict_cuda():
        ember.manual_seed(0)
        got = ember.bernoulli(ember.full((6,), 0.5).to("cuda"))
        assert isinstance(got.data, StrictArray)
        np.testing.assert_array_equal(got.cpu().numpy(), want)


def test_normal_with_device_mean_and_std_stays_on_the_device():
    ember.manual_seed(3)
    want = ember.normal(ember.zeros(2, 3), ember.full((2, 3), 2.0)).numpy()
    with strict_cuda():
        ember.manual_seed(3)
        got = ember.normal(ember.zeros(2, 3).to("cuda"), ember.full((2, 3), 2.0).to("cuda"))
        assert isinstance(got.data, StrictArray)
        np.testing.assert_array_equal(got.cpu().numpy(), want)
