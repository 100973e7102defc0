"""ONNX export (checked in onnxruntime) of every layer type ONNX can express and of the
bench models; ONNX import back into trainable ember modules; the errors of both."""

from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.nn.functional as F
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
    "Conv3d": (lambda: nn.Conv3d(4, 6, (3, 2, 3), stride=(2, 1, 1), padding=1, groups=2),
               (2, 4, 5, 4, 5)),
    "ConvTranspose3d": (lambda: nn.ConvTranspose3d(4, 2, 3, stride=2, padding=1,
                                                   output_padding=1, groups=2), (1, 4, 3, 2, 3)),
    "MaxPool3d": (lambda: nn.MaxPool3d(3, stride=2, padding=1), (2, 3, 5, 6, 7)),
    "AvgPool3d": (lambda: nn.AvgPool3d(2, padding=1, count_include_pad=False), (2, 3, 5, 6, 7)),
    "AdaptiveAvgPool3d": (lambda: nn.AdaptiveAvgPool3d((2, 3, 3)), (2, 3, 5, 6, 7)),
    "AdaptiveMaxPool3d": (lambda: nn.AdaptiveMaxPool3d((2, 3, 3)), (2, 3, 5, 6, 7)),
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
    "AdaptiveAvgPool1d": (lambda: nn.AdaptiveAvgPool1d(3), (2, 3, 9)),
    "AdaptiveMaxPool1d": (lambda: nn.AdaptiveMaxPool1d(3), (2, 3, 9)),
    "BatchNorm3d": (lambda: nn.BatchNorm3d(3), (2, 3, 2, 3, 4)),
    "ConstantPad1d": (lambda: nn.ConstantPad1d((1, 2), 0.5), (1, 2, 5)),
    "ConstantPad3d": (lambda: nn.ConstantPad3d(1, 0.5), (1, 2, 2, 3, 3)),
    "Dropout1d": (lambda: nn.Dropout1d(0.3), (2, 3, 5)),
    "Dropout3d": (lambda: nn.Dropout3d(0.3), (1, 2, 2, 3, 3)),
    "LPPool1d": (lambda: nn.LPPool1d(2, 3, stride=2), (2, 3, 9)),
    "LPPool2d": (lambda: nn.LPPool2d(3, 2), (2, 3, 6, 6)),
    "LocalResponseNorm": (lambda: nn.LocalResponseNorm(3), (2, 5, 4, 4)),
    "PixelShuffle": (lambda: nn.PixelShuffle(2), (1, 8, 3, 3)),
    "PixelUnshuffle": (lambda: nn.PixelUnshuffle(2), (1, 2, 4, 6)),
    "RMSNorm": (lambda: nn.RMSNorm(6), (2, 3, 6)),
    "RReLU": (lambda: nn.RReLU(), (3, 4)),
    "ReflectionPad1d": (lambda: nn.ReflectionPad1d(2), (1, 2, 5)),
    "ReflectionPad3d": (lambda: nn.ReflectionPad3d(1), (1, 2, 3, 3, 3)),
    "ReplicationPad1d": (lambda: nn.ReplicationPad1d(2), (1, 2, 5)),
    "ReplicationPad3d": (lambda: nn.ReplicationPad3d(1), (1, 2, 3, 3, 3)),
    "SymmetricPad1d": (lambda: nn.SymmetricPad1d((0, 3)), (1, 2, 5)),
    "SymmetricPad2d": (lambda: nn.SymmetricPad2d((1, 1, 0, 2)), (1, 2, 3, 4)),
    "SymmetricPad3d": (lambda: nn.SymmetricPad3d((2, 0, 0, 0, 1, 1)), (1, 2, 3, 3, 3)),
    "TransformerEncoder": (lambda: nn.TransformerEncoder(nn.TransformerEncoderLayer(
        8, 2, 16, dropout=0.0, batch_first=True), 2), (2, 5, 8)),
    "Unfold": (lambda: nn.Unfold((2, 3), dilation=(1, 2), padding=1, stride=(2, 1)),
               (1, 3, 7, 8)),
    "Upsample": (lambda: nn.Upsample(scale_factor=2, mode="bilinear"), (1, 2, 3, 4)),
    "UpsamplingBilinear2d": (lambda: nn.UpsamplingBilinear2d(scale_factor=2), (1, 2, 3, 4)),
    "UpsamplingNearest2d": (lambda: nn.UpsamplingNearest2d(scale_factor=2), (1, 2, 3, 4)),
    "ZeroPad1d": (lambda: nn.ZeroPad1d(2), (1, 2, 5)),
    "ZeroPad3d": (lambda: nn.ZeroPad3d(1), (1, 2, 3, 3, 3)),
}
# layer types exported by another test here, and what keeps the rest out of LAYERS
ELSEWHERE = {"Bilinear": "test_bilinear_two_inputs",
             "CircularPad1d": "test_circular_padding_needs_opset_19",
             "CircularPad2d": "test_circular_padding_needs_opset_19",
             "CircularPad3d": "test_circular_padding_needs_opset_19",
             "Fold": "test_fold_needs_opset_18"}
