"""3-d convolution and pooling, as composites of the 2-d primitives, and the 3-d
convolution primitives a backend with native 3-d kernels runs instead.

A 3-d convolution is a 2-d one on a depth-unfolded input: the ``kd`` depth slices each output
depth reads are stacked into the channels (``C * kd`` of them, grouped as the weight's
``(C/G, kd)``), the output depths go into the batch, and ``conv2d`` does the rest with the
weight reshaped to ``(O, C/G * kd, kh, kw)``. The transposed convolution is the adjoint of
that: ``conv_transpose2d`` spreads each input depth into ``kd`` output depths, which are then
summed into place (the depth col2im). Gradients and double backward come from the 2-d ops.

Pooling over a box is separable: pool (H, W) with the 2-d primitive, then the depth with a
``(kd, 1)`` window. Max pooling keeps the first maximum in (d, h, w) scan order, as PyTorch:
the first stage picks each depth's first (h, w) maximum, the second the first depth holding
the overall one. Average pooling's divisor is a product of per-dimension counts, so the two
stages' divisors multiply to the 3-d one (with or without padding counted, in ceil mode too).

A backend with its own 3-d convolution (the CPU backend with oneDNN, for float32) says so in
``Backend.runs_natively``; ``conv3d`` and ``conv_transpose3d`` then apply the primitives
``conv3d``, ``conv_transpose3d`` and ``conv3d_weight`` below, closed under differentiation as
the 2-d ones are. Their array forwards (``conv_kernels``) are the same depth unfolding on
arrays, run where the native kernel declines a problem. Likewise ``max_pool3d`` (without
indices) and ``avg_pool3d`` (without a divisor override) apply the primitives ``max_pool3d``,
``max_pool3d_grad``, ``avg_pool3d`` and ``avg_pool3d_grad``, whose array forwards
(``pool_kernels``) are the two stages above.
"""

from __future__ import annotations

from ..autograd.node import apply
from ..backend import backend_of
from ..tensor import Tensor
from . import conv as C
from . import conv_kernels as K
from . import pool as P
from . import pool_kernels as PK
from .registry import Op, bias_vjp_cost, io_bytes, numel, register, window_flops
from .shape import pad, stack

__all__ = ["conv3d", "conv_transpose3d", "max_pool3d", "avg_pool3d", "adaptive_avg_pool3d",
           "adaptive_max_pool3d"]


# ----------------------------------------------------------------------------- primitives


def _native(op: str, x: Tensor) -> bool:
    """Whether ``x``'s backend runs the 3-d primitive ``op`` itself (else the composite)."""
    return backend_of(x.data).runs_natively(op, x.data.dtype)


def _channel_sum3d(F, g):
    """The bias gradient, a sum of ``g`` (N, C, D, H, W) over all but the channels."""
    n, c = g.shape[:2]
    return F.channel_sum(F.reshape(g, shape=(n, c, g.shape[2], -1)))


@register
class Conv3d(Op):
    """3-d cross-correlation of ``x`` (N, C, D, H, W) with ``w`` (O, C/G, kd, kh, kw), plus
    ``b``; the vjp skips the gradients nobody needs, as conv2d's."""

    blas = True

    wants_needs = True

    def cost(out_specs, in_specs, attrs):
        """2·(C/G)·kd·kh·kw FLOPs per output element (+1 with a bias)."""
        w = in_specs[1][0]
        per = 2 * w[1] * w[2] * w[3] * w[4] + (in_specs[2] is not None)
        return numel(out_specs[0][0]) * per, io_bytes(out_specs, in_specs)

    def vjp_cost(out_specs, in_specs, attrs, needs):
        """One product of the forward's size per input and weight gradient, a sum for the
        bias's."""
        return bias_vjp_cost(Conv3d, out_specs, in_specs, attrs, needs)

    def forward(xp, x, w, b, stride, padding, dilation, groups):
        return K.conv3d(xp, x, w, b, stride, padding, dilation, groups)

    def vjp(F, g, out, x, w, b, stride, padding, dilation, groups, needs=(True, True, True)):
        kernel = tuple(w.shape[2:])
        gx = gw = gb = None
        if needs[0]:
            op = C._output_padding(tuple(x.shape[2:]), tuple(g.shape[2:]), kernel, stride,
                                   padding, dilation)
            gx = F.conv_transpose3d(g, w, None, stride=stride, padding=padding,
                                    output_padding=op, dilation=dilation, groups=groups)
        if needs[1]:
            gw = F.conv3d_weight(x, g, kernel_size=kernel, stride=stride, padding=padding,
                                 dilation=dilation, groups=groups)
        if b is not None and needs[2]:
            gb = _channel_sum3d(F, g)
        return gx, gw, gb


