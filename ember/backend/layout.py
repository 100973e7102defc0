"""Memory layouts of (N, C, H, W) arrays shared by the backends' library calls (cuDNN,
oneDNN): channels-last (NHWC memory) or packed NCHW.

Example:
    >>> import numpy as np
    >>> from ember.backend import layout
    >>> a = layout.empty(np, (2, 3, 4, 5), np.float32, nhwc=True)
    >>> a.shape, a.transpose(0, 2, 3, 1).flags.c_contiguous
    ((2, 3, 4, 5), True)
"""

from __future__ import annotations


def packed(xp, a, nhwc: bool):
    """``a`` (N, C, H, W) with packed NCHW or NHWC memory (a view when it already is)."""
    if nhwc:
        return xp.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    return xp.ascontiguousarray(a)


def empty(xp, shape, dtype, nhwc: bool):
    """An uninitialised (N, C, H, W) array with NHWC (``nhwc``) or NCHW memory."""
    n, c, h, w = shape
    if nhwc:
        return xp.empty((n, h, w, c), dtype=dtype).transpose(0, 3, 1, 2)
    return xp.empty(shape, dtype=dtype)
