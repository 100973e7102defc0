"""ONNX op types added last: LinearAttention, FlexAttention, the random generators
(RandomUniform/Normal, their ``Like`` forms, Multinomial) and the numeric classical-ML ops
of the ``ai.onnx.ml`` domain (TreeEnsemble, Binarizer, ArrayFeatureExtractor, LabelEncoder)
with TfIdfVectorizer.

Each follows the ONNX reference implementation (``onnx/reference/ops/op_*.py``,
``aionnx_preview/op_flex_attention.py``, ``aionnxml/op_*.py``). The attention ops are ember
ops throughout, so an imported model differentiates through them. The random ops draw with
ember's generators: a ``seed`` attribute gives each call a fresh ``ember.Generator`` seeded
with it, so a seeded node repeats its draw. The classical-ML ops are piecewise constant in
their inputs (decision trees, lookups, counts): they work on the host in NumPy and return
tensors with no gradient, as their ONNX definitions have none.
"""

from __future__ import annotations

import math

import numpy as np

from .. import dtypes as _dt
from .. import ops as E
from ..nn import functional as F
from ..ops import creation
from ..random import Generator
from .ops import _dtype_of_onnx, onnx_op

# ----------------------------------------------------------------------------- LinearAttention


def _heads(x, heads: int):
    """(batch, seq, heads * size) -> (batch, heads, seq, size)."""
    b, t, hidden = x.shape
    if hidden % heads:
        raise ValueError(f"LinearAttention: last dimension {hidden} does not split into "
                         f"{heads} heads")
    return E.permute(E.reshape(x, (b, t, heads, hidden // heads)), (0, 2, 1, 3))


@onnx_op("LinearAttention")
def _linear_attention(m, n, q, k, v, past_state=None, decay=None, beta=None):
    """A recurrent state S (batch, kv_heads, d_k, d_v) updated per step as ``update_rule``
    says (``linear``: S += k v^T; ``gated``: S is first multiplied by exp(decay);
    ``delta``: v is replaced by beta (v - S^T k); ``gated_delta``: both) and read as
    scale * q S. Computed in float32; returns (output, present_state)."""
    a = n.attrs
    rule = a.get("update_rule", "gated_delta")
    if rule not in ("linear", "gated", "delta", "gated_delta"):
        raise ValueError(f"LinearAttention: unknown update_rule {rule!r}")
    q_heads, kv_heads = a.get("q_num_heads"), a.get("kv_num_heads")
    if q_heads is None or kv_heads is None:
        raise ValueError("LinearAttention: q_num_heads and kv_num_heads are required")
    if q_heads % kv_heads:
        raise ValueError(f"LinearAttention: {q_heads} query heads cannot share {kv_heads} "
                         f"key/value heads")
    gating, delta = rule in ("gated", "gated_delta"), rule in ("delta", "gated_delta")
    if gating != (decay is not None):
        raise ValueError(f"LinearAttention: update_rule {rule!r} "
                         f"{'needs' if gating else 'forbids'} the decay input")
    if delta != (beta is not None):
        raise ValueError(f"LinearAttention: update_rule {rule!r} "
                         f"{'needs' if delta else 'forbids'} the beta input")
    out_dtype = q.dtype
    f32 = _dt.float32

    def f(x):
        return x if x.dtype == f32 else E.astype(x, f32)

    b, t, _ = q.shape
    q4, k4, v4 = f(_heads(q, q_heads)), f(_heads(k, kv_heads)), f(_heads(v, kv_heads))
    d_k, d_v = q4.shape[3], v4.shape[3]
    if gating:
        if decay.shape[-1] == kv_heads:  # a scalar per head: (batch, kv_heads, seq, 1)
            decay = E.permute(E.reshape(decay, (b, t, kv_heads, 1)), (0, 2, 1, 3))
        else:  # per key dimension: (batch, kv_heads, seq, d_k)
            decay = _heads(decay, kv_heads)
        gate = E.exp(f(decay))
    if delta:  # (batch, kv_heads or 1, seq, 1)
        beta = f(E.permute(E.reshape(beta, (b, t, beta.shape[-1], 1)), (0, 2, 1, 3)))
    if past_state is None:
        state_dtype = out_dtype
        state = E.zeros((b, kv_heads, d_k, d_v), dtype=f32)
    else:
        if tuple(past_state.shape) != (b, kv_heads, d_k, d_v):
            raise ValueError(f"LinearAttention: past_state has shape "
                             f"{tuple(past_state.shape)}, expected {(b, kv_heads, d_k, d_v)}")
        state_dtype, state = past_state.dtype, f(past_state)
    scale = a.get("scale") or 1.0 / math.sqrt(d_k)
    group = q_heads // kv_heads
    outs = []
    for i in range(t):
        k_t = k4[:, :, i:i + 1, :]  # (batch, kv_heads, 1, d_k)
        v_t = v4[:, :, i:i + 1, :]  # (batch, kv_heads, 1, d_v)
        if gating:  # S *= exp(g_t), broadcast over d_v
            state = state * E.swapaxes(gate[:, :, i:i + 1, :], -1, -2)
        if delta:  # v_t <- beta_t (v_t - k_t S)
            v_t = beta[:, :, i:i + 1, :] * (v_t - E.matmul(k_t, state))
        state = state + E.matmul(E.swapaxes(k_t, -1, -2), v_t)
        read = state if group == 1 else E.repeat_interleave(state, group, dim=1)
        outs.append(E.matmul(q4[:, :, i:i + 1, :], read) * scale)  # (batch, q_heads, 1, d_v)
    y = E.concat(outs, dim=2)
    y = E.reshape(E.permute(y, (0, 2, 1, 3)), (b, t, q_heads * d_v))
    y = y if y.dtype == out_dtype else E.astype(y, out_dtype)
    state = state if state.dtype == state_dtype else E.astype(state, state_dtype)
    return (y, state)[:max(1, len(n.outputs))]


# ----------------------------------------------------------------------------- FlexAttention


def _softmax_dtype(dtype, precision):
    if precision is not None:
        return _dtype_of_onnx(precision)
    if dtype in (_dt.float16, _dt.bfloat16):
        return _dt.float32
    return dtype


@onnx_op("FlexAttention")
def _flex_attention(m, n, q, k, v):
    """softmax(score_mod(Q K^T * scale)) then prob_mod, times V (rank-4 inputs, GQA by
    repeating key/value heads); ``score_mod`` and ``prob_mod`` are subgraphs taking and
    returning one tensor, run with ``module.run_graph``."""
    a = n.attrs
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
        raise ValueError(f"FlexAttention: rank-4 inputs needed, got Q {tuple(q.shape)}, "
                         f"K {tuple(k.shape)}, V {tuple(v.shape)}")
    q_heads, kv_heads = q.shape[1], k.shape[1]
    if v.shape[1] != kv_heads or v.shape[2] != k.shape[2] or k.shape[3] != q.shape[3]:
        raise ValueError(f"FlexAttention: K {tuple(k.shape)} and V {tuple(v.shape)} do not "
                         f"fit Q {tuple(q.shape)}")
    if q_heads != kv_heads:
        if q_heads % kv_heads:
            raise ValueError(f"FlexAttention: {q_heads} query heads cannot share {kv_heads} "
                             f"key/value heads")
        k = E.repeat_interleave(k, q_heads // kv_heads, dim=1)
        v = E.repeat_interleave(v, q_heads // kv_heads, dim=1)
    scale = a.get("scale")
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[3])
    # sqrt(scale) in float32, rounded to Q's type, multiplies Q and K (as the reference)
    root = float(np.asarray(np.sqrt(np.float32(scale))).astype(q.dtype.np))
    scores = E.matmul(q * root, E.swapaxes(k * root, -1, -2))
    compute = _softmax_dtype(q.dtype, a.get("softmax_precision"))

    def to(x, dtype):
        return x if x.dtype == dtype else E.astype(x, dtype)

    scores = to(scores, compute)
    if "score_mod" in a:
        scores = to(_one_output(m, a["score_mod"], scores, "score_mod"), compute)
    probs = F.softmax(scores, dim=-1)
    if "prob_mod" in a:
        probs = to(_one_output(m, a["prob_mod"], probs, "prob_mod"), compute)
    return to(E.matmul(probs, to(v, compute)), v.dtype)


def _one_output(m, graph, x, what: str):
    outs = m.run_graph(graph, [x])
    if len(outs) != 1:
        raise ValueError(f"FlexAttention: {what} must return one output, it returns "
                         f"{len(outs)}")
    return outs[0]


# ----------------------------------------------------------------------------- random ops


def _generator(n):
    """A fresh generator seeded by the node's ``seed`` (so the draw repeats), else None
    (ember's default generator)."""
    seed = n.attrs.get("seed")
    return None if seed is None else Generator(seed=int(np.float32(seed).view(np.uint32)))


def _random_dtype(n, default):
    code = n.attrs.get("dtype")
    dtype = default if code is None else _dtype_of_onnx(code)
    if not dtype.is_floating_point:
        raise ValueError(f"{n.op_type}: dtype must be floating point, got {dtype.name}")
    return dtype


def _uniform(n, shape, dtype):
    low, high = n.attrs.get("low", 0.0), n.attrs.get("high", 1.0)
    return creation.uniform(low, high, tuple(shape), generator=_generator(n), dtype=dtype)


def _normal(n, shape, dtype):
    mean, scale = n.attrs.get("mean", 0.0), n.attrs.get("scale", 1.0)
    return creation.normal(mean, scale, tuple(shape), generator=_generator(n), dtype=dtype)


@onnx_op("RandomUniform")
def _random_uniform(m, n):
    return _uniform(n, n.attrs["shape"], _random_dtype(n, _dt.float32))


@onnx_op("RandomNormal")
def _random_normal(m, n):
    return _normal(n, n.attrs["shape"], _random_dtype(n, _dt.float32))


@onnx_op("RandomUniformLike")
def _random_uniform_like(m, n, x):
    return _uniform(n, x.shape, _random_dtype(n, x.dtype))


@onnx_op("RandomNormalLike")
def _random_normal_like(m, n, x):
    return _normal(n, x.shape, _random_dtype(n, x.dtype))


@onnx_op("Multinomial")
def _multinomial(m, n, x):
    """``sample_size`` class indices per row of unnormalised log-probabilities (batch,
    classes), by inverting the cumulative distribution at uniform draws."""
    size = n.attrs.get("sample_size", 1)
    dtype = _dtype_of_onnx(n.attrs.get("dtype", 6))  # int32 by default
    if dtype not in (_dt.int32, _dt.int64):
        raise ValueError(f"Multinomial: dtype must be int32 or int64, got {dtype.name}")
    probs = F.softmax(E.astype(x.detach(), _dt.float64), dim=-1)
    cdf = E.unsqueeze(E.cumsum(probs, dim=-1), 1)  # (batch, 1, classes)
    u = creation.rand(x.shape[0], size, 1, generator=_generator(n), dtype=_dt.float64)
    index = E.sum(E.astype(u >= cdf, _dt.int64), dim=-1)  # classes whose cdf lies below u
    return E.astype(E.clamp(index, max=x.shape[1] - 1), dtype)


# ----------------------------------------------------------------------------- ai.onnx.ml


def _host(x) -> np.ndarray:
    return np.asarray(x.detach().numpy())


@onnx_op("Binarizer")
def _binarizer(m, n, x):
    return E.astype(x > n.attrs.get("threshold", 0.0), x.dtype)


@onnx_op("ArrayFeatureExtractor")
def _array_feature_extractor(m, n, x, indices):
    """The columns ``indices`` (flattened) of the last axis; a 1-d input gives one row."""
    index = E.reshape(indices, (-1,))
    if x.ndim == 1:
        x = E.unsqueeze(x, 0)
    return E.index_select(x, x.ndim - 1, index.long())


@onnx_op("LabelEncoder")
def _label_encoder(m, n, x):
    """Maps each element through the numeric ``keys_*`` -> ``values_*`` table (``default_*``
    where a key is missing). String keys or values are not supported: ember has no strings."""
    a = n.attrs
    if "keys_strings" in a or "values_strings" in a or x.dtype is None:
        raise NotImplementedError("LabelEncoder: string keys or values (ember has no string "
                                  "dtype)")
    keys = next((np.asarray(a[k]) for k in ("keys_tensor", "keys_floats", "keys_int64s")
                 if k in a), None)
    if "values_tensor" in a:
        values = np.asarray(a["values_tensor"])
        default = np.asarray(a.get("default_tensor", np.zeros(1, values.dtype))).reshape(-1)[0]
    elif "values_floats" in a:
        values, default = np.asarray(a["values_floats"], np.float32), a.get("default_float",
                                                                              -0.0)
    elif "values_int64s" in a:
        values, default = np.asarray(a["values_int64s"], np.int64), a.get("default_int64", -1)
    else:
        values = None
    if keys is None or values is None or keys.size != values.size:
        raise ValueError("LabelEncoder: needs numeric keys and values of equal length")
    if values.dtype.kind not in "biuf" or keys.dtype.kind not in "biuf":
        raise NotImplementedError("LabelEncoder: string keys or values (ember has no string "
                                  "dtype)")
    table = dict(zip(keys.reshape(-1).tolist(), values.reshape(-1).tolist()))
    flat = [table.get(v, default) for v in _host(x).reshape(-1).tolist()]
    out = np.asarray(flat, dtype=values.dtype).reshape(tuple(x.shape))
    return creation.from_numpy(out)


_LEQ, _LT, _GTE, _GT, _EQ, _NEQ, _MEMBER = range(7)


@onnx_op("TreeEnsemble")
def _tree_ensemble(m, n, x):
    """Every tree sends each row (batch, features) from its root down to a leaf, node by
    node for all rows at once; the leaves' weights are aggregated per target (SUM, AVERAGE,
    MIN or MAX). Set membership nodes read their sets, NaN-delimited, from
    ``membership_values`` in the order the nodes appear."""
    a = n.attrs
    data = _host(x)
    if data.ndim == 1:
        data = data.reshape(1, -1)
    splits = np.asarray(a["nodes_splits"], dtype=np.float64).reshape(-1)
    feature = np.asarray(a["nodes_featureids"], dtype=np.int64)
    mode = np.asarray(a["nodes_modes"]).reshape(-1).astype(np.int64)
    true_id, false_id = np.asarray(a["nodes_truenodeids"]), np.asarray(a["nodes_falsenodeids"])
    true_leaf = np.asarray(a["nodes_trueleafs"]).astype(bool)
    false_leaf = np.asarray(a["nodes_falseleafs"]).astype(bool)
    missing_true = np.asarray(a.get("nodes_missing_value_tracks_true", np.zeros_like(mode)),
                              dtype=bool)
    weights = np.asarray(a["leaf_weights"]).reshape(-1)
    targets = np.asarray(a["leaf_targetids"], dtype=np.int64)
    members: dict[int, np.ndarray] = {}
    if np.any(mode == _MEMBER):
        values = list(np.asarray(a["membership_values"], dtype=np.float64).reshape(-1))
        for node in np.flatnonzero(mode == _MEMBER):
            end = next((i for i, v in enumerate(values) if np.isnan(v)), len(values))
            members[int(node)], values = np.asarray(values[:end]), values[end + 1:]

    rows = np.arange(len(data))
    leaves = []
    for root in a["tree_roots"]:
        at = np.full(len(data), root, dtype=np.int64)
        done = np.full(len(data), bool(true_leaf[root] and false_leaf[root]
                                       and true_id[root] == false_id[root]))
        while not done.all():
            r, node = rows[~done], at[~done]
            v = data[r, feature[node]].astype(np.float64)
            s, md = splits[node], mode[node]
            go = np.select([md == _LEQ, md == _LT, md == _GTE, md == _GT, md == _EQ,
                            md == _NEQ], [v <= s, v < s, v >= s, v > s, v == s, v != s],
                           default=False)
            for node_id, member_set in members.items():
                here = node == node_id
                go[here] = np.isin(v[here], member_set)
            go |= missing_true[node] & np.isnan(v)
            at[~done] = np.where(go, true_id[node], false_id[node])
            done[~done] = np.where(go, true_leaf[node], false_leaf[node])
        leaves.append(at)

    how = a.get("aggregate_function", 1)  # AVERAGE, SUM, MIN, MAX
    size = a.get("n_targets", int(targets.max()) + 1)
    dtype = data.dtype
    if how in (0, 1):
        out = np.zeros((len(data), size), dtype=dtype)
    elif how in (2, 3):
        info = np.finfo(dtype)
        out = np.full((len(data), size), info.max if how == 2 else info.min, dtype=dtype)
    else:
        raise ValueError(f"TreeEnsemble: unknown aggregate_function {how}")
    for leaf in leaves:
        w, t = weights[leaf], targets[leaf]
        if how == 0:
            np.add.at(out, (rows, t), w / len(leaves))
        elif how == 1:
            np.add.at(out, (rows, t), w)
        else:
            (np.minimum if how == 2 else np.maximum).at(out, (rows, t), w)
    return creation.from_numpy(_post_transform(out, a.get("post_transform", 0)))


def _post_transform(scores: np.ndarray, kind: int) -> np.ndarray:
    """ONNX-ML's score transforms, per row, as onnxruntime and the reference's classifiers
    compute them: NONE, SOFTMAX, LOGISTIC, SOFTMAX_ZERO (zero scores take no share), PROBIT
    (``sqrt(2) erfinv(2p - 1)`` with the same closed-form erfinv approximation)."""
    if kind == 0:
        return scores
    v = scores.astype(np.float64)
    if kind == 1:
        e = np.exp(v - v.max(axis=1, keepdims=True))
        v = e / e.sum(axis=1, keepdims=True)
    elif kind == 2:
        e = 1.0 / (1.0 + np.exp(-np.abs(v)))
        v = np.where(v < 0, 1.0 - e, e)
    elif kind == 3:
        top = v.max(axis=1, keepdims=True)
        zero = np.abs(v) <= 1e-7
        e = np.where(zero, v * np.exp(-top), np.exp(v - top))
        total = e.sum(axis=1, keepdims=True)
        v = np.where(total == 0, 0.5, e / np.where(total == 0, 1.0, total))
    elif kind == 4:
        y = 2.0 * v - 1.0
        w = (1.0 - y) * (1.0 + y)
        with np.errstate(divide="ignore", invalid="ignore"):
            log = np.log(w)
            b = 2.0 / (np.pi * 0.147) + 0.5 * log
            inv = np.sign(y) * np.sqrt(-b + np.sqrt(b * b - log / 0.147))
        v = 1.41421356 * np.where(w == 0, 0.0, inv)
    else:
        raise ValueError(f"TreeEnsemble: unknown post_transform {kind} (0-4)")
    return v.astype(scores.dtype)


# ----------------------------------------------------------------------------- TfIdfVectorizer


@onnx_op("TfIdfVectorizer")
def _tfidf_vectorizer(m, n, x):
    """Counts, per row of integer tokens (a 1-d input is one row), the n-grams of the pool
    (``pool_int64s``: for n-gram size i + 1, ``ngram_counts[i]`` is where they start) whose
    tokens lie ``skip + 1`` apart (skip = 0 .. ``max_skip_count``; unigrams counted once),
    for sizes ``min_gram_length`` .. ``max_gram_length``; then TF (counts), IDF (weight
    where the count is non-zero) or TFIDF (count times weight), as float32."""
    a = n.attrs
    if "pool_strings" in a:
        raise NotImplementedError("TfIdfVectorizer: pool_strings (ember has no string dtype)")
    pool = [int(v) for v in np.asarray(a["pool_int64s"]).reshape(-1)]
    starts = [int(v) for v in a["ngram_counts"]] + [len(pool)]
    out_index = [int(v) for v in a["ngram_indexes"]]
    grams: dict[tuple, int] = {}
    for i in range(len(starts) - 1):
        for j in range(starts[i], starts[i + 1], i + 1):
            grams[tuple(pool[j:j + i + 1])] = out_index[len(grams)]
    lo, hi, skip = a["min_gram_length"], a["max_gram_length"], a["max_skip_count"]
    tokens = _host(x)
    rows = tokens.reshape(1, -1) if tokens.ndim == 1 else tokens.reshape(tokens.shape[0], -1)
    counts = np.zeros((len(rows), max(out_index) + 1), dtype=np.float32)
    for r, row in enumerate(rows.tolist()):
        for size in range(lo, hi + 1):
            for step in range(1, skip + 2) if size > 1 else (1,):
                for i in range(len(row) - step * (size - 1)):
                    k = grams.get(tuple(row[i:i + step * (size - 1) + 1:step]))
                    if k is not None:
                        counts[r, k] += 1
    mode = a["mode"]
    weight = (np.asarray(a["weights"], np.float32) if "weights" in a
              else np.ones(counts.shape[1], np.float32))
    if mode == "IDF":
        counts = (counts > 0).astype(np.float32) * weight
    elif mode == "TFIDF":
        counts = counts * weight
    elif mode != "TF":
        raise ValueError(f"TfIdfVectorizer: unknown mode {mode!r}")
    return creation.from_numpy(counts.reshape(-1) if tokens.ndim == 1 else counts)
