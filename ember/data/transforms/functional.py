"""The image kernels behind ``ember.data.transforms``, written with ember ops only.

Every kernel takes a batch ``(N, C, H, W)`` and per-sample parameters (NumPy arrays drawn on
the host, a few numbers per image), and computes on the batch's device with ember ops, so the
same code augments on the CPU now and on a GPU once its backend exists. Resampling is linear
algebra: a resize or a resized crop is ``Wh @ x @ Ww.T`` with per-sample weight matrices
(bilinear, optionally antialiased like PyTorch's ``interpolate(antialias=True)``), a crop
or nearest-neighbour resize is one gather, and a rotation samples a per-sample grid the way
``grid_sample`` does.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ... import ops
from ...dtypes import int64
from ...errors import ShapeError
from ...tensor import Tensor

INTERPOLATIONS = ("nearest", "nearest-exact", "bilinear")


def as_batch(x, name: str) -> tuple[Tensor, bool]:
    """``x`` as an ``(N, C, H, W)`` batch, and whether it was a single ``(C, H, W)`` image."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expects an ember Tensor (C, H, W) or a batch (N, C, H, W), got "
                        f"{type(x).__name__}; convert images and arrays with ToTensor() first")
    if x.ndim == 3:
        return x.reshape(1, *x.shape), True
    if x.ndim == 4:
        return x, False
    raise ShapeError(f"{name}: expects a (C, H, W) image or an (N, C, H, W) batch, got shape "
                     f"{tuple(x.shape)}")


def on_device(arr: np.ndarray, like: Tensor) -> Tensor:
    """A host array as a tensor on ``like``'s device."""
    return ops.tensor(arr, device=like.device)


def float_dtype(x: Tensor):
    return x.dtype if x.dtype.is_floating_point else ops.tensor(0.0).dtype


def restore_dtype(out: Tensor, like: Tensor) -> Tensor:
    """Back to an integer input's dtype, rounding first (as torchvision does after resampling)."""
    if like.dtype.is_floating_point:
        return out
    return ops.round(out).astype(like.dtype)


# ----------------------------------------------------------------------------- resampling
@lru_cache(maxsize=512)
def resize_weights(in_size: int, out_size: int, mode: str, antialias: bool) -> np.ndarray:
    """The ``(out_size, in_size)`` matrix of PyTorch's 1-d resampling (align_corners=False)."""
    w = np.zeros((out_size, in_size), dtype=np.float64)
    if mode in ("nearest", "nearest-exact"):
        scale = np.float32(in_size) / np.float32(out_size)
        pos = np.arange(out_size, dtype=np.float32) + np.float32(mode == "nearest-exact") * 0.5
        src = np.minimum(np.floor(pos * scale).astype(np.int64), in_size - 1)
        w[np.arange(out_size), src] = 1.0
        return w
    scale = in_size / out_size
    if antialias:
        support = scale if scale >= 1.0 else 1.0
        inv = 1.0 / scale if scale >= 1.0 else 1.0
        for i in range(out_size):
            center = scale * (i + 0.5)
            lo = max(int(center - support + 0.5), 0)
            hi = min(int(center + support + 0.5), in_size)
            taps = np.maximum(0.0, 1.0 - np.abs((np.arange(lo, hi) - center + 0.5) * inv))
            total = taps.sum()
            w[i, lo:hi] = taps / total if total else taps
        return w
    src = np.maximum((np.arange(out_size) + 0.5) * scale - 0.5, 0.0)
    i0 = src.astype(np.int64)
    i1 = np.minimum(i0 + 1, in_size - 1)
    frac = src - i0
    rows = np.arange(out_size)
    np.add.at(w, (rows, i0), 1.0 - frac)
    np.add.at(w, (rows, i1), frac)
    return w


def _embed(weights: np.ndarray, start: int, full: int) -> np.ndarray:
    out = np.zeros((weights.shape[0], full))
    out[:, start:start + weights.shape[1]] = weights
    return out


