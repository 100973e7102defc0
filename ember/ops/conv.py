"""Convolution primitives: ``conv2d``, ``conv_transpose2d`` and ``conv2d_weight``.

The three ops are the same contraction seen from its three operands, so each one's vjp is
written with the other two and the set is closed under differentiation (double backward
works): ``conv2d``'s input gradient is ``conv_transpose2d``, its weight gradient is
``conv2d_weight``, and so on. ``conv1d`` and the 1-d transpose are 2-d ops on ``H = 1``.

The NumPy kernels (im2col in cache-sized slabs of images, one matmul per slab, outputs
stored channels-last) live in ``conv_kernels``.

Attributes reaching the primitives are normalised: ``stride``/``dilation`` are pairs,
``padding`` is ``((top, bottom), (left, right))``.
"""

from __future__ import annotations

from ..autograd.node import apply
from ..errors import DTypeError, ShapeError, op_error
from ..tensor import Tensor
from . import conv_kernels as K
from ._nn_common import _autocasting
from .pool import *  # noqa: F403  (pooling lives next door; ember.nn.functional takes both)
from .pool import __all__ as _pool_all
from .registry import Op, bias_vjp_cost, io_bytes, numel, reduce_cost, register

__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d"] + _pool_all

# ----------------------------------------------------------------------------- primitives


def _output_padding(in_hw, out_hw, kernel, stride, padding, dilation):
    """The output padding that makes a transposed convolution (2-d or 3-d) map ``out_hw``
    back to ``in_hw``."""
    return tuple(
        in_hw[d] + padding[d][0] + padding[d][1]
        - ((out_hw[d] - 1) * stride[d] + dilation[d] * (kernel[d] - 1) + 1)
        for d in range(len(in_hw))
    )


@register
class ChannelSum(Op):
    """Sum of an (N, C, H, W) array over all but the channels: a conv's bias gradient."""

    cost = reduce_cost

    def forward(xp, g):
        return K.channel_sum(xp, g)

    def vjp(F, gg, out, g):
        return (F.broadcast_to(F.reshape(gg, shape=(1, g.shape[1], 1, 1)),
                               shape=tuple(g.shape)),)


@register
class Conv2d(Op):
    """2-d cross-correlation of ``x`` (N, C, H, W) with ``w`` (O, C/G, kh, kw), plus ``b``.

    The vjp skips the gradients nobody needs: the input's (a network's first layer), often the
    most expensive part, and frozen weights'.
    """

    blas = True

    wants_needs = True

    def cost(out_specs, in_specs, attrs):
        """2·(C/G)·kh·kw FLOPs per output element (+1 with a bias)."""
        w = in_specs[1][0]
        per = 2 * w[1] * w[2] * w[3] + (in_specs[2] is not None)
        return numel(out_specs[0][0]) * per, io_bytes(out_specs, in_specs)

    def vjp_cost(out_specs, in_specs, attrs, needs):
        """The input and weight gradients are each one product of the forward's size; the
        bias gradient is a sum of the output gradient."""
        return bias_vjp_cost(Conv2d, out_specs, in_specs, attrs, needs)

    def forward(xp, x, w, b, stride, padding, dilation, groups):
        return K.conv2d(xp, x, w, b, stride, padding, dilation, groups)

    def vjp(F, g, out, x, w, b, stride, padding, dilation, groups, needs=(True, True, True)):
        kernel = tuple(w.shape[2:])
        gx = gw = None
        if needs[0]:
            op = _output_padding(tuple(x.shape[2:]), tuple(g.shape[2:]), kernel, stride,
                                 padding, dilation)
            gx = F.conv_transpose2d(g, w, None, stride=stride, padding=padding,
                                    output_padding=op, dilation=dilation, groups=groups)
        want_b = b is not None and needs[2]
        gb = None
        if needs[1] and want_b:  # one pass over g for both
            gw, gb = F.conv2d_weight_bias(x, g, kernel_size=kernel, stride=stride,
                                          padding=padding, dilation=dilation, groups=groups)
        elif needs[1]:
            gw = F.conv2d_weight(x, g, kernel_size=kernel, stride=stride, padding=padding,
                                 dilation=dilation, groups=groups)
        elif want_b:
            gb = F.channel_sum(g)
        return gx, gw, gb


