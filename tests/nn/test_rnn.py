"""Recurrent layers and cells against PyTorch with copied weights: outputs, final states and
every gradient (input, initial states, parameters); gradchecks of the fused cell ops;
reprs, dropout between layers and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from ember.autograd import gradcheck, gradgradcheck
from ember.errors import DTypeError, ShapeError
from ember.ops import rnn as R

from .torch_compare import assert_close, copy_weights


def _pair(dtype, shape, rng):
    a = rng.standard_normal(shape).astype(dtype)
    return ember.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


def _loss(outs, cotangents):
    """Sum of each output times its cotangent (a scalar touching every output)."""
    return sum((o * c).sum() for o, c in zip(outs, cotangents))


def _flatten(out):
    """(output, h_n) or (output, (h_n, c_n)) -> [output, h_n(, c_n)]."""
    first, state = out
    return [first] + (list(state) if isinstance(state, tuple) else [state])


CONFIGS = [
    dict(),
    dict(num_layers=2, bidirectional=True, batch_first=True),
    dict(num_layers=3, bidirectional=True),
    dict(num_layers=2, bias=False, batch_first=True),
]


def _compare(cls, kw, *, hx, unbatched=False, dtype="float64", seq=5, batch=3, size=(4, 6)):
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    t_mod = getattr(torch.nn, cls)(*size, **kw).to(getattr(torch, dtype))
    e_mod = getattr(ember.nn, cls)(*size, **kw).to(getattr(ember, dtype))
    assert repr(e_mod) == repr(t_mod)
    copy_weights(e_mod, t_mod)
    assert list(e_mod.state_dict()) == list(t_mod.state_dict())
    bf = kw.get("batch_first", False)
    x_shape = (seq, size[0]) if unbatched else ((batch, seq, size[0]) if bf
                                                else (seq, batch, size[0]))
    xe, xt = _pair(dtype, x_shape, rng)
    layers = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
    h_shape = (layers, size[1]) if unbatched else (layers, batch, size[1])
    e_args, t_args, e_leaves, t_leaves = [xe], [xt], [xe], [xt]
    if hx:
        states = [_pair(dtype, h_shape, rng) for _ in range(2 if cls == "LSTM" else 1)]
        es, ts = [s[0] for s in states], [s[1] for s in states]
        e_args.append(tuple(es) if cls == "LSTM" else es[0])
        t_args.append(tuple(ts) if cls == "LSTM" else ts[0])
        e_leaves += es
        t_leaves += ts
    e_out, t_out = _flatten(e_mod(*e_args)), _flatten(t_mod(*t_args))
    for i, (e, t) in enumerate(zip(e_out, t_out)):
        assert_close(e, t, dtype, f"output {i}")
    cot = [rng.standard_normal(tuple(t.shape)).astype(dtype) for t in t_out]
    _loss(e_out, [ember.tensor(c) for c in cot]).backward()
    _loss(t_out, [torch.tensor(c) for c in cot]).backward()
    for i, (e, t) in enumerate(zip(e_leaves, t_leaves)):
        assert_close(e.grad, t.grad, dtype, f"gradient of input {i}")
    t_params = dict(t_mod.named_parameters())
    for name, p in e_mod.named_parameters():
        assert_close(p.grad, t_params[name].grad, dtype, f"gradient of {name}")


@pytest.mark.parametrize("hx", [False, True], ids=["zero_state", "given_state"])
@pytest.mark.parametrize("kw", CONFIGS, ids=[str(i) for i in range(len(CONFIGS))])
@pytest.mark.parametrize("cls", ["LSTM", "GRU", "RNN"])
def test_recurrent_layers_match_torch(cls, kw, hx):
    _compare(cls, kw, hx=hx)


@pytest.mark.parametrize("cls", ["LSTM", "GRU", "RNN"])
def test_unbatched_and_float32(cls):
    _compare(cls, dict(num_layers=2, bidirectional=True), hx=True, unbatched=True)
    _compare(cls, dict(num_layers=2, bidirectional=True, batch_first=True), hx=True,
             dtype="float32", seq=7, batch=4, size=(8, 16))


def test_rnn_relu_matches_torch():
    _compare("RNN", dict(nonlinearity="relu", num_layers=2, bidirectional=True), hx=True)


@pytest.mark.parametrize("hx", [False, True], ids=["zero_state", "given_state"])
def test_single_step_sequence(hx):
    _compare("LSTM", dict(batch_first=True), hx=hx, seq=1)
    _compare("RNN", dict(bidirectional=True), hx=hx, seq=1)


@pytest.mark.parametrize("cls, kw", [("RNNCell", {}), ("RNNCell", dict(nonlinearity="relu",
                                                                        bias=False)),
                                     ("LSTMCell", {}), ("GRUCell", {}),
                                     ("GRUCell", dict(bias=False))])
@pytest.mark.parametrize("hx", [False, True], ids=["zero_state", "given_state"])
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
def test_cells_match_torch(cls, kw, hx, batched):
    rng = np.random.default_rng(1)
    torch.manual_seed(0)
    t_mod = getattr(torch.nn, cls)(5, 3, **kw).double()
    e_mod = getattr(ember.nn, cls)(5, 3, **kw).double()
    assert repr(e_mod) == repr(t_mod)
    copy_weights(e_mod, t_mod)
    lead = (4,) if batched else ()
    xe, xt = _pair("float64", lead + (5,), rng)
    e_leaves, t_leaves, e_args, t_args = [xe], [xt], [xe], [xt]
    if hx:
        states = [_pair("float64", lead + (3,), rng) for _ in range(2 if cls == "LSTMCell"
                                                                      else 1)]
        es, ts = [s[0] for s in states], [s[1] for s in states]
        e_args.append(tuple(es) if cls == "LSTMCell" else es[0])
        t_args.append(tuple(ts) if cls == "LSTMCell" else ts[0])
        e_leaves, t_leaves = e_leaves + es, t_leaves + ts
    e_out, t_out = e_mod(*e_args), t_mod(*t_args)
    e_out = list(e_out) if isinstance(e_out, tuple) else [e_out]
    t_out = list(t_out) if isinstance(t_out, tuple) else [t_out]
    for e, t in zip(e_out, t_out):
        assert_close(e, t, "float64", "output")
    cot = [rng.standard_normal(tuple(t.shape)) for t in t_out]
    _loss(e_out, [ember.tensor(c) for c in cot]).backward()
    _loss(t_out, [torch.tensor(c) for c in cot]).backward()
    for e, t in zip(e_leaves, t_leaves):
        assert_close(e.grad, t.grad, "float64", "input gradient")
    t_params = dict(t_mod.named_parameters())
    for name, p in e_mod.named_parameters():
        assert_close(p.grad, t_params[name].grad, "float64", f"gradient of {name}")


def test_cell_ops_gradcheck_and_double_backward():
    rng = np.random.default_rng(2)

    def t(*shape):
        return ember.tensor(rng.standard_normal(shape), requires_grad=True)

    xg, hg, c = t(2, 12), t(2, 12), t(2, 3)
    assert gradcheck(lambda a, b, c: R.lstm_cell(a, b, c), (xg, hg, c))
    assert gradgradcheck(lambda a, b, c: R.lstm_cell(a, b, c), (xg, hg, c))
    assert gradcheck(lambda a: R.lstm_cell(a, None, None), (xg,))
    xg3, hg3, h = t(2, 9), t(2, 9), t(2, 3)
    assert gradcheck(lambda a, b, h: R.gru_cell(a, b, h), (xg3, hg3, h))
    assert gradgradcheck(lambda a, b, h: R.gru_cell(a, b, h), (xg3, hg3, h))
    seq = t(4, 2, 3)
    assert gradcheck(lambda s: R.unstack(s, 1), (seq,))


@pytest.mark.parametrize("reverse, time_dim, states", [(False, 0, True), (True, 1, False),
                                                       (True, 0, True)])
def test_lstm_layer_op_gradcheck(reverse, time_dim, states):
    rng = np.random.default_rng(5)

    def t(*shape):
        return ember.tensor(rng.standard_normal(shape), requires_grad=True)

    xg = t(3, 2, 8) if time_dim == 0 else t(2, 3, 8)
    w = t(8, 2)
    h0, c0 = (t(2, 2), t(2, 2)) if states else (None, None)
    args = (xg, w) + ((h0, c0) if states else ())

    def fn(xg, w, h0=None, c0=None):
        return R.lstm_layer(xg, w, h0, c0, reverse, time_dim)

    assert gradcheck(fn, args)
    assert gradgradcheck(fn, args)


@pytest.mark.parametrize("reverse, axis", [(False, 1), (True, 0)])
def test_lstm_layer_backward_recomputes_gates_it_did_not_keep(reverse, axis):
    from ember.ops import rnn_kernels as K

    rng = np.random.default_rng(7)
    xg = rng.standard_normal((4, 3, 8) if axis == 0 else (3, 4, 8))
    w, h0, c0 = rng.standard_normal((8, 2)), rng.standard_normal((3, 2)), None
    kept, plain = (K.lstm_layer(np, xg, w, h0, c0, reverse, axis, save) for save in (1, 0))
    assert K.saved_gates(kept[0], xg) is not None and K.saved_gates(plain[0], xg) is None
    for a, b in zip(kept, plain):
        np.testing.assert_array_equal(a, b)
    cot = [rng.standard_normal(a.shape) for a in plain]
    with_saved = K.lstm_layer_grad(np, *cot, xg, w, h0, c0, kept[0], reverse, axis)
    recomputed = K.lstm_layer_grad(np, *cot, xg, w, h0, c0, plain[0], reverse, axis)
    for a, b in zip(with_saved[:3], recomputed[:3]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    assert with_saved[3] is None and recomputed[3] is None


def test_lstm_double_backward():
    ember.manual_seed(0)
    lstm = ember.nn.LSTM(2, 3, bidirectional=True).double()
    x = ember.randn(3, 2, 2, dtype=ember.float64, requires_grad=True)
    assert gradgradcheck(lambda x: lstm(x)[0], (x,))


def test_dropout_between_layers():
    ember.manual_seed(0)
    lstm = ember.nn.LSTM(4, 8, num_layers=2, dropout=0.5)
    x = ember.randn(6, 3, 4)
    lstm.eval()
    eval_out = lstm(x)[0].detach().numpy()
    np.testing.assert_array_equal(lstm(x)[0].detach().numpy(), eval_out)
    lstm.train()
    train_out = lstm(x)[0].detach().numpy()
    assert not np.allclose(train_out, eval_out)
    single = ember.nn.GRU(4, 8, dropout=0.5)  # one layer: nothing to drop between layers
    train_single = single(x)[0].detach().numpy()
    np.testing.assert_array_equal(train_single, single.eval()(x)[0].detach().numpy())


def test_parameter_shapes_and_init():
    lstm = ember.nn.LSTM(10, 20, num_layers=2, bidirectional=True)
    ref = torch.nn.LSTM(10, 20, num_layers=2, bidirectional=True)
    assert [(n, tuple(p.shape)) for n, p in lstm.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in ref.named_parameters()]
    bound = 1 / np.sqrt(20)
    values = np.concatenate([p.detach().numpy().ravel() for p in lstm.parameters()])
    assert np.abs(values).max() <= bound and np.abs(values).max() > 0.99 * bound
    assert len(lstm.all_weights) == 4 and len(lstm.all_weights[0]) == 4


def test_errors():
    lstm = ember.nn.LSTM(10, 20, num_layers=2)
    with pytest.raises(ShapeError, match=r"^LSTM\(10, 20, num_layers=2\): expected input with "
                                         r"10 features \(last dimension\), got shape "
                                         r"\(5, 3, 7\)"):
        lstm(ember.randn(5, 3, 7))
    with pytest.raises(ShapeError, match=r"LSTM\(10, 20.*expected h_0 of shape \(2, 3, 20\), "
                                         r"got \(1, 3, 20\)"):
        lstm(ember.randn(5, 3, 10), (ember.zeros(1, 3, 20), ember.zeros(2, 3, 20)))
    with pytest.raises(ShapeError, match=r"expected c_0 of shape \(2, 3, 20\), got "
                                         r"\(2, 4, 20\)"):
        lstm(ember.randn(5, 3, 10), (ember.zeros(2, 3, 20), ember.zeros(2, 4, 20)))
    with pytest.raises(ShapeError, match=r"expected hx to be a tuple \(h_0, c_0\)"):
        lstm(ember.randn(5, 3, 10), ember.zeros(2, 3, 20))
    with pytest.raises(ShapeError, match=r"GRU\(10, 20\): expected a 3-d input \(L, N, H_in\)"):
        ember.nn.GRU(10, 20)(ember.randn(5, 3, 2, 10))
    with pytest.raises(ShapeError, match=r"GRU\(10, 20, batch_first=True\): expected h_0 of "
                                         r"shape \(1, 5, 20\)"):
        ember.nn.GRU(10, 20, batch_first=True)(ember.randn(5, 3, 10), ember.zeros(1, 3, 20))
    with pytest.raises(DTypeError, match="LSTM"):
        lstm(ember.randn(5, 3, 10, dtype=ember.float64))
    with pytest.raises(ShapeError, match=r"LSTMCell\(4, 3\): expected input of shape \(N, 4\)"):
        ember.nn.LSTMCell(4, 3)(ember.randn(2, 5))
    with pytest.raises(ShapeError, match=r"GRUCell\(4, 3\): expected hx of shape \(2, 3\), "
                                         r"got \(2, 4\)"):
        ember.nn.GRUCell(4, 3)(ember.randn(2, 4), ember.zeros(2, 4))
    with pytest.raises(ValueError, match="nonlinearity"):
        ember.nn.RNN(4, 3, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="dropout"):
        ember.nn.LSTM(4, 3, dropout=1.5)
