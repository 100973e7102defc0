"""ONNX import of Swish, GroupNormalization, Attention, RotaryEmbedding and CenterCropPad
(ember/onnx/ops_more.py): each imported node against ONNX's reference evaluator, and
gradients of Attention and GroupNormalization against central differences of the reference."""

from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.onnx

onnx = pytest.importorskip("onnx")
from onnx import helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

RNG = np.random.default_rng(0)


def _rand(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def _model(op, inputs, n_out=1, opset=23, out_dtype=None, **attrs):
    """A one-node model; ``inputs`` is a list of (name, array or None for an omitted input);
    ``n_out`` is the number of outputs or a list of output names ('' skips one)."""
    names = [f"y{i}" for i in range(n_out)] if isinstance(n_out, int) else list(n_out)
    node = helper.make_node(op, [name if a is not None else "" for name, a in inputs], names,
                            **attrs)
    ins = [helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(a.dtype),
                                         a.shape) for name, a in inputs if a is not None]
    first = out_dtype or inputs[0][1].dtype
    outs = [helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(first), None)
            for name in names if name]
    graph = helper.make_graph([node], "g", ins, outs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _feeds(inputs):
    return {name: a for name, a in inputs if a is not None}


def _reference(model, inputs):
    return ReferenceEvaluator(model).run(None, _feeds(inputs))


def _ember(model, inputs, grad=False):
    args = []
    for _, a in inputs:
        if a is None:
            continue
        t = ember.from_numpy(np.array(a, order="C"))
        if grad and a.dtype.kind == "f":
            t.requires_grad_(True)
        args.append(t)
    out = ember.onnx.load(model)(*args)
    return (out if isinstance(out, tuple) else (out,)), args


def _check(model, inputs, rtol=1e-5, atol=1e-6):
    want = _reference(model, inputs)
    got, _ = _ember(model, inputs)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g = g.detach().numpy()
        assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, g.shape, w.dtype, w.shape)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    return got


def _check_grad(model, inputs, n_dirs=3, h=1e-6, rtol=1e-6, atol=1e-8):
    """Backpropagate sum(w_i * y_i) through the import and compare the directional
    derivative along random directions with central differences of the reference."""
    outs, args = _ember(model, inputs, grad=True)
    weights = [RNG.standard_normal(o.shape) for o in outs]
    loss = None
    for o, w in zip(outs, weights):
        term = (o * ember.from_numpy(w)).sum()
        loss = term if loss is None else loss + term
    loss.backward()
    floats = [i for i, (_, a) in enumerate(inputs) if a is not None and a.dtype.kind == "f"]
    present = [i for i, (_, a) in enumerate(inputs) if a is not None]
    grads = {i: args[present.index(i)].grad for i in floats}
    for i in floats:
        assert grads[i] is not None, f"no gradient reaches input {inputs[i][0]}"
        assert np.isfinite(grads[i].numpy()).all()

    def f(shifted):
        return sum(float((o * w).sum()) for o, w in zip(_reference(model, shifted), weights))

    for _ in range(n_dirs):
        dirs = {i: RNG.standard_normal(inputs[i][1].shape) for i in floats}
        plus = [(n, a + h * dirs[i] if i in dirs else a) for i, (n, a) in enumerate(inputs)]
        minus = [(n, a - h * dirs[i] if i in dirs else a) for i, (n, a) in enumerate(inputs)]
        numeric = (f(plus) - f(minus)) / (2 * h)
        analytic = sum(float((grads[i].numpy() * dirs[i]).sum()) for i in floats)
        np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------- Swish


@pytest.mark.parametrize("alpha", [1.0, 0.5, 2.5])
def test_swish(alpha):
    x = _rand(3, 7)
    _check(_model("Swish", [("x", x)], opset=24, alpha=alpha), [("x", x)])


# ----------------------------------------------------------------------------- GroupNormalization


@pytest.mark.parametrize("shape,groups", [((2, 6, 3, 4), 3), ((3, 4, 5), 2), ((2, 4, 2, 2), 4),
                                          ((2, 6, 3), 1)])
def test_group_norm_opset21_per_channel(shape, groups):
    x, c = _rand(*shape) * 3 + 1, shape[1]
    inputs = [("x", x), ("scale", _rand(c)), ("bias", _rand(c))]
    _check(_model("GroupNormalization", inputs, opset=21, num_groups=groups, epsilon=1e-3),
           inputs)


def test_group_norm_opset18_per_group():
    x = _rand(2, 6, 5)
    inputs = [("x", x), ("scale", _rand(3)), ("bias", _rand(3))]
    _check(_model("GroupNormalization", inputs, opset=18, num_groups=3), inputs)


