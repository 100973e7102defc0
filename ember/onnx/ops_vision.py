"""ONNX op types for detection (NonMaxSuppression, RoiAlign, DeformConv), the preview
training domain's optimiser steps (Adam, Adagrad, Momentum), and newer opsets' small ops
(Bernoulli, SwiGLU, TensorScatter, CausalConvWithState, BitCast).

Each follows the ONNX reference implementation (``onnx/reference/ops/op_*.py`` and
``aionnx_preview_training/op_*.py``) and is written on ``ember.vision``'s ops or plain ember
ops, so RoiAlign, DeformConv, SwiGLU, TensorScatter and CausalConvWithState differentiate.
NonMaxSuppression's selection is greedy and runs on the host; BitCast reinterprets the
bytes of its (non-differentiable) input.
"""

from __future__ import annotations

import math

import numpy as np

from .. import dtypes as _dt
from .. import ops as E
from ..nn import functional as F
from ..ops import creation
from ..vision import ops as V
from .ops import _dtype_of_onnx, _scalar, onnx_op

# ----------------------------------------------------------------------------- detection


def _corners(boxes, center_point_box: int):
    """ONNX boxes (..., 4) as (x1, y1, x2, y2) with x1 <= x2, y1 <= y2: from (y1, x1, y2, x2)
    corners in either order, or from (x centre, y centre, width, height)."""
    if center_point_box:
        xc, yc, w, h = (boxes[..., i] for i in range(4))
        return E.stack([xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2], dim=-1)
    y1, x1, y2, x2 = (boxes[..., i] for i in range(4))
    return E.stack([E.minimum(x1, x2), E.minimum(y1, y2), E.maximum(x1, x2),
                    E.maximum(y1, y2)], dim=-1)


@onnx_op("NonMaxSuppression")
def _nms(m, n, boxes, scores, max_out=None, iou_threshold=None, score_threshold=None):
    """(selected, 3) int64 rows (batch, class, box): per batch and class, boxes above the
    score threshold in decreasing score order (ties: lower index first), each dropped when
    its IoU with a kept box exceeds the threshold, at most ``max_out`` kept."""
    limit = 0 if max_out is None or max_out.numel() == 0 else max(int(_scalar(max_out)), 0)
    iou_thr = 0.0 if iou_threshold is None or iou_threshold.numel() == 0 \
        else float(_scalar(iou_threshold))
    use_score = score_threshold is not None and score_threshold.numel() > 0
    score_thr = float(_scalar(score_threshold)) if use_score else 0.0
    corners = _corners(boxes.detach(), n.attrs.get("center_point_box", 0))
    all_scores = np.asarray(scores.detach().numpy())
    rows: list[tuple[int, int, int]] = []
    if limit:
        for b in range(corners.shape[0]):
            iou = V.box_iou(corners[b], corners[b]).numpy()
            over = (iou > iou_thr) & (iou > 0)  # (no overlap never suppresses)
            for c in range(all_scores.shape[1]):
                s = all_scores[b, c]
                cand = np.flatnonzero(s > score_thr) if use_score else np.arange(s.shape[0])
                order = cand[np.argsort(-s[cand].astype(np.float64), kind="stable")]
                keep = V._greedy_keep(over[np.ix_(order, order)], limit)
                rows += [(b, c, int(order[i])) for i in keep]
    return creation.tensor(np.asarray(rows, dtype=np.int64).reshape(-1, 3), dtype=_dt.int64)


@onnx_op("RoiAlign")
def _roi_align(m, n, x, rois, batch_indices):
    mode = n.attrs.get("mode", "avg")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    default = "half_pixel" if m.opset >= 16 else "output_half_pixel"
    aligned = n.attrs.get("coordinate_transformation_mode", default) == "half_pixel"
    rows = E.concat([E.reshape(batch_indices, (-1, 1)).to(x.dtype), rois.to(x.dtype)], dim=1)
    size = (n.attrs.get("output_height", 1), n.attrs.get("output_width", 1))
    return V._roi_pool(x, rows, size, n.attrs.get("spatial_scale", 1.0),
                       n.attrs.get("sampling_ratio", 0), aligned, mode.lower())


@onnx_op("DeformConv")
def _deform_conv(m, n, x, w, offset, b=None, mask=None):
    if x.ndim != 4:
        raise NotImplementedError("DeformConv: only 2-d (N, C, H, W) inputs")
    kh, kw = w.shape[2:]
    og = n.attrs.get("offset_group", 1)
    pads = n.attrs.get("pads", [0, 0, 0, 0])
    stride = tuple(n.attrs.get("strides", [1, 1]))
    dilation = tuple(n.attrs.get("dilations", [1, 1]))
    if mask is not None:
        mask = E.reshape(mask, (x.shape[0], og * kh * kw, *offset.shape[2:]))
    # float64 inside: the sample positions round-trip through grid_sample's [-1, 1] scale,
    # which in float32 costs ~1e-6 of accuracy that ONNX's tolerances do not allow
    wide = [None if t is None else t.double() for t in (x, offset, w, b, mask)]
    out = V._deform_conv(wide[0], wide[1], wide[2], wide[3], stride, (pads[0], pads[1]),
                         dilation, wide[4], og)
    return out if out.dtype == x.dtype else E.astype(out, x.dtype)


# ----------------------------------------------------------------------------- training ops