@register
class ConvTranspose2d(Op):
    """The transpose (adjoint) of conv2d in its input: the gradient of conv2d's input."""

    blas = True

    def cost(out_specs, in_specs, attrs):
        """2·(O/G)·kh·kw FLOPs per input element (each is scattered over a kernel window),
        plus one per output element with a bias."""
        x, w = in_specs[0][0], in_specs[1][0]
        flops = 2 * numel(x) * w[1] * w[2] * w[3]
        if in_specs[2] is not None:
            flops += numel(out_specs[0][0])
        return flops, io_bytes(out_specs, in_specs)

    def vjp_cost(out_specs, in_specs, attrs, needs):
        """The input and weight gradients are each one product of the forward's size; the
        bias gradient is a sum of the output gradient."""
        return bias_vjp_cost(ConvTranspose2d, out_specs, in_specs, attrs, needs)

    def forward(xp, x, w, b, stride, padding, output_padding, dilation, groups):
        return K.conv_transpose2d(xp, x, w, b, stride, padding, output_padding, dilation,
                                  groups)

    def vjp(F, g, out, x, w, b, stride, padding, output_padding, dilation, groups):
        gx = F.conv2d(g, w, None, stride=stride, padding=padding, dilation=dilation,
                      groups=groups)
        gw = F.conv2d_weight(g, x, kernel_size=tuple(w.shape[2:]), stride=stride,
                             padding=padding, dilation=dilation, groups=groups)
        gb = None if b is None else F.channel_sum(g)
        return gx, gw, gb


@register
class Conv2dWeight(Op):
    """The weight gradient of conv2d: ``x`` (N, C, H, W) against ``g`` (N, O, Ho, Wo)."""

    blas = True

    def cost(out_specs, in_specs, attrs):
        """2·N·Ho·Wo FLOPs per weight-gradient element (the forward's product count)."""
        g = in_specs[1][0]
        return 2 * numel(out_specs[0][0]) * (g[0] * g[2] * g[3]), io_bytes(out_specs, in_specs)

    def forward(xp, x, g, kernel_size, stride, padding, dilation, groups):
        return K.conv2d_weight(xp, x, g, kernel_size, stride, padding, dilation, groups)

    def vjp(F, gw, out, x, g, kernel_size, stride, padding, dilation, groups):
        op = _output_padding(tuple(x.shape[2:]), tuple(g.shape[2:]), kernel_size, stride,
                             padding, dilation)
        gx = F.conv_transpose2d(g, gw, None, stride=stride, padding=padding, output_padding=op,
                                dilation=dilation, groups=groups)
        gg = F.conv2d(x, gw, None, stride=stride, padding=padding, dilation=dilation,
                      groups=groups)
        return gx, gg


@register
class Conv2dWeightBias(Op):
    """conv2d's weight and bias gradients together, ``(conv2d_weight(x, g), channel_sum(g))``:
    oneDNN's backward-weights primitive sums the bias gradient while it reads ``g``."""

    blas = True

    n_outputs = 2

    def cost(out_specs, in_specs, attrs):
        """The weight gradient's products plus one add per element of ``g``."""
        g = in_specs[1][0]
        flops = 2 * numel(out_specs[0][0]) * (g[0] * g[2] * g[3]) + numel(g)
        return flops, io_bytes(out_specs, in_specs)

    def forward(xp, x, g, kernel_size, stride, padding, dilation, groups):
        return (K.conv2d_weight(xp, x, g, kernel_size, stride, padding, dilation, groups),
                K.channel_sum(xp, g))

    def vjp(F, gs, out, x, g, kernel_size, stride, padding, dilation, groups):
        gw, gb = gs
        gx, gg = Conv2dWeight.vjp(F, gw, None, x, g, kernel_size, stride, padding, dilation,
                                  groups)
        return gx, gg + ChannelSum.vjp(F, gb, None, g)[0]


