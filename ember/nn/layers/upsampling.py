"""Upsampling layers: ``Upsample`` (every ``F.interpolate`` mode), ``UpsamplingNearest2d``,
``UpsamplingBilinear2d`` and the sub-pixel rearrangements ``PixelShuffle``/``PixelUnshuffle``.

Example:
    >>> import ember
    >>> ember.nn.Upsample(scale_factor=2, mode="nearest")(ember.ones(1, 3, 4, 5)).shape
    (1, 3, 8, 10)
    >>> ember.nn.PixelShuffle(2)(ember.ones(1, 8, 3, 3)).shape
    (1, 2, 6, 6)
"""

from __future__ import annotations

from ...ops import resample as R
from ..module import Module

__all__ = ["Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d", "PixelShuffle",
           "PixelUnshuffle"]


class Upsample(Module):
    """Resample the spatial dimensions: ``F.interpolate`` as a layer.

    Args:
        size: the output's spatial size (an int, or one per dimension).
        scale_factor: a multiplier (or one per dimension) instead of ``size``.
        mode: ``"nearest"``, ``"nearest-exact"``, ``"linear"``, ``"bilinear"``,
            ``"bicubic"``, ``"trilinear"`` or ``"area"``.
        align_corners: for the interpolating modes, as in ``F.interpolate``.
        recompute_scale_factor: as in ``F.interpolate``.

    Shape:
        (N, C, *in) -> (N, C, *out).

    Example:
        >>> import ember
        >>> up = ember.nn.Upsample(scale_factor=2, mode="linear", align_corners=False)
        >>> up(ember.tensor([[[0.0, 4.0]]]))
        tensor([[[0., 1., 3., 4.]]])
    """

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest",
                 align_corners: bool | None = None,
                 recompute_scale_factor: bool | None = None) -> None:
        super().__init__()
        self.size = size
        self.scale_factor = float(scale_factor) if isinstance(scale_factor, (int, float)) \
            else scale_factor
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input):
        return R.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                             self.recompute_scale_factor)

    def extra_repr(self) -> str:
        where = f"size={self.size}" if self.size is not None \
            else f"scale_factor={self.scale_factor}"
        return f"{where}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """2-d nearest-neighbour upsampling (PyTorch's older layer; ``Upsample`` does the same).

    Example:
        >>> import ember
        >>> ember.nn.UpsamplingNearest2d(scale_factor=3)(ember.ones(1, 1, 2, 2)).shape
        (1, 1, 6, 6)
    """

    def __init__(self, size=None, scale_factor=None) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """2-d bilinear upsampling with ``align_corners=True``, as PyTorch's older layer.

    Example:
        >>> import ember
        >>> ember.nn.UpsamplingBilinear2d(size=(3, 3))(ember.ones(1, 1, 2, 2)).shape
        (1, 1, 3, 3)
    """

    def __init__(self, size=None, scale_factor=None) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


class PixelShuffle(Module):
    """Rearrange (*, C·r², H, W) to (*, C, H·r, W·r) (``F.pixel_shuffle``).

    Example:
        >>> import ember
        >>> ember.nn.PixelShuffle(3)(ember.ones(2, 9, 4, 4)).shape
        (2, 1, 12, 12)
    """

    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, input):
        return R.pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """Rearrange (*, C, H·r, W·r) to (*, C·r², H, W) (``F.pixel_unshuffle``).

    Example:
        >>> import ember
        >>> ember.nn.PixelUnshuffle(2)(ember.ones(2, 1, 4, 4)).shape
        (2, 4, 2, 2)
    """

    def __init__(self, downscale_factor: int) -> None:
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, input):
        return R.pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"