def _split_state(n, args, per: int):
    """Inputs (R, T, X1..Xn, G1..Gn, [V1..Vn], [H1..Hn]) as R, T and ``per`` lists."""
    r, t, rest = args[0], int(_scalar(args[1])), args[2:]
    k = len(rest) // per
    return r, t, [rest[i * k:(i + 1) * k] for i in range(per)]


@onnx_op("Adam")
def _adam(m, n, *args):
    r, t, (xs, gs, vs, hs) = _split_state(n, args, 4)
    alpha, beta = n.attrs.get("alpha", 0.9), n.attrs.get("beta", 0.999)
    eps, decay = n.attrs.get("epsilon", 1e-6), n.attrs.get("norm_coefficient", 0.0)
    post = n.attrs.get("norm_coefficient_post", 0.0)
    step = r * (math.sqrt(1 - beta ** t) / (1 - alpha ** t)) if t > 0 else r
    new_x, new_v, new_h = [], [], []
    for x, g, v, h in zip(xs, gs, vs, hs):
        g = decay * x + g
        v = alpha * v + (1 - alpha) * g
        h = beta * h + (1 - beta) * (g * g)
        x = (1 - post) * (x - step * (v / (E.sqrt(h) + eps)))
        new_x.append(x)
        new_v.append(v)
        new_h.append(h)
    return tuple(new_x + new_v + new_h)


@onnx_op("Adagrad")
def _adagrad(m, n, *args):
    r, t, (xs, gs, hs) = _split_state(n, args, 3)
    eps, decay = n.attrs.get("epsilon", 1e-6), n.attrs.get("norm_coefficient", 0.0)
    rate = r / (1 + t * n.attrs.get("decay_factor", 0.0))
    new_x, new_h = [], []
    for x, g, h in zip(xs, gs, hs):
        g = decay * x + g
        h = h + g * g
        new_x.append(x - rate * g / (E.sqrt(h) + eps))
        new_h.append(h)
    return tuple(new_x + new_h)


@onnx_op("Momentum")
def _momentum(m, n, *args):
    r, t, (xs, gs, vs) = _split_state(n, args, 3)
    alpha, beta = n.attrs["alpha"], n.attrs["beta"] if t > 0 else 1.0
    decay, nesterov = n.attrs["norm_coefficient"], n.attrs.get("mode", "standard") == "nesterov"
    new_x, new_v = [], []
    for x, g, v in zip(xs, gs, vs):
        g = decay * x + g
        v = alpha * v + beta * g
        new_x.append(x - r * (g + alpha * v) if nesterov else x - r * v)
        new_v.append(v)
    return tuple(new_x + new_v)


# ----------------------------------------------------------------------------- newer small ops


@onnx_op("Bernoulli")
def _bernoulli(m, n, x):
    out = E.bernoulli(x)
    to = n.attrs.get("dtype")
    dtype = x.dtype if to is None else _dtype_of_onnx(to)
    return out if out.dtype == dtype else E.astype(out, dtype)


@onnx_op("SwiGLU")
def _swiglu(m, n, a, b):
    alpha = n.attrs.get("alpha", 1.0)
    return a * E.sigmoid(a * alpha if alpha != 1.0 else a) * b


@onnx_op("TensorScatter")
def _tensor_scatter(m, n, past, update, write_indices=None):
    """Writes ``update`` into ``past`` along ``axis`` from each batch row's write index
    (wrapping round in "circular" mode), as a gather of ``update`` and a where."""
    axis = n.attrs.get("axis", -2) % past.ndim
    size, length = past.shape[axis], update.shape[axis]
    batch = past.shape[0]
    start = (creation.zeros((batch,), dtype=_dt.int64) if write_indices is None
             else write_indices.long())
    shape = [1] * past.ndim
    shape[0], shape[axis] = batch, size
    pos = E.reshape(creation.arange(size, dtype=_dt.int64), (1, size)) - \
        E.reshape(start, (batch, 1))
    if n.attrs.get("mode", "linear") == "circular":
        pos = E.remainder(pos, size)
    written = (pos >= 0) & (pos < length)
    pos = E.reshape(E.clamp(pos, 0, max(length - 1, 0)), tuple(shape))
    full = list(past.shape)
    full[axis] = size
    picked = E.gather(update, axis, E.expand(pos, tuple(full)))
    return E.where(E.reshape(written, tuple(shape)), picked, past)


@onnx_op("CausalConvWithState")
def _causal_conv(m, n, x, weight, bias=None, past_state=None):
    batch, channels, _ = x.shape
    k = weight.shape[2]
    if past_state is None:
        past_state = creation.zeros((batch, channels, k - 1), dtype=x.dtype)
    padded = E.concat([past_state, x], dim=2)
    out = F.conv1d(padded, weight, bias, groups=channels)
    if n.attrs.get("activation", "none") in ("silu", "swish"):
        out = out * E.sigmoid(out)
    return out, padded[:, :, padded.shape[2] - (k - 1):]


@onnx_op("BitCast")
def _bitcast(m, n, x):
    """The same bytes read as another type of the same width (not differentiable)."""
    from onnx import helper

    target = np.dtype(helper.tensor_dtype_to_np_dtype(n.attrs["to"]))
    dtype = _dtype_of_onnx(n.attrs["to"])
    data = np.array(x.detach().numpy(), order="C")  # (keeps 0-d arrays 0-d)
    if data.dtype.itemsize != target.itemsize:
        raise ValueError(f"BitCast: {data.dtype} and {target} differ in width")
    return creation.tensor(data.view(target).reshape(data.shape), dtype=dtype)
