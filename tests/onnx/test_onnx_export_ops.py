"""ONNX export of single ops, run in onnxruntime against ember's own values (edge values
included), and a check that every registered op has a converter or a reason for none."""

from __future__ import annotations

import re

import numpy as np
import pytest

import ember
import ember.nn.functional as F
import ember.onnx
from ember.onnx.convert import converter_for
from ember.ops import REGISTRY

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

# Registered ops without a converter, each with why.
BACKWARD = "a gradient or backward-only op; exported graphs are inference graphs"
NO_FORM = "no exact ONNX form"
NO_CONVERTER = {
    "avg_pool2d_grad": BACKWARD,
    "avg_pool3d_grad": BACKWARD,
    "batch_norm_backward": BACKWARD,
    "channel_sum": BACKWARD + " (a conv's bias gradient)",
    "conv2d_weight": BACKWARD + " (a conv's weight gradient)",
    "conv2d_weight_bias": BACKWARD + " (a conv's weight and bias gradients)",
    "conv3d_weight": BACKWARD + " (a 3-d conv's weight gradient)",
    "cross_entropy_backward": BACKWARD,
    "embedding_backward": BACKWARD,
    "grid_scatter": BACKWARD + " (grid_sample's input gradient)",
    "gru_cell_grad": BACKWARD,
    "index_adjoint": BACKWARD + " (indexing's transpose)",
    "index_frequency": BACKWARD + " (scale_grad_by_freq's gradient scale)",
    "lstm_cell_grad": BACKWARD,
    "lstm_grad": BACKWARD,
    "lstm_layer_grad": BACKWARD,
    "max_pool2d_grad": BACKWARD,
    "max_pool3d_grad": BACKWARD,
    "max_pool2d_select": BACKWARD + " (max_pool2d's double backward)",
    "pad_adjoint": BACKWARD + " (pad's transpose)",
    "relu_backward": BACKWARD,
    "resample_grad": BACKWARD,
    "softmax_backward": BACKWARD,
    "dropout_mask": "random with ember's generator; only training draws it (eval dropout is "
                    "the identity, which exports)",
    "rrelu_noise": "random with ember's generator; only training draws it (eval rrelu is a "
                   "leaky_relu, which exports)",
    "embedding_renorm": "rewrites the weight rows an input touches (max_norm): a state "
                        "change, not an inference computation",
    "max_pool2d_indices": NO_FORM + " here: MaxPool's Indices output is one option, not "
                          "written yet (ember's are per plane, ONNX's over the whole tensor)",
    "signbit": NO_FORM + ": ONNX cannot read the sign bit of a NaN (no bit casts)",
    "nextafter": NO_FORM + ": needs the float's bits (no bit casts in ONNX)",
    "bitwise_left_shift": NO_FORM + " for signed integers (BitShift takes unsigned ones)",
    "bitwise_right_shift": NO_FORM + " for signed integers (BitShift takes unsigned ones)",
    "adjugate": NO_FORM + ": needs a matrix inverse, which ONNX lacks",
    "cholesky": NO_FORM + ": no decomposition ops in ONNX",
    "eig": NO_FORM + ": no decomposition ops in ONNX",
    "eigh": NO_FORM + ": no decomposition ops in ONNX",
    "eigvalsh": NO_FORM + ": no decomposition ops in ONNX",
    "inv": NO_FORM + ": no matrix inverse in ONNX",
    "pinv": NO_FORM + ": no SVD in ONNX",
    "qr": NO_FORM + ": no decomposition ops in ONNX",
    "svd": NO_FORM + ": no decomposition ops in ONNX",
    "svdvals": NO_FORM + ": no decomposition ops in ONNX",
    "solve": NO_FORM + ": no linear solver in ONNX",
    "slogdet": NO_FORM + ": Det overflows where slogdet exists to avoid it",
}


