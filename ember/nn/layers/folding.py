"""Sliding-window layers: ``Unfold`` (im2col) and ``Fold`` (col2im), ``F.unfold``/``F.fold``
as modules.

Example:
    >>> import ember
    >>> ember.nn.Unfold(kernel_size=2)(ember.ones(1, 3, 4, 4)).shape
    (1, 12, 9)
"""

from __future__ import annotations

from ...ops import sampling as S
from ..module import Module

__all__ = ["Unfold", "Fold"]


class Unfold(Module):
    """Extract sliding windows as columns: ``F.unfold`` as a layer.

    Args:
        kernel_size, dilation, padding, stride: an int or a pair, as in ``Conv2d``.

    Shape:
        (N, C, H, W) -> (N, C·kh·kw, L).

    Example:
        >>> import ember
        >>> ember.nn.Unfold(kernel_size=(2, 3), stride=2)(ember.ones(2, 1, 4, 7)).shape
        (2, 6, 6)
    """

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, input):
        return S.unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")


class Fold(Module):
    """Sum columns back into an image: ``F.fold`` as a layer.

    Args:
        output_size: the image's spatial size (H, W) (or an int for both).
        kernel_size, dilation, padding, stride: as in ``Unfold``.

    Shape:
        (N, C·kh·kw, L) -> (N, C, H, W).

    Example:
        >>> import ember
        >>> ember.nn.Fold(output_size=(4, 5), kernel_size=2)(ember.ones(1, 12, 12)).shape
        (1, 3, 4, 5)
    """

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1) -> None:
        super().__init__()
        self.output_size = output_size
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, input):
        return S.fold(input, self.output_size, self.kernel_size, self.dilation, self.padding,
                      self.stride)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, "
                f"dilation={self.dilation}, padding={self.padding}, stride={self.stride}")
