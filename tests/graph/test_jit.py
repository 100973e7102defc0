"""ember.graph.jit: eager and jit agree; retracing and its reasons; data-dependent errors."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import ember
from ember.graph import TraceError, jit, trace

nn = ember.nn


def _mlp(seed=0):
    ember.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))


def _sgd_step(model, x, y, lr=0.1, zero=True):
    def step():
        if zero:
            for p in model.parameters():
                p.grad = None
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        with ember.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
        return loss

    return step


def test_forward_module_matches_eager_exactly():
    m = _mlp()
    fast = jit(m)
    for n in (4, 4, 7):
        x = ember.randn(n, 6)
        assert np.array_equal(fast(x).numpy(), m(x).detach().numpy())
    assert len(fast.retrace_reasons) == 2
    assert fast.retrace_reasons[1] == ("input 0 changed: shape (4, 6) float32 -> "
                                       "shape (7, 6) float32")


def test_training_step_matches_eager_bit_for_bit():
    x, y = ember.randn(16, 6), ember.randint(0, 3, (16,))
    m1, m2 = _mlp(), _mlp()
    eager, fast = _sgd_step(m1, x, y), jit(_sgd_step(m2, x, y))
    for _ in range(6):
        assert eager().item() == fast().item()
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert np.array_equal(p.data, q.data)
        assert np.array_equal(p.grad.data, q.grad.data)
    # traced once with .grad None, once with .grad set; then the cache serves every call
    assert len(fast.retrace_reasons) == 2
    assert "grad" in fast.retrace_reasons[1]
    assert fast.compiled.stats["memory"]["in_place_updates"] == 4


def test_gradient_accumulation_without_zeroing_matches_eager():
    x, y = ember.randn(5, 6), ember.randint(0, 3, (5,))
    m1, m2 = _mlp(), _mlp()
    eager, fast = _sgd_step(m1, x, y, zero=False), jit(_sgd_step(m2, x, y, zero=False))
    for _ in range(4):
        np.testing.assert_array_equal(eager().detach().numpy(), fast().numpy())
    for p, q in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_array_equal(p.grad.data, q.grad.data)


def test_w5_chain_is_folded_and_fused():
    x = ember.ones(10, requires_grad=True)

    def step():
        y = x
        for _ in range(100):
            y = y * 1.0001 + 0.1
        y.sum().backward()
        g = x.grad
        x.grad = None
        return y, g

    fast = jit(step)
    ye, ge = step()
    for _ in range(3):
        yj, gj = fast()
    np.testing.assert_array_equal(ye.detach().numpy(), yj.numpy())
    np.testing.assert_array_equal(ge.numpy(), gj.numpy())
    stats = fast.compiled.stats
    assert stats["fold"]["folded"] >= 100  # the backward chain does not depend on x
    assert stats["fuse"]["groups"] == 1 and stats["memory"]["pool_buffers"] <= 1


def test_training_flag_change_retraces():
    m = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.0))
    fast = jit(lambda x: m(x))
    x = ember.randn(2, 4)
    fast(x)
    m.eval()
    fast(x)
    assert "training flags of m changed" in fast.retrace_reasons[-1]


def test_python_scalar_argument_is_specialised():
    fast = jit(lambda x, k: x * k)
    x = ember.ones(3)
    assert fast(x, 2.0).tolist() == [2.0, 2.0, 2.0]
    assert fast(x, 3.0).tolist() == [3.0, 3.0, 3.0]
    assert fast.retrace_reasons[-1] == "argument 1 changed: 2.0 -> 3.0"


def test_explain_logs_the_reason(caplog):
    fast = jit(lambda x: x + 1.0, explain=True)
    with caplog.at_level(logging.WARNING, logger="ember.jit"):
        fast(ember.ones(2))
        fast(ember.ones(2, dtype=ember.float64))
    assert "float32 -> shape (2,) float64" in caplog.text


def test_data_dependent_if_names_the_line():
    def f(x):
        if x.sum() > 0:  # the offending line
            return x
        return -x

    with pytest.raises(TraceError, match=r"test_jit.py:\d+: if x.sum\(\) > 0"):
        jit(f)(ember.ones(3))


@pytest.mark.parametrize("read", [lambda t: t.item(), lambda t: t.tolist(),
                                  lambda t: t.numpy(), lambda t: float(t)])
def test_reading_traced_values_raises(read):
    with pytest.raises(TraceError, match="reads the value of a traced tensor"):
        jit(lambda x: read(x.sum()))(ember.ones(3))


def test_values_that_do_not_depend_on_inputs_may_be_read():
    def f(x):
        k = ember.tensor([1.0, 2.0]).sum()
        if k > 2.5:  # a constant: fine
            return x * k
        return x

    assert jit(f)(ember.ones(2)).tolist() == [3.0, 3.0]


def test_modifying_an_input_in_place_raises():
    def f(x):
        x += 1.0
        return x

    with pytest.raises(TraceError, match="modified one of its input tensors in place"):
        jit(f)(ember.ones(2))


def test_untraced_state_change_raises():
    w = ember.ones(3)

    def f(x):
        y = x * w
        w.normal_()  # a random fill writes the array directly
        return y

    with pytest.raises(TraceError, match="without going through ember's ops"):
        jit(f)(ember.ones(3))


def test_state_created_on_the_first_call_is_traced_again():
    state = {}

    def f(x):
        if "acc" not in state:
            state["acc"] = ember.zeros(3)
        acc = state["acc"]
        acc += x
        return acc * 1.0

    fast = jit(f)
    outs = [fast(ember.ones(3)).tolist() for _ in range(3)]
    assert outs == [[1.0] * 3, [2.0] * 3, [3.0] * 3]


def test_state_captured_by_closure_is_live():
    w = ember.ones(2)
    fast = jit(lambda x: x * w)
    assert fast(ember.ones(2)).tolist() == [1.0, 1.0]
    with ember.no_grad():
        w.mul_(5.0)
    assert fast(ember.ones(2)).tolist() == [5.0, 5.0]


def test_detach_and_maxpool_trace_as_the_same_value():
    pool = nn.MaxPool2d(2)
    fast = jit(lambda x: pool(x.detach() * 2.0))
    for _ in range(2):
        x = ember.randn(1, 1, 4, 4)
        np.testing.assert_array_equal(fast(x).numpy(), pool(x * 2.0).numpy())


def test_outputs_are_fresh_each_call():
    fast = jit(lambda x: x * 2.0)
    a = fast(ember.ones(2))
    b = fast(ember.ones(2) * 3.0)
    assert a.tolist() == [2.0, 2.0] and b.tolist() == [6.0, 6.0]


def test_structured_outputs_and_kwargs():
    fast = jit(lambda x, *, scale: {"a": x * scale, "b": [x + 1.0, None, 3]})
    out = fast(ember.ones(2), scale=2.0)
    assert out["a"].tolist() == [2.0, 2.0] and out["b"][1] is None and out["b"][2] == 3


def test_trace_records_ops_in_order():
    g = trace(lambda a, b: (a @ b).relu(), ember.ones(2, 3), ember.ones(3, 2))
    assert [n.op.name for n in g.nodes] == ["matmul", "relu"]
    assert g.nodes[0].outputs[0].shape == (2, 2)


def test_batchnorm_training_under_jit_is_exact_or_refused():
    """Training-mode batch norm updates running statistics: the jit must repeat them
    exactly, or refuse (ember's BatchNorm writes num_batches_tracked's array directly)."""
    bn1, bn2 = nn.BatchNorm2d(3), nn.BatchNorm2d(3)
    fast = jit(lambda x: bn2(x).sum())
    try:
        for _ in range(3):
            x = ember.randn(4, 3, 2, 2)
            bn1(x)
            fast(x)
    except TraceError as exc:
        assert "bn2.num_batches_tracked" in str(exc)
        return
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_array_equal(getattr(bn1, name).numpy(), getattr(bn2, name).numpy())


def test_optimizer_step_under_jit_is_exact_or_refused():
    """ember.optim's step must either be traced (and match eager) or be refused: never a
    graph that silently skips the update."""
    import ember.optim

    x = ember.randn(4, 3)

    def make():
        ember.manual_seed(3)
        m = nn.Linear(3, 1)
        opt = ember.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)

        def step():
            opt.zero_grad()
            m(x).sum().backward()
            opt.step()

        return m, step

    (m1, eager), (m2, step) = make(), make()
    fast = jit(step)
    try:
        for _ in range(3):
            eager()
            fast()
    except TraceError as exc:
        assert "without going through ember's ops" in str(exc)
        return
    for p, q in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())


def test_autograd_grad_inside_jit_returns_plain_tensors():
    """ember.autograd.grad in a traced function: the engine records tensors there, and grad
    returned them wrapped in a second Tensor (tracing then failed on ``.data.copy()``)."""
    w = ember.tensor([1.0, -2.0, 3.0], requires_grad=True)

    def f(x):
        (g,) = ember.autograd.grad((w * x).pow(2).sum(), [w])
        return g

    x = ember.tensor([0.5, 1.0, 2.0])
    fast = ember.jit(f)
    expect = f(x).numpy()
    assert np.array_equal(fast(x).numpy(), expect) and np.array_equal(fast(x).numpy(), expect)