def test_every_op_has_a_converter_or_a_reason():
    # ember's own ops (tests elsewhere register ops of their own in the same registry)
    # (optimizer_step_N, registered per parameter count, updates training state: no ONNX form)
    ours = {n for n, op in REGISTRY.items() if op.__module__.startswith("ember.")
            and not re.fullmatch(r"optimizer_step_\d+", n)}
    missing = sorted(n for n in ours if converter_for(n) is None and n not in NO_CONVERTER)
    assert not missing, f"ops with neither an ONNX converter nor a reason in NO_CONVERTER: " \
                        f"{missing}"
    stale = sorted(n for n in NO_CONVERTER if n not in REGISTRY or converter_for(n))
    assert not stale, f"NO_CONVERTER lists ops that have a converter or no longer exist: {stale}"


class _Fn(ember.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *xs):
        return self.fn(*xs)


def _run(fn, *arrays, opset=17):
    """Export ``fn`` on ``arrays``, run it in onnxruntime; returns (onnx outputs, ember's)."""
    inputs = tuple(ember.tensor(a) for a in arrays)
    model = _Fn(fn)
    proto = ember.onnx.export(model, inputs, opset=opset)
    want = model(*inputs)
    want = want if isinstance(want, tuple) else (want,)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    got = sess.run(None, {k: a for k, a in zip(names, arrays)})
    return got, [w.numpy() for w in want], proto


def _same(fn, *arrays, rtol=1e-6, opset=17, zero_signs=True):
    got, want, proto = _run(fn, *arrays, opset=opset)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, w.shape, g.dtype, w.dtype)
        if w.dtype.kind == "f":
            np.testing.assert_allclose(g, w, rtol=rtol, atol=0)
            if not zero_signs:
                continue
            # signed zeros: the sign bit where both are zero
            zero = (g == 0) & (w == 0)
            np.testing.assert_array_equal(np.signbit(g[zero]), np.signbit(w[zero]))
        else:
            np.testing.assert_array_equal(g, w)
    return proto


EDGE = np.array([0.0, -0.0, 1.0, -1.0, 2.5, -2.5, 1e-30, -1e-30, 1e30, -1e30, np.inf, -np.inf,
                 np.nan], dtype=np.float32)
PAIRS = tuple(np.array(p, dtype=np.float32) for p in zip(*[
    (a, b) for a in EDGE for b in EDGE]))


UNARY = {
    "asin": (ember.asin, [-1.0, -0.5, -0.0, 0.0, 0.3, 1.0, 1.5, np.nan]),
    "acos": (ember.acos, [-1.0, -0.5, 0.0, 0.3, 1.0, 1.5, np.nan]),
    "atan": (ember.atan, [-np.inf, -3.0, -0.0, 0.0, 0.5, 1e30, np.inf, np.nan]),
    "sinh": (ember.sinh, [-3.0, -0.0, 0.0, 0.5, 2.0, np.inf, -np.inf, np.nan]),
    "cosh": (ember.cosh, [-3.0, -0.0, 0.0, 0.5, 2.0, np.inf, -np.inf, np.nan]),
    "asinh": (ember.asinh, [-3.0, -0.0, 0.0, 0.5, 2.0, np.inf, -np.inf, np.nan]),
    "acosh": (ember.acosh, [0.5, 1.0, 1.5, 10.0, np.inf, np.nan]),
    "atanh": (ember.atanh, [-1.0, -0.5, -0.0, 0.0, 0.5, 1.0, 2.0, np.nan]),
    "isfinite": (ember.isfinite, [0.0, -1.0, np.inf, -np.inf, np.nan]),
    "trunc": (ember.trunc, [-2.5, -0.5, -0.0, 0.0, 0.5, 2.7, np.inf, -np.inf, np.nan]),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name):
    fn, values = UNARY[name]
    proto = _same(fn, np.array(values, dtype=np.float32))
    assert proto.graph.node


def test_isfinite_of_integers_is_all_true():
    _same(ember.isfinite, np.array([1, -3, 0], dtype=np.int64))


def test_atan2_matches_numpy_on_every_edge_pair():
    a, b = PAIRS  # float32: onnxruntime has no double Atan
    got, want, _ = _run(ember.atan2, a, b)
    np.testing.assert_allclose(want[0], np.arctan2(a, b), rtol=0)  # ember is NumPy's
    _same(ember.atan2, a, b)


def test_atan2_random_values_all_quadrants():
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal(500).astype(np.float32) * 10 for _ in range(2))
    _same(ember.atan2, a, b)