LOSSES = {"MSELoss", "L1Loss", "HuberLoss", "SmoothL1Loss", "BCEWithLogitsLoss", "KLDivLoss",
          "CrossEntropyLoss", "NLLLoss", "BCELoss"}  # test_losses_export
NOT_LAYERS = {"Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict",
              "RNNBase", "RNNCellBase"}  # containers and abstract bases
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


def test_every_layer_type_is_exported_by_a_test():
    import inspect

    layers = {name for name, obj in vars(nn).items() if inspect.isclass(obj)
              and issubclass(obj, nn.Module) and obj is not nn.Module}
    covered = ({k.split("_")[0] for k in LAYERS} | set(ACTIVATIONS) | set(ELSEWHERE) | LOSSES
               | NOT_LAYERS | {"Softmax", "LogSoftmax", "Softmin"})
    assert sorted(layers - covered) == []


def test_fold_needs_opset_18():
    ember.manual_seed(0)
    fold = nn.Fold((7, 8), (2, 3), dilation=(1, 2), padding=1, stride=(2, 1))
    cols = nn.Unfold((2, 3), dilation=(1, 2), padding=1, stride=(2, 1))(_x(2, 3, 7, 8))
    with pytest.raises(ValueError, match=r"fold \(Col2Im\) has no ONNX form before opset 18 "
                                         r"\(export with opset=18\) \(from Fold\)"):
        ember.onnx.export(fold, cols)
    proto = ember.onnx.export(fold, cols, opset=18)
    np.testing.assert_allclose(_run_ort(proto, cols)[0], fold(cols).numpy(), rtol=1e-6)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses_export(name):
    ember.manual_seed(0)
    t = ember.tensor([1, 0, 3])
    if name in ("CrossEntropyLoss", "NLLLoss"):
        x = _x(3, 4) if name == "CrossEntropyLoss" else F.log_softmax(_x(3, 4), dim=1)
        for kw in ({}, {"weight": ember.rand(4), "reduction": "sum", "ignore_index": 0}):
            _check(getattr(nn, name)(**kw), x, t)
        if name == "CrossEntropyLoss":  # per pixel, no reduction
            _check(nn.CrossEntropyLoss(reduction="none"), _x(2, 4, 3, 3),
                   ember.randint(0, 4, (2, 3, 3)))
        return
    x = ember.sigmoid(_x(3, 4)) if name == "BCELoss" else _x(3, 4)
    if name == "BCELoss":
        x.data[0, 0], x.data[1, 1] = 0.0, 1.0  # the logs' clamp at -100
    target = ember.rand(3, 4) if name in ("BCELoss", "BCEWithLogitsLoss") else _x(3, 4)
    kw = {"reduction": "batchmean"} if name == "KLDivLoss" else {}
    _check(getattr(nn, name)(**kw), x, target)


def test_label_smoothing_has_no_onnx_form():
    with pytest.raises(ValueError, match="cross_entropy with probability targets or label "
                                         r"smoothing has no ONNX form \(from CrossEntropyLoss\)"):
        ember.onnx.export(nn.CrossEntropyLoss(label_smoothing=0.1), (_x(3, 4),
                                                                     ember.tensor([1, 0, 3])))


class _GridSample(nn.Module):
    def __init__(self, **kw):
        super().__init__()
        self.kw = kw

    def forward(self, x, grid):
        return F.grid_sample(x, grid, **self.kw)


@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align_corners", [False, True])
def test_grid_sample_exports(mode, padding_mode, align_corners):
    # grid_sample is a composite: its taps (grid_gather) export as GatherElements, its masks,
    # reflections and nearest rounding as And/Mod/Round
    rng = np.random.default_rng(0)
    x = ember.from_numpy(rng.standard_normal((2, 3, 7, 8), dtype=np.float32))
    grid = ember.from_numpy(rng.uniform(-1.3, 1.3, (2, 5, 6, 2)).astype(np.float32))
    m = _GridSample(mode=mode, padding_mode=padding_mode, align_corners=align_corners)
    proto = ember.onnx.export(m, (x, grid))
    np.testing.assert_allclose(_run_ort(proto, x, grid)[0], m(x, grid).numpy(), rtol=1e-5,
                               atol=2e-6)


def test_missing_converters_are_listed_once_each():
    class Twice(nn.Module):  # two Cholesky factorisations: ONNX has none
        def forward(self, x):
            a = x @ x.T + ember.eye(3)
            return ember.linalg.cholesky(a) + ember.linalg.cholesky(a * 2)

    with pytest.raises(ValueError, match=r"no ONNX conversion for: cholesky \(from Twice\)\. "):
        ember.onnx.export(Twice(), _x(3, 3))


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