@register
class ConvTranspose3d(Op):
    """The transpose (adjoint) of conv3d in its input: the gradient of conv3d's input."""

    blas = True

    def cost(out_specs, in_specs, attrs):
        """2·(O/G)·kd·kh·kw FLOPs per input element, plus one per output element with a
        bias."""
        x, w = in_specs[0][0], in_specs[1][0]
        flops = 2 * numel(x) * w[1] * w[2] * w[3] * w[4]
        if in_specs[2] is not None:
            flops += numel(out_specs[0][0])
        return flops, io_bytes(out_specs, in_specs)

    def vjp_cost(out_specs, in_specs, attrs, needs):
        """One product of the forward's size per input and weight gradient, a sum for the
        bias's."""
        return bias_vjp_cost(ConvTranspose3d, out_specs, in_specs, attrs, needs)

    def forward(xp, x, w, b, stride, padding, output_padding, dilation, groups):
        return K.conv_transpose3d(xp, x, w, b, stride, padding, output_padding, dilation,
                                  groups)

    def vjp(F, g, out, x, w, b, stride, padding, output_padding, dilation, groups):
        gx = F.conv3d(g, w, None, stride=stride, padding=padding, dilation=dilation,
                      groups=groups)
        gw = F.conv3d_weight(g, x, kernel_size=tuple(w.shape[2:]), stride=stride,
                             padding=padding, dilation=dilation, groups=groups)
        gb = None if b is None else _channel_sum3d(F, g)
        return gx, gw, gb


@register
class Conv3dWeight(Op):
    """The weight gradient of conv3d: ``x`` (N, C, D, H, W) against ``g`` (N, O, Do, Ho, Wo)."""

    blas = True

    def cost(out_specs, in_specs, attrs):
        """2·N·Do·Ho·Wo FLOPs per weight-gradient element (the forward's product count)."""
        g = in_specs[1][0]
        return (2 * numel(out_specs[0][0]) * (g[0] * g[2] * g[3] * g[4]),
                io_bytes(out_specs, in_specs))

    def forward(xp, x, g, kernel_size, stride, padding, dilation, groups):
        return K.conv3d_weight(xp, x, g, kernel_size, stride, padding, dilation, groups)

    def vjp(F, gw, out, x, g, kernel_size, stride, padding, dilation, groups):
        op = C._output_padding(tuple(x.shape[2:]), tuple(g.shape[2:]), kernel_size, stride,
                               padding, dilation)
        gx = F.conv_transpose3d(g, gw, None, stride=stride, padding=padding, output_padding=op,
                                dilation=dilation, groups=groups)
        gg = F.conv3d(x, gw, None, stride=stride, padding=padding, dilation=dilation,
                      groups=groups)
        return gx, gg


@register
class MaxPool3d(Op):
    """3-d max pooling of ``x`` (N, C, D, H, W); its array forward is the two 2-d stages."""

    needs_output = True

    def cost(out_specs, in_specs, attrs):
        """kd·kh·kw FLOPs (comparisons) per pooled element."""
        return window_flops(out_specs[0], attrs), io_bytes(out_specs, in_specs)

    def forward(xp, x, kernel, stride, padding, dilation, ceil_mode):
        return PK.max_pool3d(xp, x, kernel, stride, padding, dilation, ceil_mode)

    def vjp(F, g, out, x, kernel, stride, padding, dilation, ceil_mode):
        return (F.max_pool3d_grad(g, x, out, kernel=kernel, stride=stride, padding=padding,
                                  dilation=dilation, ceil_mode=ceil_mode),)


