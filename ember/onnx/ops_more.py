"""ONNX op types of recent opsets that exported transformers and diffusion models use:
Swish, GroupNormalization, Attention, RotaryEmbedding and CenterCropPad.

Each follows the ONNX reference implementation (``onnx/reference/ops/op_*.py``) step by
step, written with ember ops so that an imported model still differentiates and trains.
NumPy appears only for arithmetic on Python constants (a scale, a shape).
"""

from __future__ import annotations

import math

import numpy as np

from .. import dtypes as _dt
from .. import ops as E
from ..nn import functional as F
from .ops import _dtype_of_onnx, _ints, onnx_op


@onnx_op("Swish")
def _swish(m, n, x):
    alpha = n.attrs.get("alpha", 1.0)
    return x * E.sigmoid(x * alpha if alpha != 1.0 else x)


# ----------------------------------------------------------------------------- GroupNormalization


@onnx_op("GroupNormalization")
def _group_norm(m, n, x, scale, bias):
    """Opset 21: ``scale``/``bias`` per channel, statistics in ``stash_type`` (float32 by
    default); opset 18: ``scale``/``bias`` per group, statistics in the input's type."""
    groups = n.attrs["num_groups"]
    eps = n.attrs.get("epsilon", 1e-5)
    batch, channels = x.shape[0], x.shape[1]
    if channels % groups:
        raise ValueError(f"GroupNormalization: {channels} channels do not split into "
                         f"{groups} groups")
    per_group = m.opset < 21
    xs = x
    if not per_group:
        stash = _dtype_of_onnx(n.attrs.get("stash_type", 1))
        xs = x if x.dtype == stash else E.astype(x, stash)
    x3 = E.reshape(xs, (batch, groups, -1))
    mean = E.mean(x3, dim=2, keepdim=True)
    d = x3 - mean
    y = d / E.sqrt(E.mean(d * d, dim=2, keepdim=True) + eps)
    if per_group:
        y = y * E.reshape(scale, (1, groups, 1)) + E.reshape(bias, (1, groups, 1))
        return E.reshape(y, tuple(x.shape))
    if y.dtype != x.dtype:
        y = E.astype(y, x.dtype)
    y = E.reshape(y, (batch, channels, -1))
    y = y * E.reshape(scale, (1, channels, 1)) + E.reshape(bias, (1, channels, 1))
    return E.reshape(y, tuple(x.shape))


# ----------------------------------------------------------------------------- Attention


