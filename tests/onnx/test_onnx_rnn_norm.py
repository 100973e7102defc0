"""ONNX import of the recurrent ops (LSTM, GRU, RNN) and of RMSNormalization, LRN,
LpNormalization, LpPool and MeanVarianceNormalization (ember/onnx/ops_rnn.py): each node
against onnxruntime (which implements the attributes the ONNX reference ignores: clip,
activations, sequence_lens, input_forget), and models exported from PyTorch against PyTorch,
with gradients reaching the imported weights."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

import ember
import ember.onnx

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

RNG = np.random.default_rng(0)
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def _rand(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def _model(op, inputs, n_out=1, opset=22, **attrs):
    """A one-node model; ``inputs``: (name, array or None for an omitted input); ``n_out``:
    the number of outputs or their names ('' skips one)."""
    names = [f"y{i}" for i in range(n_out)] if isinstance(n_out, int) else list(n_out)
    node = helper.make_node(op, [name if a is not None else "" for name, a in inputs], names,
                            **attrs)
    ins = [helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(a.dtype),
                                         a.shape) for name, a in inputs if a is not None]
    dtype = helper.np_dtype_to_tensor_dtype(inputs[0][1].dtype)
    outs = [helper.make_tensor_value_info(name, dtype, None) for name in names if name]
    graph = helper.make_graph([node], "g", ins, outs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _ort(model, inputs):
    feeds = {name: a for name, a in inputs if a is not None}
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def _run_both(model, inputs):
    expected = _ort(model, inputs)
    got = ember.onnx.load(model)(*[ember.from_numpy(np.array(a, order="C"))
                                   for _, a in inputs if a is not None])
    got = got if isinstance(got, tuple) else (got,)
    return [g.numpy() for g in got], expected


def _check(model, inputs, rtol=1e-5, atol=1e-6):
    got, expected = _run_both(model, inputs)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape and g.dtype == e.dtype
        np.testing.assert_allclose(g, e, rtol=rtol, atol=atol)


def _rnn_inputs(op, steps=5, batch=3, size=4, hidden=6, directions=1, layout=0, bias=True,
                lens=None, h0=False, c0=False, peepholes=False):
    g = GATES[op]
    x = _rand(batch, steps, size) if layout else _rand(steps, batch, size)
    state = (batch, directions, hidden) if layout else (directions, batch, hidden)
    inputs = [("X", x), ("W", _rand(directions, g * hidden, size) * 0.5),
              ("R", _rand(directions, g * hidden, hidden) * 0.5),
              ("B", _rand(directions, 2 * g * hidden) * 0.5 if bias else None),
              ("sequence_lens", None if lens is None else np.array(lens, dtype=np.int32)),
              ("initial_h", _rand(*state) if h0 else None)]
    if op == "LSTM":
        inputs += [("initial_c", _rand(*state) if c0 else None),
                   ("P", _rand(directions, 3 * hidden) * 0.5 if peepholes else None)]
    while inputs[-1][1] is None:
        inputs.pop()
    return inputs, hidden


def _rnn_model(op, inputs, hidden, outputs=None, **attrs):
    outputs = outputs or ["Y", "Y_h", "Y_c"][:3 if op == "LSTM" else 2]
    return _model(op, inputs, outputs, opset=22, hidden_size=hidden, **attrs)


def _check_rnn(op, inputs, hidden, layout=0, **attrs):
    """ember against onnxruntime; onnxruntime has no layout 1, so for it the batch-major
    inputs are transposed to a layout-0 model and its outputs transposed back."""
    model = _rnn_model(op, inputs, hidden, layout=layout, **attrs)
    if not layout:
        _check(model, inputs)
        return
    swapped = [(n, None if a is None else np.swapaxes(a, 0, 1).copy()
                if n in ("X", "initial_h", "initial_c") else a) for n, a in inputs]
    expected = _ort(_rnn_model(op, swapped, hidden, **attrs), swapped)
    expected = [np.transpose(expected[0], (2, 0, 1, 3))] + [np.swapaxes(e, 0, 1)
                                                             for e in expected[1:]]
    got = ember.onnx.load(model)(*[ember.from_numpy(np.array(a, order="C"))
                                   for _, a in inputs if a is not None])
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape
        np.testing.assert_allclose(g.numpy(), e, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("layout", [0, 1])
def test_recurrent_directions_layouts_initial_states(op, direction, layout):
    d = 2 if direction == "bidirectional" else 1
    inputs, hidden = _rnn_inputs(op, directions=d, layout=layout, h0=True, c0=True)
    _check_rnn(op, inputs, hidden, layout, direction=direction)


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("layout", [0, 1])
def test_recurrent_sequence_lens(op, direction, layout):
    """Outputs past a sequence's end are zero; the final state is its last valid step's (the
    first step's for the reverse direction)."""
    d = 2 if direction == "bidirectional" else 1
    inputs, hidden = _rnn_inputs(op, steps=6, batch=4, directions=d, layout=layout,
                                 lens=[6, 3, 1, 5], h0=True, c0=True)
    _check_rnn(op, inputs, hidden, layout, direction=direction)


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
def test_recurrent_clip_and_no_bias(op):
    inputs, hidden = _rnn_inputs(op, directions=2, bias=False)
    inputs = [(n, a * 3 if n == "X" else a) for n, a in inputs]
    _check(_rnn_model(op, inputs, hidden, direction="bidirectional", clip=0.7), inputs)


ACTIVATIONS = {
    "LSTM": [(["HardSigmoid", "ScaledTanh", "Affine"], [0.3, 0.8, 0.5], [0.4, 1.2, 0.1]),
             (["Sigmoid", "Softsign", "Elu"], [0.7], []),
             (["HardSigmoid", "LeakyRelu", "Softplus"], [], [])],
    "GRU": [(["Sigmoid", "LeakyRelu"], [0.2], []), (["HardSigmoid", "Elu"], [0.25, 0.6], [0.4]),
            (["Sigmoid", "Softsign"], [], [])],
    "RNN": [(["Relu"], [], []), (["ThresholdedRelu"], [0.1], []), (["Softplus"], [], []),
            (["ScaledTanh"], [0.9], [1.5]), (["LeakyRelu"], [], [])],
}


@pytest.mark.parametrize("op,case", [(op, i) for op in ACTIVATIONS
                                     for i in range(len(ACTIVATIONS[op]))])
def test_recurrent_activations(op, case):
    """Each activation with its alpha/beta, consumed in order by the functions taking them."""
    names, alpha, beta = ACTIVATIONS[op][case]
    inputs, hidden = _rnn_inputs(op, h0=True)
    attrs = {"activations": names}
    if alpha:
        attrs["activation_alpha"] = alpha
    if beta:
        attrs["activation_beta"] = beta
    _check(_rnn_model(op, inputs, hidden, **attrs), inputs)


def test_recurrent_bidirectional_activations_per_direction():
    inputs, hidden = _rnn_inputs("GRU", directions=2)
    attrs = {"activations": ["Sigmoid", "Tanh", "HardSigmoid", "Softsign"],
             "activation_alpha": [0.3], "activation_beta": [0.6]}
    _check(_rnn_model("GRU", inputs, hidden, direction="bidirectional", **attrs), inputs)


@pytest.mark.parametrize("input_forget", [0, 1])
def test_lstm_peepholes_input_forget(input_forget):
    inputs, hidden = _rnn_inputs("LSTM", directions=2, h0=True, c0=True, peepholes=True,
                                 lens=[5, 2, 4])
    _check(_rnn_model("LSTM", inputs, hidden, direction="bidirectional",
                      input_forget=input_forget), inputs)


@pytest.mark.parametrize("linear_before_reset", [0, 1])
def test_gru_linear_before_reset(linear_before_reset):
    inputs, hidden = _rnn_inputs("GRU", directions=2, h0=True)
    _check(_rnn_model("GRU", inputs, hidden, direction="bidirectional",
                      linear_before_reset=linear_before_reset), inputs)


def test_recurrent_optional_outputs():
    """Only Y_h requested (Y skipped), and only Y."""
    inputs, hidden = _rnn_inputs("LSTM")
    _check(_rnn_model("LSTM", inputs, hidden, outputs=["", "Y_h"]), inputs)
    _check(_rnn_model("LSTM", inputs, hidden, outputs=["", "", "Y_c"]), inputs)
    gru_inputs, gru_hidden = _rnn_inputs("GRU")
    _check(_rnn_model("GRU", gru_inputs, gru_hidden, outputs=["Y"]), gru_inputs)


def test_recurrent_float64():
    inputs, hidden = _rnn_inputs("LSTM", directions=2, h0=True, c0=True)
    inputs = [(n, None if a is None else a.astype(np.float64)) for n, a in inputs]
    model = _rnn_model("LSTM", inputs, hidden, direction="bidirectional")
    # onnxruntime's LSTM has no float64: ONNX's reference evaluator instead
    expected = ReferenceEvaluator(model).run(None, {n: a for n, a in inputs if a is not None})
    got = ember.onnx.load(model)(*[ember.from_numpy(a) for _, a in inputs if a is not None])
    for g, e in zip(got, expected):
        assert g.dtype == ember.float64
        np.testing.assert_allclose(g.numpy(), e, rtol=1e-12, atol=1e-14)


def test_recurrent_errors():
    inputs, hidden = _rnn_inputs("RNN")
    with pytest.raises(ValueError, match="direction='bidirectional' needs 2"):
        ember.onnx.load(_rnn_model("RNN", inputs, hidden, direction="bidirectional"))(
            *[ember.from_numpy(a) for _, a in inputs])
    with pytest.raises(NotImplementedError, match="Gelu"):
        ember.onnx.load(_rnn_model("RNN", inputs, hidden, activations=["Gelu"]))(
            *[ember.from_numpy(a) for _, a in inputs])
    bad, hidden = _rnn_inputs("RNN", lens=[5, 7, 1])
    with pytest.raises(ValueError, match="sequence_lens"):
        ember.onnx.load(_rnn_model("RNN", bad, hidden))(
            *[ember.from_numpy(a) for _, a in bad])


# ----------------------------------------------------------------------------- PyTorch exports

torch = pytest.importorskip("torch")


def _export(module, x):
    buf = io.BytesIO()
    with warnings.catch_warnings():  # (batch-size advice of the TorchScript exporter)
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x,), buf, dynamo=False, opset_version=14,
                          input_names=["x"], output_names=["y", "h"])
    return buf.getvalue()


