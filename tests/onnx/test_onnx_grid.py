"""ONNX import of GridSample (opsets 16 and 20 spellings) and Col2Im, checked against
onnxruntime and onnx's reference implementation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import ember
import ember.onnx

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402


def _model(op, inputs, inits, opset, **attrs):
    node = helper.make_node(op, [name for name, _ in inputs] + [t.name for t in inits], ["y"],
                            **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(
        name, TensorProto.FLOAT, shape) for name, shape in inputs],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


GRID = [(opset, mode, pad, ac) for opset, (mode, pad, ac) in itertools.chain(
    ((16, c) for c in itertools.product(("bilinear", "nearest", "bicubic"),
                                        ("zeros", "border", "reflection"), (0, 1))),
    ((20, c) for c in itertools.product(("linear", "cubic"), ("reflection",), (0, 1))))]


@pytest.mark.parametrize("opset,mode,padding_mode,align_corners", GRID)
def test_grid_sample_import_matches_onnxruntime(opset, mode, padding_mode, align_corners):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4, 5)).astype("float32")
    grid = rng.uniform(-1.6, 1.6, (2, 3, 6, 2)).astype("float32")
    model = _model("GridSample", [("x", x.shape), ("grid", grid.shape)], [], opset,
                   mode=mode, padding_mode=padding_mode, align_corners=align_corners)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = sess.run(None, {"x": x, "grid": grid})[0]
    got = ember.onnx.load(model)(ember.tensor(x), ember.tensor(grid)).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-5)


def test_grid_sample_import_3d_matches_reference():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 2, 3, 4, 5)).astype("float32")
    grid = rng.uniform(-1.3, 1.3, (1, 2, 3, 2, 3)).astype("float32")
    model = _model("GridSample", [("x", x.shape), ("grid", grid.shape)], [], 20,
                   mode="linear", padding_mode="border")
    want = ReferenceEvaluator(model).run(None, {"x": x, "grid": grid})[0]
    got = ember.onnx.load(model)(ember.tensor(x), ember.tensor(grid)).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize("image,block,attrs", [
    ([5, 6], [2, 3], {}), ([5, 6], [2, 3], {"pads": [1, 0, 2, 1]}),
    ([5, 6], [2, 3], {"strides": [2, 1]}),
    ([5, 6], [2, 3], {"dilations": [1, 2], "pads": [0, 1, 1, 1]}),
    ([4, 5, 3], [2, 3, 2], {"strides": [2, 1, 2], "dilations": [1, 2, 1],
                            "pads": [1, 0, 1, 0, 2, 1]})], ids=["2d", "2d_pads", "2d_strides",
                                                                "2d_dilations", "3d"])
def test_col2im_import_matches_reference(image, block, attrs):
    nd = len(image)
    pads = attrs.get("pads", [0] * (2 * nd))
    strides, dil = attrs.get("strides", [1] * nd), attrs.get("dilations", [1] * nd)
    counts = [(image[i] + pads[i] + pads[i + nd] - dil[i] * (block[i] - 1) - 1) // strides[i]
              + 1 for i in range(nd)]
    cols = np.random.default_rng(2).standard_normal((2, 3 * int(np.prod(block)),
                                                     int(np.prod(counts))))
    cols = cols.astype("float32")
    inits = [helper.make_tensor("image", TensorProto.INT64, [nd], image),
             helper.make_tensor("block", TensorProto.INT64, [nd], block)]
    model = _model("Col2Im", [("x", cols.shape)], inits, 18, **attrs)
    want = ReferenceEvaluator(model).run(None, {"x": cols})[0]
    got = ember.onnx.load(model)(ember.tensor(cols)).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