# ----------------------------------------------------------------------------- public API


def _tuple(value, n: int, name: str, op: str) -> tuple:
    if isinstance(value, int):
        return (value,) * n
    value = tuple(value)
    if len(value) != n or not all(isinstance(v, int) for v in value):
        raise ValueError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    return value


_LAYOUTS = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}


def _check_operands(op, x, w, b, nd: int):
    for name, t in (("input", x), ("weight", w)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
    if x.ndim not in (nd + 1, nd + 2):
        shape = _LAYOUTS[nd]
        raise op_error(ShapeError, op, f"expected a {nd + 2}-d input {shape} (or {nd + 1}-d "
                       f"without the batch), got {x.ndim}-d", args=[x])
    if w.ndim != nd + 2:
        raise op_error(ShapeError, op, f"expected a {nd + 2}-d weight, got {w.ndim}-d",
                       args=[w])
    if not x.dtype.is_floating_point:
        raise op_error(DTypeError, op, "expects floating-point tensors", args=[x, w],
                       hint="convert with .float()")
    for name, t in (("weight", w), ("bias", b)):
        if t is not None and t.dtype != x.dtype and not _autocasting(x):
            raise op_error(DTypeError, op, f"input and {name} dtypes differ", args=[x, t],
                           hint=f"convert one of them, e.g. {name}.to(input.dtype)")


def _conv_padding(padding, kernel, dilation, stride, op) -> tuple:
    """Normalise ``padding`` (int, tuple, 'same', 'valid') to per-dimension (before, after)."""
    if isinstance(padding, str):
        if padding == "valid":
            return tuple((0, 0) for _ in kernel)
        if padding != "same":
            raise ValueError(f"{op}: padding must be an int, a tuple, 'same' or 'valid', "
                             f"got {padding!r}")
        if any(s != 1 for s in stride):
            raise ValueError(f"{op}: padding='same' is not supported for strided "
                             f"convolutions (stride {stride}); give the padding explicitly")
        total = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in total)
    pads = _tuple(padding, len(kernel), "padding", op)
    if any(p < 0 for p in pads):
        raise ValueError(f"{op}: padding must be non-negative, got {padding!r}")
    return tuple((p, p) for p in pads)


def _check_geometry(op, x, w, groups, kind, stride, dilation):
    c = x.shape[1]
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    if any(s < 1 for s in stride) or any(d < 1 for d in dilation):
        raise ValueError(f"{op}: stride and dilation must be positive, got stride {stride}, "
                         f"dilation {dilation}")
    if kind == "conv":
        if c != w.shape[1] * groups:
            raise op_error(ShapeError, op, f"expected input with {w.shape[1] * groups} channels "
                           f"(weight {tuple(w.shape)}, groups {groups}), got {c}", args=[x, w])
        if w.shape[0] % groups:
            raise op_error(ShapeError, op, f"out_channels {w.shape[0]} is not divisible by "
                           f"groups {groups}", args=[w])
    else:
        if c != w.shape[0]:
            raise op_error(ShapeError, op, f"expected input with {w.shape[0]} channels "
                           f"(weight {tuple(w.shape)}), got {c}", args=[x, w])
        if c % groups:
            raise op_error(ShapeError, op, f"in_channels {c} is not divisible by groups "
                           f"{groups}", args=[w])


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """2-d convolution (cross-correlation) over an (N, C, H, W) input, as PyTorch's.

    Args:
        input: (N, C, H, W), or (C, H, W) without a batch.
        weight: (out_channels, C / groups, kh, kw).
        bias: (out_channels,) or None.
        stride, dilation: an int or a pair.
        padding: an int, a pair, ``'valid'`` (none) or ``'same'`` (output size = input size,
            stride 1 only; odd totals put the extra row/column after).
        groups: split the channels into this many independent convolutions.

    Shape:
        output (N, out_channels, Ho, Wo) with ``Ho = (H + 2p - d(kh - 1) - 1) // s + 1``.

    Example:
        >>> import ember
        >>> import ember.nn.functional as F
        >>> F.conv2d(ember.ones(1, 1, 4, 4), ember.ones(2, 1, 3, 3), padding=1).shape
        (1, 2, 4, 4)
    """
    _check_operands("conv2d", input, weight, bias, 2)
    stride = _tuple(stride, 2, "stride", "conv2d")
    dilation = _tuple(dilation, 2, "dilation", "conv2d")
    pads = _conv_padding(padding, tuple(weight.shape[2:]), dilation, stride, "conv2d")
    unbatched = input.ndim == 3
    x = input.reshape((1,) + tuple(input.shape)) if unbatched else input
    _check_geometry("conv2d", x, weight, groups, "conv", stride, dilation)
    _check_bias("conv2d", bias, weight.shape[0])
    _check_output(x, weight.shape[2:], stride, pads, dilation, "conv2d")
    out = apply(Conv2d, x, weight, bias, stride=stride, padding=pads, dilation=dilation,
                groups=groups)
    return out.reshape(tuple(out.shape[1:])) if unbatched else out


