"""ONNX signal-processing ops: DFT, STFT, HannWindow, HammingWindow, BlackmanWindow and
MelWeightMatrix.

ember has no complex dtype, so a complex signal is what ONNX stores anyway: a trailing axis
of size 2 (real, imaginary), or 1 for a real signal. A DFT along an axis is two real matrix
products with constant cosine and sine matrices, so it is differentiable and runs wherever
``matmul`` does. The spec is onnx's reference implementation (``onnx/reference/ops/``).
"""

from __future__ import annotations

import math

import numpy as np

from .. import dtypes as _dt
from .. import ops as E
from .ops import _dtype_of_onnx, _scalar, onnx_op


def _basis(rows: int, cols: int, length: int, dtype):
    """``cos`` and ``sin`` of ``2 pi j k / length`` for j < rows, k < cols; ``j k`` is reduced
    modulo ``length`` in integers first, so large transforms keep float64 accuracy."""
    j = E.reshape(E.arange(rows, dtype=_dt.int64), (-1, 1))
    k = E.reshape(E.arange(cols, dtype=_dt.int64), (1, -1))
    angle = E.astype(E.remainder(j * k, length), _dt.float64) * (2 * math.pi / length)
    return E.astype(E.cos(angle), dtype), E.astype(E.sin(angle), dtype)


def _leading(v, size: int):
    return v if v.shape[-1] <= size else v[..., :size]


def _dft_last(re, im, length: int, inverse: bool, onesided: bool):
    """The DFT of ``re + i im`` (``im`` may be None) along the last axis, zero-padded or
    cropped to ``length``; returns (real, imaginary or None for a real result)."""
    if inverse and onesided:  # irfft: the Hermitian half spectrum to a real signal
        half = length // 2 + 1
        re = _leading(re, half)
        cos, sin = _basis(re.shape[-1], length, length, re.dtype)
        k = E.arange(re.shape[-1], dtype=_dt.float64)
        # each bin but the first (and the Nyquist bin of an even length) stands for two
        once = (k == 0) | (k * 2 == length)
        weight = E.where(once, E.full_like(k, 1.0 / length), E.full_like(k, 2.0 / length))
        out = E.matmul(re, cos * E.astype(E.reshape(weight, (-1, 1)), re.dtype))
        if im is not None:  # sin vanishes on the bins counted once: their imaginary parts drop
            weight = E.where(once, E.zeros_like(k), weight)
            sin = sin * E.astype(E.reshape(weight, (-1, 1)), re.dtype)
            out = out - E.matmul(_leading(im, half), sin)
        return out, None
    cols = length // 2 + 1 if onesided and not inverse else length
    re = _leading(re, length)
    cos, sin = _basis(re.shape[-1], cols, length, re.dtype)
    sign = 1.0 if inverse else -1.0
    real, imag = E.matmul(re, cos), E.matmul(re, sin) * sign
    if im is not None:
        im = _leading(im, length)
        real = real - E.matmul(im, sin) * sign
        imag = imag + E.matmul(im, cos)
    if inverse:
        real, imag = real / float(length), imag / float(length)
    return real, imag


def _dft(x, axis: int, length, inverse: bool, onesided: bool):
    """ONNX DFT of ``x`` (trailing axis 1 or 2) along ``axis``."""
    axis %= x.ndim
    if axis == x.ndim - 1:
        raise NotImplementedError("DFT: axis may not be the trailing (real, imaginary) axis")
    if length is None:
        length = 2 * (x.shape[axis] - 1) if inverse and onesided else x.shape[axis]
    # float64 products: the reference transforms in float64, and float32 sums of a few
    # hundred terms miss its near-zero outputs by more than the tests' atol
    wide = E.astype(x, _dt.float64)
    re = E.movedim(wide[..., 0], axis, -1)
    im = E.movedim(wide[..., 1], axis, -1) if x.shape[-1] == 2 else None
    real, imag = _dft_last(re, im, int(length), inverse, onesided)
    parts = [real] if imag is None else [real, imag]
    return E.astype(E.stack([E.movedim(p, -1, axis) for p in parts], -1), x.dtype)


