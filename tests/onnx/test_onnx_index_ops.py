"""ONNX import of the index ops (ember/onnx/ops_index.py) against ONNX's reference evaluator,
gradients through imported scatters and gathers, and export of topk and scatter checked in
onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.onnx

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

RNG = np.random.default_rng(0)
I64 = np.int64


def _distinct(*shape):
    return (RNG.permutation(int(np.prod(shape))).reshape(shape) * 0.5 - 3).astype(np.float32)


def _model(op, inputs, n_out=1, opset=18, **attrs):
    names = [f"y{i}" for i in range(n_out)]
    node = helper.make_node(op, [name for name, _ in inputs], names, **attrs)
    ins = [helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(a.dtype),
                                         a.shape) for name, a in inputs]
    outs = [helper.make_tensor_value_info(name, onnx.TensorProto.UNDEFINED, None)
            for name in names]
    graph = helper.make_graph([node], "g", ins, outs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _check(model, inputs):
    want = ReferenceEvaluator(model).run(None, dict(inputs))
    got = ember.onnx.load(model)(*[ember.from_numpy(a) for _, a in inputs])
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g = g.detach().numpy()
        assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, g.shape, w.dtype, w.shape)
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)


X = _distinct(3, 4, 5)
CASES = {
    "topk_axis1_smallest": ("TopK", [("x", X), ("k", np.array([2], I64))], 2,
                            {"axis": 1, "largest": 0}),
    "topk_ties": ("TopK", [("x", np.array([[1, 3, 3, 2, 3]], np.float32)),
                           ("k", np.array([2], I64))], 2, {}),
    "scatter_elements_neg": ("ScatterElements", [
        ("x", X[0]), ("i", np.array([[-1, 0], [2, 1]], I64)), ("u", _distinct(2, 2))], 1,
        {"axis": 0}),
    **{f"scatter_elements_{r}": ("ScatterElements", [
        ("x", X[0]), ("i", np.array([[1, 1, 0], [1, 2, 2]], I64)), ("u", _distinct(2, 3))],
        1, {"axis": 1, "reduction": r}) for r in ("add", "mul", "max", "min")},
    "scatter_nd_slices": ("ScatterND", [
        ("x", X), ("i", np.array([[2, 1], [0, 3]], I64)), ("u", _distinct(2, 5))], 1, {}),
    "scatter_nd_add": ("ScatterND", [
        ("x", X), ("i", np.array([[1], [1], [0]], I64)), ("u", _distinct(3, 4, 5))], 1,
        {"reduction": "add"}),
    "gather_nd_batch": ("GatherND", [("x", X), ("i", np.array([[[3, -1]], [[0, 0]],
                                                                [[2, 4]]], I64))], 1,
                        {"batch_dims": 1}),
    "gather_nd_rows": ("GatherND", [("x", X), ("i", np.array([[2], [0]], I64))], 1, {}),
    "nonzero": ("NonZero", [("x", (X > 0).astype(np.float32))], 1, {}),
    "compress_axis": ("Compress", [("x", X), ("c", np.array([True, False, True]))], 1,
                      {"axis": 0}),
    "compress_flat": ("Compress", [("x", X[0]), ("c", np.array([0, 1, 1, 0, 1], bool))], 1,
                      {}),
    "cumprod_exclusive_reverse": ("CumProd", [("x", X[0]), ("a", np.array(1, I64))], 1,
                                  {"exclusive": 1, "reverse": 1}),
    "unique_unsorted": ("Unique", [("x", np.array([2, 1, 1, 3, 4, 3], np.float32))], 4,
                        {"sorted": 0}),
    "unique_axis": ("Unique", [("x", np.array([[1, 0, 0], [1, 0, 0], [2, 3, 4]],
                                              np.float32))], 4, {"axis": 0}),
    "reverse_sequence_batch0": ("ReverseSequence", [
        ("x", X[:, :4, 0].copy()), ("l", np.array([1, 4, 2], I64))], 1,
        {"batch_axis": 0, "time_axis": 1}),
    "atanh": ("Atanh", [("x", np.array([-0.5, 0.0, 0.9], np.float32))], 1, {}),
    "bitshift_uint8": ("BitShift", [("x", np.array([16, 4, 1], np.uint8)),
                                    ("y", np.array([1, 2, 3], np.uint8))], 1,
                       {"direction": "RIGHT"}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_import_matches_reference(name):
    op, inputs, n_out, attrs = CASES[name]
    _check(_model(op, inputs, n_out, **attrs), inputs)


def test_max_unpool_with_output_shape():
    x = np.array([[[[5, 6], [7, 8]]]], np.float32)
    idx = np.array([[[[5, 7], [13, 15]]]], I64)
    inputs = [("x", x), ("i", idx), ("s", np.array([1, 1, 5, 5], I64))]
    _check(_model("MaxUnpool", inputs, kernel_shape=[2, 2], strides=[2, 2]), inputs)


def test_gradients_flow_through_imported_scatter_and_gather():
    data, updates = _distinct(4, 3), _distinct(2, 3)
    model = _model("ScatterND", [("x", data), ("i", np.zeros((2, 1), I64)), ("u", updates)],
                   reduction="add")
    x = ember.from_numpy(data).requires_grad_()
    u = ember.from_numpy(updates).requires_grad_()
    y = ember.onnx.load(model)(x, ember.tensor([[3], [1]]), u)
    (y * ember.arange(12.0).reshape(4, 3)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.arange(12.0).reshape(4, 3))
    np.testing.assert_array_equal(u.grad.numpy(), np.arange(12.0).reshape(4, 3)[[3, 1]])


def _run_ort(proto, *inputs):
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    return sess.run(None, {n: x.numpy() for n, x in zip(names, inputs)})


def test_topk_and_scatter_export_round_trip():
    x = ember.from_numpy(_distinct(4, 5))
    idx = ember.tensor([[1, 0, 3], [2, 2, 0]])

    def f(x):
        values, indices = ember.topk(x, 2, dim=1, largest=False)
        written = ember.scatter(x, 0, idx, x[1:3, :3] * 2.0)
        reduced = ember.scatter_reduce(x, 1, idx, x[:2, :3], "amax")
        return values, indices, written, reduced

    proto = ember.onnx.export(f, (x,))
    types = {node.op_type for node in proto.graph.node}
    assert {"TopK", "ScatterElements"} <= types
    want = f(x)
    for g, w in zip(_run_ort(proto, x), want):
        np.testing.assert_array_equal(g, w.numpy())
    for g, w in zip(ember.onnx.load(proto)(x), want):
        np.testing.assert_array_equal(g.detach().numpy(), w.numpy())


def test_scatter_reduce_mean_has_no_onnx_form():
    x = ember.from_numpy(_distinct(2, 3))
    with pytest.raises(ValueError, match="scatter_reduce with reduce='mean'"):
        ember.onnx.export(lambda x: ember.scatter_reduce(
            x, 1, ember.tensor([[0, 0]]), x[:1, :2], "mean"), (x,))
