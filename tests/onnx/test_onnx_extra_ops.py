"""ember's import of the ONNX ops in ember/onnx/ops_extra.py, checked against
``onnx.reference.ReferenceEvaluator`` (random ops: shapes, dtypes, moments, seeds)."""

from __future__ import annotations

import numpy as np
import pytest

import ember

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from ember.onnx.load import OnnxModule  # noqa: E402

F32 = TensorProto.FLOAT


def _model(op, inputs, n_out=1, domain="", opset=None, **attrs):
    """A one-node model over float/int arrays ``inputs`` (name -> array)."""
    node = helper.make_node(op, list(inputs), [f"y{i}" for i in range(n_out)], domain=domain,
                            **attrs)
    ins = [helper.make_tensor_value_info(
        k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape) for k, v in inputs.items()]
    outs = [helper.make_tensor_value_info(f"y{i}", 0, None) for i in range(n_out)]
    imports = [helper.make_opsetid("", opset or 24)]
    if domain:
        imports.append(helper.make_opsetid(domain, 1 if domain != "ai.onnx.ml" else 5))
    return helper.make_model(helper.make_graph([node], "g", ins, outs),
                             opset_imports=imports, ir_version=10)


def _run(model, inputs):
    out = OnnxModule(model)(*[ember.from_numpy(v) for v in inputs.values()])
    out = out if isinstance(out, tuple) else (out,)
    return [o.detach().numpy() for o in out]


def _check(model, inputs, rtol=1e-5, atol=1e-6):
    want = ReferenceEvaluator(model).run(None, inputs)
    got = _run(model, inputs)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


rng = np.random.default_rng(0)


# ----------------------------------------------------------------------------- LinearAttention


@pytest.mark.parametrize("rule, q_heads, kv_heads, decay_per_dim, beta_last, past", [
    ("linear", 2, 2, False, None, False),
    ("gated", 2, 2, True, None, True),
    ("delta", 4, 2, False, 2, False),
    ("gated_delta", 4, 1, False, 1, True),
])
def test_linear_attention(rule, q_heads, kv_heads, decay_per_dim, beta_last, past):
    b, t, d = 2, 3, 4
    x = {"q": rng.standard_normal((b, t, q_heads * d)).astype(np.float32),
         "k": rng.standard_normal((b, t, kv_heads * d)).astype(np.float32) * 0.5,
         "v": rng.standard_normal((b, t, kv_heads * d)).astype(np.float32)}
    names = ["q", "k", "v", "", "", ""]
    if past:
        x["s"] = rng.standard_normal((b, kv_heads, d, d)).astype(np.float32)
        names[3] = "s"
    if rule in ("gated", "gated_delta"):
        width = kv_heads * d if decay_per_dim else kv_heads
        x["g"] = -rng.random((b, t, width)).astype(np.float32)
        names[4] = "g"
    if beta_last:
        x["be"] = rng.random((b, t, beta_last)).astype(np.float32)
        names[5] = "be"
    while names[-1] == "":
        names.pop()
    node = helper.make_node("LinearAttention", names, ["y0", "y1"], update_rule=rule,
                            q_num_heads=q_heads, kv_num_heads=kv_heads)
    ins = [helper.make_tensor_value_info(k, F32, v.shape) for k, v in x.items()]
    outs = [helper.make_tensor_value_info(f"y{i}", 0, None) for i in range(2)]
    model = helper.make_model(helper.make_graph([node], "g", ins, outs),
                              opset_imports=[helper.make_opsetid("", 26)], ir_version=10)
    _check(model, x, rtol=1e-5, atol=1e-5)


def test_linear_attention_differentiates():
    x = {k: rng.standard_normal((1, 2, 4)).astype(np.float32) for k in "qkv"}
    model = _model("LinearAttention", x, n_out=2, opset=26, update_rule="linear",
                   q_num_heads=1, kv_num_heads=1)
    q = ember.from_numpy(x["q"]).requires_grad_()
    y, _ = OnnxModule(model)(q, ember.from_numpy(x["k"]), ember.from_numpy(x["v"]))
    y.sum().backward()
    assert q.grad is not None and q.grad.shape == (1, 2, 4)


# ----------------------------------------------------------------------------- FlexAttention


def _mod_graph(name, op, constant):
    c = helper.make_tensor("c", F32, [], [constant])
    return helper.make_graph([helper.make_node(op, ["s", "c"], ["out"])], name,
                             [helper.make_tensor_value_info("s", F32, None)],
                             [helper.make_tensor_value_info("out", F32, None)], [c])


