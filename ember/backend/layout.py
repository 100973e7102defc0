"""Memory layouts of (N, C, H, W) arrays (or (N, C, D, H, W)) shared by the backends' library
calls (cuDNN, oneDNN): channels-last (NHWC / NDHWC memory) or packed NCHW.

Example:
    >>> import numpy as np
    >>> from ember.backend import layout
    >>> a = layout.empty(np, (2, 3, 4, 5), np.float32, nhwc=True)
    >>> a.shape, a.transpose(0, 2, 3, 1).flags.c_contiguous
    ((2, 3, 4, 5), True)
"""

from __future__ import annotations


def _last(nd: int) -> tuple:
    """The axes of an (N, C, *spatial) array in channels-last memory order, and back."""
    return (0, *range(2, nd), 1), (0, nd - 1, *range(1, nd - 1))


def packed(xp, a, nhwc: bool):
    """``a`` (N, C, H, W) or (N, C, D, H, W) with packed NCHW or channels-last memory (a view
    when it already is)."""
    if nhwc:
        to, back = _last(a.ndim)
        return xp.ascontiguousarray(a.transpose(to)).transpose(back)
    return xp.ascontiguousarray(a)


def empty(xp, shape, dtype, nhwc: bool):
    """An uninitialised (N, C, H, W) or (N, C, D, H, W) array with channels-last (``nhwc``)
    or NCHW memory."""
    if nhwc:
        to, back = _last(len(shape))
        return xp.empty(tuple(shape[i] for i in to), dtype=dtype).transpose(back)
    return xp.empty(shape, dtype=dtype)