def test_group_norm_fp16_stashes_float32():
    x = _rand(2, 4, 3, 3, dtype=np.float16)
    inputs = [("x", x), ("scale", _rand(4, dtype=np.float16)),
              ("bias", _rand(4, dtype=np.float16))]
    _check(_model("GroupNormalization", inputs, opset=21, num_groups=2), inputs,
           rtol=1e-3, atol=1e-3)


def test_group_norm_gradient():
    x = _rand(2, 6, 4, dtype=np.float64)
    inputs = [("x", x), ("scale", _rand(6, dtype=np.float64)),
              ("bias", _rand(6, dtype=np.float64))]
    model = _model("GroupNormalization", inputs, opset=21, num_groups=3, stash_type=11)
    _check(model, inputs, rtol=1e-12, atol=1e-12)
    _check_grad(model, inputs)


# ----------------------------------------------------------------------------- Attention


def _attention_inputs(q, k, v, mask=None, past_k=None, past_v=None, nonpad=None):
    return [("Q", q), ("K", k), ("V", v), ("attn_mask", mask), ("past_key", past_k),
            ("past_value", past_v), ("nonpad_kv_seqlen", nonpad)]


def _trim(inputs):
    while inputs and inputs[-1][1] is None:
        inputs = inputs[:-1]
    return inputs


ATTENTION = {
    "4d": (lambda: _attention_inputs(_rand(2, 3, 4, 8), _rand(2, 3, 6, 8), _rand(2, 3, 6, 8)),
           1, 23, {}),
    "4d_scale_diff_v": (lambda: _attention_inputs(_rand(2, 3, 4, 8), _rand(2, 3, 6, 8),
                                                  _rand(2, 3, 6, 5)), 1, 23, {"scale": 0.3}),
    "4d_gqa_causal_float_mask": (
        lambda: _attention_inputs(_rand(2, 6, 5, 4), _rand(2, 2, 5, 4), _rand(2, 2, 5, 4),
                                  _rand(2, 1, 5, 5)), 1, 23, {"is_causal": 1}),
    "3d_gqa_causal": (lambda: _attention_inputs(_rand(2, 4, 24), _rand(2, 6, 8),
                                                _rand(2, 6, 10)),
                      1, 23, {"is_causal": 1, "q_num_heads": 6, "kv_num_heads": 2}),
    "3d_past_short_mask": (
        lambda: _attention_inputs(_rand(2, 3, 12), _rand(2, 3, 12), _rand(2, 3, 12),
                                  _rand(3, 5), _rand(2, 3, 4, 4), _rand(2, 3, 4, 4)),
        3, 23, {"q_num_heads": 3, "kv_num_heads": 3}),
    "4d_past_bool_mask_bias_out": (
        lambda: _attention_inputs(_rand(1, 2, 3, 4), _rand(1, 2, 3, 4), _rand(1, 2, 3, 4),
                                  RNG.random((1, 2, 3, 5)) > 0.3, _rand(1, 2, 2, 4),
                                  _rand(1, 2, 2, 4)),
        4, 23, {"qk_matmul_output_mode": 2, "is_causal": 1}),
    "softcap_mode1": (lambda: _attention_inputs(_rand(2, 2, 3, 4) * 4, _rand(2, 2, 5, 4) * 4,
                                                _rand(2, 2, 5, 4), _rand(3, 5)),
                      ["y", "", "", "qk"], 23, {"softcap": 1.5, "qk_matmul_output_mode": 1}),
    "fully_masked_row_mode3": (
        lambda: _attention_inputs(_rand(1, 2, 3, 4), _rand(1, 2, 3, 4), _rand(1, 2, 3, 4),
                                  np.array([[True, False, True], [False, False, False],
                                            [True, True, True]])),
        ["y", "", "", "qk"], 24, {"qk_matmul_output_mode": 3}),
    "nonpad_causal": (lambda: _attention_inputs(_rand(3, 2, 2, 4), _rand(3, 2, 6, 4),
                                                _rand(3, 2, 6, 4), nonpad=np.array(
                                                    [6, 4, 2], dtype=np.int64)),
                      1, 24, {"is_causal": 1}),
    "window_with_past": (lambda: _attention_inputs(_rand(1, 2, 3, 4), _rand(1, 2, 3, 4),
                                                   _rand(1, 2, 3, 4), None, _rand(1, 2, 4, 4),
                                                   _rand(1, 2, 4, 4)),
                         3, 25, {"left_window_size": 2, "right_window_size": 1}),
    "softmax_precision": (lambda: _attention_inputs(_rand(1, 2, 3, 8, dtype=np.float16),
                                                    _rand(1, 2, 4, 8, dtype=np.float16),
                                                    _rand(1, 2, 4, 8, dtype=np.float16)),
                          ["y", "", "", "qk"], 24,
                          {"softmax_precision": 1, "qk_matmul_output_mode": 3}),
}