@onnx_op("DFT")
def _dft_op(m, n, x, dft_length=None, axis=None):
    if m.opset >= 20:
        axis = -2 if axis is None else int(_scalar(axis))
    else:
        axis = n.attrs.get("axis", 1)
    length = None if dft_length is None else int(_scalar(dft_length))
    return _dft(x, axis, length, bool(n.attrs.get("inverse", 0)),
                bool(n.attrs.get("onesided", 0)))


@onnx_op("STFT")
def _stft(m, n, x, frame_step, window=None, frame_length=None):
    step = int(_scalar(frame_step))
    if frame_length is not None:
        length = int(_scalar(frame_length))
    else:
        length = x.shape[-2] if window is None else window.shape[0]
    frames = 1 + (x.shape[-2] - length) // step
    starts = E.reshape(E.arange(frames, dtype=_dt.int64) * step, (-1, 1))
    index = E.reshape(starts + E.reshape(E.arange(length, dtype=_dt.int64), (1, -1)), (-1,))
    framed = E.reshape(E.index_select(x, x.ndim - 2, index),
                       x.shape[:-2] + (frames, length, x.shape[-1]))
    if window is not None:
        framed = framed * E.reshape(E.astype(window, x.dtype), (length, 1))
    return _dft(framed, framed.ndim - 2, length, False, bool(n.attrs.get("onesided", 1)))


_WINDOWS = {"HannWindow": lambda size, periodic: E.hann_window(
                size, periodic, dtype=_dt.float64),
            "HammingWindow": lambda size, periodic: E.hamming_window(
                size, periodic, alpha=25 / 46, beta=21 / 46, dtype=_dt.float64),
            "BlackmanWindow": lambda size, periodic: E.blackman_window(
                size, periodic, dtype=_dt.float64)}


@onnx_op(*_WINDOWS)
def _window(m, n, size):
    """ONNX's windows are PyTorch's, with Hamming's alpha 25/46 rather than 0.54 (and a
    symmetric window of length 1 is [1] here where the formula divides by zero)."""
    dtype = _dtype_of_onnx(n.attrs.get("output_datatype", 1))
    window = _WINDOWS[n.op_type](int(_scalar(size)), bool(n.attrs.get("periodic", 1)))
    return E.astype(window, dtype)


@onnx_op("MelWeightMatrix")
def _mel_weight_matrix(m, n, num_mel_bins, dft_length, sample_rate, lower_edge_hertz,
                       upper_edge_hertz):
    """Triangular filters evenly spaced on the mel scale, as the reference computes them
    (in the inputs' own dtypes, so the bin edges land on the same integers)."""
    bins, length, rate, low, high = (np.asarray(v.detach().numpy()).reshape(()) for v in (
        num_mel_bins, dft_length, sample_rate, lower_edge_hertz, upper_edge_hertz))
    bins, length = int(bins), int(length)
    edges = np.arange(0, bins + 2)
    low_mel = 2595 * np.log1p(low / 700) / np.log(10)
    high_mel = 2595 * np.log1p(high / 700) / np.log(10)
    edges = edges * ((high_mel - low_mel) / edges.shape[0]) + low_mel
    edges = 700 * np.expm1(edges / 2595 * np.log(10))
    edges = (((length + 1) * edges) // rate).astype(int)
    out = np.zeros((length // 2 + 1, bins))
    for i in range(bins):
        left, centre, right = edges[i], edges[i + 1], edges[i + 2]
        if centre == left:
            out[centre, i] = 1
        else:
            out[left:centre + 1, i] = (np.arange(left, centre + 1) - left) / (centre - left)
        if right > centre:
            out[centre:right, i] = (right - np.arange(centre, right)) / (right - centre)
    dtype = _dtype_of_onnx(n.attrs.get("output_datatype", 1))
    return E.astype(E.from_numpy(out), dtype)