def _check_bias(op, bias, channels):
    if bias is not None and (not isinstance(bias, Tensor) or tuple(bias.shape) != (channels,)):
        got = tuple(bias.shape) if isinstance(bias, Tensor) else type(bias).__name__
        raise ShapeError(f"{op}: bias must be a tensor of shape ({channels},), got {got}")


def _check_output(x, kernel, stride, pads, dilation, op):
    hw = tuple(x.shape[2:])
    padded = tuple(s + p[0] + p[1] for s, p in zip(hw, pads))
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if any(s > p for s, p in zip(span, padded)):
        raise op_error(ShapeError, op, f"the kernel {tuple(kernel)} (dilated extent {span}) is "
                       f"larger than the padded input {padded}", args=[x],
                       hint="use a smaller kernel or dilation, or more padding")


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """1-d convolution over an (N, C, L) input (a conv2d on a height-1 image).

    Args:
        input: (N, C, L), or (C, L) without a batch.
        weight: (out_channels, C / groups, k).
        bias, stride, padding ('same'/'valid' too), dilation, groups: as in ``conv2d``.

    Example:
        >>> import ember
        >>> import ember.nn.functional as F
        >>> F.conv1d(ember.ones(2, 3, 10), ember.ones(4, 3, 3)).shape
        (2, 4, 8)
    """
    _check_operands("conv1d", input, weight, bias, 1)
    stride = _tuple(stride, 1, "stride", "conv1d")
    dilation = _tuple(dilation, 1, "dilation", "conv1d")
    pads = _conv_padding(padding, tuple(weight.shape[2:]), dilation, stride, "conv1d")
    unbatched = input.ndim == 2
    x = input.reshape((1,) + tuple(input.shape)) if unbatched else input
    _check_geometry("conv1d", x, weight, groups, "conv", stride, dilation)
    _check_bias("conv1d", bias, weight.shape[0])
    _check_output(x, weight.shape[2:], stride, pads, dilation, "conv1d")
    n, c, length = x.shape
    w2 = weight.reshape(tuple(weight.shape[:2]) + (1, weight.shape[2]))
    out = apply(Conv2d, x.reshape(n, c, 1, length), w2, bias, stride=(1,) + stride,
                padding=((0, 0),) + pads, dilation=(1,) + dilation, groups=groups)
    out = out.reshape(n, out.shape[1], out.shape[3])
    return out.reshape(tuple(out.shape[1:])) if unbatched else out


