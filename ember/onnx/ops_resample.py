"""ONNX import: resample ops (see ops.py for the table and its conventions): Resize (opsets
10 to 19), the deprecated Upsample, and AffineGrid.

Resize is separable: each resized axis is one ``(out, in)`` matrix, built here with NumPy
from the sizes and attributes alone (constants, like a convolution's weights) by the ONNX
reference implementation's rules (``onnx/reference/ops/op_resize.py``), and applied with
ember's matmul so an imported model still differentiates. ``tf_crop_and_resize`` outputs
whose source falls outside the input take ``extrapolation_value``, one axis at a time as the
reference does.
"""

from __future__ import annotations

import numpy as np

from .. import ops as E
from .ops import _ints, onnx_op


def _source_coords(ctm: str, y, scale: float, n_in: int, n_out: int, roi):
    """Output positions ``y`` mapped to input coordinates (and, for tf_crop_and_resize,
    which of them fall outside the input)."""
    width = scale * n_in
    outside = None
    if ctm == "align_corners":
        x = np.zeros(n_out) if width == 1 else y * (n_in - 1) / (width - 1)
    elif ctm == "asymmetric":
        x = y / scale
    elif ctm == "tf_crop_and_resize":
        if width == 1:
            x = np.full(n_out, (roi[1] - roi[0]) * (n_in - 1) / 2)
        else:
            x = y * (roi[1] - roi[0]) * (n_in - 1) / (width - 1)
        x = x + roi[0] * (n_in - 1)
        outside = (x < 0) | (x > n_in - 1)
    elif ctm == "pytorch_half_pixel":
        x = np.full(n_out, -0.5) if width == 1 else (y + 0.5) / scale - 0.5
    elif ctm == "half_pixel":
        x = (y + 0.5) / scale - 0.5
    elif ctm == "half_pixel_symmetric":
        offset = n_in / 2 * (1 - n_out / width)
        x = offset + (y + 0.5) / scale - 0.5
    else:
        raise NotImplementedError(f"Resize: coordinate_transformation_mode {ctm!r}")
    return x, outside


def _coefficients(mode: str, ratio, scale: float, attrs: dict) -> np.ndarray:
    """(out, taps) weights of the taps around each source point at fraction ``ratio`` in
    (0, 1] past its left neighbour."""
    r = ratio[:, None]
    if mode == "nearest":
        rule = attrs.get("nearest_mode", "round_prefer_floor")
        left = {"round_prefer_floor": r <= 0.5, "round_prefer_ceil": r < 0.5,
                "floor": np.ones_like(r, bool), "ceil": np.zeros_like(r, bool)}[rule]
        left = left & (r != 1)  # an integer coordinate takes its own pixel
        return np.concatenate([left, ~left], axis=1).astype(np.float64)
    antialias = attrs.get("antialias", 0) and scale < 1
    if mode == "linear":
        if not antialias:
            return np.concatenate([1 - r, r], axis=1)
        start = int(np.floor(-1 / scale) + 1)
        args = (np.arange(start, 2 - start)[None, :] - r) * scale
        w = np.clip(1 - np.abs(args), 0, 1)
        return w / w.sum(axis=1, keepdims=True)
    a = attrs.get("cubic_coeff_a", -0.75)
    if not antialias:
        args = np.concatenate([r + 1, r, 1 - r, 2 - r], axis=1)
    else:
        start = int(np.floor(-2 / scale) + 1)
        args = np.abs(scale * (np.arange(start, 2 - start)[None, :] - r))
    near = ((a + 2) * args - (a + 3)) * args * args + 1
    far = ((a * args - 5 * a) * args + 8 * a) * args - 4 * a
    w = np.where(args <= 1, near, np.where(args < 2, far, 0.0))
    return w / w.sum(axis=1, keepdims=True) if antialias else w


