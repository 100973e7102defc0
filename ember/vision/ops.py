"""Detection ops with ``torchvision.ops`` semantics: ``box_area``, ``box_iou``, ``nms``,
``batched_nms``, ``roi_align`` and ``deform_conv2d``.

All are composites of ember ops (none registers a primitive of its own):

- ``box_iou`` is elementwise arithmetic on broadcast corners;
- ``nms`` is greedy and sequential: the pairwise IoU matrix is computed by ember ops, then the
  selection walks the boxes in decreasing score order on the host (as torchvision's CPU
  kernel does); its result is an index tensor, so nothing to differentiate;
- ``roi_align`` samples each bin on a regular grid of points with bilinear weights. The
  weights are separable (a y factor times an x factor), so each region is two small
  interpolation matrices, ``Wy`` (out_h, H) and ``Wx`` (out_w, W), and its output is
  ``Wy @ x[b] @ Wx.T``: differentiable w.r.t. the input by matmul's vjp. Box coordinates
  are data, not differentiated (as in torchvision);
- ``deform_conv2d`` reads the input at the offset kernel taps with ``grid_sample``
  (bilinear, zeros outside: torchvision's interpolation exactly), scales them by the mask
  and contracts them with the weight in one matmul, so it differentiates w.r.t. input,
  offset, mask, weight and bias.
"""

from __future__ import annotations

import numpy as np

from .. import dtypes as _dt
from ..ops import creation
from ..ops import elementwise as _el
from ..ops.sampling import grid_sample
from ..ops.shape import cat, stack
from ..tensor import Tensor

__all__ = ["box_area", "box_iou", "nms", "batched_nms", "roi_align", "deform_conv2d"]


def _pair(v, name: str) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"{name}: expected an int or a pair, got {v!r}")
        return int(v[0]), int(v[1])
    return int(v), int(v)


# ----------------------------------------------------------------------------- boxes


def box_area(boxes: Tensor) -> Tensor:
    """Areas of (N, 4) boxes given as (x1, y1, x2, y2).

    Example:
        >>> import ember
        >>> from ember.vision import box_area
        >>> box_area(ember.tensor([[0.0, 0.0, 2.0, 3.0]]))
        tensor([6.])
    """
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Intersection over union of every pair: (N, 4), (M, 4) boxes (x1, y1, x2, y2) ->
    (N, M).

    Example:
        >>> import ember
        >>> from ember.vision import box_iou
        >>> a = ember.tensor([[0.0, 0.0, 2.0, 2.0]])
        >>> box_iou(a, ember.tensor([[1.0, 0.0, 3.0, 2.0], [5.0, 5.0, 6.0, 6.0]]))
        tensor([[0.3333, 0.    ]])
    """
    lt = _el.maximum(boxes1[:, None, :2], boxes2[None, :, :2])
    rb = _el.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[:, :, 0] * wh[:, :, 1]
    return inter / (box_area(boxes1)[:, None] + box_area(boxes2)[None, :] - inter)


def _greedy_keep(suppresses: np.ndarray, limit: int | None = None) -> list[int]:
    """Greedy selection over boxes already in decreasing score order: keep a box unless a
    kept one suppresses it (``suppresses[i, j]``: box i removes box j)."""
    removed = np.zeros(suppresses.shape[0], dtype=bool)
    keep: list[int] = []
    for i in range(suppresses.shape[0]):
        if removed[i]:
            continue
        keep.append(i)
        if limit is not None and len(keep) >= limit:
            break
        removed |= suppresses[i]
    return keep


def _index_tensor(values, like: Tensor) -> Tensor:
    out = creation.tensor(np.asarray(values, dtype=np.int64).reshape(-1), dtype=_dt.int64)
    return out if like.device == out.device else out.to(like.device)


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Non-maximum suppression, as ``torchvision.ops.nms``.

    Walks the boxes in decreasing score order and drops every box whose IoU with a box
    already kept is above ``iou_threshold``.

    Args:
        boxes: (N, 4) boxes (x1, y1, x2, y2) with 0 <= x1 < x2, 0 <= y1 < y2.
        scores: (N,) scores.
        iou_threshold: boxes overlapping a kept box by more than this are discarded.

    Returns:
        int64 indices of the kept boxes, sorted by decreasing score.

    Example:
        >>> import ember
        >>> from ember.vision import nms
        >>> boxes = ember.tensor([[0.0, 0.0, 2.0, 2.0], [0.1, 0.0, 2.1, 2.0],
        ...                       [3.0, 3.0, 4.0, 4.0]])
        >>> nms(boxes, ember.tensor([0.8, 0.9, 0.5]), 0.5)
        tensor([1, 2])
    """
    if boxes.ndim != 2 or boxes.shape[-1] != 4 or scores.shape != (boxes.shape[0],):
        raise ValueError(f"nms: expected (N, 4) boxes and (N,) scores, got "
                         f"{tuple(boxes.shape)} and {tuple(scores.shape)}")
    if boxes.shape[0] == 0:
        return _index_tensor([], boxes)
    order = np.argsort(-np.asarray(scores.detach().numpy(), dtype=np.float64), kind="stable")
    ordered = boxes.detach()[_index_tensor(order, boxes)]
    over = (box_iou(ordered, ordered) > iou_threshold).numpy()
    return _index_tensor(order[_greedy_keep(over)], boxes)