@pytest.mark.parametrize("attrs", [
    {}, {"scale": 0.3},
    {"score_mod": _mod_graph("sm", "Add", 0.5), "prob_mod": _mod_graph("pm", "Mul", 2.0)},
])
@pytest.mark.parametrize("kv_heads", [4, 2])
def test_flex_attention(attrs, kv_heads):
    x = {"Q": rng.standard_normal((2, 4, 3, 8)).astype(np.float32),
         "K": rng.standard_normal((2, kv_heads, 5, 8)).astype(np.float32),
         "V": rng.standard_normal((2, kv_heads, 5, 6)).astype(np.float32)}
    _check(_model("FlexAttention", x, domain="ai.onnx.preview", **attrs), x)


# ----------------------------------------------------------------------------- random ops


def _random_model(op, shape=(200, 500), **attrs):
    if op.endswith("Like"):
        return _model(op, {"x": np.zeros(shape, np.float64)}, **attrs), [np.zeros(shape)]
    return _model(op, {}, shape=list(shape), **attrs), []


@pytest.mark.parametrize("op, attrs, mean, var", [
    ("RandomUniform", {"low": -1.0, "high": 3.0}, 1.0, 16 / 12),
    ("RandomNormal", {"mean": 2.0, "scale": 0.5}, 2.0, 0.25),
    ("RandomUniformLike", {}, 0.5, 1 / 12),
    ("RandomNormalLike", {"dtype": TensorProto.FLOAT}, 0.0, 1.0),
])
def test_random_moments_and_dtype(op, attrs, mean, var):
    model, inputs = _random_model(op, **attrs)
    (y,) = _run(model, dict(zip("x", inputs)))
    like = op.endswith("Like") and "dtype" not in attrs
    assert y.shape == (200, 500)
    assert y.dtype == (np.float64 if like else np.float32)
    assert abs(y.mean() - mean) < 0.02  # 1e5 samples: standard error of the mean < 0.004
    assert abs(y.var() - var) / var < 0.03
    if "Uniform" in op:
        assert y.min() >= attrs.get("low", 0.0) and y.max() < attrs.get("high", 1.0)


@pytest.mark.parametrize("op", ["RandomUniform", "RandomNormalLike", "Multinomial"])
def test_random_seed_repeats(op):
    def draw(seed):
        if op == "Multinomial":
            x = {"x": np.zeros((4, 10), np.float32)}
            model = _model(op, x, sample_size=50, seed=seed)
        else:
            model, inputs = _random_model(op, shape=(30,), seed=seed)
            x = dict(zip("x", inputs))
        return _run(model, x)[0]

    np.testing.assert_array_equal(draw(3.0), draw(3.0))
    assert not np.array_equal(draw(3.0), draw(4.0))


def test_multinomial_frequencies():
    p = np.array([[0.1, 0.2, 0.7], [0.5, 0.0, 0.5]])
    x = {"x": np.log(np.maximum(p, 1e-30)).astype(np.float32)}
    (y,) = _run(_model("Multinomial", x, sample_size=20000, seed=1.0), x)
    assert y.dtype == np.int32 and y.shape == (2, 20000)
    freq = np.stack([np.bincount(row, minlength=3) / row.size for row in y])
    np.testing.assert_allclose(freq, p, atol=0.015)
    (y64,) = _run(_model("Multinomial", x, sample_size=5, dtype=TensorProto.INT64), x)
    assert y64.dtype == np.int64 and y64.shape == (2, 5)


# ----------------------------------------------------------------------------- ai.onnx.ml


ML = "ai.onnx.ml"


def test_binarizer_and_array_feature_extractor():
    x = {"x": rng.standard_normal((3, 4, 5)).astype(np.float32)}
    _check(_model("Binarizer", x, domain=ML, threshold=0.2), x)
    for data in (rng.standard_normal((3, 4)), rng.standard_normal(6)):
        x = {"x": data.astype(np.float32), "i": np.array([2, 0, 2], np.int64)}
        _check(_model("ArrayFeatureExtractor", x, domain=ML), x)


@pytest.mark.parametrize("attrs, x", [
    ({"keys_int64s": [1, 5, 7], "values_floats": [0.5, 1.5, 2.5], "default_float": 9.0},
     np.array([[1, 2], [7, 5]], np.int64)),
    ({"keys_floats": [0.5, 1.0], "values_int64s": [3, 4]}, np.array([1.0, 0.5, 2.0], np.float32)),
    ({"keys_tensor": helper.make_tensor("k", TensorProto.INT64, [2], [3, 4]),
      "values_tensor": helper.make_tensor("v", TensorProto.INT16, [2], [30, 40]),
      "default_tensor": helper.make_tensor("d", TensorProto.INT16, [1], [-7])},
     np.array([4, 3, 9], np.int64)),
])
def test_label_encoder_numeric(attrs, x):
    x = {"x": x}
    _check(_model("LabelEncoder", x, domain=ML, **attrs), x)