def _axis_matrix(n_in: int, n_out: int, scale: float, roi, attrs: dict):
    """The axis's (out, in) matrix and the rows to extrapolate (or None)."""
    mode = attrs.get("mode", "nearest")
    if mode not in ("nearest", "linear", "cubic"):
        raise NotImplementedError(f"Resize: mode {mode!r}")
    ctm = attrs.get("coordinate_transformation_mode", "half_pixel")
    x, outside = _source_coords(ctm, np.arange(n_out, dtype=np.float64), scale, n_in, n_out,
                                roi)
    left = np.floor(x)
    ratio = np.where(x == left, 1.0, x - left)
    w = _coefficients(mode, ratio, scale, attrs)
    taps = w.shape[1]
    # the reference's window: the taps nearest x, ties to the smaller index
    pad = -(-taps // 2)
    xp_ = x + pad
    p = np.floor(xp_)
    frac = xp_ - p
    if taps % 2 == 0:
        offset = np.where(frac == 0, -(taps // 2), -(taps // 2) + 1)
    else:
        offset = np.where(frac <= 0.5, -((taps - 1) // 2), -((taps - 1) // 2) + 1)
    idx = (p + offset).astype(np.int64)[:, None] + np.arange(taps)[None, :] - pad
    if attrs.get("exclude_outside", 0):
        w = np.where((idx < 0) | (idx >= n_in), 0.0, w)
        total = w.sum(axis=1, keepdims=True)
        w = w / np.where(total == 0, 1.0, total)
    m = np.zeros((n_out, n_in))
    np.add.at(m, (np.repeat(np.arange(n_out), taps), np.clip(idx, 0, n_in - 1).ravel()),
              w.ravel())
    return m, outside


def _plan(shape, scales, sizes, axes, roi, policy):
    """Per axis of the input: (scale, output size, roi pair), as the reference computes them."""
    r = len(shape)
    axes = list(range(r)) if axes is None else [a % r for a in axes]
    full_roi = None
    if roi is not None and len(roi):
        full_roi = [0.0] * r + [1.0] * r
        for i, a in enumerate(axes):
            full_roi[a], full_roi[r + a] = roi[i], roi[len(axes) + i]
    scale = [1.0] * r
    out = list(shape)
    if sizes is not None:
        for i, a in enumerate(axes):
            out[a] = sizes[i]
            scale[a] = sizes[i] / shape[a]
        if policy != "stretch":
            pick = {"not_larger": min, "not_smaller": max}[policy]
            s = pick(scale[a] for a in axes)
            for a in axes:
                scale[a] = s
                out[a] = int(s * shape[a] + 0.5)
    else:
        for i, a in enumerate(axes):
            scale[a] = float(scales[i])
            out[a] = int(scales[i] * shape[a])
    rois = [None if full_roi is None else (full_roi[a], full_roi[a + r]) for a in range(r)]
    return axes, scale, out, rois


def resize(x, scales=None, sizes=None, roi=None, axes=None, **attrs):
    """``x`` resized as ONNX Resize does (attributes as keyword arguments)."""
    shape = tuple(x.shape)
    axes, scale, out, rois = _plan(shape, scales, sizes, axes, roi,
                                   attrs.get("keep_aspect_ratio_policy", "stretch"))
    dtype = x.dtype
    y = x if dtype.is_floating_point else x.float()
    fill = attrs.get("extrapolation_value", 0.0)
    for a in axes:
        unchanged = np.isclose(scale[a], 1.0) and out[a] == shape[a] and (
            rois[a] is None or (np.isclose(rois[a][0], 0) and np.isclose(rois[a][1], 1)))
        if unchanged:
            continue
        m, outside = _axis_matrix(shape[a], out[a], scale[a], rois[a], attrs)
        y = E.movedim(E.movedim(y, a, -1) @ E.tensor(m.T, dtype=y.dtype), -1, a)
        if outside is not None and outside.any():
            mask = E.tensor(outside.reshape((-1,) + (1,) * (len(shape) - a - 1)))
            y = E.where(mask, E.full((), fill, dtype=y.dtype), y)
    if not dtype.is_floating_point:
        y = E.astype(E.round(y), dtype)
    return y


def _float_list(t):
    if t is None:
        return None
    values = np.asarray(t.detach().numpy(), dtype=np.float64).reshape(-1)
    return None if values.size == 0 else values.tolist()


@onnx_op("Resize")
def _resize(m, n, x, roi=None, scales=None, sizes=None):
    attrs = dict(n.attrs)
    if m.opset < 11:  # Resize-10: (X, scales), asymmetric coordinates, floor for nearest
        roi, scales = None, roi
        attrs.setdefault("coordinate_transformation_mode", "asymmetric")
        attrs.setdefault("nearest_mode", "floor")
    if m.opset < 13 and attrs.get("mode") == "cubic":
        attrs.setdefault("cubic_coeff_a", -0.75)
    if attrs.get("mode", "nearest") == "nearest" and attrs.get("antialias", 0):
        raise NotImplementedError("Resize: antialias with mode 'nearest'")
    sizes = None if sizes is None else (_ints(sizes) or None)
    scales = _float_list(scales)
    axes = attrs.pop("axes", None)
    return resize(x, scales=scales if sizes is None else None, sizes=sizes,
                  roi=_float_list(roi), axes=axes, **attrs)


@onnx_op("Upsample")
def _upsample(m, n, x, scales=None):
    s = n.attrs["scales"] if scales is None else _float_list(scales)
    mode = n.attrs.get("mode", "nearest")
    return resize(x, scales=s, mode=mode, coordinate_transformation_mode="asymmetric",
                  nearest_mode="floor")


@onnx_op("AffineGrid")
def _affine_grid(m, n, theta, size):
    """Sampling grids (N, *spatial, d) for GridSample: base coordinates in [-1, 1] (pixel
    centres, or corners with align_corners) times ``theta``."""
    dims = _ints(size)
    batch, spatial = dims[0], dims[2:]
    align = n.attrs.get("align_corners", 0)
    axes = []
    for k in spatial:
        step = np.arange(k, dtype=np.float64)
        axes.append(np.zeros(k) if k == 1 and align else
                    (-1 + 2 * step / (k - 1) if align else (2 * step + 1) / k - 1))
    grids = np.meshgrid(*axes, indexing="ij")
    base = np.stack([*grids[::-1], np.ones_like(grids[0])], axis=-1)  # x first, then y (, z)
    base = E.tensor(base.reshape(-1, len(spatial) + 1), dtype=theta.dtype)
    out = E.matmul(base, E.transpose(theta, 1, 2))
    return E.reshape(out, (batch, *spatial, len(spatial)))
