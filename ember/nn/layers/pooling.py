"""Pooling layers: max, average and adaptive pools in 1-d and 2-d, as PyTorch's.

Example:
    >>> import ember
    >>> pool = ember.nn.MaxPool2d(2)
    >>> pool(ember.randn(8, 16, 32, 32)).shape
    (8, 16, 16, 16)
"""

from __future__ import annotations

from ...errors import ShapeError
from ...ops import conv3d as P3
from ...ops import normalization_more
from ...ops import pool as P
from ..module import Module, layer_error

__all__ = ["MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
           "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d",
           "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "LPPool1d", "LPPool2d"]


def _single(value):
    return value if isinstance(value, tuple) else (value,)


class _Pool(Module):
    nd = 2

    def _call(self, fn, input, *args):
        layout = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}[self.nd]
        if input.ndim not in (self.nd + 1, self.nd + 2):
            raise layer_error(self, f"expected a {self.nd + 2}-d input {layout} (or "
                              f"{self.nd + 1}-d without the batch), got shape "
                              f"{tuple(input.shape)}")
        try:
            return fn(input, *args)
        except ShapeError as exc:
            raise layer_error(self, str(exc)) from None


class _MaxPool(_Pool):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input):
        fn = {1: P.max_pool1d, 2: P.max_pool2d, 3: P3.max_pool3d}[self.nd]
        return self._call(fn, input, self.kernel_size, self.stride, self.padding,
                          self.dilation, self.ceil_mode, self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool2d(_MaxPool):
    """2-d max pooling, as PyTorch's ``nn.MaxPool2d``.

    Args:
        kernel_size: window size, an int or a pair.
        stride: step between windows (default ``kernel_size``).
        padding: implicit -inf padding, at most half the kernel.
        dilation: spacing between window elements.
        return_indices: also return the flat ``h * W + w`` position of each maximum.
        ceil_mode: round the output size up instead of down.

    Shape:
        (N, C, H, W) -> (N, C, Ho, Wo), ``Ho = floor((H + 2p - d(k - 1) - 1) / s) + 1``.

    Example:
        >>> import ember
        >>> ember.nn.MaxPool2d(3, stride=2, padding=1)
        MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)
    """

    nd = 2


class MaxPool3d(_MaxPool):
    """3-d max pooling over (N, C, D, H, W), as PyTorch's ``nn.MaxPool3d``; arguments as
    ``MaxPool2d`` (indices are flat ``d * H * W + h * W + w`` positions).

    Example:
        >>> import ember
        >>> ember.nn.MaxPool3d(2)(ember.randn(1, 3, 4, 6, 6)).shape
        (1, 3, 2, 3, 3)
    """

    nd = 3


class MaxPool1d(_MaxPool):
    """1-d max pooling over (N, C, L), as PyTorch's ``nn.MaxPool1d``; arguments as MaxPool2d.

    Example:
        >>> import ember
        >>> ember.nn.MaxPool1d(2)(ember.randn(4, 3, 10)).shape
        (4, 3, 5)
    """

    nd = 1


class AvgPool2d(_Pool):
    """2-d average pooling, as PyTorch's ``nn.AvgPool2d``.

    Args:
        kernel_size, stride (default ``kernel_size``), padding (zeros), ceil_mode:
            as in ``MaxPool2d``.
        count_include_pad: count padded zeros in each window's divisor.
        divisor_override: divide every window's sum by this instead.

    Example:
        >>> import ember
        >>> ember.nn.AvgPool2d(2)(ember.ones(1, 1, 4, 4))
        tensor([[[[1., 1.],
                  [1., 1.]]]])
    """

    nd = 2

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input):
        fn = P3.avg_pool3d if self.nd == 3 else P.avg_pool2d
        return self._call(fn, input, self.kernel_size, self.stride, self.padding,
                          self.ceil_mode, self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool3d(AvgPool2d):
    """3-d average pooling over (N, C, D, H, W), as PyTorch's ``nn.AvgPool3d``; arguments as
    ``AvgPool2d``.

    Example:
        >>> import ember
        >>> ember.nn.AvgPool3d(2)(ember.ones(1, 1, 2, 2, 2))
        tensor([[[[[1.]]]]])
    """

    nd = 3


class AvgPool1d(_Pool):
    """1-d average pooling over (N, C, L), as PyTorch's ``nn.AvgPool1d``.

    Example:
        >>> import ember
        >>> ember.nn.AvgPool1d(3, stride=2)
        AvgPool1d(kernel_size=(3,), stride=(2,), padding=(0,))
    """

    nd = 1

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True) -> None:
        super().__init__()
        self.kernel_size = _single(kernel_size)
        self.stride = _single(stride if stride is not None else kernel_size)
        self.padding = _single(padding)
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, input):
        return self._call(P.avg_pool1d, input, self.kernel_size, self.stride, self.padding,
                          self.ceil_mode, self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _Adaptive(_Pool):
    def __init__(self, output_size) -> None:
        super().__init__()
        self.output_size = output_size

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool2d(_Adaptive):
    """Average pooling to a fixed (Ho, Wo), as PyTorch's ``nn.AdaptiveAvgPool2d``.

    Args:
        output_size: (Ho, Wo), an int for both, or None in a place to keep that size.

    Example:
        >>> import ember
        >>> ember.nn.AdaptiveAvgPool2d((1, 1))(ember.randn(2, 8, 5, 7)).shape
        (2, 8, 1, 1)
    """

    nd = 2

    def forward(self, input):
        return self._call(P.adaptive_avg_pool2d, input, self.output_size)


class AdaptiveAvgPool3d(_Adaptive):
    """Average pooling to a fixed (Do, Ho, Wo), as PyTorch's ``nn.AdaptiveAvgPool3d``.

    Example:
        >>> import ember
        >>> ember.nn.AdaptiveAvgPool3d((1, 2, 2))(ember.randn(2, 8, 3, 5, 7)).shape
        (2, 8, 1, 2, 2)
    """

    nd = 3

    def forward(self, input):
        return self._call(P3.adaptive_avg_pool3d, input, self.output_size)


class AdaptiveAvgPool1d(_Adaptive):
    """Average pooling of (N, C, L) to a fixed length, as PyTorch's ``nn.AdaptiveAvgPool1d``.

    Example:
        >>> import ember
        >>> ember.nn.AdaptiveAvgPool1d(3)(ember.randn(2, 8, 10)).shape
        (2, 8, 3)
    """

    nd = 1

    def forward(self, input):
        return self._call(P.adaptive_avg_pool1d, input, self.output_size)


class AdaptiveMaxPool2d(_Adaptive):
    """Max pooling to a fixed (Ho, Wo), as PyTorch's ``nn.AdaptiveMaxPool2d``.

    Args:
        output_size: (Ho, Wo), an int for both, or None in a place to keep that size.
        return_indices: also return the flat ``h * W + w`` position of each maximum.

    Example:
        >>> import ember
        >>> ember.nn.AdaptiveMaxPool2d(2)(ember.randn(2, 8, 5, 7)).shape
        (2, 8, 2, 2)
    """

    nd = 2

    def __init__(self, output_size, return_indices: bool = False) -> None:
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, input):
        return self._call(P.adaptive_max_pool2d, input, self.output_size, self.return_indices)


