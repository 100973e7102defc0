"""The pieces that make a jit-compiled training step fast, each checked against eager mode:
the fused optimiser step op, the whole-layer LSTM backward, buffers laid out as the ops lay
out their results, blocked elementwise chains, and branch-free prod/cumprod gradients."""

from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.optim
from ember.graph import blocked, compile_graph, jit, trace
from ember.graph.passes import fuse_elementwise, plan_memory
from ember.graph.trace import collect_tensors, memory_order
from ember.optim._fused import RULES, rule_name, step_op

nn = ember.nn
F = ember.nn.functional

OPTIMIZERS = {
    "sgd": lambda p: ember.optim.SGD(p, lr=0.1),
    "sgd_momentum_dampening": lambda p: ember.optim.SGD(p, lr=0.1, momentum=0.9,
                                                        dampening=0.2, weight_decay=0.01),
    "sgd_nesterov_maximize": lambda p: ember.optim.SGD(p, lr=0.05, momentum=0.8,
                                                       nesterov=True, maximize=True),
    "adam": lambda p: ember.optim.Adam(p, lr=0.05),
    "adam_l2": lambda p: ember.optim.Adam(p, lr=0.05, weight_decay=0.1),
    "adamw_amsgrad": lambda p: ember.optim.AdamW(p, lr=0.05, amsgrad=True),
    "rmsprop_centered_momentum": lambda p: ember.optim.RMSprop(p, lr=0.01, momentum=0.5,
                                                               centered=True),
    "rmsprop_centered": lambda p: ember.optim.RMSprop(p, lr=0.01, centered=True),
    "adagrad": lambda p: ember.optim.Adagrad(p, lr=0.1, lr_decay=0.01),
}


def _mlp_step(make_opt, dtype="float32"):
    ember.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).to(dtype)
    opt = make_opt(m.parameters())
    x = ember.randn(5, 4, dtype=dtype)
    y = ember.tensor([0, 1, 2, 0, 1])

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
        return loss

    return m, opt, step


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_fused_optimizer_step_equals_eager_bit_for_bit(name):
    m1, o1, eager = _mlp_step(OPTIMIZERS[name])
    m2, o2, step = _mlp_step(OPTIMIZERS[name])
    fast = jit(step)
    for _ in range(5):
        assert eager().item() == fast().item()
    ops = [n.op.name for n in fast.graph.nodes]
    assert ops[-1] == "optimizer_step_" + str(len(fast.graph.nodes[-1].outputs))
    assert "sqrt" not in ops and "square" not in ops  # no update rule recorded op by op
    for p, q in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    for p, q in zip(m1.parameters(), m2.parameters()):
        s1, s2 = o1.state[p], o2.state[q]
        assert sorted(s1) == sorted(s2)
        for k in s1:
            a = s1[k].numpy() if isinstance(s1[k], ember.Tensor) else s1[k]
            b = s2[k].numpy() if isinstance(s2[k], ember.Tensor) else s2[k]
            np.testing.assert_array_equal(a, b, err_msg=k)


def test_fused_step_updates_states_in_place_without_copies():
    _, _, step = _mlp_step(OPTIMIZERS["adam"])
    fast = jit(step)
    for _ in range(3):
        fast()
    c = fast.compiled
    assert "copy(" not in c.source
    assert all(done for _, done in c._updates)  # nothing written back after the run


def test_fused_step_in_float64_and_after_eager_steps():
    m1, _, eager = _mlp_step(OPTIMIZERS["adamw_amsgrad"], "float64")
    m2, _, step = _mlp_step(OPTIMIZERS["adamw_amsgrad"], "float64")
    fast = jit(step)
    for i in range(6):
        a = eager().item()
        b = (step() if i % 3 == 2 else fast()).item()  # eager steps between compiled ones
        assert a == b
    for p, q in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())


