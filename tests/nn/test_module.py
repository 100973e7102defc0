"""The Module API: registration, iteration order (equal to PyTorch's), state dicts, modes,
conversion, hooks, repr and errors."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import ember
from ember import nn


def _model(m):
    """The same small model built from ``m`` = torch.nn or ember.nn."""
    class Block(m.Module):
        def __init__(self):
            super().__init__()
            self.conv_like = m.Linear(4, 6)
            self.norm = m.BatchNorm1d(6)
            self.act = m.GELU()
            self.scale = m.Parameter(torch.ones(6) if m is torch.nn else ember.ones(6))
            self.register_buffer("step", torch.zeros(1) if m is torch.nn else ember.zeros(1))
            self.register_buffer("cache", torch.zeros(2) if m is torch.nn else ember.zeros(2),
                                 persistent=False)

        def forward(self, x):
            return self.act(self.norm(self.conv_like(x))) * self.scale

    class Net(m.Module):
        def __init__(self):
            super().__init__()
            self.block = Block()
            self.heads = m.ModuleList([m.Linear(6, 2), m.Linear(6, 3)])
            self.extra = m.ModuleDict({"emb": m.Embedding(5, 6), "ln": m.LayerNorm(6)})
            self.seq = m.Sequential(m.Linear(6, 6), m.ReLU(), m.Dropout(0.1))
            self.shared = self.heads[0]  # the same module twice

        def forward(self, x):
            h = self.seq(self.block(x))
            return self.heads[0](h), self.heads[1](h)

    return Net()


def test_named_iteration_orders_equal_torch():
    t, e = _model(torch.nn), _model(nn)
    assert [n for n, _ in e.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in e.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert [n for n, _ in e.named_modules()] == [n for n, _ in t.named_modules()]
    assert [n for n, _ in e.named_children()] == [n for n, _ in t.named_children()]
    assert list(e.state_dict()) == list(t.state_dict())
    assert [n for n, _ in e.named_modules(remove_duplicate=False)] == \
        [n for n, _ in t.named_modules(remove_duplicate=False)]
    assert [n for n, _ in e.named_parameters(prefix="net", recurse=True)] == \
        [n for n, _ in t.named_parameters(prefix="net")]
    assert [n for n, _ in e.block.named_parameters(recurse=False)] == ["scale"]
    assert len(list(e.parameters())) == len(list(t.parameters()))
    assert len(list(e.children())) == len(list(t.children())) == 5
    assert len(list(e.modules())) == len(list(t.modules()))


def test_repr_equals_torch():
    t, e = _model(torch.nn), _model(nn)
    assert repr(e) == repr(t)
    for factory in [lambda m: m.Sequential(m.Linear(2, 3), m.ReLU(), m.Linear(3, 3),
                                           m.Linear(3, 3)),
                    lambda m: m.ModuleList([m.Linear(2, 3), m.Linear(2, 3), m.ReLU()]),
                    lambda m: m.TransformerEncoderLayer(8, 2, 16),
                    lambda m: m.MultiheadAttention(8, 2, kdim=4),
                    lambda m: m.BatchNorm2d(3, momentum=None, affine=False),
                    lambda m: m.ZeroPad2d((1, 2, 0, 1)),
                    lambda m: m.ConstantPad1d(2, 3.5),
                    lambda m: m.Embedding(10, 3, padding_idx=0, max_norm=1.0),
                    lambda m: m.Softplus(2, 10), lambda m: m.GELU("tanh"),
                    lambda m: m.Unflatten(1, (2, 3))]:
        assert repr(factory(nn)) == repr(factory(torch.nn))
    p = nn.Parameter(ember.tensor([1.0, 2.0]))
    assert repr(p) == "Parameter containing:\ntensor([1., 2.], requires_grad=True)"


def test_state_dict_round_trip_and_torch_interchange():
    t, e = _model(torch.nn), _model(nn)
    e.load_state_dict({k: ember.tensor(v.numpy()) for k, v in t.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    t.eval()
    e.eval()
    for a, b in zip(e(ember.tensor(x)), t(torch.tensor(x))):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)
    e2 = _model(nn)
    result = e2.load_state_dict(e.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    for (n1, v1), (n2, v2) in zip(e.state_dict().items(), e2.state_dict().items()):
        assert n1 == n2
        np.testing.assert_array_equal(v1.numpy(), v2.numpy())
    sd = e.state_dict()
    assert not any(v.requires_grad for v in sd.values())
    assert sd["block.norm.num_batches_tracked"].dtype == ember.int64
    assert "block.cache" not in sd
    keep = e.state_dict(keep_vars=True)
    assert keep["block.scale"] is e.block.scale


def test_state_dict_tensors_share_memory_and_load_copies():
    lin = nn.Linear(3, 2)
    sd = lin.state_dict()
    with ember.no_grad():
        lin.weight.fill_(1.0)
    assert float(sd["weight"].sum()) == 6.0
    other = nn.Linear(3, 2)
    other.load_state_dict(sd)
    with ember.no_grad():
        lin.weight.fill_(2.0)
    assert float(other.weight.sum()) == 6.0


def test_load_state_dict_lists_every_problem_at_once():
    e = _model(nn)
    sd = dict(e.state_dict())
    del sd["block.norm.running_var"]
    del sd["heads.1.bias"]
    sd["block.bogus"] = ember.zeros(1)
    sd["unknown.weight"] = ember.zeros(1)
    sd["seq.0.weight"] = ember.zeros(5, 6)
    sd["extra.emb.weight"] = ember.zeros(5, 7)
    with pytest.raises(RuntimeError) as info:
        e.load_state_dict(sd)
    msg = str(info.value)
    assert isinstance(info.value, ember.nn.module.StateDictError)
    for part in ["Error(s) in loading state_dict for Net",
                 "Missing key(s) in state_dict: 'block.norm.running_var', 'heads.1.bias'",
                 "Unexpected key(s) in state_dict: 'block.bogus', 'unknown.weight'",
                 "seq.0.weight: copying a tensor of shape (5, 6), the module has shape (6, 6)",
                 "extra.emb.weight: copying a tensor of shape (5, 7), the module has shape "
                 "(5, 6)"]:
        assert part in msg, part


def test_load_state_dict_non_strict_returns_keys_but_still_rejects_shapes():
    e = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    sd = dict(e.state_dict())
    sd.pop("1.bias")
    sd["2.weight"] = ember.zeros(1)
    missing, unexpected = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1)).load_state_dict(
        sd, strict=False)
    assert missing == ["1.bias"] and unexpected == ["2.weight"]
    sd["0.weight"] = ember.zeros(3, 3)
    with pytest.raises(RuntimeError, match=r"0.weight: copying a tensor of shape \(3, 3\)"):
        nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1)).load_state_dict(sd, strict=False)
    with pytest.raises(TypeError, match="expected a mapping"):
        e.load_state_dict([1, 2])


def test_train_eval_propagate():
    e = _model(nn)
    assert e.training and e.block.norm.training
    assert e.eval() is e
    assert not any(m.training for m in e.modules())
    e.train()
    assert all(m.training for m in e.modules())
    with pytest.raises(ValueError, match="boolean"):
        e.train("yes")


def test_to_double_float_keeps_parameter_identity_and_int_buffers():
    e = _model(nn)
    params = list(e.parameters())
    e.double()
    assert [id(p) for p in e.parameters()] == [id(p) for p in params]
    assert all(p.dtype == ember.float64 for p in e.parameters())
    assert e.block.norm.running_mean.dtype == ember.float64
    assert e.block.norm.num_batches_tracked.dtype == ember.int64
    e.to(ember.float32)
    assert all(p.dtype == ember.float32 and p.requires_grad for p in e.parameters())
    e.to("cpu")
    with pytest.raises(ember.errors.DTypeError, match="only floating-point dtypes"):
        e.to(ember.int32)


def test_zero_grad_requires_grad_apply():
    lin = nn.Linear(3, 2)
    lin(ember.ones(4, 3)).sum().backward()
    assert lin.weight.grad is not None
    lin.zero_grad(set_to_none=False)
    assert float(lin.weight.grad.abs().sum()) == 0.0
    lin.zero_grad()
    assert lin.weight.grad is None
    lin.requires_grad_(False)
    assert not any(p.requires_grad for p in lin.parameters())
    seen = []
    net = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU()))
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen == ["Linear", "ReLU", "Sequential", "Sequential"]


def test_forward_hooks_run_modify_and_remove():
    lin = nn.Linear(2, 2)
    calls = []
    h1 = lin.register_forward_pre_hook(lambda m, args: calls.append("pre") or (args[0] * 0,))
    h2 = lin.register_forward_hook(lambda m, args, out: calls.append("post") or out + 1.0)
    h3 = lin.register_forward_hook(lambda m, args, out: calls.append("first"), prepend=True)
    out = lin(ember.ones(1, 2))
    assert calls == ["pre", "first", "post"]
    np.testing.assert_allclose(out.detach().numpy(), lin.bias.detach().numpy()[None] + 1.0)
    for h in (h1, h2, h3):
        h.remove()
    calls.clear()
    lin(ember.ones(1, 2))
    assert calls == []
    with lin.register_forward_hook(lambda m, a, o: calls.append("ctx")):
        lin(ember.ones(1, 2))
    lin(ember.ones(1, 2))
    assert calls == ["ctx"]

    class Scaled(nn.Module):
        def forward(self, x, scale=1.0):
            return x * scale

    m = Scaled()
    m.register_forward_pre_hook(lambda mod, args, kwargs: (args, {"scale": 3.0}),
                                with_kwargs=True)
    seen = []
    m.register_forward_hook(lambda mod, args, kwargs, out: seen.append(kwargs["scale"]),
                            with_kwargs=True)
    assert m(ember.ones(1), scale=2.0).item() == 3.0 and seen == [3.0]


def test_registration_rules_and_errors():
    m = nn.Module()
    m.w = nn.Parameter(ember.ones(2))
    m.sub = nn.Linear(2, 2)
    m.register_buffer("b", ember.zeros(2))
    m.plain = 3
    assert "w" in dict(m.named_parameters()) and m.plain == 3
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'w'"):
        m.w = ember.ones(2)
    m.w = None
    assert list(dict(m.named_parameters())) == ["sub.weight", "sub.bias"]
    with pytest.raises(TypeError, match="cannot assign 'int' as child module 'sub'"):
        m.sub = 3
    with pytest.raises(TypeError, match="cannot assign 'int' as buffer 'b'"):
        m.b = 3
    with pytest.raises(KeyError, match="attribute 'plain' already exists"):
        m.register_buffer("plain", ember.zeros(1))
    with pytest.raises(KeyError, match="empty or contain"):
        m.register_parameter("a.b", None)
    with pytest.raises(TypeError, match="ember.nn.Parameter or None required"):
        m.register_parameter("q", ember.ones(1))
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'missing'"):
        m.missing  # noqa: B018
    del m.sub
    assert "sub" not in dict(m.named_children())
    m.count = nn.Buffer(ember.zeros(1), persistent=False)
    assert "count" in dict(m.named_buffers()) and "count" not in m.state_dict()

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(ember.ones(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()
    with pytest.raises(NotImplementedError, match='missing the required "forward"'):
        nn.Module()(ember.ones(1))


def test_reassigning_a_name_moves_it_between_kinds():
    m = nn.Module()
    m.x = nn.Linear(1, 1)
    m.x = nn.Parameter(ember.ones(1))
    assert list(dict(m.named_children())) == [] and list(dict(m.named_parameters())) == ["x"]


def test_parameter_behaviour():
    p = nn.Parameter(ember.tensor([1.0, 2.0]))
    assert p.requires_grad and p.is_leaf and isinstance(p, ember.Tensor)
    assert type(p * 2) is ember.Tensor
    q = nn.Parameter(ember.ones(2), requires_grad=False)
    assert not q.requires_grad
    c = copy.deepcopy(p)
    assert isinstance(c, nn.Parameter) and c.data is not p.data
    with pytest.raises(ember.errors.AutogradError, match="floating-point"):
        nn.Parameter(ember.tensor([1, 2]))
    assert nn.Parameter().shape == (0,)


def test_deepcopy_and_get_submodule():
    e = _model(nn)
    c = copy.deepcopy(e)
    assert c.heads[0] is c.shared and c.heads[0] is not e.heads[0]
    assert c.get_submodule("extra.ln") is c.extra["ln"]
    with pytest.raises(AttributeError, match="no submodule `nope`"):
        c.get_submodule("extra.nope")


def test_layer_input_errors_name_the_layer():
    cases = [
        (nn.Linear(4, 2), ember.ones(3, 5), r"Linear\(in_features=4, out_features=2, "
         r"bias=True\): expected input with last dimension 4, got shape \(3, 5\)"),
        (nn.BatchNorm2d(3), ember.ones(2, 5, 4, 4), r"BatchNorm2d\(3, .*\): expected input "
         r"with 3 channels \(dimension 1\), got shape \(2, 5, 4, 4\)"),
        (nn.BatchNorm2d(3), ember.ones(2, 3, 4), r"BatchNorm2d\(3, .*\): expected 4-D input, "
         r"got shape \(2, 3, 4\)"),
        (nn.BatchNorm1d(3), ember.ones(2, 4), r"expected input with 3 channels"),
        (nn.LayerNorm(5), ember.ones(2, 4), r"LayerNorm\(\(5,\), .*\): expected input with "
         r"trailing dimensions \(5,\), got shape \(2, 4\)"),
        (nn.GroupNorm(2, 4), ember.ones(2, 6, 3), r"GroupNorm\(2, 4, .*\): expected input "
         r"\(N, 4, \*\), got shape \(2, 6, 3\)"),
        (nn.PReLU(3), ember.ones(2, 4), r"PReLU\(num_parameters=3\): expected input with 3 "
         "channels"),
        (nn.ReflectionPad2d(1), ember.ones(4, 4), r"ReflectionPad2d\(\(1, 1, 1, 1\)\): "
         r"expected 3-D \(unbatched\) or 4-D \(batched\) input"),
        (nn.Unflatten(1, (2, 3)), ember.ones(2, 7), r"cannot split dimension 1 of size 7"),
    ]
    for layer, x, pattern in cases:
        with pytest.raises(ember.errors.ShapeError, match=pattern):
            layer(x)
    mha = nn.MultiheadAttention(8, 2)
    with pytest.raises(ember.errors.ShapeError, match=r"MultiheadAttention\(\): expected query "
                       r"with last dimension 8, got shape \(3, 2, 6\)"):
        mha(ember.ones(3, 2, 6), ember.ones(3, 2, 8), ember.ones(3, 2, 8))
    with pytest.raises(ember.errors.DTypeError, match="Linear: expected the input and the "
                       "parameters to have one dtype, got float64, float32"):
        nn.Linear(2, 2)(ember.ones(1, 2, dtype=ember.float64))
    with pytest.raises(ValueError, match="embed_dim \\(7\\) must be positive and divisible"):
        nn.MultiheadAttention(7, 2)
    with pytest.raises(ValueError, match="num_channels \\(5\\) must be divisible"):
        nn.GroupNorm(2, 5)
