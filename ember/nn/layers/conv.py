"""Convolution layers: ``Conv1d``, ``Conv2d``, ``ConvTranspose1d``, ``ConvTranspose2d``.

Example:
    >>> import ember
    >>> conv = ember.nn.Conv2d(3, 16, 3, padding=1)
    >>> conv(ember.randn(8, 3, 32, 32)).shape
    (8, 16, 32, 32)
"""

from __future__ import annotations

from ...errors import ShapeError
from ...ops import conv as C
from ...ops import conv3d as C3
from ...ops import creation
from ...ops import shape as sh
from .. import init
from ..module import Module, layer_error
from ..parameter import Parameter

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
           "ConvTranspose3d"]

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _ntuple(value, n: int, name: str, layer: str) -> tuple:
    if isinstance(value, int):
        return (value,) * n
    value = tuple(value)
    if len(value) != n or not all(isinstance(v, int) for v in value):
        raise ValueError(f"{layer}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    return value


class _ConvNd(Module):
    nd = 2
    transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 output_padding=0, device=None, dtype=None) -> None:
        super().__init__()
        name = type(self).__name__
        n = self.nd
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must be divisible by groups ({groups})")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {PADDING_MODES}, got "
                             f"{padding_mode!r}")
        if self.transposed and padding_mode != "zeros":
            raise ValueError(f"{name}: only padding_mode='zeros' is supported")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _ntuple(kernel_size, n, "kernel_size", name)
        self.stride = _ntuple(stride, n, "stride", name)
        self.dilation = _ntuple(dilation, n, "dilation", name)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: padding must be an int, a tuple, 'same' or 'valid', "
                                 f"got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' is not supported for strided "
                                 "convolutions")
            self.padding = padding
        else:
            self.padding = _ntuple(padding, n, "padding", name)
        self.output_padding = _ntuple(output_padding, n, "output_padding", name)
        self.groups = groups
        self.padding_mode = padding_mode
        shape = ((in_channels, out_channels // groups) if self.transposed
                 else (out_channels, in_channels // groups)) + self.kernel_size
        self.weight = Parameter(creation.empty(*shape, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(creation.empty(out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: kaiming-uniform(a=sqrt(5)) weights, U(+-1/sqrt(fan_in)) bias."""
        init._default_weight_and_bias_(self.weight, self.bias)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * self.nd:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self.nd:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self.nd:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s

    def _short_name(self) -> str:
        return (f"{type(self).__name__}({self.in_channels}, {self.out_channels}, "
                f"kernel_size={self.kernel_size})")

    def _check_input(self, x) -> None:
        layout = C._LAYOUTS[self.nd]
        shape = tuple(x.shape)
        if len(shape) not in (self.nd + 1, self.nd + 2):
            raise layer_error(self, f"expected a {self.nd + 2}-d input {layout} (or "
                              f"{self.nd + 1}-d without the batch), got shape {shape}")
        c = shape[-self.nd - 1]
        if c != self.in_channels:
            raise ShapeError(f"{self._short_name()}: expected input with {self.in_channels} "
                             f"channels {layout}, got shape {shape}")
        if x.data.dtype != self.weight.data.dtype:
            from ...ops.nn_ops import _check_same_dtype

            _check_same_dtype(type(self).__name__, x, self.weight)


class _Conv(_ConvNd):
    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, 0, device, dtype)
        if self.padding_mode != "zeros":  # (left, right) pairs, last dimension first
            if self.padding == "same":
                totals = [d * (k - 1) for k, d in zip(self.kernel_size, self.dilation)]
                pairs = [(t // 2, t - t // 2) for t in totals]
            elif self.padding == "valid":
                pairs = [(0, 0)] * self.nd
            else:
                pairs = [(p, p) for p in self.padding]
            self._mode_pad = tuple(p for pair in reversed(pairs) for p in pair)

    def forward(self, input):
        self._check_input(input)
        fn = {1: C.conv1d, 2: C.conv2d, 3: C3.conv3d}[self.nd]
        padding = self.padding
        if self.padding_mode != "zeros":
            if any(self._mode_pad):
                try:
                    input = sh.pad(input, self._mode_pad, self.padding_mode)
                except ValueError as exc:
                    raise layer_error(self, str(exc)) from None
            padding = 0
        try:
            return fn(input, self.weight, self.bias, self.stride, padding, self.dilation,
                      self.groups)
        except ValueError as exc:
            raise layer_error(self, str(exc)) from None


class Conv2d(_Conv):
    """2-d convolution over (N, C_in, H, W) images, as PyTorch's ``nn.Conv2d``.

    Args:
        in_channels, out_channels: channel counts of input and output.
        kernel_size: an int or (kh, kw).
        stride, dilation: ints or pairs.
        padding: an int, a pair, ``'valid'`` or ``'same'`` (stride 1).
        groups: independent channel groups (``in_channels`` for depthwise).
        bias: learn a per-channel bias.
        padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.

    Shape:
        (N, C_in, H, W) -> (N, C_out, Ho, Wo), ``Ho = (H + 2p - d(k - 1) - 1) // s + 1``;
        (C_in, H, W) without a batch.

    Example:
        >>> import ember
        >>> ember.nn.Conv2d(3, 16, 3, stride=2, padding=1, padding_mode="reflect")
        Conv2d(3, 16, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), padding_mode=reflect)
    """

    nd = 2


class Conv3d(_Conv):
    """3-d convolution over (N, C_in, D, H, W) volumes, as PyTorch's ``nn.Conv3d``.

    Args: as ``Conv2d``, with ints or triples for the sizes.

    Shape:
        (N, C_in, D, H, W) -> (N, C_out, Do, Ho, Wo); (C_in, D, H, W) without a batch.

    Example:
        >>> import ember
        >>> ember.nn.Conv3d(2, 4, 3, padding=1)(ember.randn(1, 2, 4, 5, 6)).shape
        (1, 4, 4, 5, 6)
    """

    nd = 3


class Conv1d(_Conv):
    """1-d convolution over (N, C_in, L) sequences, as PyTorch's ``nn.Conv1d``.

    Args: as ``Conv2d``, with ints (or 1-tuples) for the sizes.

    Shape:
        (N, C_in, L) -> (N, C_out, Lo); (C_in, L) without a batch.

    Example:
        >>> import ember
        >>> ember.nn.Conv1d(4, 8, 5, padding="same")(ember.randn(2, 4, 30)).shape
        (2, 8, 30)
    """

    nd = 1


class _ConvTranspose(_ConvNd):
    transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 padding_mode: str = "zeros", device=None, dtype=None) -> None:
        if isinstance(padding, str):
            raise ValueError(f"{type(self).__name__}: padding must be an int or a tuple, got "
                             f"{padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, output_padding, device, dtype)

    def _output_padding(self, input, output_size) -> tuple:
        if output_size is None:
            return self.output_padding
        n = self.nd
        size = tuple(output_size)[-n:]
        if len(size) != n:
            raise layer_error(self, f"output_size must have {n} or {n + 2} elements, got "
                              f"{tuple(output_size)}")
        pads = []
        for d in range(n):
            low = ((input.shape[d - n] - 1) * self.stride[d] - 2 * self.padding[d]
                   + self.dilation[d] * (self.kernel_size[d] - 1) + 1)
            high = low + max(self.stride[d], self.dilation[d]) - 1
            if not low <= size[d] <= high:
                raise layer_error(self, f"requested an output size of {size}, but valid "
                                  f"sizes for dimension {d} range from {low} to {high} (for an "
                                  f"input of shape {tuple(input.shape)})")
            pads.append(size[d] - low)
        return tuple(pads)

    def forward(self, input, output_size=None):
        self._check_input(input)
        out_pad = self._output_padding(input, output_size)
        fn = {1: C.conv_transpose1d, 2: C.conv_transpose2d, 3: C3.conv_transpose3d}[self.nd]
        try:
            return fn(input, self.weight, self.bias, self.stride, self.padding, out_pad,
                      self.groups, self.dilation)
        except ValueError as exc:
            raise layer_error(self, str(exc)) from None


class ConvTranspose2d(_ConvTranspose):
    """2-d transposed convolution, as PyTorch's ``nn.ConvTranspose2d``.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias:
            as for the ``Conv2d`` whose gradient this is.
        output_padding: extra rows/columns at the bottom/right of the output; or pass
            ``output_size`` to ``forward``.

    Shape:
        (N, C_in, H, W) -> (N, C_out, Ho, Wo), ``Ho = (H - 1)s - 2p + d(k - 1) + op + 1``.

    Example:
        >>> import ember
        >>> up = ember.nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1)
        >>> up(ember.randn(1, 16, 5, 5), output_size=(10, 10)).shape
        (1, 8, 10, 10)
    """

    nd = 2


class ConvTranspose3d(_ConvTranspose):
    """3-d transposed convolution, as PyTorch's ``nn.ConvTranspose3d``; arguments as
    ``ConvTranspose2d``, with triples.

    Example:
        >>> import ember
        >>> ember.nn.ConvTranspose3d(4, 2, 3, stride=2)(ember.randn(1, 4, 2, 3, 3)).shape
        (1, 2, 5, 7, 7)
    """

    nd = 3


class ConvTranspose1d(_ConvTranspose):
    """1-d transposed convolution, as PyTorch's ``nn.ConvTranspose1d``.

    Example:
        >>> import ember
        >>> ember.nn.ConvTranspose1d(4, 2, 3, stride=2)(ember.randn(1, 4, 6)).shape
        (1, 2, 13)
    """

    nd = 1