def test_fused_op_forward_is_the_eager_kernel():
    """Applied directly, the op updates parameter, step and buffers as opt.step() does."""
    ember.manual_seed(1)
    p1 = ember.randn(300, requires_grad=True)
    p2 = ember.tensor(p1.detach().numpy().copy(), requires_grad=True)
    g = ember.randn(300)
    opt = ember.optim.Adam([p1], lr=0.1)
    for _ in range(2):
        p1.grad = g
        opt.step()
    m, v = ember.zeros(300), ember.zeros(300)
    step = ember.tensor(0.0, dtype="float64")
    hyper = tuple(sorted((k, v) for k, v in opt.param_groups[0].items()
                         if k not in ("params", "lr")))
    lr = ember.tensor(0.1, dtype="float64")
    with ember.no_grad():
        for _ in range(2):
            ember.autograd.node.apply(step_op(4), p2, g, step, m, v, lr, rule="adam",
                                      hyper=hyper, layout=((True, ("exp_avg", "exp_avg_sq")),))
    np.testing.assert_array_equal(p1.detach().numpy(), p2.detach().numpy())
    np.testing.assert_array_equal(opt.state[p1]["exp_avg_sq"].numpy(), v.numpy())
    assert step.item() == 2.0 and step_op(4).writes(
        {"layout": ((True, ("a", "b")),)}) == (0, 2, 3, 4)


def test_rule_names():
    assert {rule_name(ember.optim.AdamW([ember.ones(1, requires_grad=True)]))} == {"adam"}
    assert set(RULES) == {"sgd", "adam", "rmsprop", "adagrad"}

    class Custom(ember.optim.SGD):
        @staticmethod
        def _update(xp, c, p, g, bufs, s):
            xp.subtract(p, g, out=p)

    assert rule_name(Custom([ember.ones(1, requires_grad=True)])) is None


def test_custom_update_rule_is_still_recorded_op_by_op():
    class Halve(ember.optim.SGD):
        @staticmethod
        def _update(xp, c, p, g, bufs, s):
            xp.multiply(g, -0.5, out=s[0])
            xp.add(p, s[0], out=p)

    _, _, eager = _mlp_step(lambda p: Halve(p, lr=1.0))
    _, _, step = _mlp_step(lambda p: Halve(p, lr=1.0))
    fast = jit(step)
    for _ in range(3):
        assert eager().item() == fast().item()
    assert not any(n.op.name.startswith("optimizer_step") for n in fast.graph.nodes)


def test_fused_step_never_writes_constants_or_inputs():
    """Traced on the first step, the optimiser state is new (constants of the graph): the
    executor hands the op copies, so running the graph leaves its constants as traced."""
    from ember.graph.executor import compile_graph

    ember.manual_seed(2)
    w = ember.randn(3, requires_grad=True)
    opt = ember.optim.Adam([w], lr=0.5)

    def step(x):
        opt.zero_grad()
        (w * x).sum().backward()
        opt.step()

    g = trace(step, ember.ones(3))
    assert g.nodes[-1].op.name == "optimizer_step_4"
    consts = {v: a.copy() for v, a in g.consts.items()}
    run = compile_graph(g)
    assert run.source.count("copy(") == 3  # step count and both moment buffers
    before = w.detach().numpy().copy()
    run(ember.ones(3))
    run(ember.ones(3))
    for v, a in g.consts.items():
        np.testing.assert_array_equal(a, consts[v])
    # each run is Adam's first step from the traced state: the same change twice
    np.testing.assert_allclose(w.detach().numpy(), before - 2 * 0.5, rtol=1e-6)


def test_saved_training_graph_with_fused_step_keeps_training(tmp_path):
    m, _, step = _mlp_step(OPTIMIZERS["adam"])
    fast = jit(step)
    for _ in range(3):
        fast()
    fast.save(tmp_path / "g")
    g = ember.graph.load(tmp_path / "g")
    saved = [g().item() for _ in range(3)]
    live = [fast().item() for _ in range(3)]
    assert saved == live and saved[2] < saved[0]


def _lstm_step():
    ember.manual_seed(0)
    emb, lstm, fc = nn.Embedding(20, 6), nn.LSTM(6, 5, batch_first=True), nn.Linear(5, 20)
    params = list(emb.parameters()) + list(lstm.parameters()) + list(fc.parameters())
    opt = ember.optim.Adam(params, lr=0.01)
    tokens = ember.tensor(np.random.default_rng(0).integers(0, 20, (3, 7)))
    y = ember.tensor([1, 2, 3])

    def step():
        opt.zero_grad()
        out, _ = lstm(emb(tokens))
        loss = F.cross_entropy(fc(out[:, -1]), y)
        loss.backward()
        opt.step()
        return loss

    return lstm, step


