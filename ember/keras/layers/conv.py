"""Convolution layers: Conv1D, Conv2D, Conv2DTranspose and ZeroPadding2D.

Keras's default layout is channels-last (``(batch, height, width, channels)``); ember.nn's
convolutions are channels-first, so a channels-last layer moves the channel axis around the
``ember.nn`` convolution (a view, no copy) and back. ``padding="same"`` follows TensorFlow:
when the padding is odd, the extra row/column goes at the bottom/right.
"""

from __future__ import annotations

from ... import nn
from ...errors import ShapeError
from ...nn import functional as F
from ...ops.shape import pad as _pad
from .. import activations, initializers
from . import conv_utils as cu
from .base import Layer
from .core import check_ndim

__all__ = ["Conv1D", "Conv2D", "Conv2DTranspose", "ZeroPadding2D"]

_LAYOUT = {1: "(batch, steps, channels)", 2: "(batch, height, width, channels)"}


class _Conv(Layer):
    rank = 2

    def __init__(self, filters: int, kernel_size, strides=1, padding: str = "valid",
                 data_format: str | None = None, dilation_rate=1, groups: int = 1,
                 activation=None, use_bias: bool = True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs) -> None:
        super().__init__(**kwargs)
        kind, n = type(self).__name__, self.rank
        if not isinstance(filters, int) or filters < 1:
            raise ValueError(f"{kind}: filters must be a positive integer, got {filters!r}")
        self.filters = filters
        self.kernel_size = cu.normalize_tuple(kernel_size, n, "kernel_size", kind)
        self.strides = cu.normalize_tuple(strides, n, "strides", kind)
        self.dilation_rate = cu.normalize_tuple(dilation_rate, n, "dilation_rate", kind)
        allowed = ("valid", "same", "causal") if n == 1 else ("valid", "same")
        self.padding = cu.check_padding(padding, kind, allowed)
        self.data_format = cu.data_format(data_format)
        self.groups = int(groups)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def _channels(self, input_shape) -> int:
        check_ndim(input_shape, ndim=self.rank + 2, layout=_LAYOUT[self.rank]
                   if self.data_format == "channels_last" else "(batch, channels, ...)")
        c = input_shape[-1] if self.data_format == "channels_last" else input_shape[1]
        if c is None:
            raise ShapeError("the number of input channels must be known")
        return c

    def build(self, input_shape) -> None:
        c = self._channels(input_shape)
        if c % self.groups or self.filters % self.groups:
            raise ShapeError(f"{c} input channels and {self.filters} filters must both be "
                             f"divisible by groups={self.groups}")
        cls = nn.Conv1d if self.rank == 1 else nn.Conv2d
        self.conv = cls(c, self.filters, self.kernel_size, stride=self.strides,
                        dilation=self.dilation_rate, groups=self.groups, bias=self.use_bias)
        self.kernel_initializer(self.conv.weight)
        if self.use_bias:
            self.bias_initializer(self.conv.bias)

    def _pads(self, spatial: tuple) -> list:
        if self.padding == "valid":
            return [(0, 0)] * self.rank
        if self.padding == "causal":
            return [((self.kernel_size[0] - 1) * self.dilation_rate[0], 0)]
        return [cu.same_pads(s, k, st, d) for s, k, st, d in
                zip(spatial, self.kernel_size, self.strides, self.dilation_rate)]

    def call(self, inputs):
        x = cu.to_channels_first(inputs) if self.data_format == "channels_last" else inputs
        pads = self._pads(tuple(x.shape[2:]))
        if all(a == b for a, b in pads):
            padding = tuple(a for a, _ in pads)
        else:
            x, padding = _pad(x, cu.flat_pad(pads)), 0
        conv = F.conv1d if self.rank == 1 else F.conv2d
        y = conv(x, self.conv.weight, self.conv.bias, stride=self.strides, padding=padding,
                 dilation=self.dilation_rate, groups=self.groups)
        if self.data_format == "channels_last":
            y = cu.to_channels_last(y)
        return self.activation(y)

    def compute_output_shape(self, input_shape):
        c = self._channels(input_shape)
        if c != self.conv.in_channels:
            raise ShapeError(f"this layer was built for {self.conv.in_channels} input channels")
        last = self.data_format == "channels_last"
        spatial = tuple(input_shape[1:-1] if last else input_shape[2:])
        out = cu.output_shape(self, spatial, self.kernel_size, self.strides, self.padding,
                              self.dilation_rate)
        return (input_shape[0],) + (out + (self.filters,) if last else (self.filters,) + out)

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": list(self.dilation_rate), "groups": self.groups,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer)}


class Conv2D(_Conv):
    """2-D convolution over images, wrapping ``ember.nn.Conv2d``.

    Args:
        filters: the number of output channels.
        kernel_size: an int or ``(height, width)``.
        strides: an int or a pair; ``padding``: ``"valid"`` (none) or ``"same"`` (output
            size ``ceil(input / stride)``).
        data_format: ``"channels_last"`` (default, Keras's) or ``"channels_first"``.
        dilation_rate, groups, activation, use_bias, kernel_initializer, bias_initializer:
            as in Keras.

    Shape:
        ``(batch, height, width, channels)`` -> ``(batch, new_height, new_width, filters)``.

    Example:
        >>> import ember
        >>> from ember.keras import layers
        >>> layers.Conv2D(8, 3, padding="same", activation="relu")(ember.ones(2, 6, 6, 1)).shape
        (2, 6, 6, 8)
    """

    rank = 2