def test_hypot_edges_and_no_overflow():
    _same(ember.hypot, *PAIRS)
    big = np.array([3e30, 1e-30, 0.0], dtype=np.float32)
    got, want, _ = _run(ember.hypot, big, big * 4 / 3)
    np.testing.assert_allclose(got[0], [5e30, 5e-30 / 3, 0.0], rtol=1e-6)


def test_copysign_zeros_and_infinities():
    a, b = PAIRS
    keep = ~np.isnan(b)  # a NaN's sign bit has no ONNX reading (see the converter)
    _same(ember.copysign, a[keep], b[keep])


def test_logaddexp_edges_and_small_differences():
    _same(ember.logaddexp, *PAIRS, rtol=1e-6)
    a = np.array([0.0, 0.0, -100.0, 50.0, 1e-3], dtype=np.float32)
    b = np.array([-30.0, -17.0, -100.5, 10.0, 0.0], dtype=np.float32)
    _same(ember.logaddexp, a, b, rtol=1e-6)


def test_floor_divide_floats_round_as_numpy():
    a, b = PAIRS
    # values, infinities and NaN as NumPy; the sign of a zero quotient does not survive
    # onnxruntime's graph (a known gap, see the converter)
    _same(ember.floor_divide, a, b, zero_signs=False)
    x = np.array([1.0, -1.0, 7.0, -7.0, 0.0, -0.0, 5.0], dtype=np.float32)
    y = np.array([0.1, 0.1, -2.0, 2.0, -3.0, 3.0, 0.5], dtype=np.float32)
    got, want, _ = _run(ember.floor_divide, x, y)
    assert want[0][0] == 9.0  # NumPy's 1 // 0.1, where floor(1 / 0.1) is 10
    _same(ember.floor_divide, x, y, zero_signs=False)


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_floor_divide_integers_toward_minus_infinity(dtype):
    x = np.array([7, -7, 7, -7, 6, -6, 0, 5, -5, np.iinfo(dtype).min], dtype=dtype)
    y = np.array([2, 2, -2, -2, 3, 3, 4, 0, -1, -1], dtype=dtype)
    with np.errstate(all="ignore"):
        _same(ember.floor_divide, x, y, zero_signs=False)


@pytest.mark.parametrize("name", ["all", "any"])
@pytest.mark.parametrize("axis", [None, 1, (0, 2)])
def test_all_any(name, axis):
    x = np.array([[[0.0, 1.0], [np.nan, 2.0]], [[3.0, -0.0], [1.0, 1.0]]], dtype=np.float32)
    fn = getattr(ember, name)
    if axis is None:
        _same(lambda t: fn(t), x)
    else:
        _same(lambda t: fn(t, dim=axis), x)
    _same(lambda t: fn(t > 0), x)


@pytest.mark.parametrize("descending", [False, True])
def test_argsort_and_sort_keep_ties_in_index_order(descending):
    x = np.array([[3.0, 1.0, 3.0, 0.0, 1.0, -0.0, 3.0], [2.0, 2.0, 2.0, -1.0, 5.0, 2.0, 0.0]],
                 dtype=np.float32)
    _same(lambda t: ember.argsort(t, dim=1, descending=descending), x)
    _same(lambda t: tuple(ember.sort(t, dim=1, descending=descending)), x)
    _same(lambda t: ember.argsort(t, dim=0, descending=descending), x)


def test_argsort_of_integers():
    _same(lambda t: ember.argsort(t, descending=True), np.array([4, 1, 4, -2, 1], np.int64))


@pytest.mark.parametrize("right", [False, True])
def test_searchsorted(right):
    seq = np.array([-np.inf, -1.0, 0.0, 0.0, 2.0, np.inf, np.nan], dtype=np.float32)
    values = np.array([[-np.inf, -2.0, 0.0, -0.0], [1.0, 2.0, np.inf, np.nan]], np.float32)
    _same(lambda s, v: ember.searchsorted(s, v, right=right), seq, values)
    rows = np.sort(np.random.default_rng(1).integers(0, 5, (3, 6)), axis=1)
    _same(lambda s, v: ember.searchsorted(s, v, right=right), rows,
          np.array([[0, 2, 5], [1, 1, 4], [3, 6, -1]], dtype=rows.dtype))