def test_traced_lstm_backward_is_the_whole_layer_op():  # (the layer: projection + recurrence)
    l1, eager = _lstm_step()
    l2, step = _lstm_step()
    fast = jit(step)
    for _ in range(4):
        assert eager().item() == fast().item()
    ops = [n.op.name for n in fast.graph.nodes]
    assert "lstm_grad" in ops and "lstm_cell" not in ops and "sigmoid" not in ops
    for p, q in zip(l1.parameters(), l2.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    # b_ih and b_hh get the same gradient value: each .grad owns its array all the same
    assert not np.shares_memory(l2.bias_ih_l0.grad.numpy(), l2.bias_hh_l0.grad.numpy())


def test_lstm_double_backward_still_replays_cells():
    lstm = nn.LSTM(3, 2)
    x = ember.randn(4, 1, 3, dtype="float64", requires_grad=True)
    lstm = lstm.to("float64")
    assert ember.autograd.gradgradcheck(lambda x: lstm(x)[0].sum(), [x])


def test_memory_order():
    a = np.empty((2, 4, 5, 3)).transpose(0, 3, 1, 2)
    assert memory_order(a) == (0, 2, 3, 1)
    assert memory_order(np.empty((2, 3))) is None
    assert memory_order(np.empty((4, 6))[:, ::2]) is None  # not dense: C order


def test_planned_buffers_follow_channels_last_results():
    conv = nn.Conv2d(2, 4, 3)
    g = trace(lambda x: (F.relu(conv(x)) * 2.0 + 1.0).sum(), ember.randn(2, 2, 8, 8))
    fuse_elementwise(g)
    plan = plan_memory(g)
    orders = {order for shape, _, order in plan.buffers if len(shape) == 4}
    assert orders == {(0, 2, 3, 1)}
    x = ember.randn(2, 2, 8, 8)
    np.testing.assert_allclose(jit(lambda x: (F.relu(conv(x)) * 2.0 + 1.0).sum())(x).item(),
                               (F.relu(conv(x)) * 2.0 + 1.0).sum().item(), rtol=1e-6)


@pytest.mark.parametrize("fn", [lambda x: x.prod(dim=1).sum(), lambda x: x.prod().sum(),
                                lambda x: x.cumprod(dim=1).sum(),
                                lambda x: (x.cumprod(dim=0) * x).sum()])
@pytest.mark.parametrize("zeros", [False, True])
def test_prod_and_cumprod_gradients_trace(fn, zeros):
    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 1.5, (3, 4))
    if zeros:
        a[1, 2] = a[2, 0] = a[2, 3] = 0.0
    x = ember.tensor(a, requires_grad=True)

    def grad(x):
        x.grad = None
        fn(x).backward()
        return x.grad

    want = grad(x).numpy().copy()
    fast = jit(grad)
    fast(x)
    np.testing.assert_allclose(fast(x).numpy(), want, rtol=1e-12, atol=1e-15)
    assert ember.autograd.gradcheck(fn, [ember.tensor(a, requires_grad=True)])


BLOCK_CASES = {
    "chain": lambda x, y, b: ((x * 2.0 + y).exp() * 0.5 - x).relu() * y,
    "bias_broadcast": lambda x, y, b: (x + b).relu() * 0.5 + y,
    "where_clamp": lambda x, y, b: ember.where(x > y, x.clamp(-0.5, 0.5), y * 2.0) - b,
    "mask_cast": lambda x, y, b: y * (x > 0).float(),
    "two_outputs": lambda x, y, b: ((x * y).abs().sqrt(), (x * y - 1.0).abs()),
}


def _big(rng, channels_last):
    a = rng.standard_normal((37, 32, 32, 32), dtype=np.float32)  # 4.8 MB, 37 rows
    if channels_last:
        a = np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    return ember.from_numpy(a)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("name", sorted(BLOCK_CASES))
def test_blocked_groups_equal_eager_and_unblocked(name, channels_last, monkeypatch):
    fn = BLOCK_CASES[name]
    rng = np.random.default_rng(0)
    x, y = _big(rng, channels_last), _big(rng, channels_last)
    if channels_last:  # an op's channels-last result, as a convolution leaves it
        x, y = x * 1.0, y * 1.0
    b = ember.from_numpy(rng.standard_normal((32, 1, 1), dtype=np.float32))
    want = [o.numpy() for o in collect_tensors(fn(x, y, b), [])]
    g = trace(fn, x, y, b)
    fast = compile_graph(g)
    assert "for sl" in fast.source and fast.stats["memory"]["blocked_groups"] >= 1
    got = [o.numpy() for o in collect_tensors(fast(x, y, b), [])]
    monkeypatch.setattr(blocked, "MIN_BYTES", 1 << 62)
    plain = compile_graph(g)
    assert "for sl" not in plain.source
    ref = [o.numpy() for o in collect_tensors(plain(x, y, b), [])]
    for w, a, r in zip(want, got, ref):
        np.testing.assert_array_equal(a, w)
        np.testing.assert_array_equal(r, w)


