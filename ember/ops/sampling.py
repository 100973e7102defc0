"""Spatial sampling and sliding windows: ``grid_sample``, ``affine_grid``, ``unfold``, ``fold``.

``grid_sample`` reads the input at the points of a grid. Each output point is a weighted sum
of a few input "taps" (1 for nearest, 2^d for (tri)linear, 16 for bicubic): the taps' integer
positions are constants of the grid's values, the weights are smooth functions of them.
So the op splits in two:

- the weights are composites of elementwise ops on the grid (unnormalise, clip or reflect,
  ``x - floor(x)``, the cubic polynomials), so the gradient w.r.t. the grid is the
  derivative of the interpolation weights, by autograd, and double backward comes free;
- the taps are read by the primitive ``GridGather`` ((N, C, L) input, (N, K) flat indices
  shared by every channel) whose vjp ``GridScatter`` adds the gradient back into the input
  (the scatter-add of the weights); each is the other's vjp.

A tap outside the input reads zero: its index is clamped and its weight multiplied by 0.
Coordinates follow PyTorch's kernels: ``unnormalize``, ``clip_coordinates``,
``reflect_coordinates`` (its gradient sign flips included), ``nearbyint`` for nearest and
Keys' cubic with A = -0.75, whose taps are clipped or reflected one by one.

``unfold`` (im2col, built on the convolutions' ``column_slabs``) and ``fold`` (col2im, the
sum of overlapping windows) are registered primitives, each the other's vjp.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from ..autograd.node import apply
from ..errors import DTypeError, ShapeError, op_error
from ..tensor import Tensor
from .conv_kernels import column_slabs, out_size
from .creation import tensor
from .elementwise import where
from .registry import Op, copy_cost, io_bytes, numel, register
from .shape import cat, stack

__all__ = ["grid_sample", "affine_grid", "unfold", "fold"]

MODES = ("bilinear", "nearest", "bicubic")
PADDING_MODES = ("zeros", "border", "reflection")
_CUBIC_A = -0.75


# ----------------------------------------------------------------------------- primitives


@register
class GridGather(Op):
    """``x`` (N, C, L) read at ``index`` (N, K): out[n, c, k] = x[n, c, index[n, k]]."""

    uses_input_values = False  # the vjp needs the index and shapes only
    cost = copy_cost

    def forward(xp, x, index):
        # a take per sample: on NumPy about 3x faster than take_along_axis' broadcast index
        out = xp.empty(x.shape[:2] + index.shape[1:], dtype=x.dtype)
        for i in range(x.shape[0]):
            xp.take(x[i], index[i], axis=1, out=out[i])
        return out

    def vjp(F, g, out, x, index):
        return F.grid_scatter(g, index, length=x.shape[2]), None


@register
class GridScatter(Op):
    """The transpose of ``grid_gather``: ``g`` (N, C, K) summed into zeros (N, C, length)."""

    uses_input_values = False

    def cost(out_specs, in_specs, attrs):
        """One add per element of ``g``."""
        return numel(in_specs[0][0]), io_bytes(out_specs, in_specs)

    def forward(xp, g, index, length):
        n, c, _ = g.shape
        out = xp.zeros(n * c * length, dtype=g.dtype)
        # one flat index: add.at's 1-d path is about 5x faster than a 3-index tuple's
        planes = (xp.arange(n)[:, None, None] * c + xp.arange(c)[None, :, None]) * length
        xp.add.at(out, (planes + index[:, None, :]).ravel(), g.ravel())
        return out.reshape(n, c, length)

    def vjp(F, gg, out, g, index, length):
        return F.grid_gather(gg, index), None


# ----------------------------------------------------------------------------- coordinates


def _unnormalize(coord, size: int, align_corners: bool):
    if align_corners:
        return ((coord + 1) / 2) * (size - 1)
    return ((coord + 1) * size - 1) / 2


def _clip(coord, size: int):
    return coord.clamp(0, size - 1)


def _reflect(coord, twice_low: int, twice_high: int):
    """Fold ``coord`` into [low, high] by reflecting at the ends (PyTorch's rule)."""
    if twice_low == twice_high:
        return coord * 0
    low, span = twice_low / 2, (twice_high - twice_low) / 2
    t = (coord - low).abs()
    flips = (t.detach() / span).floor()
    extra = t.fmod(span)
    return where(flips.fmod(2) == 1, span - extra, extra) + low


def _pad(coord, size: int, padding_mode: str, align_corners: bool):
    """PyTorch's ``compute_coordinates``: clip for border, reflect then clip for reflection."""
    if padding_mode == "border":
        return _clip(coord, size)
    if padding_mode == "reflection":
        twice = (0, 2 * (size - 1)) if align_corners else (-1, 2 * size - 1)
        return _clip(_reflect(coord, *twice), size)
    return coord


def _cubic_weights(t):
    a = _CUBIC_A
    s = 1 - t
    return [((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
            ((a + 2) * t - (a + 3)) * t * t + 1,
            ((a + 2) * s - (a + 3)) * s * s + 1,
            ((a * (s + 1) - 5 * a) * (s + 1) + 8 * a) * (s + 1) - 4 * a]


def _axis_taps(coord, size: int, mode: str, padding_mode: str, align_corners: bool):
    """One spatial axis's taps: a list of (integer position tensor, weight tensor or None)."""
    if mode == "bicubic":
        x = _unnormalize(coord, size, align_corners)
        x0 = x.detach().floor()
        weights = _cubic_weights(x - x0)
        return [(_pad(x0 + (i - 1), size, padding_mode, align_corners), w)
                for i, w in enumerate(weights)]
    x = _pad(_unnormalize(coord, size, align_corners), size, padding_mode, align_corners)
    if mode == "nearest":
        return [(x.detach().round(), None)]
    x0 = x.detach().floor()
    east = x - x0
    return [(x0, 1 - east), (x0 + 1, east)]


def _flat_taps(grid, spatial, mode, padding_mode, align_corners):
    """The (N, T·P) flat input indices and the (N, T, P) weights (zero outside the input)."""
    n, nd = grid.shape[0], len(spatial)
    coords = grid.reshape(n, -1, nd)
    per_axis = [_axis_taps(coords[:, :, nd - 1 - k], spatial[k], mode, padding_mode,
                           align_corners) for k in range(nd)]  # grid's x is the last axis
    strides = [math.prod(spatial[k + 1:]) for k in range(nd)]
    indices, weights = [], []
    for taps in itertools.product(*per_axis):  # the last axis fastest, as PyTorch sums
        flat, valid, weight = 0, 1, None
        for k in reversed(range(nd)):  # weights multiply x first, then y, then z
            pos, w = taps[k]
            inside = (pos >= 0) & (pos <= spatial[k] - 1)
            valid = valid * inside.to(grid.dtype)
            flat = flat + pos.clamp(0, spatial[k] - 1).long() * strides[k]
            if w is not None:
                weight = w if weight is None else weight * w
        indices.append(flat)
        weights.append(valid if weight is None else weight * valid)
    return cat(indices, dim=1), stack(weights, dim=1)


# ----------------------------------------------------------------------------- grid_sample


def _check_grid_sample(x, grid, mode, padding_mode):
    for name, t in (("input", x), ("grid", grid)):
        if not isinstance(t, Tensor):
            raise TypeError(f"grid_sample: {name} must be a Tensor, got {type(t).__name__}")
    if mode not in MODES:
        raise ValueError(f"grid_sample: unknown mode {mode!r}; expected one of "
                         f"{', '.join(MODES)}")
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"grid_sample: unknown padding_mode {padding_mode!r}; expected one "
                         f"of {', '.join(PADDING_MODES)}")
    if x.ndim not in (4, 5):
        raise op_error(ShapeError, "grid_sample", f"expected a 4-d (N, C, H, W) or 5-d "
                       f"(N, C, D, H, W) input, got {x.ndim}-d", args=[x, grid],
                       hint="add a batch dimension with x.unsqueeze(0)")
    nd = x.ndim - 2
    if grid.ndim != x.ndim or grid.shape[-1] != nd or grid.shape[0] != x.shape[0]:
        want = "(N, H_out, W_out, 2)" if nd == 2 else "(N, D_out, H_out, W_out, 3)"
        raise op_error(ShapeError, "grid_sample", f"a {x.ndim}-d input needs a grid shaped "
                       f"{want} with the input's batch size {x.shape[0]}, got "
                       f"{tuple(grid.shape)}", args=[x, grid])
    if mode == "bicubic" and nd != 2:
        raise op_error(ShapeError, "grid_sample", "mode 'bicubic' needs a 4-d input, got "
                       f"{x.ndim}-d", args=[x, grid], hint="use 'bilinear' or 'nearest'")
    if not (x.dtype.is_floating_point and grid.dtype.is_floating_point):
        raise op_error(DTypeError, "grid_sample", "expects floating-point input and grid",
                       args=[x, grid], hint="cast them first, e.g. x.float()")
    if x.dtype != grid.dtype:
        raise op_error(DTypeError, "grid_sample", "input and grid must have the same dtype",
                       args=[x, grid], hint="cast the grid with grid.to(x.dtype)")


def grid_sample(input: Tensor, grid: Tensor, mode: str = "bilinear",
                padding_mode: str = "zeros", align_corners: bool | None = None) -> Tensor:
    """Sample ``input`` at the points of ``grid``, as PyTorch's ``F.grid_sample``.

    Args:
        input: (N, C, H, W) or (N, C, D, H, W), floating point.
        grid: (N, H_out, W_out, 2) or (N, D_out, H_out, W_out, 3) of (x, y[, z]) points,
            -1 and 1 being the input's left/top and right/bottom edges.
        mode: ``"bilinear"`` (trilinear on 5-d), ``"nearest"`` or ``"bicubic"`` (4-d).
        padding_mode: what points outside the input read: ``"zeros"``, ``"border"`` (the
            nearest edge value) or ``"reflection"`` (mirrored at the edges).
        align_corners: True: -1 and 1 are the centres of the corner pixels rather than
            their outer edges (False, the default).

    Shape:
        (N, C, *in), (N, *out, d) -> (N, C, *out).

    Example:
        >>> import ember
        >>> import ember.nn.functional as F
        >>> x = ember.tensor([[[[0.0, 10.0]]]])
        >>> F.grid_sample(x, ember.tensor([[[[-0.5, 0.0], [0.0, 0.0]]]]), align_corners=True)
        tensor([[[[2.5, 5. ]]]])
    """
    _check_grid_sample(input, grid, mode, padding_mode)
    n, c, *spatial = input.shape
    out_spatial = tuple(grid.shape[1:-1])
    index, weights = _flat_taps(grid, spatial, mode, padding_mode, bool(align_corners))
    taps = apply(GridGather, input.reshape(n, c, -1), index)
    taps = taps.reshape(n, c, weights.shape[1], -1)
    return (taps * weights.unsqueeze(1)).sum(2).reshape(n, c, *out_spatial)


def _base_axis(steps: int, align_corners: bool) -> np.ndarray:
    if steps <= 1:
        return np.zeros(1)
    r = np.linspace(-1.0, 1.0, steps)
    return r if align_corners else r * (steps - 1) / steps


def affine_grid(theta: Tensor, size, align_corners: bool | None = None) -> Tensor:
    """The sampling grid of a batch of affine maps, as PyTorch's ``F.affine_grid``.

    Args:
        theta: (N, 2, 3) for 2-d or (N, 3, 4) for 3-d maps from output to input points.
        size: the output's size, (N, C, H, W) or (N, C, D, H, W).
        align_corners: as in ``grid_sample``; use the same value for both.

    Shape:
        (N, 2, 3) -> (N, H, W, 2); (N, 3, 4) -> (N, D, H, W, 3).

    Example:
        >>> import ember
        >>> import ember.nn.functional as F
        >>> theta = ember.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
        >>> F.affine_grid(theta, (1, 1, 1, 2), align_corners=True)
        tensor([[[[-1.,  0.],
                  [ 1.,  0.]]]])
    """
    if not isinstance(theta, Tensor):
        raise TypeError(f"affine_grid: theta must be a Tensor, got {type(theta).__name__}")
    size = tuple(int(s) for s in size)
    nd = len(size) - 2
    if nd not in (2, 3) or theta.ndim != 3 or tuple(theta.shape[1:]) != (nd, nd + 1) \
            or theta.shape[0] != size[0]:
        raise op_error(ShapeError, "affine_grid", f"size {size} needs theta shaped "
                       f"(N, 2, 3) for 4-d or (N, 3, 4) for 5-d sizes, with N = size[0]",
                       args=[theta])
    if not theta.dtype.is_floating_point:
        raise op_error(DTypeError, "affine_grid", "expects a floating-point theta",
                       args=[theta])
    spatial = size[2:]
    axes = [_base_axis(s, bool(align_corners)) for s in reversed(spatial)]  # x, y[, z]
    mesh = np.meshgrid(*axes[::-1], indexing="ij")[::-1]  # x varies fastest
    base = np.stack([*mesh, np.ones_like(mesh[0])], axis=-1).reshape(1, -1, nd + 1)
    base = tensor(base, dtype=theta.dtype, device=theta.device)
    return (base @ theta.transpose(1, 2)).reshape(theta.shape[0], *spatial, nd)


# ----------------------------------------------------------------------------- unfold / fold


def _window_cost(out_specs, in_specs, attrs):
    """A copy (unfold) or an add (fold) per column element."""
    cols = max(numel(out_specs[0][0]), numel(in_specs[0][0]))
    return cols, io_bytes(out_specs, in_specs)


@register
class Unfold(Op):
    """(N, C, H, W) -> (N, C·kh·kw, L): every sliding window as a column (im2col)."""

    uses_input_values = False
    cost = _window_cost

    def forward(xp, x, kernel, dilation, padding, stride):
        n, c, h, w = x.shape
        pads = tuple((p, p) for p in padding)
        ho, wo = (out_size(s, k, st, pd, d) for s, k, st, pd, d in
                  zip((h, w), kernel, stride, pads, dilation))
        out = xp.empty((n, c, kernel[0], kernel[1], ho * wo), dtype=x.dtype)
        for lo, hi, cols, order in column_slabs(xp, x, kernel, stride, pads, dilation, 1,
                                                 (ho, wo)):
            if order == "hwc":  # (images·L, kh·kw·C)
                out[lo:hi] = cols[0].reshape(hi - lo, ho * wo, kernel[0], kernel[1], c) \
                    .transpose(0, 4, 2, 3, 1)
            else:  # (images·L, C·kh·kw)
                out[lo:hi] = cols[0].T.reshape(c, kernel[0], kernel[1], hi - lo, ho * wo) \
                    .transpose(3, 0, 1, 2, 4)
        return out.reshape(n, -1, ho * wo)

    def vjp(F, g, out, x, kernel, dilation, padding, stride):
        return (F.fold(g, output_size=tuple(x.shape[2:]), kernel=kernel, dilation=dilation,
                       padding=padding, stride=stride),)


@register
class Fold(Op):
    """(N, C·kh·kw, L) -> (N, C, H, W): the columns summed back into their windows (col2im)."""

    uses_input_values = False
    cost = _window_cost

    def forward(xp, cols, output_size, kernel, dilation, padding, stride):
        n = cols.shape[0]
        (kh, kw), (dh, dw), (sh, sw) = kernel, dilation, stride
        (h, w), (ph, pw) = output_size, padding
        ho = out_size(h, kh, sh, (ph, ph), dh)
        wo = out_size(w, kw, sw, (pw, pw), dw)
        c = cols.shape[1] // (kh * kw)
        cols = cols.reshape(n, c, kh, kw, ho, wo)
        full = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
        for i in range(kh):  # one strided add per kernel offset
            for j in range(kw):
                full[:, :, i * dh:i * dh + (ho - 1) * sh + 1:sh,
                     j * dw:j * dw + (wo - 1) * sw + 1:sw] += cols[:, :, i, j]
        return full[:, :, ph:ph + h, pw:pw + w]

    def vjp(F, g, out, cols, output_size, kernel, dilation, padding, stride):
        return (F.unfold(g, kernel=kernel, dilation=dilation, padding=padding, stride=stride),)


def _pair(value, name: str, op: str, low: int) -> tuple:
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v >= low for v in pair):
        raise ValueError(f"{op}: {name} must be an int >= {low} or a pair of them, got "
                         f"{value!r}")
    return tuple(int(v) for v in pair)


def _window_args(op, kernel_size, dilation, padding, stride):
    return (_pair(kernel_size, "kernel_size", op, 1), _pair(dilation, "dilation", op, 1),
            _pair(padding, "padding", op, 0), _pair(stride, "stride", op, 1))


def _blocks(op, size, kernel, dilation, padding, stride, args):
    counts = [out_size(s, k, st, (p, p), d) for s, k, st, p, d in
              zip(size, kernel, stride, padding, dilation)]
    if min(counts) < 1:
        raise op_error(ShapeError, op, f"a {kernel} kernel with dilation {dilation} does not "
                       f"fit the spatial size {tuple(size)} padded by {padding}", args=args,
                       hint="use a smaller kernel or more padding")
    return counts


def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Extract sliding windows as columns (im2col), as PyTorch's ``F.unfold``.

    Args:
        input: (N, C, H, W) or unbatched (C, H, W).
        kernel_size, dilation, padding, stride: an int or a pair (height, width), as in
            ``conv2d``.

    Shape:
        (N, C, H, W) -> (N, C·kh·kw, L), L the number of window positions.

    Example:
        >>> import ember
        >>> import ember.nn.functional as F
        >>> F.unfold(ember.arange(9.0).reshape(1, 1, 3, 3), kernel_size=2)
        tensor([[[0., 1., 3., 4.],
                 [1., 2., 4., 5.],
                 [3., 4., 6., 7.],
                 [4., 5., 7., 8.]]])
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"unfold: input must be a Tensor, got {type(input).__name__}")
    if input.ndim not in (3, 4):
        raise op_error(ShapeError, "unfold", f"expected a 4-d (N, C, H, W) or 3-d (C, H, W) "
                       f"input, got {input.ndim}-d", args=[input])
    kernel, dilation, padding, stride = _window_args("unfold", kernel_size, dilation, padding,
                                                     stride)
    if input.ndim == 3:
        return unfold(input.unsqueeze(0), kernel, dilation, padding, stride).squeeze(0)
    _blocks("unfold", input.shape[2:], kernel, dilation, padding, stride, [input])
    return apply(Unfold, input, kernel=kernel, dilation=dilation, padding=padding,
                 stride=stride)


