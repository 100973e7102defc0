"""In-place activations (``inplace=True``, ``F.relu_`` ...) against PyTorch: the input is
overwritten and returned, its version bumped, leaves refused, gradients equal, and which
later in-place changes break backward is the same as in PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import ember
from ember.errors import AutogradError, DTypeError
from ember.graph import jit

F = ember.nn.functional
nn = ember.nn

# name -> (ember in-place call, torch in-place call, ember out-of-place call)
ACTS = {
    "relu": (lambda x: F.relu(x, inplace=True), lambda x: TF.relu(x, inplace=True), F.relu),
    "relu_": (F.relu_, torch.relu_, F.relu),
    "relu6": (lambda x: F.relu6(x, True), lambda x: TF.relu6(x, True), F.relu6),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1, True),
                   lambda x: TF.leaky_relu(x, 0.1, True), lambda x: F.leaky_relu(x, 0.1)),
    "leaky_relu_": (lambda x: F.leaky_relu_(x, 0.2), lambda x: TF.leaky_relu_(x, 0.2),
                    lambda x: F.leaky_relu(x, 0.2)),
    "elu": (lambda x: F.elu(x, 0.7, True), lambda x: TF.elu(x, 0.7, True),
            lambda x: F.elu(x, 0.7)),
    "elu_": (F.elu_, TF.elu_, F.elu),
    "celu": (lambda x: F.celu(x, 0.5, True), lambda x: TF.celu(x, 0.5, True),
             lambda x: F.celu(x, 0.5)),
    "celu_": (lambda x: F.celu_(x, 2.0), lambda x: TF.celu_(x, 2.0), lambda x: F.celu(x, 2.0)),
    "selu": (lambda x: F.selu(x, True), lambda x: TF.selu(x, True), F.selu),
    "selu_": (F.selu_, TF.selu_, F.selu),
    "hardtanh": (lambda x: F.hardtanh(x, -0.5, 0.75, True),
                 lambda x: TF.hardtanh(x, -0.5, 0.75, True),
                 lambda x: F.hardtanh(x, -0.5, 0.75)),
    "hardtanh_": (F.hardtanh_, TF.hardtanh_, F.hardtanh),
    "hardsigmoid": (lambda x: F.hardsigmoid(x, True), lambda x: TF.hardsigmoid(x, True),
                    F.hardsigmoid),
    "hardswish": (lambda x: F.hardswish(x, True), lambda x: TF.hardswish(x, True),
                  F.hardswish),
    "silu": (lambda x: F.silu(x, True), lambda x: TF.silu(x, True), F.silu),
    "mish": (lambda x: F.mish(x, True), lambda x: TF.mish(x, True), F.mish),
    "threshold": (lambda x: F.threshold(x, 0.2, -3.0, True),
                  lambda x: TF.threshold(x, 0.2, -3.0, True),
                  lambda x: F.threshold(x, 0.2, -3.0)),
    "threshold_": (lambda x: F.threshold_(x, -0.1, 4.0), lambda x: TF.threshold_(x, -0.1, 4.0),
                   lambda x: F.threshold(x, -0.1, 4.0)),
    "rrelu_eval": (lambda x: F.rrelu(x, 0.1, 0.3, inplace=True),
                   lambda x: TF.rrelu(x, 0.1, 0.3, inplace=True),
                   lambda x: F.rrelu(x, 0.1, 0.3)),
    "rrelu_": (lambda x: F.rrelu_(x, 0.2, 0.4), lambda x: TF.rrelu_(x, 0.2, 0.4),
               lambda x: F.rrelu(x, 0.2, 0.4)),
}
NAMES = list(ACTS)


def _data(seed=0, shape=(5, 7)):
    a = np.random.default_rng(seed).standard_normal(shape) * 3
    a.flat[:4] = (0.0, -0.5, 0.2, -0.1)  # the kinks and the thresholds above
    return a


def _torch_outcome(fn):
    try:
        return fn()
    except RuntimeError as exc:
        return exc


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
def test_no_grad_overwrites_input_and_matches_torch(name, dtype):
    e_fn, t_fn, e_out = ACTS[name]
    a = _data().astype(dtype)
    if dtype == "float16":  # float16 rounds the thresholds: PyTorch compares in float32
        a.flat[:4] = (0.0, -0.5, 0.25, -0.125)
    x = ember.tensor(a)
    arr, version = x.data, x._version[0]
    expected = e_out(ember.tensor(a)).numpy()
    y = e_fn(x)
    assert y is x and x.data is arr and x._version[0] == version + 1
    t = torch.tensor(a)
    TF_out = t_fn(t)
    assert TF_out is t
    rtol = {"float64": 1e-12, "float32": 1e-6, "float16": 2e-3}[dtype]
    np.testing.assert_allclose(x.numpy(), t.numpy(), rtol=rtol, atol=rtol)
    np.testing.assert_allclose(x.numpy(), expected, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("name", NAMES)
def test_leaf_that_requires_grad_is_refused_like_torch(name):
    e_fn, t_fn, _ = ACTS[name]
    t = torch.tensor(_data(), requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        t_fn(t)
    x = ember.tensor(_data(), requires_grad=True)
    with pytest.raises(AutogradError, match="leaf tensor that requires grad"):
        e_fn(x)
    with ember.no_grad():  # allowed without recording, as in PyTorch
        assert e_fn(x) is x


@pytest.mark.parametrize("name", NAMES)
def test_chain_linear_act_linear_gradients_match_torch(name):
    e_fn, t_fn, _ = ACTS[name]
    torch.manual_seed(0)
    tl1, tl2 = torch.nn.Linear(7, 9).double(), torch.nn.Linear(9, 4).double()
    el1, el2 = nn.Linear(7, 9, dtype="float64"), nn.Linear(9, 4, dtype="float64")
    for e, t in ((el1, tl1), (el2, tl2)):
        e.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in
                           t.state_dict().items()})
    a = _data()
    g = np.random.default_rng(1).standard_normal((5, 4))
    ta = torch.tensor(a, requires_grad=True)
    th = tl1(ta)
    assert t_fn(th) is th
    (tl2(th) * torch.tensor(g)).sum().backward()
    ea = ember.tensor(a, requires_grad=True)
    eh = el1(ea)
    version = eh._version[0]
    assert e_fn(eh) is eh and eh._version[0] == version + 1
    (el2(eh) * ember.tensor(g)).sum().backward()
    np.testing.assert_allclose(eh.detach().numpy(), th.detach().numpy(), rtol=1e-12,
                               atol=1e-12)
    # PyTorch's hardsigmoid backward multiplies by 1/6 rounded to float32, even in float64
    rtol = 1e-7 if name == "hardsigmoid" else 1e-10
    for e, t in ((ea, ta), (el1.weight, tl1.weight), (el1.bias, tl1.bias),
                 (el2.weight, tl2.weight)):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=rtol)


@pytest.mark.parametrize("name", NAMES)
def test_changing_the_output_later_breaks_backward_exactly_when_torch_does(name):
    """relu_, leaky_relu_, elu_ (celu_, selu_) and rrelu_ keep their output for backward;
    hardtanh_, hardsigmoid, hardswish, silu, mish and threshold_ keep a copy of the input."""
    e_fn, t_fn, _ = ACTS[name]
    a = _data()

    def torch_run():
        ta = torch.tensor(a, requires_grad=True)
        y = t_fn(ta * 1.0)
        y.mul_(2.0)
        y.sum().backward()
        return ta.grad.numpy()

    ref = _torch_outcome(torch_run)
    ea = ember.tensor(a, requires_grad=True)
    y = e_fn(ea * 1.0)
    y.mul_(2.0)
    if isinstance(ref, Exception):
        assert "modified by an inplace operation" in str(ref)
        with pytest.raises(AutogradError, match="modified in place"):
            y.sum().backward()
    else:
        y.sum().backward()
        rtol = 1e-7 if name == "hardsigmoid" else 1e-10  # see the chain test
        np.testing.assert_allclose(ea.grad.numpy(), ref, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("name", NAMES)
def test_overwriting_a_value_saved_by_an_earlier_op_breaks_backward(name):
    e_fn, t_fn, _ = ACTS[name]
    ta = torch.tensor(_data(), requires_grad=True)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        t_fn(ta.exp()).sum().backward()
    ea = ember.tensor(_data(), requires_grad=True)
    with pytest.raises(AutogradError, match="modified in place"):
        e_fn(ea.exp()).sum().backward()  # exp's gradient needs its output, now overwritten
    w = ember.tensor(_data(2), requires_grad=True)
    h = ea * 1.0
    z = h * w  # mul saved h for w's gradient
    e_fn(h)
    with pytest.raises(AutogradError, match="argument 0.*modified in place"):
        z.sum().backward()


@pytest.mark.parametrize("call,tcall,what", [
    (lambda x: F.leaky_relu(x, -0.1, True), lambda x: TF.leaky_relu(x, -0.1, True), "slope"),
    (lambda x: F.elu_(x, -1.0), lambda x: TF.elu_(x, -1.0), "alpha"),
])
def test_negative_slope_in_place_fails_backward_like_torch(call, tcall, what):
    with pytest.raises(RuntimeError, match="negative slope"):
        tcall(torch.tensor(_data(), requires_grad=True) * 1.0).sum().backward()
    y = call(ember.tensor(_data(), requires_grad=True) * 1.0)  # the forward is fine
    with pytest.raises(AutogradError, match=f"negative {what}.*inplace=False"):
        y.sum().backward()
    x = ember.tensor(_data())
    assert call(x) is x  # and without recording nothing is refused


@pytest.mark.parametrize("name", ["relu_", "leaky_relu", "elu", "celu", "selu", "hardtanh",
                                  "silu", "mish", "hardswish", "threshold", "rrelu_"])
def test_gradcheck_and_gradgradcheck(name):
    e_fn = ACTS[name][0]
    a = _data(3, (3, 4))
    a[np.abs(a) < 0.3] += 0.7  # away from the kinks, where finite differences are exact
    a[np.abs(a - 0.75) < 0.05] += 0.1  # hardtanh's kinks
    a[np.abs(a + 0.5) < 0.05] += 0.1
    x = ember.tensor(a, requires_grad=True)
    assert ember.autograd.gradcheck(lambda t: e_fn(t * 1.0), (x,))
    if name not in ("relu_", "hardtanh", "threshold", "rrelu_", "leaky_relu"):
        assert ember.autograd.gradgradcheck(lambda t: e_fn(t * 1.0), (x,))


def test_second_order_through_elu_inplace_matches_torch():
    a = _data()
    ta = torch.tensor(a, requires_grad=True)
    (g,) = torch.autograd.grad(TF.elu_(ta * 1.5, 0.8).pow(2).sum(), ta, create_graph=True)
    g.sum().backward()
    ea = ember.tensor(a, requires_grad=True)
    (eg,) = ember.autograd.grad(F.elu_(ea * 1.5, 0.8).pow(2).sum(), ea, create_graph=True)
    eg.sum().backward()
    np.testing.assert_allclose(eg.detach().numpy(), g.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(ea.grad.numpy(), ta.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_rrelu_training_slopes_and_gradient():
    ember.manual_seed(0)
    a = _data(4, (50, 40))
    x = ember.tensor(a, requires_grad=True)
    h = x * 1.0
    y = F.rrelu(h, 0.2, 0.4, training=True, inplace=True)
    assert y is h
    out = y.detach().numpy().copy()
    neg = a < 0
    slope = out[neg] / a[neg]
    assert np.all((slope >= 0.2) & (slope <= 0.4)) and slope.std() > 0.03
    np.testing.assert_array_equal(out[a > 0], a[a > 0])
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy()[neg], slope, rtol=1e-12)
    np.testing.assert_array_equal(x.grad.numpy()[a > 0], 1.0)
    m = nn.RReLU(0.2, 0.4, inplace=True)
    z = ember.tensor(a)
    assert m(z) is z and repr(m) == "RReLU(lower=0.2, upper=0.4, inplace=True)"
    with ember.no_grad():
        r = F.rrelu(ember.tensor(a), 0.2, 0.4, training=True).numpy()
    assert not np.array_equal(r[neg], out[neg])  # fresh slopes each call


@pytest.mark.parametrize("module,tmodule", [
    (lambda: nn.ReLU(inplace=True), lambda: torch.nn.ReLU(inplace=True)),
    (lambda: nn.LeakyReLU(0.05, inplace=True), lambda: torch.nn.LeakyReLU(0.05, inplace=True)),
    (lambda: nn.ELU(0.5, inplace=True), lambda: torch.nn.ELU(0.5, inplace=True)),
    (lambda: nn.CELU(1.5, inplace=True), lambda: torch.nn.CELU(1.5, inplace=True)),
    (lambda: nn.SELU(inplace=True), lambda: torch.nn.SELU(inplace=True)),
    (lambda: nn.Hardtanh(-2.0, 1.0, inplace=True), lambda: torch.nn.Hardtanh(-2.0, 1.0, True)),
    (lambda: nn.ReLU6(inplace=True), lambda: torch.nn.ReLU6(inplace=True)),
    (lambda: nn.Hardsigmoid(inplace=True), lambda: torch.nn.Hardsigmoid(inplace=True)),
    (lambda: nn.Hardswish(inplace=True), lambda: torch.nn.Hardswish(inplace=True)),
    (lambda: nn.SiLU(inplace=True), lambda: torch.nn.SiLU(inplace=True)),
    (lambda: nn.Mish(inplace=True), lambda: torch.nn.Mish(inplace=True)),
    (lambda: nn.Threshold(0.1, 20.0, inplace=True), lambda: torch.nn.Threshold(0.1, 20.0, True)),
    (lambda: nn.RReLU(0.1, 0.2, inplace=True).eval(),
     lambda: torch.nn.RReLU(0.1, 0.2, inplace=True).eval()),
])
def test_modules_with_inplace_match_torch(module, tmodule):
    m, tm = module(), tmodule()
    assert repr(m).replace(".0,", ",") == repr(tm).replace(".0,", ",")
    a = _data()
    ta = torch.tensor(a, requires_grad=True)
    th = ta * 2.0
    assert tm(th) is th
    th.sum().backward()
    ea = ember.tensor(a, requires_grad=True)
    eh = ea * 2.0
    assert m(eh) is eh
    eh.sum().backward()
    np.testing.assert_allclose(eh.detach().numpy(), th.detach().numpy(), rtol=1e-12)
    rtol = 1e-7 if isinstance(m, nn.Hardsigmoid) else 1e-10  # see the chain test
    np.testing.assert_allclose(ea.grad.numpy(), ta.grad.numpy(), rtol=rtol, atol=rtol)


def test_inplace_on_a_view_changes_the_base_without_recording():
    base = ember.tensor(_data())
    v = base[:, 1::2]
    assert F.elu_(v) is v
    ref = torch.tensor(_data())
    TF.elu_(ref[:, 1::2])
    np.testing.assert_allclose(base.numpy(), ref.numpy(), rtol=1e-12)
    graph_base = ember.tensor(_data(), requires_grad=True) * 1.0
    with pytest.raises(AutogradError, match="view of a tensor that is part of the autograd"):
        F.relu_(graph_base[0])


def test_other_dtypes_take_the_general_path():
    x = ember.tensor([-3, 0, 4])
    assert F.relu_(x) is x and x.tolist() == [0, 0, 4] and x._version[0] == 1
    b = ember.tensor([-1.0, 0.5, 2.0], dtype="bfloat16")
    assert F.elu_(b) is b and b.dtype == ember.bfloat16
    np.testing.assert_allclose(b.float().numpy(), [np.expm1(-1.0), 0.5, 2.0], rtol=1e-2)
    h = ember.tensor([-1.0, 0.5, 2.0], dtype="bfloat16")
    assert F.hardswish(h, inplace=True) is h
    np.testing.assert_allclose(h.float().numpy(), [-1 / 3, 0.5 * 3.5 / 6, 2 * 5 / 6], rtol=1e-2)


def test_bad_input_is_named():
    with pytest.raises(DTypeError, match="elu_"):
        F.elu_(ember.tensor([1, 2]))
    with pytest.raises(ValueError, match="celu_: alpha must be non-zero"):
        F.celu_(ember.tensor([1.0]), 0.0)
    with pytest.raises(ValueError, match="celu: alpha must be non-zero"):
        F.celu(ember.tensor([1.0]), 0.0)
    with pytest.raises(ValueError, match=r"hardtanh_: min_val \(1\) must not exceed"):
        F.hardtanh_(ember.tensor([1.0]), 1, 0)
    with pytest.raises(ValueError, match="rrelu_: expected 0 <= lower <= upper"):
        F.rrelu_(ember.tensor([1.0]), 0.5, 0.1)
    with pytest.raises(ValueError, match="RReLU: expected 0 <= lower <= upper"):
        nn.RReLU(-0.1, 0.2)


def test_threshold_keeps_nan_like_torch():
    a = np.array([np.nan, 0.0, 1.0])
    expected = TF.threshold(torch.tensor(a), 0.5, 7.0).numpy()
    np.testing.assert_array_equal(F.threshold(ember.tensor(a), 0.5, 7.0).numpy(), expected)
    x = ember.tensor(a)
    np.testing.assert_array_equal(F.threshold_(x, 0.5, 7.0).numpy(), expected)


def _net(inplace_act):
    ember.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), inplace_act, nn.Linear(8, 3))


@pytest.mark.parametrize("act", [lambda: nn.ReLU(inplace=True), lambda: nn.ELU(inplace=True),
                                 lambda: nn.SiLU(inplace=True), lambda: nn.Hardtanh(inplace=True)])
def test_jit_traces_inplace_activations(act):
    x, y = ember.randn(16, 6), ember.randint(0, 3, (16,))
    m1, m2 = _net(act()), _net(act())
    fwd = jit(m2)
    np.testing.assert_array_equal(fwd(x).numpy(), m1(x).detach().numpy())

    def step(model):
        def run():
            for p in model.parameters():
                p.grad = None
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            with ember.no_grad():
                for p in model.parameters():
                    p -= 0.1 * p.grad
            return loss
        return run

    eager, fast = step(m1), jit(step(m2))
    for _ in range(4):
        assert eager().item() == fast().item()
    for p, q in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_array_equal(p.data, q.data)


def test_dropout_inplace_overwrites_input():
    ember.manual_seed(0)
    x = ember.ones(100, dtype="float64")
    assert F.dropout(x, 0.5, True, inplace=True) is x and x._version[0] == 1
    assert set(np.unique(x.numpy())) == {0.0, 2.0}
    with pytest.raises(AutogradError, match="leaf tensor"):
        F.dropout(ember.ones(3, requires_grad=True), 0.5, True, inplace=True)


def test_jit_caches_a_step_with_an_inplace_activation():
    m = _net(nn.ReLU(inplace=True))
    fwd = jit(m)
    x = ember.randn(4, 6)
    for _ in range(3):
        fwd(x)
    assert fwd.retrace_reasons == ["first call"]


@pytest.mark.parametrize("call,temp_fraction", [
    (F.relu_, 0.0), (lambda x: F.relu6(x, True), 0.0), (F.hardtanh_, 0.0),
    (lambda x: F.hardsigmoid(x, True), 0.0),
    (F.leaky_relu_, 0.125), (F.elu_, 0.125), (F.selu_, 0.125), (F.celu_, 0.125),
    (lambda x: F.threshold_(x, 0.1, 2.0), 0.125),
])
def test_no_grad_path_allocates_no_full_size_temporary(call, temp_fraction):
    import tracemalloc

    x = ember.tensor(_data(0, (512, 512)))  # float64: a bool mask is 1/8 of its size
    before = x.numpy().copy()
    tracemalloc.start()
    try:
        call(x)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= temp_fraction * x.data.nbytes + 4096
    assert not np.array_equal(x.numpy(), before)


@pytest.mark.parametrize("name", ["leaky_relu", "leaky_relu_", "elu", "celu", "celu_", "selu"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_blocked_no_grad_kernels_match_torch_on_large_inputs(name, dtype):
    e_fn, t_fn, _ = ACTS[name]
    a = _data(5, (301, 123)).astype(dtype)  # several blocks and a short last one
    x, t = ember.tensor(a), torch.tensor(a)
    e_fn(x)
    t_fn(t)
    rtol = 1e-12 if dtype == "float64" else 1e-6
    np.testing.assert_allclose(x.numpy(), t.numpy(), rtol=rtol, atol=rtol)
    big = F.leaky_relu_(ember.tensor(a), 3.0)  # a slope above 1 takes min(x, s x)
    np.testing.assert_allclose(big.numpy(), TF.leaky_relu(torch.tensor(a), 3.0).numpy(),
                               rtol=rtol)