def _split_heads(x, heads: int):
    """(batch, seq, heads * size) -> (batch, heads, seq, size)."""
    b, s, hidden = x.shape
    return E.permute(E.reshape(x, (b, s, heads, hidden // heads)), (0, 2, 1, 3))


def _additive(allowed, dtype):
    """A boolean mask as an additive bias: 0 where allowed, -inf where not."""
    return E.where(allowed, E.zeros((), dtype=dtype), E.full((), -math.inf, dtype=dtype))


def _positions(q_len: int, kv_len: int, offset):
    """Query positions (q, 1) shifted by ``offset`` (an int, or a (batch,) tensor giving
    (batch, q, 1)) and key positions (1, kv)."""
    i = E.reshape(E.arange(q_len, dtype=_dt.int64), (q_len, 1))
    j = E.reshape(E.arange(kv_len, dtype=_dt.int64), (1, kv_len))
    if isinstance(offset, int):
        return i + offset, j
    return i + E.reshape(offset, (-1, 1, 1)), j


def _add_positional(bias, allowed, per_batch: bool, dtype):
    extra = _additive(allowed, dtype)
    if per_batch:  # (batch, q, kv) -> (batch, 1, q, kv): a rank-3 mask stays (heads, q, kv)
        extra = E.unsqueeze(extra, 1)
    return bias + extra


def _neg_inf_rows(t):
    top = E.amax(t, dim=-1, keepdim=True)
    return E.logical_and(E.isinf(top), top < 0)


@onnx_op("Attention")
def _attention(m, n, q, k, v, attn_mask=None, past_key=None, past_value=None,
               nonpad_kv_seqlen=None):
    """softmax(Q K^T * scale + bias) V with GQA, a KV cache, masks and soft-capping, as the
    ONNX reference's ``_compute_attention`` (opsets 23-25)."""
    a = n.attrs
    left, right = a.get("left_window_size", -1), a.get("right_window_size", -1)
    if (past_key is None) != (past_value is None):
        raise ValueError("Attention: past_key and past_value must be given together")
    if nonpad_kv_seqlen is not None and past_key is not None:
        raise ValueError("Attention: nonpad_kv_seqlen cannot be combined with past_key")
    dtype = q.dtype
    three_d = q.ndim == 3
    if three_d:
        q_heads, kv_heads = a.get("q_num_heads"), a.get("kv_num_heads")
        if q_heads is None or kv_heads is None:
            raise ValueError("Attention: 3-d inputs need q_num_heads and kv_num_heads")
        q, k, v = _split_heads(q, q_heads), _split_heads(k, kv_heads), _split_heads(v, kv_heads)
    scale = a.get("scale")
    if scale is None:
        scale = 1.0 / np.sqrt(q.shape[3])
    # sqrt(scale) multiplies Q and K, rounded to Q's type first (as the reference does)
    root = float(np.asarray(np.sqrt(scale)).astype(dtype.np))

    if past_key is not None:
        k = E.concat([past_key, k], dim=2)
        v = E.concat([past_value, v], dim=2)
    present_key, present_value = k, v
    q_len, kv_len = q.shape[2], k.shape[2]

    mask = attn_mask
    if mask is not None:
        if mask.dtype == _dt.bool_:  # True attends: 0; False: -inf
            mask = _additive(mask, dtype)
        if mask.shape[-1] < kv_len:  # a mask shorter than the keys masks the rest
            mask = E.pad(mask, (0, kv_len - mask.shape[-1]), value=-math.inf)
    window = left >= 0 or right >= 0
    ext_cache = past_key is None and nonpad_kv_seqlen is not None
    if ext_cache:  # keys past nonpad_kv_seqlen[b] are padding; queries end at the last one
        offset = nonpad_kv_seqlen - q_len
    else:
        offset = past_key.shape[2] if past_key is not None else 0
    zeros = E.zeros((q_len, kv_len), dtype=dtype)
    if a.get("is_causal", 0):
        base = zeros if mask is None else mask
        if window:
            base = zeros + base
        i, j = _positions(q_len, kv_len, offset)
        bias = _add_positional(base, j <= i, ext_cache, dtype)
    elif mask is not None:
        bias = zeros + mask
    else:
        bias = zeros
    if window:
        bias = zeros + bias
        i, j = _positions(q_len, kv_len, offset)
        diff = i - j
        allowed = E.ones(tuple(diff.shape), dtype=_dt.bool_)
        if left >= 0:
            allowed = E.logical_and(allowed, diff <= left)
        if right >= 0:
            allowed = E.logical_and(allowed, -diff <= right)
        bias = _add_positional(bias, allowed, ext_cache, dtype)
    if nonpad_kv_seqlen is not None:
        keys = E.reshape(E.arange(kv_len, dtype=_dt.int64), (1, kv_len))
        valid = keys < E.reshape(nonpad_kv_seqlen, (-1, 1))
        bias = bias + E.reshape(_additive(valid, bias.dtype), (-1, 1, 1, kv_len))

    q_heads, kv_heads = q.shape[1], k.shape[1]
    if q_heads != kv_heads:
        if q_heads % kv_heads or v.shape[1] != kv_heads:
            raise ValueError(f"Attention: {q_heads} query heads cannot share {kv_heads} "
                             f"key/value heads")
        k = E.repeat_interleave(k, q_heads // kv_heads, dim=1)  # h0, h0, h1, h1, ...
        v = E.repeat_interleave(v, q_heads // kv_heads, dim=1)

    qk = E.matmul(q * root, E.swapaxes(k, -1, -2) * root)
    softcap = a.get("softcap", 0.0)
    if softcap > 0:  # before the mask, so masked scores stay -inf
        qk = E.tanh(qk / softcap) * softcap
    qk_out = qk
    scores = qk + bias
    mode = a.get("qk_matmul_output_mode", 0)
    if mode == 2:
        qk_out = scores
    elif mode not in (0, 1, 3):
        raise ValueError(f"Attention: unknown qk_matmul_output_mode {mode}")
    if "softmax_precision" in a:
        scores = E.astype(scores, _dtype_of_onnx(a["softmax_precision"]))
    # A row with no attendable key (all -inf scores, or an all -inf bias) gives zeros, not
    # NaN; softmax runs on zeros there so that no NaN reaches the backward pass either.
    empty = E.logical_or(_neg_inf_rows(scores), _neg_inf_rows(bias))
    probs = F.softmax(E.where(empty, E.zeros((), dtype=scores.dtype), scores), dim=-1)
    probs = E.where(empty, E.zeros((), dtype=probs.dtype), probs)
    if mode == 3:
        qk_out = probs
    if qk_out.dtype != dtype:
        qk_out = E.astype(qk_out, dtype)
    if probs.dtype != dtype:
        probs = E.astype(probs, dtype)
    y = E.matmul(probs, v)
    if three_d:
        b, h, s, size = y.shape
        y = E.reshape(E.permute(y, (0, 2, 1, 3)), (b, s, h * size))
    return (y, present_key, present_value, qk_out)[:max(1, len(n.outputs))]


# ----------------------------------------------------------------------------- RotaryEmbedding


@onnx_op("RotaryEmbedding")
def _rotary_embedding(m, n, x, cos_cache, sin_cache, position_ids=None):
    shape = tuple(x.shape)
    if x.ndim == 4:  # (batch, heads, seq, size) -> (batch, seq, heads, size)
        x = E.permute(x, (0, 2, 1, 3))
    elif x.ndim == 3:
        heads = n.attrs.get("num_heads", 0)
        if not heads:
            raise ValueError("RotaryEmbedding: 3-d input needs the num_heads attribute")
        x = E.reshape(x, (shape[0], shape[1], heads, shape[2] // heads))
    else:
        raise ValueError(f"RotaryEmbedding: input of rank {x.ndim}, expected 3 or 4")
    size = x.shape[3]
    dim = n.attrs.get("rotary_embedding_dim", 0) or size
    half = dim // 2
    if position_ids is not None:
        cos_cache, sin_cache = cos_cache[position_ids], sin_cache[position_ids]
    if cos_cache.shape[-1] != half or sin_cache.shape[-1] != half:
        raise ValueError(f"RotaryEmbedding: the caches' last dimension must be "
                         f"rotary_embedding_dim / 2 = {half}, got {cos_cache.shape[-1]}")
    cos, sin = E.unsqueeze(cos_cache, 2), E.unsqueeze(sin_cache, 2)  # (batch, seq, 1, half)
    rot = x[..., :dim]
    interleaved = n.attrs.get("interleaved", 0)
    if interleaved:
        x1, x2 = rot[..., 0::2], rot[..., 1::2]
    else:
        x1, x2 = rot[..., :half], rot[..., half:]
    real = cos * x1 - sin * x2
    imag = sin * x1 + cos * x2
    if interleaved:
        rot = E.reshape(E.stack([real, imag], dim=-1), tuple(rot.shape))
    else:
        rot = E.concat([real, imag], dim=-1)
    out = E.concat([rot, x[..., dim:]], dim=-1) if dim < size else rot
    if len(shape) == 3:
        return E.reshape(out, shape)
    return E.permute(out, (0, 2, 1, 3))


# ----------------------------------------------------------------------------- CenterCropPad


@onnx_op("CenterCropPad")
def _center_crop_pad(m, n, x, shape):
    """Crop each axis to ``shape`` around its centre, or zero-pad it around the input; an odd
    difference puts the extra element at the end."""
    sizes = _ints(shape)
    axes = n.attrs.get("axes")
    axes = list(range(x.ndim)) if axes is None else [a % x.ndim for a in axes]
    if len(sizes) != len(axes):
        raise ValueError(f"CenterCropPad: {len(sizes)} sizes for {len(axes)} axes")
    crop = [slice(None)] * x.ndim
    width = [(0, 0)] * x.ndim
    for a, want in zip(axes, sizes):
        have = x.shape[a]
        if want < have:
            start = (have - want) // 2
            crop[a] = slice(start, start + want)
        elif want > have:
            before = (want - have) // 2
            width[a] = (before, want - have - before)
    y = x[tuple(crop)]
    if any(w != (0, 0) for w in width):
        pads = []
        for before, after in reversed(width):
            pads += [before, after]
        y = E.pad(y, tuple(pads), value=0)
    return y