def _transpose_args(op, x, w, stride, padding, output_padding, dilation, nd):
    stride = _tuple(stride, nd, "stride", op)
    dilation = _tuple(dilation, nd, "dilation", op)
    pads = _tuple(padding, nd, "padding", op)
    out_pad = _tuple(output_padding, nd, "output_padding", op)
    for p, s, d in zip(out_pad, stride, dilation):
        if not 0 <= p < max(s, d):
            raise ValueError(f"{op}: output_padding {out_pad} must be smaller than stride "
                             f"{stride} or dilation {dilation}")
    if any(p < 0 for p in pads):
        raise ValueError(f"{op}: padding must be non-negative, got {padding!r}")
    size = [(i - 1) * s - 2 * p + d * (k - 1) + o + 1 for i, s, p, d, k, o in
            zip(x.shape[2:], stride, pads, dilation, w.shape[2:], out_pad)]
    if any(s < 1 for s in size):
        raise op_error(ShapeError, op, f"the output size {tuple(size)} is not positive; "
                       "reduce the padding", args=[x, w])
    return stride, tuple((p, p) for p in pads), out_pad, dilation


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """2-d transposed convolution ("deconvolution"), the adjoint of ``conv2d``, as PyTorch's.

    Args:
        input: (N, C_in, H, W), or (C_in, H, W) without a batch.
        weight: (C_in, out_channels / groups, kh, kw).
        bias: (out_channels,) or None.
        stride, padding, dilation: ints or pairs, as for the conv2d being transposed.
        output_padding: extra rows/columns added at the bottom/right of the output
            (smaller than stride or dilation).
        groups: as in conv2d.

    Shape:
        output (N, out_channels, Ho, Wo) with ``Ho = (H - 1)s - 2p + d(kh - 1) + op + 1``.

    Example:
        >>> import ember
        >>> import ember.nn.functional as F
        >>> F.conv_transpose2d(ember.ones(1, 2, 3, 3), ember.ones(2, 1, 3, 3), stride=2).shape
        (1, 1, 7, 7)
    """
    op = "conv_transpose2d"
    _check_operands(op, input, weight, bias, 2)
    unbatched = input.ndim == 3
    x = input.reshape((1,) + tuple(input.shape)) if unbatched else input
    stride, pads, out_pad, dilation = _transpose_args(op, x, weight, stride, padding,
                                                      output_padding, dilation, 2)
    _check_geometry(op, x, weight, groups, "transpose", stride, dilation)
    _check_bias(op, bias, weight.shape[1] * groups)
    out = apply(ConvTranspose2d, x, weight, bias, stride=stride, padding=pads,
                output_padding=out_pad, dilation=dilation, groups=groups)
    return out.reshape(tuple(out.shape[1:])) if unbatched else out


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """1-d transposed convolution over (N, C_in, L); weight (C_in, out_channels / groups, k).

    Example:
        >>> import ember
        >>> import ember.nn.functional as F
        >>> F.conv_transpose1d(ember.ones(1, 2, 5), ember.ones(2, 3, 3)).shape
        (1, 3, 7)
    """
    op = "conv_transpose1d"
    _check_operands(op, input, weight, bias, 1)
    unbatched = input.ndim == 2
    x = input.reshape((1,) + tuple(input.shape)) if unbatched else input
    stride, pads, out_pad, dilation = _transpose_args(op, x, weight, stride, padding,
                                                      output_padding, dilation, 1)
    _check_geometry(op, x, weight, groups, "transpose", stride, dilation)
    _check_bias(op, bias, weight.shape[1] * groups)
    n, c, length = x.shape
    w2 = weight.reshape(tuple(weight.shape[:2]) + (1, weight.shape[2]))
    out = apply(ConvTranspose2d, x.reshape(n, c, 1, length), w2, bias, stride=(1,) + stride,
                padding=((0, 0),) + pads, output_padding=(0,) + out_pad,
                dilation=(1,) + dilation, groups=groups)
    out = out.reshape(n, out.shape[1], out.shape[3])
    return out.reshape(tuple(out.shape[1:])) if unbatched else out