class Conv1D(_Conv):
    """1-D convolution over sequences, wrapping ``ember.nn.Conv1d``; ``padding="causal"``
    pads only on the left, so step t sees no later steps.

    Shape:
        ``(batch, steps, channels)`` -> ``(batch, new_steps, filters)``.

    Example:
        >>> import ember
        >>> from ember.keras import layers
        >>> layers.Conv1D(4, 3, padding="causal")(ember.ones(2, 10, 3)).shape
        (2, 10, 4)
    """

    rank = 1


class Conv2DTranspose(_Conv):
    """Transposed 2-D convolution (learned upsampling), wrapping ``ember.nn.ConvTranspose2d``.

    With ``padding="same"`` the output is ``input * stride``; with ``"valid"`` it is
    ``input * stride + max(kernel - stride, 0)`` (Keras's rule).

    Example:
        >>> import ember
        >>> from ember.keras import layers
        >>> layers.Conv2DTranspose(4, 3, strides=2, padding="same")(ember.ones(1, 5, 5, 2)).shape
        (1, 10, 10, 4)
    """

    rank = 2

    def __init__(self, filters: int, kernel_size, strides=1, padding: str = "valid",
                 output_padding=None, data_format: str | None = None, dilation_rate=1,
                 **kwargs) -> None:
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate,
                         **kwargs)
        self.output_padding = None if output_padding is None else cu.normalize_tuple(
            output_padding, 2, "output_padding", "Conv2DTranspose", minimum=0)

    def _torch_padding(self) -> tuple:
        pads, extra = [], []
        for i, (k, s, d) in enumerate(zip(self.kernel_size, self.strides, self.dilation_rate)):
            span = (k - 1) * d + 1
            if self.output_padding is not None:
                p = span // 2 if self.padding == "same" else 0
                pads.append(p)
                extra.append(self.output_padding[i])
            elif self.padding == "valid":
                pads.append(0)
                extra.append(max(s - span, 0))
            else:
                total = span - s
                p = -(-total // 2) if total >= 0 else 0
                pads.append(p)
                extra.append(2 * p - total)
        return tuple(pads), tuple(extra)

    def build(self, input_shape) -> None:
        c = self._channels(input_shape)
        padding, output_padding = self._torch_padding()
        self.conv = nn.ConvTranspose2d(c, self.filters, self.kernel_size, stride=self.strides,
                                       padding=padding, output_padding=output_padding,
                                       dilation=self.dilation_rate, bias=self.use_bias)
        self.kernel_initializer(self.conv.weight)
        if self.use_bias:
            self.bias_initializer(self.conv.bias)

    def call(self, inputs):
        x = cu.to_channels_first(inputs) if self.data_format == "channels_last" else inputs
        y = self.conv(x)
        if self.data_format == "channels_last":
            y = cu.to_channels_last(y)
        return self.activation(y)

    def compute_output_shape(self, input_shape):
        c = self._channels(input_shape)
        if c != self.conv.in_channels:
            raise ShapeError(f"this layer was built for {self.conv.in_channels} input channels")
        last = self.data_format == "channels_last"
        spatial = input_shape[1:-1] if last else input_shape[2:]
        padding, extra = self._torch_padding()
        out = tuple(None if n is None else (n - 1) * s - 2 * p + (k - 1) * d + e + 1
                    for n, s, p, k, d, e in zip(spatial, self.strides, padding,
                                                self.kernel_size, self.dilation_rate, extra))
        return (input_shape[0],) + (out + (self.filters,) if last else (self.filters,) + out)

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("groups")
        config["output_padding"] = None if self.output_padding is None else \
            list(self.output_padding)
        return config


class ZeroPadding2D(Layer):
    """Pad images with zeros: ``padding`` is an int, ``(rows, cols)`` or
    ``((top, bottom), (left, right))``.

    Example:
        >>> import ember
        >>> from ember.keras import layers
        >>> layers.ZeroPadding2D(((1, 0), (2, 2)))(ember.ones(1, 3, 3, 1)).shape
        (1, 4, 7, 1)
    """

    def __init__(self, padding=(1, 1), data_format: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if isinstance(padding, int):
            padding = ((padding, padding), (padding, padding))
        elif all(isinstance(p, int) for p in padding):
            padding = tuple((p, p) for p in padding)
        pads = tuple(tuple(int(v) for v in pair) for pair in padding)
        if len(pads) != 2 or any(len(p) != 2 or min(p) < 0 for p in pads):
            raise ValueError(f"ZeroPadding2D: padding must be an int, (rows, cols) or ((top, "
                             f"bottom), (left, right)) of non-negative ints, got {padding!r}")
        self.padding = pads
        self.data_format = cu.data_format(data_format)

    def call(self, inputs):
        (t, b), (left, right) = self.padding
        if self.data_format == "channels_last":
            return _pad(inputs, (0, 0, left, right, t, b))
        return _pad(inputs, (left, right, t, b))

    def compute_output_shape(self, input_shape):
        check_ndim(input_shape, ndim=4, layout=_LAYOUT[2])
        shape = list(input_shape)
        first = 1 if self.data_format == "channels_last" else 2
        for i, (a, b) in enumerate(self.padding):
            if shape[first + i] is not None:
                shape[first + i] += a + b
        return tuple(shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "padding": [list(p) for p in self.padding],
                "data_format": self.data_format}
