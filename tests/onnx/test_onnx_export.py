"""ONNX export (checked in onnxruntime) of every layer type ONNX can express and of the
bench models; ONNX import back into trainable ember modules; the errors of both."""

from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.onnx

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
nn = ember.nn


def _run_ort(proto, *inputs):
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    return sess.run(None, {n: x.numpy() for n, x in zip(names, inputs)})


def _check(model, *inputs, rtol=1e-5, atol=1e-6):
    model.eval()
    proto = ember.onnx.export(model, inputs)
    want = model(*inputs)
    want = want if isinstance(want, tuple) else (want,)
    got = _run_ort(proto, *inputs)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w.detach().numpy(), rtol=rtol, atol=atol)
    back = ember.onnx.load(proto)
    re = back(*inputs)
    re = re if isinstance(re, tuple) else (re,)
    for r, w in zip(re, want):
        np.testing.assert_allclose(r.detach().numpy(), w.detach().numpy(), rtol=rtol, atol=atol)
    return proto


def _x(*shape):
    return ember.randn(*shape)


LAYERS = {
    "Linear": (lambda: nn.Linear(5, 3), (4, 5)),
    "Linear3d": (lambda: nn.Linear(5, 3), (2, 4, 5)),
    "Unflatten": (lambda: nn.Sequential(nn.Flatten(0, -1), nn.Unflatten(0, (4, 5))), (4, 5)),
    "Identity": (lambda: nn.Identity(), (2, 3)),
    "Threshold": (lambda: nn.Threshold(0.1, 20.0), (3, 4)),
    "ConvTranspose1d": (lambda: nn.ConvTranspose1d(3, 2, 3, stride=2), (1, 3, 5)),
    "Conv1d_same": (lambda: nn.Conv1d(2, 2, 3, padding="same"), (1, 2, 7)),
    "AdaptiveMaxPool2d": (lambda: nn.AdaptiveMaxPool2d(2), (1, 2, 6, 6)),
    "AdaptiveAvgPool2d_3": (lambda: nn.AdaptiveAvgPool2d(3), (1, 2, 6, 6)),
    "ConstantPad2d": (lambda: nn.ConstantPad2d(1, 2.5), (1, 2, 3, 3)),
    "Dropout2d": (lambda: nn.Dropout2d(0.3), (1, 2, 3, 3)),
    "TransformerEncoderLayer": (lambda: nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0,
                                                                   batch_first=True), (2, 5, 8)),
    "LSTMCell": (lambda: nn.LSTMCell(4, 3), (2, 4)),
    "GRUCell": (lambda: nn.GRUCell(4, 3), (2, 4)),
    "RNNCell": (lambda: nn.RNNCell(4, 3), (2, 4)),
    "Conv1d": (lambda: nn.Conv1d(3, 4, 3, padding=1, stride=2), (2, 3, 9)),
    "Conv2d": (lambda: nn.Conv2d(3, 4, 3, padding=1, dilation=1, groups=1), (2, 3, 8, 8)),
    "Conv2d_groups": (lambda: nn.Conv2d(4, 4, 3, stride=2, groups=2), (1, 4, 9, 9)),
    "ConvTranspose2d": (lambda: nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1,
                                                   output_padding=1), (1, 3, 5, 5)),
    "MaxPool2d": (lambda: nn.MaxPool2d(3, stride=2, padding=1), (2, 3, 9, 9)),
    "MaxPool1d": (lambda: nn.MaxPool1d(2), (2, 3, 8)),
    "AvgPool2d": (lambda: nn.AvgPool2d(2), (2, 3, 8, 8)),
    "AvgPool1d": (lambda: nn.AvgPool1d(3, stride=1, padding=1), (2, 3, 8)),
    "AdaptiveAvgPool2d": (lambda: nn.AdaptiveAvgPool2d(1), (2, 3, 6, 6)),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(4), (3, 4)),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(3), (2, 3, 4, 4)),
    "LayerNorm": (lambda: nn.LayerNorm(6), (2, 3, 6)),
    "GroupNorm": (lambda: nn.GroupNorm(2, 4), (2, 4, 3, 3)),
    "Embedding": (lambda: nn.Embedding(10, 4), None),
    "LSTM": (lambda: nn.LSTM(4, 5, batch_first=True), (2, 3, 4)),
    "LSTM_2layer_bidirectional": (lambda: nn.LSTM(4, 3, num_layers=2, bidirectional=True),
                                  (5, 2, 4)),
    "GRU": (lambda: nn.GRU(4, 5, batch_first=True), (2, 3, 4)),
    "RNN": (lambda: nn.RNN(4, 5, batch_first=True), (2, 3, 4)),
    "Dropout": (lambda: nn.Dropout(0.5), (3, 4)),
    "Flatten": (lambda: nn.Flatten(), (2, 3, 4)),
    "ZeroPad2d": (lambda: nn.ZeroPad2d((1, 2, 0, 1)), (1, 2, 3, 3)),
    "ReflectionPad2d": (lambda: nn.ReflectionPad2d(1), (1, 2, 3, 3)),
    "ReplicationPad2d": (lambda: nn.ReplicationPad2d(1), (1, 2, 3, 3)),
    "MultiheadAttention": (None, None),
}
ACTIVATIONS = ["ReLU", "ReLU6", "Sigmoid", "Tanh", "GELU", "SiLU", "ELU", "CELU", "SELU",
               "LeakyReLU", "Softplus", "Softsign", "Hardtanh", "Hardsigmoid", "Hardswish",
               "Mish", "LogSigmoid", "Tanhshrink", "PReLU"]