def test_gather_with_broadcast_and_negative_index():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    _same(lambda t, i: ember.gather(t, 1, i), x, np.array([[0, 3], [-1, 1], [2, 2]]))
    _same(lambda t, i: ember.gather(t, 0, i), x, np.array([[2, 0, 1, 1]]))


def test_scatter_add_repeated_and_partial_indices():
    x = np.zeros((3, 4), np.float32)
    src = np.arange(12, dtype=np.float32).reshape(3, 4)
    _same(lambda t, i, s: ember.scatter_add(t, 1, i, s), x,
          np.array([[0, 0, 3], [1, 1, 1], [2, 3, 2]]), src)


def _set(index, value):
    def fn(t, v=None):
        t = t.clone()
        t[index] = value if v is None else v
        return t

    return fn


def test_index_put_constant_indices():
    x = np.arange(20, dtype=np.float32).reshape(4, 5)
    _same(_set((slice(1, 3), 2), -1.0), x)
    _same(_set((1,), np.float32(np.inf)), x)
    _same(lambda t, v: _set((slice(None), slice(0, 4, 2)), None)(t, v), x,
          np.array([[7.0], [8.0], [9.0], [10.0]], np.float32))


@pytest.mark.parametrize("offset", [0, 1, -2, 3])
def test_diagonal_and_diag_embed(offset):
    x = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    x[0, 0, 0] = np.inf
    _same(lambda t: ember.diagonal(t, offset=offset), x)
    _same(lambda t: ember.diag_embed(t, offset=offset), x)


@pytest.mark.parametrize("shifts,dims", [(1, 0), (-2, 1), ((1, 5), (0, 1)), (3, None)])
def test_roll(shifts, dims):
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    _same(lambda t: ember.roll(t, shifts, dims), x)


def test_nonzero():
    x = np.array([[0.0, 1.0, 0.0], [np.nan, 0.0, -0.0], [2.0, 0.0, 3.0]], np.float32)
    _same(ember.nonzero, x)


def test_unique_all_outputs():
    x = np.array([[3, 1, 3], [0, 1, 7]], dtype=np.int64)
    _same(lambda t: ember.unique(t, return_inverse=True, return_counts=True), x)


def test_det():
    a = np.random.default_rng(2).standard_normal((2, 3, 3)).astype(np.float32)
    _same(ember.linalg.det, a, rtol=1e-5)


def test_bitwise_not():
    _same(ember.bitwise_not, np.array([True, False]))
    ints = np.array([0, 5, -3], dtype=np.int32)
    with pytest.raises(ValueError, match="before opset 18"):
        _run(ember.bitwise_not, ints)
    _same(ember.bitwise_not, ints, opset=18)


def test_cumprod_needs_opset_26():
    x = np.array([[1.0, -2.0, 0.5], [3.0, 0.0, 4.0]], np.float32)
    with pytest.raises(ValueError, match=r"before opset 26 \(export with opset=26\)"):
        _run(lambda t: ember.cumprod(t, 1), x)
    model = _Fn(lambda t: ember.cumprod(t, 1))
    proto = ember.onnx.export(model, (ember.tensor(x),), opset=26)
    assert [n.op_type for n in proto.graph.node] == ["CumProd"]


def test_inplace_activations():
    x = np.array([-2.0, -0.5, 0.0, 0.5, 3.0], np.float32)
    _same(lambda t: F.relu_(t * 1.0), x)
    _same(lambda t: F.leaky_relu_(t * 1.0, 0.2), x)
    _same(lambda t: F.elu_(t * 1.0, 0.7), x)
    _same(lambda t: F.selu(t * 1.0, inplace=True), x)
    _same(lambda t: F.celu(t * 1.0, 2.0, inplace=True), x)


def test_zeros_like_and_masks():
    x = np.array([[1.0, np.inf], [np.nan, 2.0]], np.float32)
    _same(lambda t: ember.zeros_like(t) + ember.eye(2) * t.sum(), x)
    _same(lambda t: ember.triu(t) + ember.tril(t, -1), x)
