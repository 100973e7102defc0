"""Window functions for spectral analysis, with PyTorch's names and definitions.

Each window is computed in float64 from ``arange`` and elementwise ops, then cast to
``dtype`` (the default float when None). A ``periodic`` window of length N is the symmetric
window of length N + 1 without its last sample, the form ``stft`` wants; a window of length 0
is empty and one of length 1 is ``[1.]``, whatever the kind.
"""

from __future__ import annotations

import math

from .. import dtypes as _dt
from ..errors import DTypeError, ShapeError
from ..tensor import Tensor
from .creation import arange, ones, zeros
from .elementwise import abs, astype, cos, sqrt

__all__ = ["bartlett_window", "blackman_window", "hamming_window", "hann_window",
           "kaiser_window"]


def _window(name, window_length, periodic, dtype, device, requires_grad, body) -> Tensor:
    """Builds a window from ``body(n, denominator)`` where ``n`` is ``0 .. M-1`` as float64
    and ``M`` the symmetric length; handles the lengths 0 and 1 and ``periodic``."""
    window_length = int(window_length)
    if window_length < 0:
        raise ShapeError(f"{name}: window_length must be non-negative, got {window_length}")
    dtype = _dt.to_dtype(dtype) if dtype is not None else _dt.default_float
    if not dtype.is_floating_point:
        raise DTypeError(f"{name}: a window is real-valued, so dtype must be floating "
                         f"point, got {dtype.name}")
    if window_length <= 1:
        make = ones if window_length == 1 else zeros
        out = make(window_length, dtype=dtype, device=device)
    else:
        size = window_length + 1 if periodic else window_length
        n = arange(size, dtype=_dt.float64, device=device)
        out = body(n, size)
        if periodic:
            out = out[:-1]
        out = astype(out, dtype)
    if requires_grad:
        out.requires_grad_(True)
    return out


def hann_window(window_length: int, periodic: bool = True, *, dtype=None, device=None,
                requires_grad: bool = False) -> Tensor:
    """The Hann window, ``0.5 - 0.5 cos(2 pi n / (N - 1))``.

    Args:
        window_length: the number of samples N.
        periodic: if True, the first N samples of the symmetric window of length N + 1.
        dtype: a floating-point dtype (default: the default float).

    Example:
        >>> ember.hann_window(4)
        tensor([0. , 0.5, 1. , 0.5])
        >>> ember.hann_window(4, periodic=False)
        tensor([0.  , 0.75, 0.75, 0.  ])
    """
    return hamming_window(window_length, periodic, 0.5, 0.5, dtype=dtype, device=device,
                          requires_grad=requires_grad)


def hamming_window(window_length: int, periodic: bool = True, alpha: float = 0.54,
                   beta: float = 0.46, *, dtype=None, device=None,
                   requires_grad: bool = False) -> Tensor:
    """The generalised Hamming window, ``alpha - beta cos(2 pi n / (N - 1))``.

    Args:
        window_length: the number of samples N.
        periodic: if True, the first N samples of the symmetric window of length N + 1.
        alpha, beta: the coefficients (0.5, 0.5 gives the Hann window).
        dtype: a floating-point dtype (default: the default float).

    Example:
        >>> ember.hamming_window(4, periodic=False)
        tensor([0.08, 0.77, 0.77, 0.08])
    """
    def body(n, size):
        return alpha - beta * cos(n * (2 * math.pi / (size - 1)))

    return _window("hamming_window", window_length, periodic, dtype, device, requires_grad,
                   body)


def blackman_window(window_length: int, periodic: bool = True, *, dtype=None, device=None,
                    requires_grad: bool = False) -> Tensor:
    """The Blackman window, ``0.42 - 0.5 cos(2 pi n / (N - 1)) + 0.08 cos(4 pi n / (N - 1))``.

    Args:
        window_length: the number of samples N.
        periodic: if True, the first N samples of the symmetric window of length N + 1.
        dtype: a floating-point dtype (default: the default float).

    Example:
        >>> ember.blackman_window(5, periodic=False)[1:4]
        tensor([0.34, 1.  , 0.34])
    """
    def body(n, size):
        step = 2 * math.pi / (size - 1)
        return 0.42 - 0.5 * cos(n * step) + 0.08 * cos(n * (2 * step))

    return _window("blackman_window", window_length, periodic, dtype, device, requires_grad,
                   body)


def bartlett_window(window_length: int, periodic: bool = True, *, dtype=None, device=None,
                    requires_grad: bool = False) -> Tensor:
    """The Bartlett (triangular) window, ``1 - |2 n / (N - 1) - 1|``.

    Args:
        window_length: the number of samples N.
        periodic: if True, the first N samples of the symmetric window of length N + 1.
        dtype: a floating-point dtype (default: the default float).

    Example:
        >>> ember.bartlett_window(5, periodic=False)
        tensor([0. , 0.5, 1. , 0.5, 0. ])
    """
    def body(n, size):
        return 1.0 - abs(n * (2.0 / (size - 1)) - 1.0)

    return _window("bartlett_window", window_length, periodic, dtype, device, requires_grad,
                   body)


def _i0(x, beta: float):
    """The modified Bessel function of the first kind, order 0, of ``x`` (a tensor or a float)
    in ``[0, beta]``,
    by its power series ``sum (x/2)^(2k) / (k!)^2``; the terms past ``k ~ beta`` shrink
    geometrically, so a fixed count depending on ``beta`` reaches float64 precision."""
    quarter_square = x * x * 0.25
    term = quarter_square * 0.0 + 1.0
    total = term
    for k in range(1, int(abs(beta)) + 8 * int(math.sqrt(abs(beta)) + 1) + 30):
        term = term * quarter_square * (1.0 / (k * k))
        total = total + term
    return total


def kaiser_window(window_length: int, periodic: bool = True, beta: float = 12.0, *,
                  dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """The Kaiser window, ``I0(beta sqrt(1 - ((n - a) / a)^2)) / I0(beta)`` with
    ``a = (N - 1) / 2`` and ``I0`` the zeroth-order modified Bessel function.

    Args:
        window_length: the number of samples N.
        periodic: if True, the first N samples of the symmetric window of length N + 1.
        beta: the shape parameter; larger is narrower in time, wider in frequency.
        dtype: a floating-point dtype (default: the default float).

    Example:
        >>> ember.kaiser_window(5, periodic=False, beta=2.0)
        tensor([0.4387, 0.8348, 1.    , 0.8348, 0.4387])
    """
    beta = float(beta)

    def body(n, size):
        half = (size - 1) / 2.0
        ratio = (n - half) * (1.0 / half)
        arg = sqrt(abs(1.0 - ratio * ratio)) * beta
        return _i0(arg, beta) * (1.0 / _i0(beta, beta))

    return _window("kaiser_window", window_length, periodic, dtype, device, requires_grad,
                   body)
