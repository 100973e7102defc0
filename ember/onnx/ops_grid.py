"""ONNX import: GridSample (opsets 16, 20, 22) and Col2Im (see ops.py for the table and its
conventions), onto ``F.grid_sample`` and ``F.fold`` so imported models still differentiate.

The spec is the onnx package's reference implementation (``onnx/reference/ops/
op_grid_sample.py``, ``op_col2im.py``). Opset 20 renamed GridSample's modes ``bilinear`` and
``bicubic`` to ``linear`` and ``cubic``; both spellings are read. Col2Im's pads may differ at
the two ends: the columns are folded into the padded image, which is then cropped.
"""

from __future__ import annotations

import itertools
import math

from .. import ops as E
from ..ops import sampling as S
from .ops import _ints, onnx_op

_MODES = {"linear": "bilinear", "bilinear": "bilinear", "nearest": "nearest",
          "cubic": "bicubic", "bicubic": "bicubic"}


def _text(value, default: str) -> str:
    if value is None:
        return default
    return value.decode() if isinstance(value, bytes) else str(value)


@onnx_op("GridSample")
def _grid_sample(m, n, x, grid):
    """GridSample: the input read at the grid's points (x first, as in PyTorch)."""
    mode = _text(n.attrs.get("mode"), "bilinear")
    padding_mode = _text(n.attrs.get("padding_mode"), "zeros")
    nd = x.ndim - 2
    if mode not in _MODES or nd not in (2, 3) or (nd == 3 and _MODES[mode] == "bicubic"):
        raise NotImplementedError(f"GridSample: mode {mode!r} over {nd} spatial dimensions "
                                  "(ember samples 2-d in every mode, 3-d linear/nearest)")
    return S.grid_sample(x, grid.to(x.dtype), mode=_MODES[mode], padding_mode=padding_mode,
                         align_corners=bool(n.attrs.get("align_corners", 0)))


@onnx_op("Col2Im")
def _col2im(m, n, x, image_shape, block_shape):
    """Col2Im: columns (N, C·prod(block), L) summed into (N, C, *image_shape)."""
    image, block = _ints(image_shape), _ints(block_shape)
    if len(image) != 2:
        return _col2im_nd(n, x, image, block)
    dilation = tuple(n.attrs.get("dilations", [1, 1]))
    stride = tuple(n.attrs.get("strides", [1, 1]))
    pads = list(n.attrs.get("pads", [0, 0, 0, 0]))  # begin_h, begin_w, end_h, end_w
    padded = (image[0] + pads[0] + pads[2], image[1] + pads[1] + pads[3])
    y = S.fold(x, padded, tuple(block), dilation=dilation, padding=0, stride=stride)
    return y[:, :, pads[0]:pads[0] + image[0], pads[1]:pads[1] + image[1]]


def _pad_axis(t, axis, before, after):
    """``t`` zero-padded by ``before``/``after`` along ``axis``."""
    if not (before or after):
        return t
    return E.pad(t, tuple([0, 0] * (t.ndim - axis - 1) + [before, after]))


def _col2im_nd(n, x, image, block):
    """Col2Im over any number of spatial dimensions: each block offset's columns, spread to
    their strided positions (zeros between) and shifted into place, summed."""
    nd = len(image)
    dilation = list(n.attrs.get("dilations", [1] * nd))
    stride = list(n.attrs.get("strides", [1] * nd))
    pads = list(n.attrs.get("pads", [0] * (2 * nd)))
    padded = [image[i] + pads[i] + pads[nd + i] for i in range(nd)]
    counts = [(padded[i] - dilation[i] * (block[i] - 1) - 1) // stride[i] + 1
              for i in range(nd)]
    batch, channels = x.shape[0], x.shape[1] // math.prod(block)
    cols = x.reshape((batch, channels) + tuple(block) + tuple(counts))
    total = None
    for offsets in itertools.product(*[range(k) for k in block]):
        part = cols[(slice(None), slice(None)) + offsets]
        for i in range(nd):
            a, span = 2 + i, (counts[i] - 1) * stride[i] + 1
            if stride[i] > 1:  # stride - 1 zeros after each column
                shape = tuple(part.shape)
                part = _pad_axis(part.reshape(shape[:a + 1] + (1,) + shape[a + 1:]), a + 1, 0,
                                 stride[i] - 1)
                part = part.reshape(shape[:a] + (counts[i] * stride[i],) + shape[a + 1:])
                part = part[(slice(None),) * a + (slice(0, span),)]
            start = offsets[i] * dilation[i]
            part = _pad_axis(part, a, start, padded[i] - start - span)
        total = part if total is None else total + part
    crop = tuple(slice(pads[i], pads[i] + image[i]) for i in range(nd))
    return total[(slice(None), slice(None)) + crop]