def test_blocked_chain_keeps_intermediates_out_of_memory():
    """Six ops over a 4.8 MB array: one whole-size buffer (the result), not one per op."""
    x = _big(np.random.default_rng(1), False)
    fast = compile_graph(trace(lambda x: ((x * 2.0 + 1.0).exp() * 0.5 - x).relu(), x))
    mem = fast.stats["memory"]
    assert mem["blocked_groups"] == 1 and mem["pool_bytes_allocated"] == 0  # output: fresh
    assert fast.source.count("u_") + fast.source.count("k_") == 6
    assert fast.source.count("empty(") == 1


def test_blocked_in_place_update_of_a_large_parameter():
    def make():
        ember.manual_seed(4)
        w = ember.randn(1100, 1000, requires_grad=True)  # 4.4 MB
        x = ember.randn(1000, 3)

        def step():
            w.grad = None
            loss = (w @ x).square().mean()
            loss.backward()
            with ember.no_grad():
                w.mul_(0.999)
                w.sub_(0.01 * w.grad)
            return loss

        return w, step

    (w1, eager), (w2, step) = make(), make()
    fast = jit(step)
    for _ in range(4):
        assert eager().item() == fast().item()
    np.testing.assert_array_equal(w1.detach().numpy(), w2.detach().numpy())
    assert "for sl" in fast.compiled.source


def test_mask_casts_are_elided_and_exact():
    """A boolean mask cast to float that only products read (``g * (x > 0).float()``,
    written by hand) is dropped from its fused group."""
    rng = np.random.default_rng(4)
    x = ember.tensor(rng.standard_normal((64, 33), dtype=np.float32))
    g = ember.tensor(rng.standard_normal((64, 33), dtype=np.float32))

    def f(x, g):
        return (g * (x > 0).float() + 1.0) * 2.0

    fast = jit(f)
    for _ in range(2):
        assert np.array_equal(fast(x, g).numpy(), f(x, g).numpy())
    assert fast.compiled.stats["fuse"]["elided"] == 1
    assert "casting='unsafe'" not in fast.compiled.source


def test_relu_backward_is_one_op_in_eager_and_compiled_steps():
    """ReLU's gradient is the relu_backward op (one pass: oneDNN's eltwise backward on the
    CPU for large float32), and compiled steps run it through the backend as eager does."""
    m1, _, eager = _mlp_step(OPTIMIZERS["sgd"])
    m2, _, step = _mlp_step(OPTIMIZERS["sgd"])
    fast = jit(step)
    for _ in range(3):
        assert eager().item() == fast().item()
    assert "k_relu_backward(" in fast.compiled.source and "k_relu(" in fast.compiled.source


def test_learning_rate_changes_need_no_retrace():
    """The fused step reads each group's rate from a cell ember.jit fills before each run: a
    scheduler changing lr every step runs the same graph, and equals eager."""
    m1, o1, eager = _mlp_step(OPTIMIZERS["adam"])
    m2, o2, step = _mlp_step(OPTIMIZERS["adam"])
    fast = jit(step)
    s1 = ember.optim.lr_scheduler.StepLR(o1, step_size=1, gamma=0.7)
    s2 = ember.optim.lr_scheduler.StepLR(o2, step_size=1, gamma=0.7)
    for _ in range(6):
        assert eager().item() == fast().item()
        s1.step()
        s2.step()
    assert len(fast.retrace_reasons) == 2  # the first call, then with the optimiser's state
    for p, q in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())


def test_learning_rate_is_baked_in_where_the_rule_is_recorded_op_by_op():
    class Halve(ember.optim.SGD):
        @staticmethod
        def _update(xp, c, p, g, bufs, s):
            xp.multiply(g, -c[0], out=s[0])
            xp.add(p, s[0], out=p)

    m1, o1, eager = _mlp_step(lambda p: Halve(p, lr=0.5))
    m2, o2, step = _mlp_step(lambda p: Halve(p, lr=0.5))
    fast = jit(step)
    for i in range(4):
        for o in (o1, o2):
            o.param_groups[0]["lr"] = 0.5 / (i + 1)
        assert eager().item() == fast().item()
    assert len(fast.retrace_reasons) == 4  # each new rate is a new graph