@pytest.mark.parametrize("name", [k for k, v in LAYERS.items() if v[0] is not None])
def test_layer_exports_and_runs_in_onnxruntime(name):
    ember.manual_seed(0)
    build, shape = LAYERS[name]
    m = build()
    if name == "Embedding":
        _check(m, ember.tensor([[1, 2, 9], [0, 3, 3]]))
        return
    out = m(_x(*shape)) if isinstance(m, (nn.LSTM, nn.GRU, nn.RNN)) else None
    if out is not None:
        m = _First(m)
    _check(m, _x(*shape))


class _First(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x)[0]


@pytest.mark.parametrize("name", ACTIVATIONS + ["Softmax", "LogSoftmax", "Softmin"])
def test_activation_exports(name):
    cls = getattr(nn, name)
    m = cls(dim=1) if name in ("Softmax", "LogSoftmax", "Softmin") else cls()
    _check(m, _x(3, 7) * 3.0)


def test_bilinear_two_inputs():
    ember.manual_seed(0)
    _check(nn.Bilinear(3, 4, 5), _x(2, 3), _x(2, 4))


def test_circular_padding_needs_opset_19():
    m = nn.CircularPad2d(1)
    with pytest.raises(ValueError, match="circular padding has no ONNX form before opset 19 "
                                         r"\(export with opset=19\) \(from CircularPad2d\)"):
        ember.onnx.export(m, _x(1, 2, 3, 3))
    x = _x(1, 2, 3, 3)
    proto = ember.onnx.export(m, x, opset=19)
    np.testing.assert_array_equal(_run_ort(proto, x)[0], m(x).numpy())


def test_multihead_attention_exports():
    ember.manual_seed(0)
    m = nn.MultiheadAttention(8, 2, batch_first=True)
    x = _x(2, 5, 8)
    _check(_First(_SelfAttention(m)), x)


class _SelfAttention(nn.Module):
    def __init__(self, mha):
        super().__init__()
        self.mha = mha

    def forward(self, x):
        return self.mha(x, x, x)


@pytest.mark.parametrize("key", ["W1", "W2", "W3", "W4"])
def test_bench_models_export(key):
    import ember.optim  # noqa: F401  (the builders create an optimiser too)
    from bench.workloads import WORKLOADS

    step = WORKLOADS[key][1](ember)
    model = step.__closure__[[c for c in step.__code__.co_freevars].index("model")].cell_contents
    x = step.__closure__[[c for c in step.__code__.co_freevars].index("x")].cell_contents
    _check(model, x, rtol=1e-4, atol=1e-5)


def test_dynamic_batch_axis():
    ember.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    proto = ember.onnx.export(m, _x(2, 1, 6, 6), dynamic_axes={"input": {0: "batch"},
                                                              "output": {0: "batch"}})
    x = _x(7, 1, 6, 6)
    np.testing.assert_allclose(_run_ort(proto, x)[0], m(x).detach().numpy(), rtol=1e-5,
                               atol=1e-6)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_file_written_and_opset(tmp_path):
    path = tmp_path / "m.onnx"
    ember.onnx.export(nn.Linear(2, 2), _x(1, 2), path)
    proto = onnx.load(str(path))
    assert proto.opset_import[0].version >= 17
    onnx.checker.check_model(proto)


def test_unsupported_op_names_the_op_and_the_layer():
    class Odd(nn.Module):
        def forward(self, x):
            return ember.linalg.inv(x)

    m = nn.Sequential(nn.Linear(3, 3), Odd())
    with pytest.raises(ValueError, match=r"no ONNX conversion for: inv \(from 1 \(Odd\)\)"):
        ember.onnx.export(m, _x(3, 3))


def test_training_mode_state_changes_are_refused():
    m = nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match="call model.eval"):
        ember.onnx.export(m, _x(4, 3))


def test_import_lists_every_unsupported_op():
    h = onnx.helper
    g = h.make_graph([h.make_node("Relu", ["x"], ["a"]),
                      h.make_node("StringNormalizer", ["a", "k"], ["v", "i"]),
                      h.make_node("RegexFullMatch", ["v"], ["y"])], "g",
                     [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [3]),
                      h.make_tensor_value_info("k", onnx.TensorProto.INT64, [1])],
                     [h.make_tensor_value_info("y", onnx.TensorProto.INT64, None)])
    with pytest.raises(ember.onnx.UnsupportedOnnxOps, match="RegexFullMatch, StringNormalizer"):
        ember.onnx.load(h.make_model(g))


def test_imported_model_fine_tunes_and_jits():
    ember.manual_seed(0)
    src = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    m = ember.onnx.load(ember.onnx.export(src, _x(5, 4)))
    params = list(m.parameters())
    assert len(params) == 4
    opt = ember.optim.SGD(params, lr=0.1) if hasattr(ember, "optim") else None
    x, y = _x(16, 4), _x(16, 1)
    losses = []
    for _ in range(5):
        for p in params:
            p.grad = None
        loss = ((m(x) - y) ** 2).mean()
        loss.backward()
        with ember.no_grad():
            for p in params:
                p -= 0.1 * p.grad
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    del opt
    fast = ember.graph.jit(m)
    np.testing.assert_allclose(fast(x).numpy(), m(x).detach().numpy(), rtol=1e-6)