@register
class MaxPool3dGrad(Op):
    """The gradient of max_pool3d: ``g`` sent to each window's first maximum in (d, h, w)
    order."""

    def cost(out_specs, in_specs, attrs):
        """kd·kh·kw FLOPs (comparisons or adds) per pooled element."""
        return window_flops(in_specs[0], attrs), io_bytes(out_specs, in_specs)

    def forward(xp, g, x, out, kernel, stride, padding, dilation, ceil_mode):
        return PK.max_pool3d_grad(xp, g, x, out, kernel, stride, padding, dilation, ceil_mode)

    def vjp(F, gg, _, g, x, out, kernel, stride, padding, dilation, ceil_mode):
        # the transpose reads gg at each window's first maximum: the 2-d selects of both stages
        (k1, s1, p1, d1), (k0, s0, p0, d0) = PK._stages(kernel, stride, padding, dilation)
        n, c, d, h, w = x.shape
        x1 = x.reshape(n, c * d, h, w)
        y1 = F.max_pool2d(x1, kernel=k1, stride=s1, padding=p1, dilation=d1,
                          ceil_mode=ceil_mode)
        ho, wo = y1.shape[2:]
        t1 = F.max_pool2d_select(gg.reshape(n, c * d, h, w), x1, y1, kernel=k1, stride=s1,
                                 padding=p1, dilation=d1, ceil_mode=ceil_mode)
        flat = (n, c, out.shape[2], ho * wo)
        t = F.max_pool2d_select(t1.reshape(n, c, d, ho * wo), y1.reshape(n, c, d, ho * wo),
                                out.reshape(flat), kernel=k0, stride=s0, padding=p0,
                                dilation=d0, ceil_mode=ceil_mode)
        return t.reshape(tuple(out.shape)), None, None


@register
class AvgPool3d(Op):
    """3-d average pooling of ``x`` (N, C, D, H, W) (no divisor override)."""

    def cost(out_specs, in_specs, attrs):
        """kd·kh·kw FLOPs (adds) per pooled element."""
        return window_flops(out_specs[0], attrs), io_bytes(out_specs, in_specs)

    def forward(xp, x, kernel, stride, padding, ceil_mode, count_include_pad):
        return PK.avg_pool3d(xp, x, kernel, stride, padding, ceil_mode, count_include_pad)

    def vjp(F, g, out, x, kernel, stride, padding, ceil_mode, count_include_pad):
        return (F.avg_pool3d_grad(g, input_size=tuple(x.shape[2:]), kernel=kernel,
                                  stride=stride, padding=padding, ceil_mode=ceil_mode,
                                  count_include_pad=count_include_pad),)


@register
class AvgPool3dGrad(Op):
    """The gradient (transpose) of avg_pool3d: each output's share spread over its window."""

    def cost(out_specs, in_specs, attrs):
        """kd·kh·kw FLOPs (adds) per pooled element."""
        return window_flops(in_specs[0], attrs), io_bytes(out_specs, in_specs)

    def forward(xp, g, input_size, kernel, stride, padding, ceil_mode, count_include_pad):
        return PK.avg_pool3d_grad(xp, g, input_size, kernel, stride, padding, ceil_mode,
                                  count_include_pad)

    def vjp(F, gg, _, g, input_size, kernel, stride, padding, ceil_mode, count_include_pad):
        return (F.avg_pool3d(gg, kernel=kernel, stride=stride, padding=padding,
                             ceil_mode=ceil_mode, count_include_pad=count_include_pad),)


# ----------------------------------------------------------------------------- public API


def _batched(x, nd=3):
    """(x with a batch axis, whether one was added)."""
    if x.ndim == nd + 1:
        return x.reshape((1,) + tuple(x.shape)), True
    return x, False