def batched_nms(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float) -> Tensor:
    """``nms`` within each category of ``idxs`` independently (boxes of different categories
    never suppress each other), as ``torchvision.ops.batched_nms``.

    Returns:
        int64 indices of the kept boxes, sorted by decreasing score.

    Example:
        >>> import ember
        >>> from ember.vision import batched_nms
        >>> boxes = ember.tensor([[0.0, 0.0, 2.0, 2.0], [0.1, 0.0, 2.1, 2.0]])
        >>> batched_nms(boxes, ember.tensor([0.8, 0.9]), ember.tensor([0, 1]), 0.5)
        tensor([1, 0])
    """
    if boxes.shape[0] == 0:
        return _index_tensor([], boxes)
    boxes = boxes.detach()
    shift = idxs.to(boxes.dtype) * (boxes.max() + 1)  # moves each category apart
    return nms(boxes + shift[:, None], scores, iou_threshold)


# ----------------------------------------------------------------------------- roi_align


def _rois(boxes, dtype) -> Tensor:
    """(K, 5) rows (batch index, x1, y1, x2, y2) from a (K, 5) tensor or a list of (K_i, 4)
    tensors, one per image."""
    if isinstance(boxes, Tensor):
        if boxes.ndim != 2 or boxes.shape[1] != 5:
            raise ValueError(f"roi_align: boxes must be (K, 5) (batch index, x1, y1, x2, y2) "
                             f"or a list of (K_i, 4) tensors, got {tuple(boxes.shape)}")
        return boxes.detach().to(dtype)
    rows = []
    for i, b in enumerate(boxes):
        b = b.detach().to(dtype)
        rows.append(cat([creation.full((b.shape[0], 1), float(i), dtype=dtype), b], dim=1))
    return cat(rows, dim=0)


def _axis_taps(start, length, pooled: int, grid, most: int, size: int):
    """One axis of every region's sample points: ``pooled`` bins of ``grid`` points each
    (``most`` = the largest grid). Returns the two tap positions (K, pooled, most, 2), their
    bilinear weights (zero for points beyond -1 or ``size``) and the (K, 1, most) mask of
    the points each region really has."""
    dtype = start.dtype
    p = creation.arange(pooled, dtype=dtype).reshape(1, pooled, 1)
    i = creation.arange(most, dtype=dtype).reshape(1, 1, most)
    bin_size = (length / pooled).reshape(-1, 1, 1)
    grid = grid.reshape(-1, 1, 1)
    pos = start.reshape(-1, 1, 1) + p * bin_size + (i + 0.5) * bin_size / grid
    inside = ((pos >= -1.0) & (pos <= float(size))).to(dtype)
    pos = pos.clamp(min=0)
    low = pos.floor()
    edge = low >= size - 1
    low = _el.where(edge, creation.full((), float(size - 1), dtype=dtype), low)
    pos = _el.where(edge, low, pos)
    frac = pos - low
    high = _el.where(edge, low, low + 1)
    taps = stack([low, high], dim=-1).long()
    weights = stack([(1 - frac) * inside, frac * inside], dim=-1)
    return taps, weights, (i < grid)


