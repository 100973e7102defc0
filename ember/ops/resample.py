"""Resampling: ``interpolate`` in every PyTorch mode, and pixel (un)shuffle.

Every mode is separable, so resampling is one matrix per spatial axis: an ``(out, in)``
interpolation matrix whose row ``i`` holds the weights output ``i`` gives each input (one 1
for nearest, two lambdas for linear, four cubic coefficients, a window's averages for area,
a widened filter for antialiasing). The primitive ``Resample`` applies the matrices one axis
after the other; its vjp, ``ResampleGrad``, applies their transposes (the scatter-add of the
gathers, exactly), and the two are each other's vjp, so double backward works.

The matrices are built on the host from sizes alone, with PyTorch's index rules (the same
float32 arithmetic for nearest indices, ``floor`` and clamping as its CPU kernels), and
cached: they are constants of the shapes.

``pixel_shuffle`` and ``pixel_unshuffle`` are reshape/permute composites.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..autograd.node import apply
from ..errors import DTypeError, ShapeError, op_error
from ..tensor import Tensor
from .registry import Op, io_bytes, numel, register

__all__ = ["interpolate", "upsample", "pixel_shuffle", "pixel_unshuffle"]

MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area")
_LINEAR_RANK = {"linear": 3, "bilinear": 4, "trilinear": 5, "bicubic": 4}


# ----------------------------------------------------------------------------- matrices


def _scale_value(n_in: int, n_out: int, scale, dt):
    """PyTorch's ``compute_scales_value``: 1 / scale_factor when given, else in / out."""
    if scale is not None and scale > 0:
        return dt(1.0 / scale)
    return dt(n_in) / dt(n_out)


def _area_scale(n_in: int, n_out: int, align_corners: bool, scale, dt):
    """PyTorch's ``area_pixel_compute_scale``."""
    if align_corners:
        return dt(n_in - 1) / dt(n_out - 1) if n_out > 1 else dt(0)
    return _scale_value(n_in, n_out, scale, dt)


def _nearest_index(n_in: int, n_out: int, scale, exact: bool, shortcut: bool) -> np.ndarray:
    dst = np.arange(n_out)
    if shortcut and not exact and n_out == n_in:
        return dst
    if shortcut and not exact and n_out == 2 * n_in:
        return dst >> 1
    s = _scale_value(n_in, n_out, scale, np.float32)  # float32 whatever the data, as PyTorch
    if exact:
        src = np.floor(((dst + 0.5) * np.float64(s)).astype(np.float32))
    else:
        src = np.floor(dst.astype(np.float32) * s)
    return np.minimum(src.astype(np.int64), n_in - 1)


def cubic_weights(t: np.ndarray, a: float) -> list[np.ndarray]:
    """Keys' cubic convolution weights of the inputs at offsets -1, 0, 1, 2 from a point at
    fraction ``t`` past offset 0."""

    def near(x):
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _aa_filter(x: np.ndarray, cubic: bool) -> np.ndarray:
    x = np.abs(x)
    if not cubic:
        return np.maximum(1.0 - x, 0.0)
    a = -0.5  # PyTorch's antialiased bicubic uses PIL's a = -0.5
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return np.where(x < 1, near, np.where(x < 2, far, 0.0))


def _antialias_matrix(n_in, n_out, align_corners, scale, cubic, dt) -> np.ndarray:
    """PyTorch's ``_compute_index_ranges_weights`` with antialias: when downsampling, the
    filter is stretched by the scale (so it averages every input it covers), normalised."""
    s = float(_area_scale(n_in, n_out, align_corners, scale, dt))
    support = (2.0 if cubic else 1.0) * (s if s >= 1.0 else 1.0)
    invscale = 1.0 / s if s >= 1.0 else 1.0
    m = np.zeros((n_out, n_in))
    for i in range(n_out):
        center = s * (i + 0.5)
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), n_in)
        w = _aa_filter((np.arange(lo, hi) - center + 0.5) * invscale, cubic)
        total = w.sum()
        m[i, lo:hi] = w / total if total != 0 else w
    return m


