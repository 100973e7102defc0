"""ONNX export of every zoo model runs in onnxruntime with the same outputs as ember."""

import numpy as np
import pytest

import ember
import ember.onnx
from ember import zoo

ort = pytest.importorskip("onnxruntime")

# Small configurations of each architecture (the structure is the full one; widths and
# resolution are reduced where the constructor allows it, to keep the test fast).
CASES = {
    "lenet5": ({}, (2, 1, 32, 32)),
    "vgg11": ({"hidden": 32}, (1, 3, 32, 32)),
    "vgg11_bn": ({"hidden": 32}, (1, 3, 32, 32)),
    "vgg13": ({"hidden": 32}, (1, 3, 32, 32)),
    "vgg13_bn": ({"hidden": 32}, (1, 3, 32, 32)),
    "vgg16": ({"hidden": 32}, (1, 3, 32, 32)),
    "vgg16_bn": ({"hidden": 32}, (1, 3, 32, 32)),
    "vgg19": ({"hidden": 32}, (1, 3, 32, 32)),
    "vgg19_bn": ({"hidden": 32}, (1, 3, 32, 32)),
    "resnet18": ({}, (2, 3, 32, 32)),
    "resnet34": ({}, (1, 3, 32, 32)),
    "resnet50": ({}, (1, 3, 32, 32)),
    "resnet101": ({}, (1, 3, 32, 32)),
    "mobilenet_v2": ({"width_mult": 0.5}, (2, 3, 32, 32)),
    "vit_tiny": ({"num_layers": 2}, (2, 3, 32, 32)),
    "vit_b_16": ({"image_size": 32, "num_layers": 1, "hidden_dim": 96, "num_heads": 4,
                  "mlp_dim": 128}, (1, 3, 32, 32)),
}


def test_every_model_has_a_case():
    assert sorted([*CASES, "lstm_lm", "seed_cnn"]) == zoo.list_models()


def _randomize_bn(model):
    gen = ember.Generator(seed=1)
    for m in model.modules():
        if isinstance(m, ember.nn.BatchNorm2d):
            m.running_mean.data[...] = (ember.randn(*m.running_mean.shape, generator=gen)
                                        * 0.1).numpy()
            m.running_var.data[...] = (ember.rand(*m.running_var.shape, generator=gen)
                                       + 0.5).numpy()


def _run(proto, feeds):
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


@pytest.mark.parametrize("name", sorted(CASES))
def test_export_runs_in_onnxruntime(name):
    kwargs, shape = CASES[name]
    _ = ember.manual_seed(0)
    model = zoo.get_model(name, num_classes=10, **kwargs)
    _randomize_bn(model)
    model.eval()
    x = ember.randn(*shape)
    with ember.no_grad():
        expected = model(x).numpy()
    proto = ember.onnx.export(model, x)
    (out,) = _run(proto, {proto.graph.input[0].name: x.numpy()})
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_seed_cnn_export_runs_in_onnxruntime():
    model = zoo.seed_cnn(pretrained=True).eval()
    x = ember.rand(3, 8, 8, 1)
    with ember.no_grad():
        expected = model(x).numpy()
    proto = ember.onnx.export(model, x)
    (out,) = _run(proto, {proto.graph.input[0].name: x.numpy()})
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-6)


def test_lstm_lm_export_runs_in_onnxruntime():
    _ = ember.manual_seed(0)
    model = zoo.lstm_lm(num_tokens=25, embedding_dim=8, hidden_size=12, num_layers=2).eval()
    tokens = ember.randint(0, 25, (6, 2))
    with ember.no_grad():
        logits, (h, c) = model(tokens)
    proto = ember.onnx.export(model, tokens)
    outs = _run(proto, {proto.graph.input[0].name: tokens.numpy()})
    for got, want in zip(outs, [logits, h, c]):
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-4, atol=1e-5)
