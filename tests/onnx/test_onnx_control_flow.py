"""ONNX import of control flow (If, Loop, Scan), sequences and optionals, against the ONNX
reference evaluator or onnxruntime; gradients through a Loop; jit on a data-dependent If."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import ember
import ember.onnx
from ember.graph import TraceError

F32, I64, BOOL = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL


def _vi(name, elem=F32, shape=None):
    return helper.make_tensor_value_info(name, elem, shape)


def _model(nodes, inputs, outputs, initializers=(), opset=17):
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def _const(name, value):
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(
        np.asarray(value), name))


def _check(model, *feeds, rtol=1e-6, atol=1e-6, runtime="reference"):
    """Run the imported model and the ONNX reference evaluator (or onnxruntime) on the same
    feeds."""
    feeds_by_name = dict(zip([i.name for i in model.graph.input], feeds))
    if runtime == "reference":
        expected = ReferenceEvaluator(model).run(None, feeds_by_name)
    else:
        ort = pytest.importorskip("onnxruntime")
        expected = ort.InferenceSession(model.SerializeToString(),
                                        providers=["CPUExecutionProvider"]).run(
                                            None, feeds_by_name)
    got = ember.onnx.load(model)(*[ember.from_numpy(f) for f in feeds])
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        if isinstance(e, list):
            assert isinstance(g, list) and len(g) == len(e)
            pairs = list(zip(g, e))
        else:
            pairs = [(g, e)]
        for gi, ei in pairs:
            gi = gi.detach().numpy()
            assert gi.dtype == ei.dtype and gi.shape == ei.shape
            np.testing.assert_allclose(gi, ei, rtol=rtol, atol=atol)


def _if_model():
    """y = x * w (then) or x - c (else), on sum(x) > 0: both branches read outer values; the
    else branch has its own initializer ``c``."""
    then_g = helper.make_graph([helper.make_node("Mul", ["x", "w"], ["t"])], "then", [],
                               [_vi("t")])
    else_g = helper.make_graph([helper.make_node("Sub", ["x", "c"], ["e"])], "else", [],
                               [_vi("e")],
                               initializer=[numpy_helper.from_array(
                                   np.array([0.5, 1.5, -2.0], np.float32), "c")])
    nodes = [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
             _const("zero", np.float32(0)),
             helper.make_node("Greater", ["s", "zero"], ["cond"]),
             helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g)]
    w = numpy_helper.from_array(np.array([2.0, -3.0, 0.25], np.float32), "w")
    return _model(nodes, [_vi("x", F32, [3])], [_vi("y", F32, [3])], [w])


def test_if_reads_outer_scope_and_takes_each_branch():
    model = _if_model()
    _check(model, np.array([1.0, 2.0, 3.0], np.float32))
    _check(model, np.array([-1.0, -2.0, 0.5], np.float32))
    m = ember.onnx.load(model)
    assert len(list(m.parameters())) == 2  # w and the else branch's c both train


def test_if_inside_jit_on_data_dependent_condition_raises():
    fast = ember.graph.jit(ember.onnx.load(_if_model()))
    with pytest.raises(TraceError, match="control flow"):
        fast(ember.tensor([1.0, 2.0, 3.0]))


def _loop_model(limit: float):
    """a <- a + x * i for at most M steps while sum(a) < limit; scan output: each a."""
    body = helper.make_graph(
        [helper.make_node("Cast", ["i"], ["fi"], to=F32),
         helper.make_node("Mul", ["x", "fi"], ["xi"]),
         helper.make_node("Add", ["a", "xi"], ["a_out"]),
         helper.make_node("ReduceSum", ["a_out"], ["s"], keepdims=0),
         helper.make_node("Less", ["s", "limit"], ["cond_out"]),
         helper.make_node("Identity", ["a_out"], ["scan"])],
        "body", [_vi("i", I64, []), _vi("cond_in", BOOL, []), _vi("a", F32, [2])],
        [_vi("cond_out", BOOL, []), _vi("a_out", F32, [2]), _vi("scan", F32, [2])])
    nodes = [_const("limit", np.float32(limit)),
             helper.make_node("Loop", ["M", "cond", "a0"], ["a_final", "scans"], body=body)]
    return _model(nodes, [_vi("M", I64, []), _vi("cond", BOOL, []), _vi("a0", F32, [2]),
                          _vi("x", F32, [2])],
                  [_vi("a_final", F32, [2]), _vi("scans", F32, None)])


@pytest.mark.parametrize("limit", [1000.0, 8.0])  # runs all M steps / stops on cond
def test_loop_trip_count_cond_and_scan_outputs(limit):
    model = _loop_model(limit)
    feeds = (np.array(6, np.int64), np.array(True), np.array([0.5, -0.25], np.float32),
             np.array([1.0, 0.75], np.float32))
    _check(model, *feeds)
    steps = ember.onnx.load(model)(*[ember.from_numpy(f) for f in feeds])[1].shape[0]
    assert steps == (6 if limit > 100 else 4)


def test_loop_of_zero_iterations_gives_empty_scan_outputs():
    # the body never runs: the scan output takes the element type and shape it declares
    model = _loop_model(1000.0)
    feeds = (np.array(0, np.int64), np.array(True), np.array([0.5, -0.25], np.float32),
             np.array([1.0, 0.75], np.float32))
    _check(model, *feeds, runtime="onnxruntime")
    a, scans = ember.onnx.load(model)(*[ember.from_numpy(f) for f in feeds])
    assert scans.shape == (0, 2) and scans.dtype == ember.float32
    body = model.graph.node[1].attribute[0].g
    body.output[2].type.tensor_type.shape.dim[0].dim_param = "n"  # no longer a number
    with pytest.raises(NotImplementedError, match="Loop: zero steps with a scan output"):
        ember.onnx.load(model)(*[ember.from_numpy(f) for f in feeds])


def _scan8_model(directions):
    """Opset 8 Scan: a running sum over axis 1 of (batch, steps, 2) with per-batch lengths;
    scan output: the running sums."""
    body = helper.make_graph(
        [helper.make_node("Add", ["s", "x_t"], ["s_out"]),
         helper.make_node("Identity", ["s_out"], ["y"])],
        "body", [_vi("s", F32, [2]), _vi("x_t", F32, [2])],
        [_vi("s_out", F32, [2]), _vi("y", F32, [2])])
    scan = helper.make_node("Scan", ["lens", "s0", "x"], ["s_final", "ys"], body=body,
                            num_scan_inputs=1, directions=directions)
    return _model([scan], [_vi("lens", I64, [3]), _vi("s0", F32, [3, 2]),
                           _vi("x", F32, [3, 4, 2])],
                  [_vi("s_final", F32, [3, 2]), _vi("ys", F32, [3, 4, 2])], opset=8)


@pytest.mark.parametrize("directions", [[0], [1]])
def test_scan_opset8_with_sequence_lens_matches_onnxruntime(directions):
    # shorter sequences stop at their length (reversed ones start from their own end);
    # their scan outputs are zero-padded to the full length
    rng = np.random.default_rng(1)
    feeds = (np.array([4, 2, 1], np.int64), rng.standard_normal((3, 2)).astype(np.float32),
             rng.standard_normal((3, 4, 2)).astype(np.float32))
    _check(_scan8_model(directions), *feeds, runtime="onnxruntime")


def test_scan_of_zero_steps_gives_empty_scan_outputs():
    body = helper.make_graph(
        [helper.make_node("Add", ["s", "x_t"], ["s_out"]),
         helper.make_node("Identity", ["s_out"], ["y"])],
        "body", [_vi("s", F32, [2]), _vi("x_t", F32, [2])],
        [_vi("s_out", F32, [2]), _vi("y", F32, [2])])
    scan = helper.make_node("Scan", ["s0", "x"], ["s_final", "ys"], body=body,
                            num_scan_inputs=1, scan_output_axes=[1])
    model = _model([scan], [_vi("s0", F32, [2]), _vi("x", F32, [0, 2])],
                   [_vi("s_final", F32, [2]), _vi("ys", F32, [2, 0])])
    s_final, ys = ember.onnx.load(model)(ember.tensor([1.0, 2.0]), ember.zeros(0, 2))
    assert s_final.tolist() == [1.0, 2.0] and ys.shape == (2, 0)


def test_loop_with_nested_if_on_the_iteration_number():
    """Even iterations add x, odd ones subtract 2 * x: an If in the body reads the body's
    iteration number and the main graph's x. (The reference evaluator runs no iteration
    when the cond input is empty, so onnxruntime is the reference here.)"""
    then_g = helper.make_graph([helper.make_node("Add", ["a", "x"], ["t"])], "then", [],
                               [_vi("t", F32, [3])])
    else_g = helper.make_graph([_const("two", np.float32(2)),
                                helper.make_node("Mul", ["x", "two"], ["x2"]),
                                helper.make_node("Sub", ["a", "x2"], ["e"])], "else", [],
                               [_vi("e", F32, [3])])
    body = helper.make_graph(
        [_const("k2", np.int64(2)), _const("k0", np.int64(0)),
         helper.make_node("Mod", ["i", "k2"], ["r"]),
         helper.make_node("Equal", ["r", "k0"], ["even"]),
         helper.make_node("If", ["even"], ["a_out"], then_branch=then_g, else_branch=else_g),
         helper.make_node("Identity", ["cond_in"], ["cond_out"])],
        "body", [_vi("i", I64, []), _vi("cond_in", BOOL, []), _vi("a", F32, [3])],
        [_vi("cond_out", BOOL, []), _vi("a_out", F32, [3])])
    model = _model([_const("M", np.int64(5)),
                    helper.make_node("Loop", ["M", "", "a0"], ["y"], body=body)],
                   [_vi("a0", F32, [3]), _vi("x", F32, [3])], [_vi("y", F32, [3])])
    a0, x = np.array([1.0, 2.0, 3.0], np.float32), np.array([0.5, -1.0, 2.0], np.float32)
    _check(model, a0, x, runtime="onnxruntime")
    np.testing.assert_allclose(ember.onnx.load(model)(ember.from_numpy(a0),
                                                      ember.from_numpy(x)).detach().numpy(),
                               a0 + 3 * x - 2 * 2 * x, rtol=1e-6)


def test_scan_with_axes_and_reverse_directions_matches_onnxruntime():
    """Running sum over rows of ``u`` (forward) and columns of ``v`` (reversed); the second
    scan output is written reversed along axis 1."""
    ort = pytest.importorskip("onnxruntime")
    body = helper.make_graph(
        [helper.make_node("Add", ["s", "u_t"], ["s1"]),
         helper.make_node("Mul", ["s1", "v_t"], ["s_out"]),
         helper.make_node("Identity", ["s_out"], ["y1"]),
         helper.make_node("Sub", ["u_t", "v_t"], ["y2"])],
        "body", [_vi("s", F32, [3]), _vi("u_t", F32, [3]), _vi("v_t", F32, [3])],
        [_vi("s_out", F32, [3]), _vi("y1", F32, [3]), _vi("y2", F32, [3])])
    scan = helper.make_node("Scan", ["s0", "u", "v"], ["s_final", "y1", "y2"], body=body,
                            num_scan_inputs=2, scan_input_axes=[0, 1],
                            scan_input_directions=[0, 1], scan_output_axes=[0, -1],
                            scan_output_directions=[0, 1])
    model = _model([scan], [_vi("s0", F32, [3]), _vi("u", F32, [4, 3]), _vi("v", F32, [3, 4])],
                   [_vi("s_final", F32, [3]), _vi("y1", F32, [4, 3]), _vi("y2", F32, [3, 4])])
    rng = np.random.default_rng(0)
    feeds = {"s0": rng.standard_normal(3).astype(np.float32),
             "u": rng.standard_normal((4, 3)).astype(np.float32),
             "v": rng.standard_normal((3, 4)).astype(np.float32)}
    expected = ort.InferenceSession(model.SerializeToString(),
                                    providers=["CPUExecutionProvider"]).run(None, feeds)
    got = ember.onnx.load(model)(*[ember.from_numpy(v) for v in feeds.values()])
    for g, e in zip(got, expected):
        assert g.shape == e.shape
        np.testing.assert_allclose(g.detach().numpy(), e, rtol=1e-6, atol=1e-6)


def test_sequence_ops_match_the_reference():
    seq_t = helper.make_tensor_sequence_value_info("parts", F32, None)
    double = helper.make_graph([helper.make_node("Add", ["e", "e"], ["d"])], "double",
                               [_vi("e", F32, None)], [_vi("d", F32, None)])
    nodes = [_const("sizes", np.array([1, 2, 1], np.int64)),
             _const("p0", np.int64(0)), _const("pm1", np.int64(-1)),
             helper.make_node("SplitToSequence", ["x", "sizes"], ["parts"], axis=1),
             helper.make_node("SequenceAt", ["parts", "pm1"], ["last"]),
             helper.make_node("SequenceInsert", ["parts", "last", "p0"], ["more"]),
             helper.make_node("SequenceErase", ["more", "pm1"], ["fewer"]),
             helper.make_node("SequenceLength", ["fewer"], ["n"]),
             helper.make_node("SequenceMap", ["fewer"], ["doubled"], body=double),
             helper.make_node("ConcatFromSequence", ["doubled"], ["cat"], axis=1),
             helper.make_node("SplitToSequence", ["x"], ["rows"], axis=0, keepdims=0),
             helper.make_node("ConcatFromSequence", ["rows"], ["stacked"], axis=-1,
                              new_axis=1),
             helper.make_node("SequenceEmpty", [], ["empty"]),
             helper.make_node("SequenceInsert", ["empty", "x"], ["one"]),
             helper.make_node("SequenceLength", ["one"], ["n1"])]
    model = _model(nodes, [_vi("x", F32, [2, 4])],
                   [_vi("cat", F32, None), _vi("n", I64, []), _vi("stacked", F32, None),
                    _vi("n1", I64, []), seq_t])
    _check(model, np.arange(8, dtype=np.float32).reshape(2, 4))


def test_optional_ops():
    opt = helper.make_tensor_type_proto(F32, [2])
    nodes = [helper.make_node("Optional", ["x"], ["some"]),
             helper.make_node("Optional", [], ["none"], type=opt),
             helper.make_node("OptionalHasElement", ["some"], ["has_some"]),
             helper.make_node("OptionalHasElement", ["none"], ["has_none"]),
             helper.make_node("OptionalGetElement", ["some"], ["y"])]
    model = _model(nodes, [_vi("x", F32, [2])],
                   [_vi("has_some", BOOL, []), _vi("has_none", BOOL, []), _vi("y", F32, [2])],
                   opset=18)
    has_some, has_none, y = ember.onnx.load(model)(ember.tensor([1.0, 2.0]))
    assert bool(has_some) and not bool(has_none)
    assert y.detach().tolist() == [1.0, 2.0]


def test_gradient_flows_through_loop_body_parameters():
    """h <- tanh(h * w + b) three times, w a main-graph initializer and b the body's own:
    gradients equal those of the same computation written out in ember."""
    body = helper.make_graph(
        [helper.make_node("Mul", ["h", "w"], ["hw"]),
         helper.make_node("Add", ["hw", "b"], ["z"]),
         helper.make_node("Tanh", ["z"], ["h_out"]),
         helper.make_node("Identity", ["cond_in"], ["cond_out"])],
        "body", [_vi("i", I64, []), _vi("cond_in", BOOL, []), _vi("h", F32, [3])],
        [_vi("cond_out", BOOL, []), _vi("h_out", F32, [3])],
        initializer=[numpy_helper.from_array(np.array([0.1, -0.2, 0.3], np.float32), "b")])
    w0 = np.array([0.9, -1.1, 0.7], np.float32)
    model = _model([_const("M", np.int64(3)),
                    helper.make_node("Loop", ["M", "", "x"], ["y"], body=body)],
                   [_vi("x", F32, [3])], [_vi("y", F32, [3])],
                   [numpy_helper.from_array(w0, "w")])
    m = ember.onnx.load(model)
    w, b = m.parameters()
    x = ember.tensor([0.5, 1.5, -0.25], requires_grad=True)
    (m(x) ** 2).sum().backward()

    w_ref = ember.tensor(w0.tolist(), requires_grad=True)
    b_ref = ember.tensor([0.1, -0.2, 0.3], requires_grad=True)
    x_ref = ember.tensor([0.5, 1.5, -0.25], requires_grad=True)
    h = x_ref
    for _ in range(3):
        h = ember.tanh(h * w_ref + b_ref)
    (h ** 2).sum().backward()
    for got, ref in [(w, w_ref), (b, b_ref), (x, x_ref)]:
        assert np.abs(ref.grad.numpy()).min() > 1e-3
        np.testing.assert_allclose(got.grad.numpy(), ref.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_unknown_ops_inside_subgraphs_are_all_listed():
    then_g = helper.make_graph([helper.make_node("FooOp", ["x"], ["t"])], "then", [],
                               [_vi("t")])
    body = helper.make_graph([helper.make_node("Identity", ["c"], ["c_out"]),
                              helper.make_node("BarOp", ["x"], ["s"])], "body",
                             [_vi("i", I64, []), _vi("c", BOOL, [])],
                             [_vi("c_out", BOOL, []), _vi("s")])
    else_g = helper.make_graph([_const("M", np.int64(2)),
                                helper.make_node("Loop", ["M", ""], ["e"], body=body)],
                               "else", [], [_vi("e")])
    nodes = [helper.make_node("BazOp", ["x"], ["c"]),
             helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)]
    g = helper.make_graph(nodes, "g", [_vi("x", F32, [3])], [_vi("y")])
    with pytest.raises(ember.onnx.UnsupportedOnnxOps, match="BarOp, BazOp, FooOp"):
        ember.onnx.load(helper.make_model(g))
