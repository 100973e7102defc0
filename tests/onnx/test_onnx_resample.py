"""ONNX export of the upsampling layers, checked in onnxruntime, and import of Resize's
features, checked against onnx's reference implementation."""

from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.onnx

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

EXPORTS = [
    (lambda: nn.Upsample(scale_factor=2), (1, 2, 4, 5)),
    (lambda: nn.Upsample(scale_factor=1.7), (1, 2, 4, 5)),
    (lambda: nn.Upsample(size=(7, 3)), (1, 2, 4, 5)),
    (lambda: nn.Upsample(scale_factor=1.7, mode="nearest-exact"), (1, 2, 4, 5)),
    (lambda: nn.Upsample(scale_factor=1.7, mode="bilinear"), (1, 2, 4, 5)),
    (lambda: nn.Upsample(size=(3, 9), mode="bilinear", align_corners=True), (1, 2, 4, 5)),
    (lambda: nn.Upsample(scale_factor=(2.5, 0.6), mode="bicubic"), (1, 2, 4, 5)),
    (lambda: nn.Upsample(size=(3, 8), mode="bicubic", align_corners=True), (1, 2, 4, 5)),
    (lambda: nn.Upsample(size=(3, 2), mode="area"), (1, 2, 7, 5)),
    (lambda: nn.Upsample(size=9, mode="linear"), (2, 3, 5)),
    (lambda: nn.UpsamplingBilinear2d(scale_factor=2), (1, 3, 3, 4)),
    (lambda: nn.PixelShuffle(2), (1, 8, 3, 4)),
]


@pytest.mark.parametrize("make,shape", EXPORTS, ids=[str(i) for i in range(len(EXPORTS))])
def test_upsample_exports_and_matches_onnxruntime(make, shape):
    model = make()
    x = ember.tensor(np.random.default_rng(0).standard_normal(shape).astype("float32"))
    proto = ember.onnx.export(model, (x,))
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    np.testing.assert_allclose(got, model(x).numpy(), rtol=1e-5, atol=1e-6)
    back = ember.onnx.load(proto)(x).detach().numpy()
    np.testing.assert_allclose(back, got, rtol=1e-5, atol=1e-6)


def _resize_model(attrs, scales=None, sizes=None, roi=None, axes=None, opset=19):
    inits = [helper.make_tensor("roi", TensorProto.FLOAT, [len(roi or [])], roi or [])]
    names = ["x", "roi"]
    if scales is not None:
        inits.append(helper.make_tensor("scales", TensorProto.FLOAT, [len(scales)], scales))
        names.append("scales")
    else:
        inits.append(helper.make_tensor("sizes", TensorProto.INT64, [len(sizes)], sizes))
        names += ["", "sizes"]
    if axes is not None:
        attrs = dict(attrs, axes=axes)
    node = helper.make_node("Resize", names, ["y"], **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, None)], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


RESIZES = [
    (dict(mode="nearest", nearest_mode="round_prefer_ceil"), dict(scales=[1, 1, 1.6, 0.7])),
    (dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="ceil"),
     dict(sizes=[1, 2, 7, 3])),
    (dict(mode="linear", coordinate_transformation_mode="half_pixel_symmetric"),
     dict(scales=[1, 1, 1.7, 0.8])),
    (dict(mode="linear", antialias=1), dict(sizes=[1, 2, 3, 2])),
    (dict(mode="cubic", cubic_coeff_a=-0.5, exclude_outside=1), dict(scales=[1, 1, 2.0, 1.5])),
    (dict(mode="cubic", antialias=1, coordinate_transformation_mode="align_corners"),
     dict(sizes=[1, 2, 2, 3])),
    (dict(mode="linear", coordinate_transformation_mode="tf_crop_and_resize",
          extrapolation_value=5.0),
     dict(sizes=[1, 2, 4, 4], roi=[0, 0, -0.2, 0.3, 1, 1, 0.8, 1.4])),
    (dict(mode="linear", keep_aspect_ratio_policy="not_larger"),
     dict(sizes=[7, 7], axes=[2, 3])),
    (dict(mode="nearest", keep_aspect_ratio_policy="not_smaller"),
     dict(sizes=[3, 3], axes=[3, 2])),
]


@pytest.mark.parametrize("attrs,inputs", RESIZES, ids=[str(i) for i in range(len(RESIZES))])
def test_resize_import_matches_the_reference(attrs, inputs):
    model = _resize_model(attrs, **inputs)
    x = np.random.default_rng(1).standard_normal((1, 2, 5, 4)).astype("float32")
    want = ReferenceEvaluator(model).run(None, {"x": x})[0]
    got = ember.onnx.load(model)(ember.tensor(x)).detach().numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_imported_resize_is_differentiable():
    model = _resize_model(dict(mode="cubic"), scales=[1, 1, 1.5, 2.0])
    x = ember.randn(1, 2, 5, 4, requires_grad=True)
    ember.onnx.load(model)(x).sum().backward()
    assert x.grad is not None and x.grad.shape == (1, 2, 5, 4)
    assert float(x.grad.abs().sum()) > 0
