"""ember op -> ONNX nodes for resampling: ``resample`` as a Resize node whose attributes
reproduce PyTorch's index rules, or, where Resize has no equivalent (area, antialias), as
matrix products with the constant per-axis interpolation matrices."""

from __future__ import annotations

import numpy as np

from ..ops.resample import resample_matrix
from .convert import _conv

# PyTorch mode -> Resize (mode, coordinate_transformation_mode, nearest_mode)
_RESIZE = {
    "nearest": ("nearest", "asymmetric", "floor"),
    "nearest-exact": ("nearest", "half_pixel", "round_prefer_ceil"),
    "linear": ("linear", "half_pixel", None),
    "bilinear": ("linear", "half_pixel", None),
    "trilinear": ("linear", "half_pixel", None),
    "bicubic": ("cubic", "half_pixel", None),
}


def _as_matmuls(ctx, n, x, in_size):
    a = n.attrs
    nd = len(a["size"])
    if nd > 2:
        raise ValueError(f"onnx.export: {a['mode']!r} resampling of a {nd + 2}-d input has no "
                         f"ONNX form (from {n.scope or 'the function body'})")
    dtype = np.dtype(x.dtype)
    mats = [resample_matrix(i, o, a["mode"], a["align_corners"], s, a["antialias"],
                            dtype.name, nd == 2).astype(dtype)
            for i, o, s in zip(in_size, a["size"], a["scales"])]
    name = ctx.arg(0)
    if nd == 2:
        name = ctx.add("MatMul", [ctx.const(mats[0], "rows"), name])[0]
    ctx.emit("MatMul", [name, ctx.const(np.ascontiguousarray(mats[-1].T), "cols")])


@_conv("resample")
def _resample(ctx, n):
    a = n.attrs
    x = n.args[0]
    in_size = tuple(x.shape[2:])
    if a["mode"] == "area" or a["antialias"]:
        return _as_matmuls(ctx, n, x, in_size)
    mode, ctm, nearest = _RESIZE[a["mode"]]
    if a["align_corners"]:
        ctm = "align_corners"
    linear = mode != "nearest"
    if all(s is not None for s in a["scales"]):
        # PyTorch's kernels use 1 / scale_factor, which is Resize's rule for given scales;
        # its linear kernel copies an axis whose size is unchanged, whatever the scale
        scales = [1.0 if linear and i == o else s
                  for i, o, s in zip(in_size, a["size"], a["scales"])]
        ins = [ctx.arg(0), "", ctx.const(np.asarray([1.0, 1.0] + scales, np.float32), "scales")]
    else:
        ins = [ctx.arg(0), "", "", ctx.ints(list(x.shape[:2]) + list(a["size"]), "sizes")]
    ctx.emit("Resize", ins, mode=mode, coordinate_transformation_mode=ctm, nearest_mode=nearest,
             cubic_coeff_a=-0.75 if mode == "cubic" else None)
