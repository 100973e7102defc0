"""Each graph pass on its own: what it rewrites, that results stay exact, and its limits."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.graph import compile_graph, trace
from ember.graph.passes import cse, dce, fold_constants, fuse_elementwise, optimize, simplify
from ember.graph.passes.fuse import fusible
from ember.graph.passes.memory import plan_memory
from ember.ops.registry import REGISTRY


def _ops(g):
    return [n.op.name for n in g.nodes]


def _run(g, *xs, passes=None):
    return compile_graph(g, passes=passes)(*xs)


def test_dce_keeps_updates_and_removes_dead_work():
    w = ember.ones(3)

    def f(x):
        (x * 5.0).exp()  # dead
        with ember.no_grad():
            w.add_(x)  # an update: kept
        return x.sum()

    g = trace(f, ember.ones(3))
    assert dce(g)["removed"] == 2
    assert _ops(g) == ["add", "sum"]


def test_cse_merges_identical_nodes_only():
    def f(x):
        return x.exp() + x.exp() + x.exp().sum(0) + x.sum(1, keepdim=True)

    g = trace(f, ember.ones(2, 2))
    assert cse(g)["merged"] == 2
    dce(g)
    assert _ops(g).count("exp") == 1 and _ops(g).count("sum") == 2


def test_cse_distinguishes_attributes_and_float_signs():
    g = trace(lambda x: x * 0.0 + x * -0.0 + x.sum(0) .sum() + x.sum(1).sum(), ember.ones(2, 2))
    assert cse(g)["merged"] == 0


def test_constant_folding_folds_what_does_not_depend_on_inputs():
    def f(x):
        k = ember.arange(4, dtype=ember.float32).reshape(2, 2).exp() * 2.0
        return x @ k

    g = trace(f, ember.ones(2, 2))
    assert fold_constants(g)["folded"] == 3
    assert _ops(g) == ["matmul"]
    x = ember.randn(2, 2)
    np.testing.assert_array_equal(_run(g, x, passes=()).numpy(), f(x).numpy())


def test_simplify_identities_and_chains():
    def f(x):
        y = (x * 1.0 + 0.0 - 0.0) / 1.0
        y = y.reshape(6).reshape(3, 2).reshape(2, 3)
        y = y.permute(1, 0).permute(1, 0)
        return -(-y).exp()

    x = ember.randn(2, 3)
    g = trace(f, x)
    assert simplify(g)["rewritten"] >= 7
    dce(g)
    assert _ops(g) == ["neg", "exp", "neg"]
    np.testing.assert_array_equal(_run(g, x, passes=()).numpy(), f(x).numpy())


def test_simplify_keeps_casts_and_output_identity():
    xi = ember.ones(3, dtype=ember.int64)
    g = trace(lambda x: x * 1.0, xi)  # a cast to float: not a no-op
    simplify(g)
    assert _run(g, xi, passes=()).dtype == ember.float32
    g = trace(lambda x: x * 1.0, ember.ones(3))  # an output must not alias the input
    assert simplify(g)["rewritten"] == 0


def test_permute_chain_composes():
    x = ember.randn(2, 3, 4)
    f = lambda x: x.permute(2, 0, 1).permute(2, 0, 1).exp()  # noqa: E731
    g = trace(f, x)
    simplify(g)
    dce(g)
    assert _ops(g) == ["permute", "exp"] and g.nodes[0].attrs["axes"] == (1, 2, 0)
    np.testing.assert_array_equal(_run(g, x, passes=()).numpy(), f(x).numpy())


@pytest.mark.parametrize("fn", [
    lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / b,
    lambda a, b: ember.maximum(a, b), lambda a, b: ember.minimum(a, b),
    lambda a, b: a % b, lambda a, b: a // b, lambda a, b: a == b, lambda a, b: a != b,
    lambda a, b: a < b, lambda a, b: a <= b, lambda a, b: a > b, lambda a, b: a >= b,
    lambda a, b: ember.logical_and(a > 0, b > 0), lambda a, b: ember.logical_or(a > 0, b > 0),
    lambda a, b: ember.logical_xor(a > 0, b > 0), lambda a, b: ember.where(a > b, a, b),
    lambda a, b: ember.where(a > 0, a, 0.0),
])
@pytest.mark.parametrize("dtype", [ember.float32, ember.float64])
def test_fused_binary_lowering_is_bit_exact(fn, dtype):
    rng = np.random.default_rng(1)
    a = ember.from_numpy(rng.standard_normal((4, 5)).astype(dtype.np))
    b = ember.from_numpy(rng.standard_normal((5,)).astype(dtype.np) + 0.5)
    g = trace(lambda a, b: fn(a, b), a, b)
    assert all(fusible(n) for n in g.nodes), _ops(g)
    got = _run(g, a, b, passes=("fuse",)).numpy()
    np.testing.assert_array_equal(got, fn(a, b).numpy())


_UNARY = ["neg", "abs", "exp", "expm1", "log", "log1p", "log2", "log10", "sqrt", "reciprocal",
          "sin", "cos", "tan", "tanh", "sign", "floor", "ceil", "trunc", "square", "relu",
          "rsqrt", "isnan", "isinf", "isfinite", "logical_not"]


@pytest.mark.parametrize("name", _UNARY)
@pytest.mark.parametrize("dtype", [ember.float32, ember.float64])
def test_fused_unary_lowering_is_bit_exact(name, dtype):
    x = ember.from_numpy(np.random.default_rng(2).uniform(0.1, 3.0, (3, 7)).astype(dtype.np))
    fn = getattr(ember, name)
    g = trace(fn, x)
    assert [n.op.name for n in g.nodes] == [name] and fusible(g.nodes[0])
    np.testing.assert_array_equal(_run(g, x, passes=("fuse",)).numpy(), fn(x).numpy())


@pytest.mark.parametrize("fn", [lambda x: x ** 2, lambda x: x ** 0.5, lambda x: x ** 1,
                                lambda x: x ** -1, lambda x: x ** 3, lambda x: x ** 1.7,
                                lambda x: x.clamp(0.5, 2.0), lambda x: x.clamp(min=1.0),
                                lambda x: x.to(ember.float64), lambda x: x.to(ember.int32)])
def test_fused_pow_clamp_cast_are_bit_exact(fn):
    x = ember.from_numpy(np.random.default_rng(3).uniform(0.1, 3.0, (50,)).astype(np.float32))
    g = trace(fn, x)
    assert all(fusible(n) for n in g.nodes)
    np.testing.assert_array_equal(_run(g, x, passes=("fuse",)).numpy(), fn(x).numpy())


def test_every_lowered_op_is_registered():
    from ember.graph.passes.fuse import _BINARY
    from ember.graph.passes.fuse import _UNARY as LOWERED

    assert set(_BINARY) | set(LOWERED) <= set(REGISTRY)


def test_fusion_groups_runs_between_other_ops():
    g = trace(lambda x: ((x * 2.0 + 1.0) @ x).exp().neg().sum(), ember.ones(3, 3))
    stats = fuse_elementwise(g)
    assert stats == {"fused_nodes": 4, "groups": 2}
    assert _ops(g) == ["fused", "matmul", "fused", "sum"]


def test_memory_plan_reuses_buffers_and_works_in_place():
    x = ember.randn(1000)
    f = lambda x: ((((x + 1.0) * 2.0).exp() - 3.0).tanh() * x).sum()  # noqa: E731
    g, _ = optimize(trace(f, x))
    plan = plan_memory(g)
    assert plan.stats["naive_buffers"] == 6 and plan.stats["pool_buffers"] == 1
    np.testing.assert_array_equal(_run(trace(f, x), x).numpy(), f(x).numpy())


def test_memory_plan_keeps_views_of_buffers_alive():
    x = ember.randn(4, 6)

    def f(x):
        a = (x * 2.0).reshape(6, 4)  # a view of a planned buffer ...
        b = (x + 1.0).exp()  # ... must not be overwritten by this one
        return (a.sum(0, keepdim=True) * 1.5).sum() + b.sum()

    c = compile_graph(trace(f, x))
    for _ in range(2):
        np.testing.assert_array_equal(c(x).numpy(), f(x).numpy())


def test_outputs_never_live_in_reused_buffers():
    x = ember.randn(5)
    c = compile_graph(trace(lambda x: ((x * 2.0).reshape(5, 1), (x + 1.0) * 3.0), x))
    a1, b1 = c(x)
    keep = (a1.numpy().copy(), b1.numpy().copy())
    c(x * 10.0)
    np.testing.assert_array_equal(a1.numpy(), keep[0])
    np.testing.assert_array_equal(b1.numpy(), keep[1])


def test_state_update_in_place_only_when_nothing_reads_the_old_value_later():
    w = ember.ones(4)

    def reads_after(x):
        with ember.no_grad():
            new = w * 0.5 + x
            w.copy_(new)
        return x * 1.0

    def reads_old_later(x):
        old = w * 1.0
        with ember.no_grad():
            w.mul_(0.5)
        return old.exp().sum() + (w * x).sum()

    c = compile_graph(trace(reads_after, ember.ones(4)))
    assert c.stats["memory"]["in_place_updates"] == 1
    w2 = ember.ones(4)
    w.data[...] = 1.0
    c2 = compile_graph(trace(reads_old_later, ember.ones(4)))
    w.data[...] = 1.0
    w2.data[...] = 1.0
    got = [c2(ember.ones(4)).item() for _ in range(3)]
    want = []
    for _ in range(3):
        old = w2 * 1.0
        w2.mul_(0.5)
        want.append((old.exp().sum() + (w2 * ember.ones(4)).sum()).item())
    assert got == want


def test_where_never_writes_into_its_own_operand():
    a, b = ember.randn(50), ember.randn(50)
    f = lambda a, b: ember.where(a > 0, a * 0.5, b).sum()  # noqa: E731
    c = compile_graph(trace(f, a, b))
    np.testing.assert_array_equal(c(a, b).numpy(), f(a, b).numpy())


def test_matmul_and_linear_write_into_planned_buffers_bit_exactly():
    ember.manual_seed(0)
    lin = ember.nn.Linear(6, 5)
    x, w = ember.randn(4, 6), ember.randn(5, 5)
    f = lambda x: (lin(x) @ w).relu() @ w.T  # noqa: E731
    c = compile_graph(trace(f, x))
    assert "k_matmul" in c.source and "k_linear" in c.source
    assert c.stats["memory"]["pool_buffers"] >= 2
    for _ in range(2):
        np.testing.assert_array_equal(c(x).numpy(), f(x).detach().numpy())


def test_where_and_matmul_never_write_a_state_they_read():
    w = ember.randn(3, 3)

    def f(x):
        with ember.no_grad():
            w.copy_(ember.where(x > 0, w, w - 1.0))
        return x * 1.0

    c = compile_graph(trace(f, ember.ones(3, 3)))
    w.data[...] = np.arange(9, dtype=np.float32).reshape(3, 3)
    x = ember.from_numpy(np.array([[1.0, -1, 1], [-1, 1, -1], [1, 1, -1]], np.float32))
    c(x)
    w0 = np.arange(9).reshape(3, 3)
    want = np.where(x.numpy() > 0, w0, w0 - 1.0)
    np.testing.assert_array_equal(w.numpy(), want)


POOLS = [dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1),
         dict(kernel_size=3, stride=2, ceil_mode=True), dict(kernel_size=2, dilation=2)]


@pytest.mark.parametrize("pool", POOLS, ids=["2x2", "3x3_s1_p1", "3x3_s2_ceil", "dilated"])
def test_relu_moves_after_max_pooling_with_equal_results_and_gradients(pool):
    from ember.graph import jit
    from ember.graph.passes import commute_relu_pool

    rng = np.random.default_rng(9)
    # a shift makes many windows entirely negative: their gradient is 0 on both sides
    xn = (rng.standard_normal((3, 4, 9, 9)) - 0.8).astype(np.float32)
    wn = rng.standard_normal((4, 4, 3, 3)).astype(np.float32) * 0.3

    def step(x, w):
        y = ember.nn.functional.conv2d(x, w, padding=1)
        out = ember.nn.functional.max_pool2d(ember.nn.functional.relu(y), **pool)
        loss = (out * out).sum() + out.sum()
        gx, gw = ember.autograd.grad(loss, [x, w])
        return out, gx, gw

    def args():
        return (ember.tensor(xn, requires_grad=True), ember.tensor(wn, requires_grad=True))

    eager = step(*args())
    fast = jit(step)
    got = fast(*args())
    assert fast.compiled.stats["commute"]["moved"] == 1
    for e, j in zip(eager, got):
        assert np.array_equal(e.detach().numpy(), j.detach().numpy())
    g = trace(lambda x: ember.nn.functional.max_pool2d(x.relu(), **pool), ember.tensor(xn))
    assert commute_relu_pool(g)["moved"] == 1 and _ops(g) == ["max_pool2d", "relu"]


def test_relu_stays_before_pooling_when_its_output_is_read_elsewhere():
    from ember.graph.passes import commute_relu_pool

    F = ember.nn.functional
    x = ember.randn(1, 2, 6, 6)
    for f in (lambda x: (F.max_pool2d(x.relu(), 2), x.relu().sum()),   # CSE'd: two readers
              lambda x: (F.max_pool2d(F.relu(x), 2), F.relu(x))):       # a result
        g = trace(f, x)
        cse(g)
        before = _ops(g)
        assert commute_relu_pool(g)["moved"] == 0 and _ops(g) == before