def conv3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """3-d convolution (cross-correlation) over an (N, C, D, H, W) input, as PyTorch's.

    Args:
        input: (N, C, D, H, W), or (C, D, H, W) without a batch.
        weight: (out_channels, C / groups, kd, kh, kw).
        bias, groups: as in ``conv2d``.
        stride, dilation: an int or a triple.
        padding: an int, a triple, ``'valid'`` or ``'same'`` (stride 1 only).

    Shape:
        output (N, out_channels, Do, Ho, Wo) with ``Do = (D + 2p - d(kd - 1) - 1) // s + 1``.

    Example:
        >>> import ember
        >>> import ember.nn.functional as F
        >>> F.conv3d(ember.ones(1, 2, 4, 5, 6), ember.ones(3, 2, 3, 3, 3), padding=1).shape
        (1, 3, 4, 5, 6)
    """
    op = "conv3d"
    C._check_operands(op, input, weight, bias, 3)
    stride = C._tuple(stride, 3, "stride", op)
    dilation = C._tuple(dilation, 3, "dilation", op)
    pads = C._conv_padding(padding, tuple(weight.shape[2:]), dilation, stride, op)
    x, unbatched = _batched(input)
    C._check_geometry(op, x, weight, groups, "conv", stride, dilation)
    C._check_bias(op, bias, weight.shape[0])
    C._check_output(x, weight.shape[2:], stride, pads, dilation, op)
    if _native(op, x):
        y = apply(Conv3d, x, weight, bias, stride=stride, padding=pads, dilation=dilation,
                  groups=groups)
        return y.reshape(tuple(y.shape[1:])) if unbatched else y
    o, cg, kd, kh, kw = weight.shape
    (pd0, pd1), sd, dd = pads[0], stride[0], dilation[0]
    if pd0 or pd1:
        x = pad(x, (0, 0, 0, 0, pd0, pd1))
    n, c, dp, h, w = x.shape
    do = (dp - dd * (kd - 1) - 1) // sd + 1
    slices = [x[:, :, i * dd:i * dd + (do - 1) * sd + 1:sd] for i in range(kd)]
    cols = stack(slices, dim=3) if kd > 1 else slices[0].reshape(n, c, do, 1, h, w)
    # (N, C, Do, kd, H, W) -> (N * Do, C * kd, H, W): channel c * kd + i, group-major
    x2 = cols.permute(0, 2, 1, 3, 4, 5).reshape(n * do, c * kd, h, w)
    w2 = weight.reshape(o, cg * kd, kh, kw)
    y = apply(C.Conv2d, x2, w2, bias, stride=stride[1:], padding=pads[1:],
              dilation=dilation[1:], groups=groups)
    y = y.reshape(n, do, o, y.shape[2], y.shape[3]).permute(0, 2, 1, 3, 4)
    return y.reshape(tuple(y.shape[1:])) if unbatched else y


def conv_transpose3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """3-d transposed convolution, the adjoint of ``conv3d``, as PyTorch's.

    Args:
        input: (N, C_in, D, H, W), or (C_in, D, H, W) without a batch.
        weight: (C_in, out_channels / groups, kd, kh, kw).
        bias, stride, padding, output_padding, groups, dilation: as in
            ``conv_transpose2d``, with triples.

    Shape:
        output (N, out_channels, Do, Ho, Wo) with ``Do = (D - 1)s - 2p + d(kd - 1) + op + 1``.

    Example:
        >>> import ember
        >>> import ember.nn.functional as F
        >>> F.conv_transpose3d(ember.ones(1, 2, 3, 3, 3), ember.ones(2, 1, 3, 3, 3),
        ...                    stride=2).shape
        (1, 1, 7, 7, 7)
    """
    op = "conv_transpose3d"
    C._check_operands(op, input, weight, bias, 3)
    x, unbatched = _batched(input)
    stride, pads, out_pad, dilation = C._transpose_args(op, x, weight, stride, padding,
                                                        output_padding, dilation, 3)
    C._check_geometry(op, x, weight, groups, "transpose", stride, dilation)
    C._check_bias(op, bias, weight.shape[1] * groups)
    if _native(op, x):
        y = apply(ConvTranspose3d, x, weight, bias, stride=stride, padding=pads,
                  output_padding=out_pad, dilation=dilation, groups=groups)
        return y.reshape(tuple(y.shape[1:])) if unbatched else y
    cin, cog, kd, kh, kw = weight.shape
    n, _, di, hi, wi = x.shape
    x2 = x.permute(0, 2, 1, 3, 4).reshape(n * di, cin, hi, wi)
    w2 = weight.reshape(cin, cog * kd, kh, kw)  # output channel (g, co, i), i the depth tap
    z = apply(C.ConvTranspose2d, x2, w2, None, stride=stride[1:], padding=pads[1:],
              output_padding=out_pad[1:], dilation=dilation[1:], groups=groups)
    cout, ho, wo = cog * groups, z.shape[2], z.shape[3]
    z = z.reshape(n, di, cout, kd, ho, wo).permute(0, 3, 2, 1, 4, 5)  # (N, kd, C, Di, H, W)
    sd, dd, (pd, _) = stride[0], dilation[0], pads[0]
    full = (di - 1) * sd + dd * (kd - 1) + 1 + out_pad[0]
    span = (di - 1) * sd + 1
    y = None
    for i in range(kd):  # the depth col2im: tap i of input depth j lands at i*dd + j*sd
        zi = z[:, i]
        if sd > 1:  # interleave sd - 1 zero planes after each depth
            zi = pad(zi.reshape(n, cout, di, 1, ho, wo), (0, 0, 0, 0, 0, sd - 1))
            zi = zi.reshape(n, cout, di * sd, ho, wo)[:, :, :span]
        part = pad(zi, (0, 0, 0, 0, i * dd, full - i * dd - span))
        y = part if y is None else y + part
    y = y[:, :, pd:full - pd]
    if bias is not None:
        y = y + bias.reshape(1, -1, 1, 1, 1)
    return y.reshape(tuple(y.shape[1:])) if unbatched else y


