"""ONNX import of the detection, training-domain and newer small ops (ember/onnx/ops_vision.py)
against onnx's reference evaluator, on inputs beyond the node tests' (batches, classes,
ties, groups, asymmetric pads, circular writes)."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

import ember  # noqa: E402
from ember.onnx.load import OnnxModule  # noqa: E402

_TYPES = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE,
          np.dtype(np.int64): TensorProto.INT64, np.dtype(np.int32): TensorProto.INT32}


def _model(op, inputs, n_out, opset=22, domain="", **attrs):
    names = [f"i{k}" for k in range(len(inputs))]
    outs = [f"o{k}" for k in range(n_out)]
    node = helper.make_node(op, names, outs, domain=domain, **attrs)
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info(nm, _TYPES[a.dtype], a.shape)
         for nm, a in zip(names, inputs)],
        [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None) for o in outs])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid(domain, opset)])


def _check(op, inputs, n_out=1, rtol=1e-6, atol=1e-6, **kw):
    model = _model(op, inputs, n_out, **kw)
    want = ReferenceEvaluator(model).run(None, {f"i{k}": a for k, a in enumerate(inputs)})
    got = OnnxModule(model)(*[ember.tensor(a) for a in inputs])
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g = g.numpy()
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    return got


def _corner_boxes(rng, b, n):
    y, x = rng.uniform(0, 10, (2, b, n))
    h, w = rng.uniform(1, 5, (2, b, n))
    return np.stack([y + h, x, y, x + w], axis=-1).astype(np.float32)  # flipped y corners


@pytest.mark.parametrize("center", [0, 1])
def test_non_max_suppression_batches_classes(center):
    rng = np.random.default_rng(0)
    boxes = _corner_boxes(rng, 2, 12)
    if center:
        boxes = np.abs(boxes)
    scores = rng.uniform(size=(2, 3, 12)).astype(np.float32)
    scores[0, 1, 4] = scores[0, 1, 7]  # a tie: the lower index first
    args = [boxes, scores, np.array([4], np.int64), np.array([0.3], np.float32),
            np.array([0.2], np.float32)]
    got = _check("NonMaxSuppression", args, center_point_box=center)
    assert got[0].dtype == ember.int64 and got[0].shape[0] > 6
    _check("NonMaxSuppression", args[:4], center_point_box=center)  # no score threshold
    none = OnnxModule(_model("NonMaxSuppression", args[:2], 1))(*map(ember.tensor, args[:2]))
    assert none.shape == (0, 3)  # no max_output_boxes_per_class: selects nothing


@pytest.mark.parametrize("mode,ctm,ratio", [("avg", "half_pixel", 0), ("max", "half_pixel", 2),
                                            ("avg", "output_half_pixel", 3),
                                            ("max", "output_half_pixel", 0)])
def test_roi_align(mode, ctm, ratio):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 8, 9)).astype(np.float32)
    rois = np.array([[0.5, 1.0, 6.0, 7.5], [-2.0, -1.0, 3.0, 20.0], [2.0, 2.0, 2.4, 2.3],
                     [1.0, 0.0, 8.0, 4.0]], np.float32) * 2
    args = [x, rois, np.array([0, 1, 1, 0], np.int64)]
    _check("RoiAlign", args, opset=16, mode=mode, coordinate_transformation_mode=ctm,
           output_height=3, output_width=2, sampling_ratio=ratio, spatial_scale=0.5,
           rtol=1e-5, atol=1e-6)


def test_roi_align_differentiates_input():
    x = ember.randn(1, 2, 5, 5, requires_grad=True)
    model = _model("RoiAlign", [np.zeros((1, 2, 5, 5), np.float32), np.zeros((1, 4), np.float32),
                                np.zeros(1, np.int64)], 1, opset=16, output_height=2,
                   output_width=2)
    out = OnnxModule(model)(x, ember.tensor([[0.5, 0.5, 4.0, 3.5]]), ember.tensor([0]))
    out.sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


@pytest.mark.parametrize("group,og,pads,mask", [(1, 1, [0, 0, 0, 0], False),
                                                (2, 2, [1, 0, 0, 2], True),
                                                (1, 2, [2, 1, 1, 1], True)])
def test_deform_conv(group, og, pads, mask):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 4, 5, 6)).astype(np.float32)
    w = rng.standard_normal((4, 4 // group, 2, 3)).astype(np.float32)
    oh, ow = 5 + pads[0] + pads[2] - 1, 6 + pads[1] + pads[3] - 2
    offset = rng.uniform(-2, 2, (2, og * 12, oh, ow)).astype(np.float32)
    args = [x, w, offset, rng.standard_normal(4).astype(np.float32)]
    if mask:
        args.append(rng.uniform(size=(2, og * 6, oh, ow)).astype(np.float32))
    _check("DeformConv", args, opset=19, group=group, offset_group=og, pads=pads,
           rtol=1e-5, atol=1e-5)


def test_training_ops():
    rng = np.random.default_rng(3)
    r, t = np.array(0.1, np.float32), np.array(3, np.int64)
    xs = [rng.standard_normal(s).astype(np.float32) for s in [(3,), (2, 2)]]
    gs = [rng.standard_normal(a.shape).astype(np.float32) for a in xs]
    vs = [rng.standard_normal(a.shape).astype(np.float32) for a in xs]
    hs = [rng.uniform(size=a.shape).astype(np.float32) for a in xs]
    kw = dict(domain="ai.onnx.preview.training", opset=1, rtol=1e-5)
    _check("Adam", [r, t, *xs, *gs, *vs, *hs], 6, alpha=0.8, beta=0.9, epsilon=1e-4,
           norm_coefficient=0.01, norm_coefficient_post=0.02, **kw)
    _check("Adagrad", [r, t, *xs, *gs, *hs], 4, decay_factor=0.1, epsilon=1e-4,
           norm_coefficient=0.01, **kw)
    for mode in ("standard", "nesterov"):
        _check("Momentum", [r, t, *xs, *gs, *vs], 4, alpha=0.9, beta=0.5, mode=mode,
               norm_coefficient=0.01, **kw)
    _check("Momentum", [r, np.array(0, np.int64), xs[0], gs[0], vs[0]], 2, alpha=0.9,
           beta=0.5, mode="standard", norm_coefficient=0.0, **kw)


def test_swiglu_tensor_scatter_causal_conv():
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((2, 2, 5)), rng.standard_normal((2, 2, 5))
    _check("SwiGLU", [a, b], opset=26, alpha=1.7)
    past = rng.standard_normal((2, 3, 6, 4)).astype(np.float32)
    update = rng.standard_normal((2, 3, 3, 4)).astype(np.float32)
    for mode in ("linear", "circular"):
        _check("TensorScatter", [past, update, np.array([1, 3], np.int64)], opset=24,
               mode=mode)
    _check("TensorScatter", [past[..., 0], update[..., 0], np.array([4, 2], np.int64)],
           opset=24, mode="circular", axis=2)
    x, w = rng.standard_normal((2, 3, 7)), rng.standard_normal((3, 1, 4))
    state = rng.standard_normal((2, 3, 3))
    _check("CausalConvWithState", [x, w, rng.standard_normal(3), state], 2, opset=26,
           activation="silu")  # (the reference's silu is float32)
    _check("CausalConvWithState", [x, w], 2, opset=26, rtol=1e-12, atol=1e-12)


def test_bitcast_and_bernoulli():
    x = np.array([[1.5, -0.0], [np.inf, 3e-39]], np.float32)
    _check("BitCast", [x], opset=26, to=TensorProto.INT32)
    _check("BitCast", [x.view(np.int32)], opset=26, to=TensorProto.FLOAT)
    p = np.array([0.0, 1.0, 0.0, 1.0])
    model = _model("Bernoulli", [p], 1, opset=22, dtype=TensorProto.FLOAT)
    got = OnnxModule(model)(ember.tensor(p))
    assert got.dtype == ember.float32 and got.numpy().tolist() == [0.0, 1.0, 0.0, 1.0]