def test_label_encoder_strings_unsupported():
    x = {"x": np.array([1, 2], np.int64)}
    model = _model("LabelEncoder", x, domain=ML, keys_int64s=[1], values_strings=["a"])
    with pytest.raises(NotImplementedError, match="LabelEncoder.*string"):
        _run(model, x)


def _tree_model(aggregate):
    """Two trees over 3 features and 2 targets; tree 0 has a set-membership node."""
    t = helper.make_tensor
    attrs = dict(
        aggregate_function=aggregate, n_targets=2, tree_roots=[0, 3],
        nodes_modes=t("m", TensorProto.UINT8, [5], [0, 6, 3, 4, 1]),
        nodes_featureids=[0, 2, 1, 1, 0],
        nodes_splits=t("s", F32, [5], [0.0, 0.0, 0.5, 1.0, -0.3]),
        nodes_truenodeids=[1, 0, 2, 0, 4], nodes_trueleafs=[0, 1, 1, 1, 1],
        nodes_falsenodeids=[2, 1, 3, 4, 5], nodes_falseleafs=[1, 1, 1, 0, 1],
        nodes_missing_value_tracks_true=[1, 0, 0, 0, 0],
        membership_values=t("mv", F32, [4], [1.0, 2.0, 4.0, np.nan]),
        leaf_targetids=[0, 1, 0, 1, 0, 1],
        leaf_weights=t("w", F32, [6], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]))
    x = rng.integers(-2, 5, (8, 3)).astype(np.float32)
    x[0, 0] = np.nan
    x = {"x": x}
    return _model("TreeEnsemble", x, domain=ML, **attrs), x


@pytest.mark.parametrize("aggregate", [0, 1, 2, 3])
def test_tree_ensemble(aggregate):
    model, x = _tree_model(aggregate)
    _check(model, x)


@pytest.mark.parametrize("kind", [1, 2, 3, 4])
def test_tree_ensemble_post_transforms(kind):
    # the reference's TreeEnsemble ignores post_transform; its classifiers' own transforms
    # (what onnxruntime computes) applied to the untransformed scores are the expectation
    from onnx.reference.ops.aionnxml import _common_classifier as C

    model, x = _tree_model(1)
    raw = ReferenceEvaluator(model).run(None, x)[0].astype(np.float64)
    raw[1, 0] = 0.0  # a zero score: SOFTMAX_ZERO leaves it out
    scale = 0.1 if kind == 4 else 1.0  # probabilities for PROBIT
    raw *= scale
    want = {1: lambda v: C.softmax(v.copy()), 2: C.logistic,
            3: lambda v: C.softmax_zero(v.copy()), 4: C.probit}[kind](
        raw if kind != 4 else np.clip(raw, 0.01, 0.99))
    got = _post(kind, raw if kind != 4 else np.clip(raw, 0.01, 0.99))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    with_transform, _ = _tree_model(1)
    with_transform.graph.node[0].attribute.append(helper.make_attribute("post_transform", kind))
    got = OnnxModule(with_transform)(ember.from_numpy(x["x"])).numpy()
    plain = OnnxModule(model)(ember.from_numpy(x["x"])).numpy().astype(np.float64)
    np.testing.assert_allclose(got, _post(kind, plain).astype(np.float32), rtol=1e-6)


def _post(kind, scores):
    from ember.onnx.ops_extra import _post_transform

    return _post_transform(np.asarray(scores, np.float64), kind)


@pytest.mark.parametrize("mode, skip, lo, weights", [
    ("TF", 0, 2, None), ("TF", 3, 1, None), ("IDF", 1, 1, [2.0, 1.0, 0.5, 3.0, 1.5, 1.0, 4.0]),
    ("TFIDF", 2, 1, [0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
])
@pytest.mark.parametrize("shape", [(12,), (2, 6)])
def test_tfidf_vectorizer(mode, skip, lo, weights, shape):
    x = {"x": np.array([1, 1, 3, 3, 3, 7, 8, 6, 7, 5, 6, 8], np.int32).reshape(shape)}
    attrs = dict(mode=mode, min_gram_length=lo, max_gram_length=2, max_skip_count=skip,
                 ngram_counts=[0, 4], ngram_indexes=[0, 1, 2, 3, 4, 5, 6],
                 pool_int64s=[2, 3, 5, 4, 5, 6, 7, 8, 6, 7])
    if weights:
        attrs["weights"] = weights
    _check(_model("TfIdfVectorizer", x, **attrs), x)