class AdaptiveMaxPool3d(AdaptiveMaxPool2d):
    """Max pooling to a fixed (Do, Ho, Wo), as PyTorch's ``nn.AdaptiveMaxPool3d``; indices
    are flat ``d * H * W + h * W + w`` positions.

    Example:
        >>> import ember
        >>> ember.nn.AdaptiveMaxPool3d(2)(ember.randn(2, 8, 3, 5, 7)).shape
        (2, 8, 2, 2, 2)
    """

    nd = 3

    def forward(self, input):
        return self._call(P3.adaptive_max_pool3d, input, self.output_size,
                          self.return_indices)


class AdaptiveMaxPool1d(AdaptiveMaxPool2d):
    """Max pooling of (N, C, L) to a fixed length, as PyTorch's ``nn.AdaptiveMaxPool1d``.

    Example:
        >>> import ember
        >>> ember.nn.AdaptiveMaxPool1d(4)(ember.randn(2, 8, 10)).shape
        (2, 8, 4)
    """

    nd = 1

    def forward(self, input):
        return self._call(P.adaptive_max_pool1d, input, self.output_size, self.return_indices)


class LPPool2d(_Pool):
    """2-d power-average pooling: ``(sum of x ** p over each window) ** (1 / p)``.

    Args:
        norm_type: p; kernel_size, stride (default ``kernel_size``), ceil_mode: as in
            ``AvgPool2d``.

    Example:
        >>> import ember
        >>> ember.nn.LPPool2d(2, 3, stride=2)(ember.randn(1, 4, 9, 9)).shape
        (1, 4, 4, 4)
    """

    def __init__(self, norm_type: float, kernel_size, stride=None,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        self.norm_type = norm_type
        self.kernel_size = kernel_size
        self.stride = stride
        self.ceil_mode = ceil_mode

    def forward(self, input):
        fn = normalization_more.lp_pool1d if self.nd == 1 else normalization_more.lp_pool2d
        return self._call(fn, input, self.norm_type, self.kernel_size, self.stride,
                          self.ceil_mode)

    def extra_repr(self) -> str:
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, ceil_mode={self.ceil_mode}")


class LPPool1d(LPPool2d):
    """1-d power-average pooling over (N, C, L); arguments as in ``LPPool2d``.

    Example:
        >>> import ember
        >>> ember.nn.LPPool1d(2, 3)(ember.randn(2, 4, 9)).shape
        (2, 4, 3)
    """

    nd = 1
