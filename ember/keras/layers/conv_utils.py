"""Shape arithmetic shared by the convolution and pooling layers (Keras's rules)."""

from __future__ import annotations

import math

from ...errors import ShapeError

__all__ = ["normalize_tuple", "data_format", "output_length", "same_pads", "spatial_axes",
           "to_channels_first", "to_channels_last"]


def normalize_tuple(value, n: int, name: str, layer: str, minimum: int = 1) -> tuple:
    """``3`` -> ``(3, 3)``; checks the length and that each entry is an int >= minimum."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,) * n
    value = tuple(value)
    if len(value) != n or not all(isinstance(v, int) and v >= minimum for v in value):
        raise ValueError(f"{layer}: {name} must be an integer or a tuple of {n} integers "
                         f">= {minimum}, got {value!r}")
    return value


def data_format(value: str | None) -> str:
    value = value or "channels_last"
    if value not in ("channels_last", "channels_first"):
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', got {value!r}")
    return value


def check_padding(padding: str, layer: str, allowed=("valid", "same")) -> str:
    padding = padding.lower() if isinstance(padding, str) else padding
    if padding not in allowed:
        raise ValueError(f"{layer}: padding must be one of {', '.join(map(repr, allowed))}, "
                         f"got {padding!r}")
    return padding


def output_length(size, kernel: int, stride: int, padding: str, dilation: int = 1):
    """The output size of a convolution or pooling along one axis (None stays None)."""
    if size is None:
        return None
    span = (kernel - 1) * dilation + 1
    if padding == "valid":
        return (size - span) // stride + 1 if size >= span else 0
    return math.ceil(size / stride)  # same and causal


def output_shape(layer, spatial: tuple, kernel: tuple, strides: tuple, padding: str,
                 dilation: tuple, what: str = "kernel") -> tuple:
    out = tuple(output_length(s, k, st, padding, d)
                for s, k, st, d in zip(spatial, kernel, strides, dilation))
    if any(o is not None and o <= 0 for o in out):
        span = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilation))
        raise ShapeError(f"the {what} {span} is larger than the spatial size {tuple(spatial)} "
                         f"with padding='{padding}'; use padding='same', a smaller {what}, or "
                         "less downsampling before this layer")
    return out


def same_pads(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """Keras/TensorFlow 'same' padding: the extra row or column, if any, goes after."""
    span = (kernel - 1) * dilation + 1
    total = max((math.ceil(size / stride) - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


def spatial_axes(ndim: int, fmt: str) -> tuple:
    return tuple(range(1, ndim - 1)) if fmt == "channels_last" else tuple(range(2, ndim))


def to_channels_first(x):
    """``(N, *spatial, C)`` -> ``(N, C, *spatial)`` (a view)."""
    return x.permute(0, x.ndim - 1, *range(1, x.ndim - 1))


def to_channels_last(x):
    """``(N, C, *spatial)`` -> ``(N, *spatial, C)`` (a view)."""
    return x.permute(0, *range(2, x.ndim), 1)


def flat_pad(pads: list) -> tuple:
    """Per-spatial-axis (before, after) pairs -> ember.pad's last-axis-first flat tuple."""
    return tuple(p for pair in reversed(pads) for p in pair)
