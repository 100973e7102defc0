"""Pooling layers: Max/AveragePooling 1D and 2D, GlobalAverage/GlobalMaxPooling 1D and 2D.

They call ``ember.nn.functional``'s channels-first pooling, moving the channel axis for
Keras's channels-last default. ``padding="same"`` pads like TensorFlow (extra row/column at
the end); padded cells never win a max and are not counted in an average.
"""

from __future__ import annotations

from ...nn import functional as F
from ...ops.creation import ones
from ...ops.shape import pad as _pad
from . import conv_utils as cu
from .base import Layer
from .core import check_ndim

__all__ = ["MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D",
           "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D",
           "GlobalMaxPooling2D"]


class _Pooling(Layer):
    rank = 2
    mode = "max"

    def __init__(self, pool_size=2, strides=None, padding: str = "valid",
                 data_format: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        kind = type(self).__name__
        self.pool_size = cu.normalize_tuple(pool_size, self.rank, "pool_size", kind)
        self.strides = self.pool_size if strides is None else \
            cu.normalize_tuple(strides, self.rank, "strides", kind)
        self.padding = cu.check_padding(padding, kind)
        self.data_format = cu.data_format(data_format)

    def call(self, inputs):
        x = cu.to_channels_first(inputs) if self.data_format == "channels_last" else inputs
        pads = [(0, 0)] * self.rank if self.padding == "valid" else \
            [cu.same_pads(s, k, st) for s, k, st in zip(x.shape[2:], self.pool_size,
                                                       self.strides)]
        padded = any(a or b for a, b in pads)
        if self.mode == "max":
            if padded:
                x = _pad(x, cu.flat_pad(pads), value=float("-inf"))
            pool = F.max_pool1d if self.rank == 1 else F.max_pool2d
            y = pool(x, self.pool_size, self.strides)
        else:
            pool = F.avg_pool1d if self.rank == 1 else F.avg_pool2d
            if padded:
                count = pool(_pad(ones(1, 1, *x.shape[2:], dtype=x.dtype), cu.flat_pad(pads)),
                             self.pool_size, self.strides)
                y = pool(_pad(x, cu.flat_pad(pads)), self.pool_size, self.strides) / count
            else:
                y = pool(x, self.pool_size, self.strides)
        return cu.to_channels_last(y) if self.data_format == "channels_last" else y

    def compute_output_shape(self, input_shape):
        check_ndim(input_shape, ndim=self.rank + 2)
        last = self.data_format == "channels_last"
        spatial = tuple(input_shape[1:-1] if last else input_shape[2:])
        out = cu.output_shape(self, spatial, self.pool_size, self.strides, self.padding,
                              (1,) * self.rank, what="pool_size")
        c = input_shape[-1] if last else input_shape[1]
        return (input_shape[0],) + (out + (c,) if last else (c,) + out)

    def get_config(self) -> dict:
        return {**super().get_config(), "pool_size": list(self.pool_size),
                "strides": list(self.strides), "padding": self.padding,
                "data_format": self.data_format}


class MaxPooling2D(_Pooling):
    """The maximum over ``pool_size`` windows of each channel.

    Args:
        pool_size: an int or ``(rows, cols)``; ``strides`` defaults to ``pool_size``.
        padding: ``"valid"`` or ``"same"``. data_format: ``"channels_last"`` by default.

    Example:
        >>> import ember
        >>> from ember.keras import layers
        >>> layers.MaxPooling2D((2, 2))(ember.ones(1, 5, 5, 3)).shape
        (1, 2, 2, 3)
    """


class AveragePooling2D(_Pooling):
    """The mean over ``pool_size`` windows of each channel (arguments as ``MaxPooling2D``).

    Example:
        >>> import ember
        >>> from ember.keras import layers
        >>> layers.AveragePooling2D(2, padding="same")(ember.ones(1, 5, 5, 3)).shape
        (1, 3, 3, 3)
    """

    mode = "avg"


class MaxPooling1D(_Pooling):
    """The maximum over windows of steps: ``(batch, steps, channels)``.

    Example:
        >>> import ember
        >>> from ember.keras import layers
        >>> layers.MaxPooling1D(2)(ember.ones(1, 9, 3)).shape
        (1, 4, 3)
    """

    rank = 1


class AveragePooling1D(_Pooling):
    """The mean over windows of steps: ``(batch, steps, channels)``."""

    rank = 1
    mode = "avg"


class _GlobalPooling(Layer):
    rank = 2
    mode = "avg"

    def __init__(self, data_format: str | None = None, keepdims: bool = False,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.data_format = cu.data_format(data_format)
        self.keepdims = bool(keepdims)

    def call(self, inputs):
        axes = cu.spatial_axes(inputs.ndim, self.data_format)
        if self.mode == "avg":
            return inputs.mean(dim=axes, keepdim=self.keepdims)
        return inputs.amax(dim=axes, keepdim=self.keepdims)

    def compute_output_shape(self, input_shape):
        check_ndim(input_shape, ndim=self.rank + 2)
        axes = cu.spatial_axes(len(input_shape), self.data_format)
        if self.keepdims:
            return tuple(1 if i in axes else d for i, d in enumerate(input_shape))
        return tuple(d for i, d in enumerate(input_shape) if i not in axes)

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format,
                "keepdims": self.keepdims}


class GlobalAveragePooling2D(_GlobalPooling):
    """The mean over height and width: ``(batch, h, w, c)`` -> ``(batch, c)``.

    Example:
        >>> import ember
        >>> from ember.keras import layers
        >>> layers.GlobalAveragePooling2D()(ember.ones(2, 4, 4, 3)).shape
        (2, 3)
    """


class GlobalMaxPooling2D(_GlobalPooling):
    """The maximum over height and width: ``(batch, h, w, c)`` -> ``(batch, c)``."""

    mode = "max"


class GlobalAveragePooling1D(_GlobalPooling):
    """The mean over steps: ``(batch, steps, c)`` -> ``(batch, c)``."""

    rank = 1


class GlobalMaxPooling1D(_GlobalPooling):
    """The maximum over steps: ``(batch, steps, c)`` -> ``(batch, c)``."""

    rank = 1
    mode = "max"
