"""References for the transform tests: torchvision's tensor algorithms, one image at a time.

Written from torchvision's source (``transforms/functional.py`` and ``_functional_tensor.py``)
in NumPy, or with torch primitives where torchvision itself calls them (``interpolate``,
``grid_sample``), so ember's batched kernels are checked against an independent path.
"""

import math

import numpy as np
import torch
import torch.nn.functional as TF

PAD = {"constant": "constant", "edge": "edge", "reflect": "reflect", "symmetric": "symmetric"}


def to_tensor(arr):
    if arr.ndim == 2:
        arr = arr[:, :, None]
    out = arr.transpose(2, 0, 1)
    return out.astype(np.float32) / np.float32(255) if arr.dtype == np.uint8 else out


def pad(img, ltrb, fill=0.0, mode="constant"):
    left, top, right, bottom = ltrb
    width = ((0, 0), (top, bottom), (left, right))
    if mode == "constant":
        return np.pad(img, width, mode="constant", constant_values=fill)
    return np.pad(img, width, mode=PAD[mode])


def center_crop(img, size):
    th, tw = size
    _, h, w = img.shape
    if tw > w or th > h:
        img = pad(img, [(tw - w) // 2 if tw > w else 0, (th - h) // 2 if th > h else 0,
                        (tw - w + 1) // 2 if tw > w else 0, (th - h + 1) // 2 if th > h else 0])
        _, h, w = img.shape
        if (h, w) == (th, tw):
            return img
    top, left = int(round((h - th) / 2.0)), int(round((w - tw) / 2.0))
    return img[:, top:top + th, left:left + tw]


def resized_size(h, w, size, max_size=None):
    if isinstance(size, (tuple, list)):
        return tuple(size)
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    if max_size is not None and new_long > max_size:
        new_short, new_long = int(max_size * new_short / new_long), max_size
    return (new_long, new_short) if w <= h else (new_short, new_long)


def resize(img, size, mode="bilinear", antialias=True):
    """torchvision's tensor resize: interpolate in float, round back for integer images."""
    t = torch.from_numpy(np.ascontiguousarray(img))[None]
    dtype = t.dtype
    t = t.float() if not t.is_floating_point() else t
    kw = dict(align_corners=False, antialias=antialias) if mode == "bilinear" else {}
    out = TF.interpolate(t, size=tuple(size), mode=mode, **kw)[0]
    if not dtype.is_floating_point:
        out = torch.round(out).to(dtype)
    return out.numpy()


def _inverse_affine(center, angle, translate, scale, shear):
    rot = math.radians(angle)
    sx, sy = math.radians(shear[0]), math.radians(shear[1])
    cx, cy = center
    tx, ty = translate
    a = math.cos(rot - sy) / math.cos(sy)
    b = -math.cos(rot - sy) * math.tan(sx) / math.cos(sy) - math.sin(rot)
    c = math.sin(rot - sy) / math.cos(sy)
    d = -math.sin(rot - sy) * math.tan(sx) / math.cos(sy) + math.cos(rot)
    m = [d, -b, 0.0, -c, a, 0.0]
    m = [x / scale for x in m]
    m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty)
    m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty)
    m[2] += cx
    m[5] += cy
    return m


def _output_size(matrix, w, h):
    pts = torch.tensor([[-0.5 * w, -0.5 * h, 1.0], [-0.5 * w, 0.5 * h, 1.0],
                        [0.5 * w, 0.5 * h, 1.0], [0.5 * w, -0.5 * h, 1.0]])
    theta = torch.tensor(matrix, dtype=torch.float).view(2, 3)
    new = torch.matmul(pts, theta.T)
    lo, hi = new.aminmax(dim=0)
    tol = 1e-4
    cmax = torch.ceil((hi / tol).trunc_() * tol)
    cmin = torch.floor((lo / tol).trunc_() * tol)
    size = cmax - cmin
    return int(size[0]), int(size[1])


def rotate(img, angle, mode="nearest", expand=False, center=None, fill=0.0):
    """torchvision's ``rotate`` on a tensor (RandomRotation passes fill as a list, always)."""
    t = torch.from_numpy(np.ascontiguousarray(img))[None]
    dtype = t.dtype
    t = t.float() if not t.is_floating_point() else t
    _, c, h, w = t.shape
    center_f = [0.0, 0.0]
    if center is not None:
        center_f = [1.0 * (p - s * 0.5) for p, s in zip(center, [w, h])]
    matrix = _inverse_affine(center_f, -angle, [0.0, 0.0], 1.0, [0.0, 0.0])
    ow, oh = _output_size(matrix, w, h) if expand else (w, h)
    theta = torch.tensor(matrix, dtype=t.dtype).reshape(1, 2, 3)
    base = torch.empty(1, oh, ow, 3, dtype=t.dtype)
    base[..., 0].copy_(torch.linspace(-ow * 0.5 + 0.5, ow * 0.5 + 0.5 - 1, steps=ow))
    base[..., 1].copy_(torch.linspace(-oh * 0.5 + 0.5, oh * 0.5 + 0.5 - 1,
                                      steps=oh).unsqueeze_(-1))
    base[..., 2].fill_(1)
    rescaled = theta.transpose(1, 2) / torch.tensor([0.5 * w, 0.5 * h], dtype=t.dtype)
    grid = base.view(1, oh * ow, 3).bmm(rescaled).view(1, oh, ow, 2)
    t = torch.cat((t, torch.ones((1, 1, h, w), dtype=t.dtype)), dim=1)
    out = TF.grid_sample(t, grid, mode=mode, padding_mode="zeros", align_corners=False)
    mask, out = out[:, -1:].expand(1, c, oh, ow), out[:, :-1]
    fills = [float(f) for f in np.broadcast_to(np.asarray(fill, np.float64).reshape(-1), (c,))]
    fill_img = torch.tensor(fills, dtype=t.dtype).view(1, c, 1, 1).expand_as(out)
    if mode == "nearest":
        out = out.clone()
        m = mask < 0.5
        out[m] = fill_img[m]
    else:
        out = out * mask + (1.0 - mask) * fill_img
    if not dtype.is_floating_point:
        out = torch.round(out).to(dtype)
    return out[0].numpy()


def _blend(img, other, ratio):
    bound = 1.0 if img.dtype.kind == "f" else 255.0
    out = np.float32(ratio) * img.astype(np.float32) + np.float32(1.0 - ratio) * other
    return np.clip(out, 0, bound).astype(img.dtype)


def _gray(img):
    if img.shape[0] == 1:
        return img
    r, g, b = (img[i].astype(np.float32) for i in range(3))
    return (np.float32(0.2989) * r + np.float32(0.587) * g + np.float32(0.114) * b).astype(
        img.dtype)[None]


def adjust(img, name, factor):
    if name == "brightness":
        return _blend(img, np.float32(0.0), factor)
    if name == "contrast":
        mean = _gray(img).astype(np.float32).mean()
        return _blend(img, mean, factor)
    if img.shape[0] == 1:
        return img
    return _blend(img, _gray(img).astype(np.float32), factor)


def erase(img, top, left, h, w, value):
    out = img.copy()
    out[:, top:top + h, left:left + w] = value
    return out