def _roi_pool(input: Tensor, boxes, output_size, spatial_scale: float = 1.0,
              sampling_ratio: int = -1, aligned: bool = False, mode: str = "avg") -> Tensor:
    """RoIAlign in ``mode`` "avg" (torchvision's) or "max" (ONNX RoiAlign's: the largest of
    the weighted taps ``w_i * v_i`` over every sample point)."""
    if input.ndim != 4:
        raise ValueError(f"roi_align: expected an (N, C, H, W) input, got {input.ndim}-d")
    oh, ow = _pair(output_size, "roi_align")
    n, c, h, w = input.shape
    rois = _rois(boxes, input.dtype)
    k = rois.shape[0]
    if k == 0:
        return creation.zeros((0, c, oh, ow), dtype=input.dtype)
    shift = 0.5 if aligned else 0.0
    x1, y1 = rois[:, 1] * spatial_scale - shift, rois[:, 2] * spatial_scale - shift
    x2, y2 = rois[:, 3] * spatial_scale - shift, rois[:, 4] * spatial_scale - shift
    rw, rh = x2 - x1, y2 - y1
    if not aligned:
        rw, rh = rw.clamp(min=1.0), rh.clamp(min=1.0)
    if sampling_ratio > 0:
        gy = gx = creation.full((k,), float(sampling_ratio), dtype=input.dtype)
    else:
        gy, gx = (rh / oh).ceil(), (rw / ow).ceil()
    most_y, most_x = max(int(gy.max().item()), 1), max(int(gx.max().item()), 1)
    ty, wy, my = _axis_taps(y1, rh, oh, gy, most_y, h)  # (K, oh, Gy, 2)
    tx, wx, mx = _axis_taps(x1, rw, ow, gx, most_x, w)
    batch = rois[:, 0].long()
    if mode == "max":
        return _roi_max(input, batch, ty, wy, my, tx, wx, mx)
    wy, wx = wy * my[..., None].to(wy.dtype), wx * mx[..., None].to(wx.dtype)
    count = (gy * gx).clamp(min=1).reshape(k, 1, 1, 1)
    # separable interpolation matrices: Wy[k, i, row] sums the y weights landing on row
    rows = creation.arange(h).reshape(1, 1, 1, 1, h)
    cols = creation.arange(w).reshape(1, 1, 1, 1, w)
    mat_y = (wy[..., None] * (ty[..., None] == rows).to(wy.dtype)).sum((2, 3))  # (K, oh, H)
    mat_x = (wx[..., None] * (tx[..., None] == cols).to(wx.dtype)).sum((2, 3))  # (K, ow, W)
    picked = input[batch]  # (K, C, H, W)
    out = mat_y[:, None] @ picked @ mat_x[:, None].transpose(-1, -2)
    return out / count


def _roi_max(input, batch, ty, wy, my, tx, wx, mx):
    n, c, h, w = input.shape
    k, oh, gy, _ = ty.shape
    ow, gx = tx.shape[1], tx.shape[2]
    flat = (batch.reshape(k, 1, 1, 1, 1, 1, 1) * (h * w)
            + ty.reshape(k, oh, gy, 2, 1, 1, 1) * w + tx.reshape(k, 1, 1, 1, ow, gx, 2))
    planes = input.permute(1, 0, 2, 3).reshape(c, -1)
    vals = planes[:, flat.reshape(-1)].reshape(c, k, oh, gy, 2, ow, gx, 2)
    weight = wy.reshape(k, oh, gy, 2, 1, 1, 1) * wx.reshape(k, 1, 1, 1, ow, gx, 2)
    best = (vals * weight).amax(dim=(4, 7))  # (C, K, oh, Gy, ow, Gx)
    real = my.reshape(k, 1, gy, 1, 1) & mx.reshape(k, 1, 1, 1, gx)
    best = _el.where(real, best, creation.full((), -float("inf"), dtype=best.dtype))
    return best.amax(dim=(3, 5)).permute(1, 0, 2, 3)


def roi_align(input: Tensor, boxes, output_size, spatial_scale: float = 1.0,
              sampling_ratio: int = -1, aligned: bool = False) -> Tensor:
    """Region-of-interest pooling by bilinear sampling, as ``torchvision.ops.roi_align``.

    Each region is cut into ``output_size`` bins; a bin's value is the mean of the input
    read bilinearly at ``sampling_ratio`` x ``sampling_ratio`` evenly spaced points
    (``ceil(region size / output size)`` per axis when ``sampling_ratio`` <= 0).
    Differentiable w.r.t. ``input``.

    Args:
        input: (N, C, H, W).
        boxes: (K, 5) rows (batch index, x1, y1, x2, y2), or a list of (K_i, 4) boxes per
            image, in input coordinates times 1 / ``spatial_scale``.
        output_size: int or (out_h, out_w).
        spatial_scale: multiplies the box coordinates (e.g. 1/16 for a stride-16 map).
        sampling_ratio: sample points per bin along each axis (<= 0: adaptive).
        aligned: True shifts boxes by -0.5 pixel so that pixel centres align (and no
            longer stretches regions smaller than one pixel to one pixel).

    Shape:
        (N, C, H, W), (K, 5) -> (K, C, out_h, out_w).

    Example:
        >>> import ember
        >>> from ember.vision import roi_align
        >>> x = ember.arange(16.0).reshape(1, 1, 4, 4)
        >>> roi_align(x, ember.tensor([[0.0, 0.0, 0.0, 2.0, 2.0]]), 1, aligned=True)
        tensor([[[[2.5]]]])
    """
    return _roi_pool(input, boxes, output_size, spatial_scale, sampling_ratio, aligned)


# ----------------------------------------------------------------------------- deform_conv2d