def fold(input: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Sum columns back into an image (col2im), as PyTorch's ``F.fold``: ``unfold``'s adjoint.

    Args:
        input: (N, C·kh·kw, L) or unbatched (C·kh·kw, L).
        output_size: the image's spatial size (H, W) (or an int for both).
        kernel_size, dilation, padding, stride: as in ``unfold``.

    Shape:
        (N, C·kh·kw, L) -> (N, C, H, W).

    Example:
        >>> import ember
        >>> import ember.nn.functional as F
        >>> F.fold(ember.ones(1, 4, 4), output_size=3, kernel_size=2)
        tensor([[[[1., 2., 1.],
                  [2., 4., 2.],
                  [1., 2., 1.]]]])
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"fold: input must be a Tensor, got {type(input).__name__}")
    if input.ndim not in (2, 3):
        raise op_error(ShapeError, "fold", f"expected a 3-d (N, C·kh·kw, L) or 2-d "
                       f"(C·kh·kw, L) input, got {input.ndim}-d", args=[input])
    size = _pair(output_size, "output_size", "fold", 1)
    kernel, dilation, padding, stride = _window_args("fold", kernel_size, dilation, padding,
                                                     stride)
    if input.ndim == 2:
        return fold(input.unsqueeze(0), size, kernel, dilation, padding, stride).squeeze(0)
    counts = _blocks("fold", size, kernel, dilation, padding, stride, [input])
    k = kernel[0] * kernel[1]
    if input.shape[1] % k or input.shape[2] != counts[0] * counts[1]:
        raise op_error(ShapeError, "fold", f"output_size {size} with kernel {kernel}, "
                       f"dilation {dilation}, padding {padding}, stride {stride} needs "
                       f"(N, C·{k}, {counts[0] * counts[1]}) columns, got "
                       f"{tuple(input.shape)}", args=[input])
    return apply(Fold, input, output_size=size, kernel=kernel, dilation=dilation,
                 padding=padding, stride=stride)
