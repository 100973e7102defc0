"""Matrix products (``matmul``, ``linear``)."""

from __future__ import annotations

import ctypes
import threading

import numpy as np

from ._lib import _BIAS, _DST, _SRC, _STATE, _WEIGHTS, _Library, _p, _usable, active, cached


class _MatmulProblem:
    """One cached matrix product: its primitive and memories."""

    def __init__(self, lib: _Library, a, b, bias, out) -> None:
        self.lock = threading.Lock()
        mds = [lib.md(*_dims(x, out.ndim)) for x in (a, b, out)]
        bias_md = None if bias is None else lib.md((1,) * (out.ndim - 1) + bias.shape,
                                                    (0,) * (out.ndim - 1) + (1,))
        pd = _p()
        lib.check(lib.lib.dnnl_matmul_primitive_desc_create(
            ctypes.byref(pd), lib.engine, mds[0], mds[1], bias_md, mds[2], None),
            "dnnl_matmul_primitive_desc_create")
        self.prim = lib.primitive(pd)
        self.mems = [lib.memory(md) for md in mds]
        self.mem_bias = None if bias_md is None else lib.memory(bias_md)
        self._mds = (*mds, bias_md, pd)


def _dims(x, nd):
    """``(dims, strides in elements)`` of ``x`` with leading dimensions of 1 up to ``nd``."""
    pad = nd - x.ndim
    return (1,) * pad + x.shape, (x.size,) * pad + tuple(s // 4 for s in x.strides)


def _plain(x) -> bool:
    """Strides oneDNN's matmul takes: non-negative, whole elements, no broadcast (0) strides
    on dimensions longer than one, and one of the last two dimensions dense."""
    st = x.strides
    if any(s < 0 or s % 4 or (s == 0 and n > 1) for s, n in zip(st, x.shape)):
        return False
    return st[-1] == 4 or st[-2] == 4 or x.shape[-1] == 1 or x.shape[-2] == 1


def matmul(a, b, bias=None, out=None):
    """``a @ b`` (+ ``bias`` along the last axis) for float32 arrays of 2 or more
    dimensions with broadcast batch dimensions, into ``out`` if given; None when not handled.

    Operands with strides oneDNN does not take (no dense axis among the last two, broadcast
    strides) are copied first.
    """
    if not _usable(a, b, bias) or a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-2]:
        return None
    if not active():
        return None
    try:
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        return None
    shape = batch + (a.shape[-2], b.shape[-1])
    if out is None:
        out = np.empty(shape, dtype=np.float32)
    elif out.shape != shape or out.dtype != np.float32 or not _plain(out):
        return None
    if not _plain(a):
        a = np.ascontiguousarray(a)
    if not _plain(b):
        b = np.ascontiguousarray(b)
    if bias is not None:
        bias = np.ascontiguousarray(bias)
        if bias.shape != (shape[-1],):
            return None
    key = ("matmul", a.shape, a.strides, b.shape, b.strides, out.shape, out.strides,
           bias is not None)
    prob = cached(key, lambda lib: _MatmulProblem(lib, a, b, bias, out))
    if prob is None:
        return None
    lib = _STATE["lib"]
    args = [(_SRC, prob.mems[0], a), (_WEIGHTS, prob.mems[1], b), (_DST, prob.mems[2], out)]
    if bias is not None:
        args.append((_BIAS, prob.mem_bias, bias))
    with prob.lock:
        lib.execute(prob.prim, args)
    return out