def deform_conv2d(input: Tensor, offset: Tensor, weight: Tensor, bias: Tensor | None = None,
                  stride=1, padding=0, dilation=1, mask: Tensor | None = None) -> Tensor:
    """Deformable convolution (v1, or v2 with ``mask``), as ``torchvision.ops.deform_conv2d``.

    Kernel tap (i, j) of output position (y, x) reads the input bilinearly at
    ``(y * stride - padding + i * dilation + dy, x * stride - padding + j * dilation + dx)``
    (zero outside), with (dy, dx) from ``offset``; v2 multiplies each tap by ``mask``.

    Args:
        input: (N, C, H, W).
        offset: (N, 2 * offset_groups * kh * kw, out_h, out_w): for offset group g and
            tap k = i * kw + j, channel 2 * (g * kh * kw + k) holds dy and the next dx.
        weight: (O, C / groups, kh, kw).
        bias: (O,) or None.
        stride, padding, dilation: int or pair.
        mask: (N, offset_groups * kh * kw, out_h, out_w) or None.

    Shape:
        -> (N, O, out_h, out_w) with out = (size + 2 * padding - dilation * (k - 1) - 1)
        // stride + 1.

    Example:
        >>> import ember
        >>> from ember.vision import deform_conv2d
        >>> x = ember.arange(9.0).reshape(1, 1, 3, 3)
        >>> offset = ember.full((1, 2, 3, 3), 0.5)
        >>> deform_conv2d(x, offset, ember.ones(1, 1, 1, 1))  # reads half a pixel down-right
        tensor([[[[2.  , 3.  , 1.75],
                  [5.  , 6.  , 3.25],
                  [3.25, 3.75, 2.  ]]]])
    """
    sh, sw = _pair(stride, "deform_conv2d")
    ph, pw = _pair(padding, "deform_conv2d")
    dh, dw = _pair(dilation, "deform_conv2d")
    n, c, h, w = input.shape
    o, cg, kh, kw = weight.shape
    kk = kh * kw
    if c % cg or offset.shape[1] % (2 * kk) or offset.shape[1] == 0:
        raise ValueError(f"deform_conv2d: input {tuple(input.shape)}, weight "
                         f"{tuple(weight.shape)} and offset {tuple(offset.shape)} disagree")
    og = offset.shape[1] // (2 * kk)
    if c % og:
        raise ValueError(f"deform_conv2d: {c} channels do not split into {og} offset groups")
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    if tuple(offset.shape[2:]) != (oh, ow):
        raise ValueError(f"deform_conv2d: offset's spatial shape {tuple(offset.shape[2:])} "
                         f"is not the output's {(oh, ow)}")
    return _deform_conv(input, offset, weight, bias, (sh, sw), (ph, pw), (dh, dw), mask, og)


def _deform_conv(input, offset, weight, bias, stride, pad_begin, dilation, mask, og: int):
    """``deform_conv2d`` with the output size read from ``offset`` (so the padding after
    the input, which only changes that size, is implied: ONNX's asymmetric pads)."""
    (sh, sw), (ph, pw), (dh, dw) = stride, pad_begin, dilation
    n, c, h, w = input.shape
    o, cg, kh, kw = weight.shape
    kk, groups = kh * kw, c // cg
    oh, ow = offset.shape[2], offset.shape[3]
    dtype = input.dtype
    ki = creation.tensor([float(i * dh) for i in range(kh) for _ in range(kw)], dtype=dtype)
    kj = creation.tensor([float(j * dw) for _ in range(kh) for j in range(kw)], dtype=dtype)
    base_y = ki.reshape(kk, 1, 1) + (creation.arange(oh, dtype=dtype) * sh - ph).reshape(1, oh, 1)
    base_x = kj.reshape(kk, 1, 1) + (creation.arange(ow, dtype=dtype) * sw - pw).reshape(1, 1, ow)
    off = offset.reshape(n, og, kk, 2, oh, ow)
    py, px = base_y + off[:, :, :, 0], base_x + off[:, :, :, 1]  # (N, og, kk, oh, ow)
    # pixel -> grid_sample's [-1, 1] (align_corners=False): g = (2 p + 1) / size - 1
    grid = stack([(2 * px + 1) / w - 1, (2 * py + 1) / h - 1], dim=-1)
    taps = grid_sample(input.reshape(n * og, c // og, h, w),
                       grid.reshape(n * og, kk * oh, ow, 2), align_corners=False)
    taps = taps.reshape(n, og, c // og, kk, oh * ow)
    if mask is not None:
        taps = taps * mask.reshape(n, og, 1, kk, oh * ow)
    cols = taps.reshape(n, groups, cg * kk, oh * ow)
    out = weight.reshape(1, groups, o // groups, cg * kk) @ cols
    out = out.reshape(n, o, oh, ow)
    if bias is not None:
        out = out + bias.reshape(1, o, 1, 1)
    return out
