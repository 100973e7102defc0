"""ReLU and its gradient as oneDNN binary primitives over an array's memory.

Elementwise work does not care about axes, so a dense float32 array of any layout (packed
NCHW, or ember's channels-last activations) is described to oneDNN as the 1-D run of its
memory, and the result is written into an array of the same layout. oneDNN's kernels run on
its OpenMP threads; NumPy's ``maximum(x, 0)`` and ``g * (x > 0)`` took 4-7 times as long at
the sizes of a small CNN's activations. Below ``MIN_SIZE`` elements, and for other dtypes or
layouts, NumPy keeps the work.

The results are the NumPy forms' bit for bit, nan included:

- forward: ``max(max(x, 0), x) + 0``. oneDNN's max (and its eltwise ReLU) gives 0 for nan;
  the second max, with ``x`` as the post-op operand, gives the nan back and changes nothing
  else but -0.0, which the added +0.0 turns into 0.0 as NumPy's maximum gives it;
- gradient: ``(max(x, 0) > 0) * g``. oneDNN's ``x > 0`` is true for nan (an unordered
  comparison), ``max(nan, 0)`` is 0: so the mask is 0 where ``x`` is nan, and the product
  is nan where ``g`` is infinite and ``x <= 0``, as NumPy's ``g * (x > 0)``.
"""

from __future__ import annotations

import threading

import numpy as np

from ._binary import ADD, GT, MAX, MUL, binary
from ._lib import _Library, cached

MIN_SIZE = 1 << 15  # elements: below this a primitive call costs more than NumPy's pass
_ZERO = np.zeros(1, np.float32)


class _ReluProblem:
    """ReLU forward and gradient primitives for ``n`` elements."""

    def __init__(self, lib: _Library, n: int) -> None:
        self.lock = threading.Lock()  # the memories are shared by callers of one size
        self.fwd = binary(lib, MAX, n, True, (("binary", MAX, False), ("binary", ADD, True)),
                          ())
        self.bwd = binary(lib, MAX, n, True, (("binary", GT, True), ("binary", MUL, False)),
                          ())


def _memory(a):
    """The 1-D view of a dense array's memory, or None (gaps, or overlapping axes)."""
    if a.flags.c_contiguous:
        return a.reshape(-1)
    order = sorted(range(a.ndim), key=lambda k: -abs(a.strides[k]))
    t = a.transpose(order)
    return t.reshape(-1) if t.flags.c_contiguous else None


def _problem(*arrays):
    a = arrays[0]
    if (a.dtype != np.float32 or a.size < MIN_SIZE
            or any(b.dtype != np.float32 or b.strides != a.strides or b.shape != a.shape
                   for b in arrays[1:])):
        return None
    flat = [_memory(b) for b in arrays]
    if any(f is None for f in flat):
        return None
    prob = cached(("relu", a.size), lambda lib: _ReluProblem(lib, a.size))
    return None if prob is None else (prob, flat)


def relu(x, out=None):
    """``max(x, 0)`` (into ``out`` when given, which must have ``x``'s layout), or None when
    oneDNN does not run it."""
    found = _problem(x) if out is None else _problem(x, out)
    if found is None:
        return None
    prob, (fx, *rest) = found
    if out is None:
        out = np.empty_like(x)  # x's layout (dense: the 'K' order keeps its strides)
        rest = [_memory(out)]
    with prob.lock:
        prob.fwd.run(fx, _ZERO, rest[0], fx, _ZERO)
    return out


def relu_backward(g, x, out=None):
    """``g * (x > 0)`` for ``g`` and ``x`` of one layout (into ``out`` when given), or None
    when oneDNN does not run it."""
    found = _problem(g, x) if out is None else _problem(g, x, out)
    if found is None:
        return None
    prob, (fg, fx, *rest) = found
    if out is None:
        out = np.empty_like(g)
        rest = [_memory(out)]
    with prob.lock:
        prob.bwd.run(fx, _ZERO, rest[0], _ZERO, fg)
    return out