# ----------------------------------------------------------------------------- pooling


def _pool_input(op, x):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(x).__name__}")
    return _batched(x) if x.ndim == 4 else (x, False)


def _gather_depth(idx_hw, idx_d, hw_out, plane):
    """Flat d*H*W + h*W + w indices from the (h, w) stage's and the depth stage's indices."""
    n, c, d = idx_hw.shape[:3]
    depth = idx_d // hw_out  # the depth stage ran on (N, C, D, Ho*Wo): index d*HoWo + j
    hw = idx_hw.reshape(n, c, d, -1).gather(2, depth.reshape(n, c, depth.shape[2], -1))
    return depth * plane + hw.reshape(tuple(depth.shape))


def max_pool3d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """3-d max pooling over an (N, C, D, H, W) input, as PyTorch's.

    Args:
        input: (N, C, D, H, W), or (C, D, H, W) without a batch.
        kernel_size, stride (default ``kernel_size``), padding, dilation, ceil_mode: as in
            ``max_pool2d``, with triples.
        return_indices: also return each maximum's flat position ``d * H * W + h * W + w``.

    Example:
        >>> import ember
        >>> import ember.nn.functional as F
        >>> F.max_pool3d(ember.arange(8.0).reshape(1, 1, 2, 2, 2), 2)
        tensor([[[[[7.]]]]])
    """
    op = "max_pool3d"
    x, unbatched = _pool_input(op, input)
    kernel, stride, padding, dilation = P._pool_args(op, x, 3, kernel_size, stride, padding,
                                                     dilation)
    P._check_windows(op, x, kernel, stride, padding, dilation, ceil_mode)
    if not return_indices and _native(op, x):
        out = apply(MaxPool3d, x, kernel=kernel, stride=stride, padding=padding,
                    dilation=dilation, ceil_mode=bool(ceil_mode))
        return out.reshape(tuple(out.shape[1:])) if unbatched else out
    n, c, d, h, w = x.shape
    hw_attrs = dict(kernel=kernel[1:], stride=stride[1:], padding=padding[1:],
                    dilation=dilation[1:], ceil_mode=bool(ceil_mode))
    d_attrs = dict(kernel=(kernel[0], 1), stride=(stride[0], 1), padding=(padding[0], 0),
                   dilation=(dilation[0], 1), ceil_mode=bool(ceil_mode))
    x1 = x.reshape(n, c * d, h, w)
    y1 = apply(P.MaxPool2d, x1, **hw_attrs)
    ho, wo = y1.shape[2:]
    y1d = y1.reshape(n, c, d, ho * wo)
    y = apply(P.MaxPool2d, y1d, **d_attrs)
    out = y.reshape(n, c, y.shape[2], ho, wo)
    if unbatched:
        out = out.reshape(tuple(out.shape[1:]))
    if not return_indices:
        return out
    i1 = apply(P.MaxPool2dIndices, x1, y1.detach(), **hw_attrs).reshape(n, c, d, ho, wo)
    i2 = apply(P.MaxPool2dIndices, y1d.detach(), y.detach(), **d_attrs)
    idx = _gather_depth(i1, i2, ho * wo, h * w).reshape(tuple(out.shape))
    return out, idx