@pytest.mark.parametrize("cls", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_pytorch_exported_recurrent(cls, bidirectional, batch_first):
    torch.manual_seed(0)
    extra = {"nonlinearity": "relu"} if cls == "RNN" and bidirectional else {}
    module = getattr(torch.nn, cls)(5, 7, num_layers=2, bidirectional=bidirectional,
                                    batch_first=batch_first, **extra).eval()
    x = torch.randn(3, 6, 5)
    try:
        data = _export(module, x)
    except Exception as exc:  # noqa: BLE001 - exporter unavailable in this torch
        pytest.skip(f"torch.onnx.export failed: {exc}")
    with torch.no_grad():
        y, h = module(x)
        if cls == "LSTM":
            h = h[0]
    imported = ember.onnx.load(data)
    got_y, got_h = imported(ember.from_numpy(x.numpy()))[:2]  # (an LSTM also gives c)
    np.testing.assert_allclose(got_y.detach().numpy(), y.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_h.detach().numpy(), h.numpy(), rtol=1e-5, atol=1e-6)

    (got_y.sum() + got_h.sum()).backward()
    params = list(imported.parameters())
    assert len(params) >= 6
    assert all(p.grad is not None and np.abs(p.grad.numpy()).sum() > 0 for p in params
               if p.ndim >= 2)


def test_imported_lstm_gradients_match_pytorch():
    """The gradients reaching the imported W and R equal PyTorch's for weight_ih/weight_hh,
    once its gates (i, f, g, o) are put in ONNX's order (i, o, f, c)."""
    torch.manual_seed(1)
    hidden = 5
    module = torch.nn.LSTM(4, hidden, bidirectional=True)
    x = torch.randn(7, 2, 4)
    imported = ember.onnx.load(_export(module, x))
    y = imported(ember.from_numpy(x.numpy()))[0]
    (y * y).sum().backward()
    ty, _ = module(x)
    (ty * ty).sum().backward()
    by_shape = {tuple(p.shape): p for p in imported.parameters()}
    order = np.concatenate([np.arange(k * hidden, (k + 1) * hidden) for k in (0, 3, 1, 2)])
    for name, shape in (("weight_ih_l0", (2, 4 * hidden, 4)),
                        ("weight_hh_l0", (2, 4 * hidden, hidden))):
        got = by_shape[shape].grad.numpy()
        for d, suffix in enumerate(("", "_reverse")):
            want = getattr(module, name + suffix).grad.numpy()[order]
            np.testing.assert_allclose(got[d], want, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------- normalisations


def _lrn_spec(x, size, alpha, beta, bias):
    """The ONNX spec's LRN in NumPy (the reference evaluator's loops over the batch, not the
    channels): channels [c - floor((size-1)/2), c + ceil((size-1)/2)]."""
    square_sum = np.zeros_like(x)
    for c in range(x.shape[1]):
        lo, hi = max(0, c - (size - 1) // 2), min(x.shape[1], c + size // 2 + 1)
        square_sum[:, c] = (x[:, lo:hi] ** 2).sum(axis=1)
    return x / (bias + alpha / size * square_sum) ** beta


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5])
def test_lrn(size):
    """Even sizes put the extra channel after (ONNX), not before (PyTorch); onnxruntime
    refuses even sizes, so a NumPy transcription of the spec checks those too."""
    inputs = [("x", _rand(2, 7, 3, 4))]
    model = _model("LRN", inputs, size=size, alpha=0.4, beta=0.6, bias=1.5, opset=13)
    if size % 2:
        _check(model, inputs, rtol=2e-5)
    got = ember.onnx.load(model)(ember.from_numpy(inputs[0][1])).numpy()
    np.testing.assert_allclose(got, _lrn_spec(inputs[0][1], size, 0.4, 0.6, 1.5), rtol=2e-5,
                               atol=1e-6)


@pytest.mark.parametrize("axis,p", [(-1, 2), (0, 1), (1, 2), (2, 1)])
def test_lp_normalization(axis, p):
    x = _rand(3, 4, 5)
    x[1, :, 2] = 0.0  # an all-zero slice along axis 1 stays zero
    inputs = [("x", x)]
    _check(_model("LpNormalization", inputs, axis=axis, p=p, opset=22), inputs)


@pytest.mark.parametrize("axes", [[0, 2, 3], [1], [2, 3], [0, 1, 2, 3]])
def test_mean_variance_normalization(axes):
    inputs = [("x", _rand(3, 4, 5, 2))]
    _check(_model("MeanVarianceNormalization", inputs, axes=axes, opset=13), inputs, rtol=1e-4,
           atol=1e-5)


LP_POOLS = [
    dict(kernel_shape=[3]),
    dict(kernel_shape=[2], strides=[2], pads=[1, 0]),
    dict(kernel_shape=[3, 2], strides=[2, 1], pads=[1, 0, 1, 1], p=3),
    dict(kernel_shape=[3, 3], dilations=[2, 1], p=1),
    dict(kernel_shape=[2, 3], strides=[2, 2], auto_pad="SAME_UPPER"),
    dict(kernel_shape=[3, 2], strides=[2, 3], auto_pad="SAME_LOWER"),
    dict(kernel_shape=[2, 2], strides=[2, 2], auto_pad="VALID"),
    dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
    dict(kernel_shape=[2, 2], strides=[3, 3], pads=[1, 1, 1, 1], ceil_mode=1),
    dict(kernel_shape=[2, 2, 2], strides=[1, 2, 1], pads=[0, 1, 0, 1, 0, 1]),
]


@pytest.mark.parametrize("attrs", LP_POOLS)
def test_lp_pool(attrs):
    spatial = {1: (9,), 2: (7, 8), 3: (4, 5, 6)}[len(attrs["kernel_shape"])]
    inputs = [("x", _rand(2, 3, *spatial))]
    # onnxruntime, not the reference evaluator: for a ceil_mode window past the input's end
    # the reference scales the mean of the valid elements by the kernel size, not their sum
    _check(_model("LpPool", inputs, opset=22, **attrs), inputs)


@pytest.mark.parametrize("axis", [-1, -2, 1, 0])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_rms_normalization(axis, dtype):
    x = _rand(2, 3, 4, dtype=dtype)
    scale = _rand(*x.shape[axis % 3:], dtype=dtype)
    inputs = [("x", x), ("scale", scale)]
    model = _model("RMSNormalization", inputs, axis=axis, epsilon=1e-3, opset=23)
    expected = ReferenceEvaluator(model).run(None, _feeds(inputs))[0]
    got = ember.onnx.load(model)(ember.from_numpy(x), ember.from_numpy(scale)).numpy()
    assert got.dtype == dtype
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(got, expected, **tol)


def _feeds(inputs):
    return {n: a for n, a in inputs if a is not None}


@pytest.mark.parametrize("op,attrs,opset", [
    ("LRN", dict(size=3, alpha=0.5), 13), ("LpNormalization", dict(axis=1), 22),
    ("MeanVarianceNormalization", dict(), 13),
    ("LpPool", dict(kernel_shape=[2, 2], pads=[1, 0, 0, 1]), 22)])
def test_normalisation_gradients(op, attrs, opset):
    """Central differences of the imported op (float64) against its backward."""
    x = np.abs(_rand(2, 3, 4, 4).astype(np.float64)) + 0.2
    model = _model(op, [("x", x)], opset=opset, **attrs)
    module = ember.onnx.load(model)
    t = ember.from_numpy(x.copy()).requires_grad_(True)
    g = _rand(*module(t).shape).astype(np.float64)
    (module(t) * ember.from_numpy(g)).sum().backward()
    numeric = np.zeros_like(x)
    h = 1e-6
    for i in np.ndindex(*x.shape):
        plus, minus = x.copy(), x.copy()
        plus[i] += h
        minus[i] -= h
        f = [float((module(ember.from_numpy(v)).numpy() * g).sum()) for v in (plus, minus)]
        numeric[i] = (f[0] - f[1]) / (2 * h)
    np.testing.assert_allclose(t.grad.numpy(), numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("layer,shape", [
    (lambda: ember.nn.RMSNorm(6), (2, 4, 6)), (lambda: ember.nn.LocalResponseNorm(3), (2, 5, 6)),
    (lambda: ember.nn.LPPool2d(2, 2), (2, 3, 6, 6)), (lambda: ember.nn.LPPool1d(3, 2), (2, 3, 8))])
def test_new_layers_export(layer, shape):
    """The new layers are compositions of exported ops: onnxruntime runs the exported file."""
    module = layer()
    x = np.abs(_rand(*shape)) + 0.1
    data = ember.onnx.export(module, ember.from_numpy(x))
    data = data if isinstance(data, bytes) else data.SerializeToString()
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, module(ember.from_numpy(x)).detach().numpy(), rtol=1e-5,
                               atol=1e-6)


def test_common_lstm_takes_the_fused_op_and_matches_the_steps(monkeypatch):
    """A default LSTM node runs as nn.LSTM's fused op; the step-by-step path agrees."""
    from ember.onnx import ops_rnn

    inputs, hidden = _rnn_inputs("LSTM", steps=9, directions=2, h0=True, c0=True)
    model = _rnn_model("LSTM", inputs, hidden, direction="bidirectional")
    args = [ember.from_numpy(a) for _, a in inputs if a is not None]
    calls = []
    fused = ops_rnn.ember_lstm
    monkeypatch.setattr(ops_rnn, "ember_lstm", lambda *a, **k: calls.append(1) or fused(*a, **k))
    got = ember.onnx.load(model)(*args)
    assert len(calls) == 2
    monkeypatch.setattr(ops_rnn, "_fused_lstm_fits", lambda n, p: False)
    steps = ember.onnx.load(model)(*args)
    assert len(calls) == 2
    for g, s in zip(got, steps):
        np.testing.assert_allclose(g.numpy(), s.numpy(), rtol=1e-5, atol=1e-6)
