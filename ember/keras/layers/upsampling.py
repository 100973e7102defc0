"""``UpSampling2D``: Keras's image upsampling by whole factors, over ``F.interpolate``.

Keras's "bilinear" is TensorFlow's half-pixel resize, which is PyTorch's
``align_corners=False``; "nearest" repeats each row and column.
"""

from __future__ import annotations

from ...ops.resample import interpolate
from . import conv_utils as cu
from .base import Layer
from .core import check_ndim

__all__ = ["UpSampling2D"]

_MODES = {"nearest": "nearest", "bilinear": "bilinear", "bicubic": "bicubic"}


class UpSampling2D(Layer):
    """Repeat (nearest) or interpolate (bilinear, bicubic) rows and columns by ``size``.

    Args:
        size: an int, or ``(rows, cols)`` factors.
        data_format: ``"channels_last"`` (default: (batch, height, width, channels)) or
            ``"channels_first"``.
        interpolation: ``"nearest"``, ``"bilinear"`` or ``"bicubic"``.

    Example:
        >>> import ember
        >>> from ember.keras import layers
        >>> layers.UpSampling2D((2, 3))(ember.ones(1, 4, 4, 3)).shape
        (1, 8, 12, 3)
    """

    def __init__(self, size=(2, 2), data_format: str | None = None,
                 interpolation: str = "nearest", **kwargs) -> None:
        super().__init__(**kwargs)
        self.size = cu.normalize_tuple(size, 2, "size", "UpSampling2D")
        self.data_format = cu.data_format(data_format)
        if interpolation not in _MODES:
            raise ValueError(f"UpSampling2D: interpolation must be one of "
                             f"{', '.join(map(repr, _MODES))}, got {interpolation!r}")
        self.interpolation = interpolation

    def call(self, inputs):
        check_ndim(tuple(inputs.shape), ndim=4, layout="(batch, height, width, channels)")
        last = self.data_format == "channels_last"
        x = cu.to_channels_first(inputs) if last else inputs
        size = tuple(n * f for n, f in zip(x.shape[2:], self.size))
        align = None if self.interpolation == "nearest" else False
        y = interpolate(x, size=size, mode=_MODES[self.interpolation], align_corners=align)
        return cu.to_channels_last(y) if last else y

    def compute_output_shape(self, input_shape):
        check_ndim(input_shape, ndim=4, layout="(batch, height, width, channels)")
        shape = list(input_shape)
        first = 1 if self.data_format == "channels_last" else 2
        for i, f in enumerate(self.size):
            if shape[first + i] is not None:
                shape[first + i] *= f
        return tuple(shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "size": list(self.size),
                "data_format": self.data_format, "interpolation": self.interpolation}