def avg_pool3d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """3-d average pooling over an (N, C, D, H, W) input, as PyTorch's.

    Args:
        input: (N, C, D, H, W), or (C, D, H, W) without a batch.
        kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override: as in
            ``avg_pool2d``, with triples.

    Example:
        >>> import ember
        >>> import ember.nn.functional as F
        >>> F.avg_pool3d(ember.arange(8.0).reshape(1, 1, 2, 2, 2), 2)
        tensor([[[[[3.5]]]]])
    """
    op = "avg_pool3d"
    x, unbatched = _pool_input(op, input)
    kernel, stride, padding, _ = P._pool_args(op, x, 3, kernel_size, stride, padding, 1)
    if divisor_override is not None and (not isinstance(divisor_override, int)
                                         or divisor_override <= 0):
        raise ValueError(f"{op}: divisor_override must be a positive int, got "
                         f"{divisor_override!r}")
    P._check_windows(op, x, kernel, stride, padding, (1, 1, 1), ceil_mode)
    if divisor_override is None and _native(op, x):
        out = apply(AvgPool3d, x, kernel=kernel, stride=stride, padding=padding,
                    ceil_mode=bool(ceil_mode), count_include_pad=bool(count_include_pad))
        return out.reshape(tuple(out.shape[1:])) if unbatched else out
    n, c, d, h, w = x.shape
    common = dict(ceil_mode=bool(ceil_mode), count_include_pad=bool(count_include_pad),
                  divisor=1 if divisor_override else 0)
    y1 = apply(P.AvgPool2d, x.reshape(n, c * d, h, w), kernel=kernel[1:], stride=stride[1:],
               padding=padding[1:], **common)
    ho, wo = y1.shape[2:]
    y = apply(P.AvgPool2d, y1.reshape(n, c, d, ho * wo), kernel=(kernel[0], 1),
              stride=(stride[0], 1), padding=(padding[0], 0), **common)
    if divisor_override:
        y = y * (1.0 / divisor_override)
    out = y.reshape(n, c, y.shape[2], ho, wo)
    return out.reshape(tuple(out.shape[1:])) if unbatched else out


def _adaptive_input(op, x, output_size):
    x, unbatched = _pool_input(op, x)
    if x.ndim != 5:
        P._adaptive_args(op, x, 3, output_size)  # raises the wrong-rank error
    return x, unbatched, P._output_size(op, output_size, tuple(x.shape[2:]))


def adaptive_avg_pool3d(input: Tensor, output_size) -> Tensor:
    """Average pooling of (N, C, D, H, W) to a fixed (Do, Ho, Wo) (PyTorch's windows).

    Args:
        input: (N, C, D, H, W), or (C, D, H, W) without a batch.
        output_size: (Do, Ho, Wo), an int for all three, or None in a place to keep that size.

    Example:
        >>> import ember
        >>> import ember.nn.functional as F
        >>> F.adaptive_avg_pool3d(ember.ones(2, 3, 5, 7, 4), (1, 2, 2)).shape
        (2, 3, 1, 2, 2)
    """
    op = "adaptive_avg_pool3d"
    x, unbatched, (do, ho, wo) = _adaptive_input(op, input, output_size)
    n, c, d, h, w = x.shape
    y1 = P._adaptive_avg(op, x.reshape(n, c * d, h, w), 2, (ho, wo))
    y = P._adaptive_avg(op, y1.reshape(n, c, d, ho * wo), 2, (do, ho * wo))
    out = y.reshape(n, c, do, ho, wo)
    return out.reshape(tuple(out.shape[1:])) if unbatched else out


def adaptive_max_pool3d(input: Tensor, output_size, return_indices: bool = False):
    """Max pooling of (N, C, D, H, W) to a fixed (Do, Ho, Wo) (PyTorch's windows).

    Args:
        input: (N, C, D, H, W), or (C, D, H, W) without a batch.
        output_size: (Do, Ho, Wo), an int for all three, or None in a place to keep that size.
        return_indices: also return each maximum's flat position ``d * H * W + h * W + w``.

    Example:
        >>> import ember
        >>> import ember.nn.functional as F
        >>> F.adaptive_max_pool3d(ember.arange(8.0).reshape(1, 1, 2, 2, 2), 1)
        tensor([[[[[7.]]]]])
    """
    op = "adaptive_max_pool3d"
    x, unbatched, (do, ho, wo) = _adaptive_input(op, input, output_size)
    n, c, d, h, w = x.shape
    r1 = P._adaptive_max(op, x.reshape(n, c * d, h, w), 2, (ho, wo), return_indices)
    y1 = r1[0] if return_indices else r1
    r = P._adaptive_max(op, y1.reshape(n, c, d, ho * wo), 2, (do, ho * wo), return_indices)
    y = r[0] if return_indices else r
    out = y.reshape(n, c, do, ho, wo)
    shape = tuple(out.shape[1:]) if unbatched else tuple(out.shape)
    if not return_indices:
        return out.reshape(shape)
    idx = _gather_depth(r1[1].reshape(n, c, d, ho, wo), r[1], ho * wo, h * w)
    return out.reshape(shape), idx.reshape(shape)