@functools.lru_cache(maxsize=256)
def resample_matrix(n_in: int, n_out: int, mode: str, align_corners: bool, scale,
                    antialias: bool, dtype: str, same_size_shortcut: bool = True) -> np.ndarray:
    """The ``(n_out, n_in)`` matrix of one axis (read-only: it is cached).
    ``same_size_shortcut``: nearest copies when ``n_out`` is ``n_in`` or halves the index
    when it is ``2 * n_in``, whatever the scale (PyTorch's 2-d kernel does, 1-d/3-d don't)."""
    dt = np.dtype(dtype).type if np.dtype(dtype) in (np.float32, np.float64) else np.float32
    rows = np.arange(n_out)
    m = np.zeros((n_out, n_in), dtype=dt)
    if mode in ("nearest", "nearest-exact"):
        m[rows, _nearest_index(n_in, n_out, scale, mode == "nearest-exact",
                                     same_size_shortcut)] = 1
    elif mode == "area":
        for i in range(n_out):  # PyTorch's adaptive windows
            lo, hi = (i * n_in) // n_out, -(-((i + 1) * n_in) // n_out)
            m[i, lo:hi] = dt(1) / dt(hi - lo)
    elif antialias:
        m[:] = _antialias_matrix(n_in, n_out, align_corners, scale, mode == "bicubic", dt)
    elif mode == "bicubic":
        r = _area_scale(n_in, n_out, align_corners, scale, dt)
        dst = rows.astype(dt)
        src = r * dst if align_corners else r * (dst + dt(0.5)) - dt(0.5)
        i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
        t = np.clip(src - i0.astype(dt), 0, 1).astype(dt)
        for j, w in enumerate(cubic_weights(t, dt(-0.75))):
            np.add.at(m, (rows, np.clip(i0 - 1 + j, 0, n_in - 1)), w)
    elif n_in == n_out:  # PyTorch copies when the size is unchanged, whatever the scale
        m[rows, rows] = 1
    else:
        r = _area_scale(n_in, n_out, align_corners, scale, dt)
        dst = rows.astype(dt)
        src = r * dst if align_corners else np.maximum(r * (dst + dt(0.5)) - dt(0.5), dt(0))
        i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
        l1 = np.clip(src - i0.astype(dt), 0, 1).astype(dt)
        i1 = i0 + (i0 < n_in - 1)
        np.add.at(m, (rows, i0), dt(1) - l1)
        np.add.at(m, (rows, i1), l1)
    m.flags.writeable = False
    return m


def _apply_axis(xp, x, m, axis: int):
    """``m`` (out, in) applied along ``axis`` of ``x``."""
    if axis == x.ndim - 1:
        return x @ m.T
    if axis == x.ndim - 2:
        return m @ x
    return xp.moveaxis(m @ xp.moveaxis(x, axis, -2), -2, axis)


def _matrices(xp, in_size, size, mode, align_corners, scales, antialias, dtype):
    name = np.dtype(dtype).name
    return [xp.asarray(resample_matrix(i, o, mode, align_corners, s, antialias, name,
                                       len(size) == 2)).astype(dtype, copy=False)
            for i, o, s in zip(in_size, size, scales)]


def _resample_cost(out_specs, in_specs, attrs):
    """A multiply-add per matrix entry used: 2·out·in per axis, applied one axis at a time."""
    shape = list(in_specs[0][0])
    nd = len(attrs["size"])
    flops = 0
    for k, n_out in enumerate(attrs["size"]):
        axis = len(shape) - nd + k
        n_in = shape[axis]
        shape[axis] = n_out
        flops += 2 * numel(shape) * n_in
    return flops, io_bytes(out_specs, in_specs)


@register
class Resample(Op):
    """``x`` resampled to ``size`` over its trailing ``len(size)`` axes."""

    blas = True
    uses_input_values = False
    cost = _resample_cost

    def forward(xp, x, size, mode, align_corners, scales, antialias):
        nd = len(size)
        ms = _matrices(xp, x.shape[-nd:], size, mode, align_corners, scales, antialias, x.dtype)
        for k in reversed(range(nd)):  # the last axis first, as PyTorch's kernels sum
            x = _apply_axis(xp, x, ms[k], x.ndim - nd + k)
        return xp.ascontiguousarray(x)

    def vjp(F, g, out, x, size, mode, align_corners, scales, antialias):
        return (F.resample_grad(g, input_size=tuple(x.shape[-len(size):]), size=size,
                                mode=mode, align_corners=align_corners, scales=scales,
                                antialias=antialias),)