def resample(x: Tensor, boxes: np.ndarray | None, size: tuple, mode: str,
             antialias: bool) -> Tensor:
    """Resize each image's box ``(top, left, height, width)`` (the whole image if None) to
    ``size``, with per-sample separable weights: ``Wh @ x @ Ww.T``."""
    n, _, h, w = x.shape
    oh, ow = size
    if boxes is None:
        if mode != "bilinear":  # nearest: one gather, exact for every dtype
            rows = resize_weights(h, oh, mode, False).argmax(1)
            cols = resize_weights(w, ow, mode, False).argmax(1)
            return x[:, :, rows[:, None], cols]
        dt = float_dtype(x)
        xf = x if x.dtype.is_floating_point else x.astype(dt)
        if oh != h:
            xf = on_device(resize_weights(h, oh, mode, antialias), x).astype(dt) @ xf
        if ow != w:
            xf = xf @ on_device(resize_weights(w, ow, mode, antialias).T, x).astype(dt)
        return restore_dtype(xf, x)
    if mode != "bilinear":
        rows = np.stack([b[0] + resize_weights(int(b[2]), oh, mode, False).argmax(1)
                         for b in boxes])
        cols = np.stack([b[1] + resize_weights(int(b[3]), ow, mode, False).argmax(1)
                         for b in boxes])
        return gather_hw(x, rows, cols)
    wh = np.stack([_embed(resize_weights(int(b[2]), oh, mode, antialias), int(b[0]), h)
                   for b in boxes])
    ww = np.stack([_embed(resize_weights(int(b[3]), ow, mode, antialias), int(b[1]), w)
                   for b in boxes])
    dt = float_dtype(x)
    xf = x if x.dtype.is_floating_point else x.astype(dt)
    out = on_device(wh[:, None], x).astype(dt) @ xf
    out = out @ on_device(np.swapaxes(ww, 1, 2)[:, None], x).astype(dt)
    return restore_dtype(out, x)


def gather_hw(x: Tensor, rows: np.ndarray, cols: np.ndarray) -> Tensor:
    """``out[n, c, i, j] = x[n, c, rows[n, i], cols[n, j]]`` in one advanced-indexing gather."""
    n = x.shape[0]
    index = (on_device(np.arange(n)[:, None, None], x), slice(None),
             on_device(rows[:, :, None], x), on_device(cols[:, None, :], x))
    return x[index].permute(0, 3, 1, 2)


# ----------------------------------------------------------------------------- padding, crops
PADDING_MODES = {"constant": "constant", "edge": "replicate", "reflect": "reflect",
                 "symmetric": "symmetric"}


def pad_ltrb(padding) -> tuple:
    """torchvision's padding argument (int, (lr, tb) or (l, t, r, b)) as (l, t, r, b)."""
    if isinstance(padding, int):
        return (padding,) * 4
    padding = tuple(int(p) for p in padding)
    if len(padding) == 1:
        return padding * 4
    if len(padding) == 2:
        return padding * 2
    if len(padding) == 4:
        return padding
    raise ValueError(f"padding must be an int or a sequence of 1, 2 or 4 ints, got {padding}")


def pad(x: Tensor, ltrb: tuple, fill: float, mode: str) -> Tensor:
    left, top, right, bottom = ltrb
    if not any(ltrb):
        return x
    return ops.pad(x, (left, right, top, bottom), mode=PADDING_MODES[mode], value=float(fill))


def crop_per_sample(x: Tensor, tops: np.ndarray, lefts: np.ndarray, h: int, w: int) -> Tensor:
    if x.shape[0] == 1:  # one image: a plain slice (a view), as torchvision's crop
        t, left = int(tops[0]), int(lefts[0])
        return x[:, :, t:t + h, left:left + w]
    rows = tops[:, None] + np.arange(h)
    cols = lefts[:, None] + np.arange(w)
    return gather_hw(x, rows, cols)


def flip_where(x: Tensor, mask: np.ndarray, dim: int) -> Tensor:
    """``x`` flipped along ``dim`` for the samples where ``mask`` is true."""
    if not mask.any():
        return x
    if mask.all():
        return ops.flip(x, dim)
    m = on_device(mask.reshape(-1, 1, 1, 1), x)
    return ops.where(m, ops.flip(x, dim), x)


# ----------------------------------------------------------------------------- rotation
def inverse_rotation(angle: float, center: tuple) -> list:
    """torchvision's inverse affine matrix for ``rotate(img, angle)`` about ``center``."""
    rot = np.radians(-angle)
    a, b, c, d = np.cos(rot), -np.sin(rot), np.sin(rot), np.cos(rot)
    m = [d, -b, 0.0, -c, a, 0.0]
    cx, cy = center
    m[2] += m[0] * -cx + m[1] * -cy + cx
    m[5] += m[3] * -cx + m[4] * -cy + cy
    return m


def expanded_size(matrix: list, w: int, h: int) -> tuple:
    """The (width, height) holding the whole rotated image (torchvision's rule)."""
    pts = np.array([[-0.5 * w, -0.5 * h, 1.0], [-0.5 * w, 0.5 * h, 1.0],
                    [0.5 * w, 0.5 * h, 1.0], [0.5 * w, -0.5 * h, 1.0]], dtype=np.float32)
    new = pts @ np.asarray(matrix, dtype=np.float32).reshape(2, 3).T
    tol = 1e-4
    cmax = np.ceil(np.trunc(new.max(0) / tol) * tol)
    cmin = np.floor(np.trunc(new.min(0) / tol) * tol)
    size = cmax - cmin
    return int(size[0]), int(size[1])