@pytest.mark.parametrize("case", sorted(ATTENTION))
def test_attention(case):
    make, n_out, opset, attrs = ATTENTION[case]
    inputs = _trim(make())
    fp16 = inputs[0][1].dtype == np.float16
    _check(_model("Attention", inputs, n_out, opset, **attrs), inputs,
           rtol=1e-3 if fp16 else 1e-5, atol=1e-3 if fp16 else 1e-6)


def test_attention_fp16():
    inputs = _attention_inputs(*(_rand(2, 3, 4, 8, dtype=np.float16) for _ in range(3)))
    _check(_model("Attention", _trim(inputs), is_causal=1), _trim(inputs), rtol=1e-3,
           atol=1e-3)


@pytest.mark.parametrize("case", ["4d_gqa_causal_float_mask", "3d_past_short_mask",
                                  "softcap_mode1", "fully_masked_row_mode3", "nonpad_causal"])
def test_attention_gradient(case):
    make, n_out, opset, attrs = ATTENTION[case]
    inputs = [(n, a.astype(np.float64) if a is not None and a.dtype.kind == "f" else a)
              for n, a in _trim(make())]
    model = _model("Attention", inputs, n_out, opset, **attrs)
    _check(model, inputs, rtol=1e-12, atol=1e-12)
    _check_grad(model, inputs)


def test_attention_3d_needs_head_counts():
    inputs = _trim(_attention_inputs(_rand(1, 2, 8), _rand(1, 2, 8), _rand(1, 2, 8)))
    with pytest.raises(ValueError, match="q_num_heads"):
        _ember(_model("Attention", inputs), inputs)


# ----------------------------------------------------------------------------- RotaryEmbedding


def _rotary_inputs(x, rot_dim, positions=True, cache_len=10):
    half = rot_dim // 2
    b, s = x.shape[0], x.shape[2] if x.ndim == 4 else x.shape[1]
    if positions:
        cos, sin = _rand(cache_len, half), _rand(cache_len, half)
        pos = RNG.integers(0, cache_len, (b, s)).astype(np.int64)
        return [("x", x), ("cos", cos), ("sin", sin), ("pos", pos)]
    return [("x", x), ("cos", _rand(b, s, half)), ("sin", _rand(b, s, half))]


@pytest.mark.parametrize("interleaved", [0, 1])
@pytest.mark.parametrize("rot_dim", [0, 4])
@pytest.mark.parametrize("positions", [True, False])
def test_rotary_embedding_4d(interleaved, rot_dim, positions):
    x = _rand(2, 3, 5, 8)
    inputs = _rotary_inputs(x, rot_dim or 8, positions)
    _check(_model("RotaryEmbedding", inputs, interleaved=interleaved,
                  rotary_embedding_dim=rot_dim), inputs)


@pytest.mark.parametrize("interleaved", [0, 1])
def test_rotary_embedding_3d(interleaved):
    x = _rand(2, 5, 24)
    inputs = _rotary_inputs(x, 6, positions=interleaved == 1)
    _check(_model("RotaryEmbedding", inputs, interleaved=interleaved, num_heads=3,
                  rotary_embedding_dim=6), inputs)


def test_rotary_embedding_gradient_reaches_input():
    x = _rand(1, 2, 3, 4).astype(np.float64)
    inputs = [(n, a.astype(np.float64) if a.dtype.kind == "f" else a)
              for n, a in _rotary_inputs(x, 4, positions=False)]
    model = _model("RotaryEmbedding", inputs, interleaved=1)
    _check(model, inputs, rtol=1e-12, atol=1e-12)
    _check_grad(model, inputs)


# ----------------------------------------------------------------------------- CenterCropPad


@pytest.mark.parametrize("shape,target,axes", [
    ((7, 6, 3), [4, 9, 3], None),           # odd crop, odd pad, unchanged
    ((5, 8, 2), [6, 3], [0, 1]),            # pad by one: the extra zero goes at the end
    ((2, 9, 4), [5, 7], [-1, -2]),          # negative axes, listed out of order
    ((3, 4), [3, 4], None),                 # nothing to do
])
def test_center_crop_pad(shape, target, axes):
    x = _rand(*shape)
    inputs = [("x", x), ("shape", np.array(target, dtype=np.int64))]
    attrs = {} if axes is None else {"axes": axes}
    _check(_model("CenterCropPad", inputs, opset=18, **attrs), inputs, rtol=0, atol=0)


def test_center_crop_pad_integers():
    x = RNG.integers(-5, 5, (4, 5)).astype(np.int64)
    inputs = [("x", x), ("shape", np.array([7, 2], dtype=np.int64))]
    _check(_model("CenterCropPad", inputs, opset=18), inputs, rtol=0, atol=0)