@register
class ResampleGrad(Op):
    """The transpose of ``resample``: ``g`` (shaped like its output) sent back to inputs."""

    blas = True
    uses_input_values = False

    def cost(out_specs, in_specs, attrs):
        """As resample's, with the roles of input and output swapped."""
        swapped = dict(attrs, size=attrs["input_size"])
        return _resample_cost(in_specs, out_specs, swapped)

    def forward(xp, g, input_size, size, mode, align_corners, scales, antialias):
        nd = len(size)
        ms = _matrices(xp, input_size, size, mode, align_corners, scales, antialias, g.dtype)
        for k, m in enumerate(ms):
            g = _apply_axis(xp, g, m.T, g.ndim - nd + k)
        return xp.ascontiguousarray(g)

    def vjp(F, gg, out, g, input_size, size, mode, align_corners, scales, antialias):
        return (F.resample(gg, size=size, mode=mode, align_corners=align_corners,
                           scales=scales, antialias=antialias),)


# ----------------------------------------------------------------------------- interpolate


def _per_axis(value, nd: int, name: str, kind, x) -> tuple:
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * nd
    if len(values) != nd:
        raise op_error(ShapeError, "interpolate", f"{name} {value!r} has {len(values)} "
                       f"entries but the input has {nd} spatial dimension(s)", args=[x],
                       hint=f"give one {name} per spatial dimension, or a single number")
    try:
        return tuple(kind(v) for v in values)
    except (TypeError, ValueError):
        raise TypeError(f"interpolate: {name} must be numbers, got {value!r}") from None