def affine_sample(x: Tensor, matrices: np.ndarray, out_hw: tuple, mode: str, fill) -> Tensor:
    """Sample each image at ``matrices[n] @ (x_out, y_out, 1)`` (torchvision's affine grid
    on pixel centres, then ``grid_sample`` with zero padding, then blending in ``fill``)."""
    n, c, h, w = x.shape
    oh, ow = out_hw
    dt = float_dtype(x)
    npdt = np.float64 if dt.name == "float64" else np.float32
    xs = np.linspace(-ow * 0.5 + 0.5, ow * 0.5 - 0.5, ow, dtype=npdt)
    ys = np.linspace(-oh * 0.5 + 0.5, oh * 0.5 - 0.5, oh, dtype=npdt)
    base = np.stack([np.broadcast_to(xs, (oh, ow)), np.broadcast_to(ys[:, None], (oh, ow)),
                     np.ones((oh, ow), npdt)], -1).reshape(1, oh * ow, 3)
    theta = matrices.astype(npdt).reshape(n, 2, 3).transpose(0, 2, 1) / np.array(
        [0.5 * w, 0.5 * h], npdt)
    grid = on_device(base, x) @ on_device(theta, x)  # (n, oh*ow, 2), normalised coordinates
    sx = ((grid[..., 0] + 1) * w - 1) / 2
    sy = ((grid[..., 1] + 1) * h - 1) / 2
    flat = (x if x.dtype.is_floating_point else x.astype(dt)).reshape(n, c, h * w)
    if mode == "nearest":
        corners = [(ops.round(sx), ops.round(sy), None)]
    else:  # grid_sample's corner weights, term for term
        x0, y0 = ops.floor(sx), ops.floor(sy)
        x1, y1 = x0 + 1, y0 + 1
        corners = [(x0, y0, (x1 - sx) * (y1 - sy)), (x1, y0, (sx - x0) * (y1 - sy)),
                   (x0, y1, (x1 - sx) * (sy - y0)), (x1, y1, (sx - x0) * (sy - y0))]
    out = mask = None
    for cx, cy, weight in corners:
        valid = (cx >= 0) & (cx <= w - 1) & (cy >= 0) & (cy <= h - 1)
        idx = (ops.clamp(cy, 0, h - 1) * w + ops.clamp(cx, 0, w - 1)).astype(int64)
        vals = ops.take_along_dim(flat, idx.reshape(n, 1, oh * ow), 2)
        wv = valid.astype(dt) if weight is None else ops.where(valid, weight, 0.0)
        term = vals * wv.reshape(n, 1, oh * ow)
        out = term if out is None else out + term
        mask = wv if mask is None else mask + wv
    out = out.reshape(n, c, oh, ow)
    mask = mask.reshape(n, 1, oh, ow)
    fill_img = on_device(np.asarray(fill, dtype=npdt).reshape(1, -1, 1, 1), x)
    if mode == "nearest":
        out = ops.where(mask < 0.5, fill_img, out)
    else:
        out = out * mask + (1.0 - mask) * fill_img
    return restore_dtype(out, x)


# ----------------------------------------------------------------------------- colour
def bound(x: Tensor) -> float:
    return 1.0 if x.dtype.is_floating_point else 255.0


def blend(x: Tensor, other, ratio: tuple) -> Tensor:
    """torchvision's ``_blend``: ``r * x + (1 - r) * other``, clamped, in x's dtype.

    ``ratio`` is ``(r, 1 - r)`` as two tensors, the second computed in float64 on the host
    as Python computes ``1.0 - ratio`` in torchvision.
    """
    r, rest = ratio
    out = r * x + rest * other if other is not None else r * x
    return ops.clamp(out, 0.0, bound(x)).astype(x.dtype)


def grayscale(x: Tensor) -> Tensor:
    """ITU-R 601-2 luma ``(N, 1, H, W)`` in x's dtype (truncated for integers, as torchvision)."""
    if x.shape[1] == 1:
        return x
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return (0.2989 * r + 0.587 * g + 0.114 * b).astype(x.dtype)


def check_rgb(x: Tensor, name: str) -> None:
    if x.shape[1] not in (1, 3):
        raise ShapeError(f"{name}: works on 1- or 3-channel images, got {x.shape[1]} channels "
                         f"(shape {tuple(x.shape)})")


def adjust_brightness(x: Tensor, factors: tuple) -> Tensor:
    return blend(x, None, factors)


def adjust_contrast(x: Tensor, factors: tuple) -> Tensor:
    mean = ops.mean(grayscale(x).astype(float_dtype(x)), dim=(1, 2, 3), keepdim=True)
    return blend(x, mean, factors)


def adjust_saturation(x: Tensor, factors: tuple) -> Tensor:
    if x.shape[1] == 1:
        return x
    return blend(x, grayscale(x), factors)