def _check_args(x, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias):
    if not isinstance(x, Tensor):
        raise TypeError(f"interpolate: input must be a Tensor, got {type(x).__name__}")
    if mode not in MODES:
        raise ValueError(f"interpolate: unknown mode {mode!r}; expected one of "
                         f"{', '.join(MODES)}")
    if x.ndim not in (3, 4, 5):
        raise op_error(ShapeError, "interpolate", f"expected a 3-d (N, C, L), 4-d (N, C, H, W) "
                       f"or 5-d (N, C, D, H, W) input, got {x.ndim}-d", args=[x],
                       hint="add a batch dimension with x.unsqueeze(0)")
    if mode in _LINEAR_RANK and x.ndim != _LINEAR_RANK[mode]:
        need = _LINEAR_RANK[mode]
        fits = [m for m, r in _LINEAR_RANK.items() if r == x.ndim and m != "bicubic"]
        raise op_error(ShapeError, "interpolate", f"mode {mode!r} needs a {need}-d input, "
                       f"got {x.ndim}-d", args=[x],
                       hint=f"use mode={fits[0]!r} for a {x.ndim}-d input" if fits else "")
    if not x.dtype.is_floating_point:
        raise op_error(DTypeError, "interpolate", "expects a floating-point input", args=[x],
                       hint="cast it first, e.g. x.float()")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor, got "
                         + ("both" if size is not None else "neither"))
    if mode in ("nearest", "nearest-exact", "area") and align_corners is not None:
        raise ValueError(f"interpolate: align_corners applies only to the interpolating modes "
                         f"linear, bilinear, bicubic and trilinear, not {mode!r}; leave it None")
    if recompute_scale_factor and size is not None:
        raise ValueError("interpolate: recompute_scale_factor has no meaning with an explicit "
                         "size; pass scale_factor instead")
    if antialias and (mode not in ("bilinear", "bicubic") or x.ndim != 4):
        raise ValueError(f"interpolate: antialias applies only to 4-d bilinear and bicubic "
                         f"resampling, not {mode!r} on a {x.ndim}-d input")


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resample the spatial dimensions of ``input``, as PyTorch's ``F.interpolate``.

    Args:
        input: (N, C, L), (N, C, H, W) or (N, C, D, H, W), floating point.
        size: the output's spatial size: an int for every dimension, or one per dimension.
        scale_factor: a multiplier (or one per dimension) instead of ``size``; the output
            size is ``floor(in * scale_factor)``.
        mode: ``"nearest"``, ``"nearest-exact"``, ``"linear"`` (3-d), ``"bilinear"`` and
            ``"bicubic"`` (4-d), ``"trilinear"`` (5-d) or ``"area"`` (adaptive average).
        align_corners: for the interpolating modes, map the corner pixels' centres onto each
            other (True) rather than their outer edges (False, the default).
        recompute_scale_factor: True computes coordinates from the sizes, not from the given
            ``scale_factor``.
        antialias: for downsampling 4-d bilinear/bicubic, widen the filter to every input it
            covers (PIL's resize).

    Shape:
        (N, C, *in) -> (N, C, *out).

    Example:
        >>> import ember
        >>> import ember.nn.functional as F
        >>> x = ember.tensor([[[1.0, 2.0]]])
        >>> F.interpolate(x, scale_factor=2)
        tensor([[[1., 1., 2., 2.]]])
        >>> F.interpolate(x, size=4, mode="linear", align_corners=True)
        tensor([[[1.    , 1.3333, 1.6667, 2.    ]]])
    """
    _check_args(input, size, scale_factor, mode, align_corners, recompute_scale_factor,
                antialias)
    nd = input.ndim - 2
    in_size = tuple(input.shape[2:])
    if size is not None:
        out = _per_axis(size, nd, "size", int, input)
        scales = (None,) * nd
    else:
        factors = _per_axis(scale_factor, nd, "scale_factor", float, input)
        out = tuple(math.floor(n * f) for n, f in zip(in_size, factors))
        scales = (None,) * nd if recompute_scale_factor or mode == "area" else factors
    if any(o < 1 for o in out):
        raise op_error(ShapeError, "interpolate", f"the output size {out} is empty", args=[input],
                       hint="use a larger size or scale_factor")
    return apply(Resample, input, size=out, mode=mode, align_corners=bool(align_corners),
                 scales=scales, antialias=bool(antialias))


def upsample(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
             align_corners: bool | None = None) -> Tensor:
    """``interpolate`` under its older name (PyTorch's deprecated ``F.upsample``).

    Example:
        >>> import ember
        >>> import ember.nn.functional as F
        >>> F.upsample(ember.ones(1, 1, 2, 2), scale_factor=2).shape
        (1, 1, 4, 4)
    """
    return interpolate(input, size, scale_factor, mode, align_corners)


# ----------------------------------------------------------------------------- pixel shuffle


def _check_shuffle(op, x, factor):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(x).__name__}")
    if not isinstance(factor, int) or factor < 1:
        raise ValueError(f"{op}: the factor must be a positive int, got {factor!r}")
    if x.ndim < 3:
        raise op_error(ShapeError, op, f"expected an input of at least 3 dimensions "
                       f"(C, H, W), got {x.ndim}-d", args=[x])


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """Rearrange (*, C·r², H, W) to (*, C, H·r, W·r): sub-pixel convolution's upsampling.

    Example:
        >>> import ember
        >>> import ember.nn.functional as F
        >>> F.pixel_shuffle(ember.arange(4.0).reshape(1, 4, 1, 1), 2)
        tensor([[[[0., 1.],
                  [2., 3.]]]])
    """
    r = upscale_factor
    _check_shuffle("pixel_shuffle", input, r)
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise op_error(ShapeError, "pixel_shuffle", f"{c} channels do not divide by "
                       f"upscale_factor² = {r * r}", args=[input],
                       hint="give the convolution before it C·r² output channels")
    n = len(lead)
    y = input.reshape(*lead, c // (r * r), r, r, h, w)
    perm = tuple(range(n)) + tuple(n + i for i in (0, 3, 1, 4, 2))
    return y.permute(*perm).reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """Rearrange (*, C, H·r, W·r) to (*, C·r², H, W), the inverse of ``pixel_shuffle``.

    Example:
        >>> import ember
        >>> import ember.nn.functional as F
        >>> F.pixel_unshuffle(ember.ones(1, 1, 4, 6), 2).shape
        (1, 4, 2, 3)
    """
    r = downscale_factor
    _check_shuffle("pixel_unshuffle", input, r)
    *lead, c, h, w = input.shape
    if h % r or w % r:
        raise op_error(ShapeError, "pixel_unshuffle", f"height {h} and width {w} must both "
                       f"divide by downscale_factor {r}", args=[input],
                       hint="crop or pad the input to a multiple of the factor")
    n = len(lead)
    y = input.reshape(*lead, c, h // r, r, w // r, r)
    perm = tuple(range(n)) + tuple(n + i for i in (0, 2, 4, 1, 3))
    return y.permute(*perm).reshape(*lead, c * r * r, h // r, w // r)
