"""oneDNN's binary primitive over 1-D float32 vectors, with post-op chains and run-time
scales: the building block of the elementwise work done through oneDNN (Adam's and SGD's
updates in ``_optim.py``, ReLU and its gradient in ``_eltwise.py``).

Elementwise work does not care about axes, so a dense array of any layout is described as
the 1-D run of its memory. A second source or post-op operand is either a whole vector or a
one-element vector broadcast over it (a scalar that changes at run time without a new
primitive). ``Bound`` keeps a primitive's argument list built, so a call only sets the data
pointers.
"""

from __future__ import annotations

import ctypes

from ._lib import _Arg, _Library, _p, address

ADD, MUL, MAX, GT = 0x1FFF0, 0x1FFF1, 0x1FFF2, 0x1FFF7  # dnnl_binary_*
SQRT, POW = 0x25, 0x30  # dnnl_eltwise_*
SRC0, SRC1, _DST, _ATTR_SCALES, _POST_OP_BASE = 1, 2, 17, 4096, 32768


def _post_op_src(index: int) -> int:
    """DNNL_ARG_ATTR_MULTIPLE_POST_OP(index) | DNNL_ARG_SRC_1."""
    return _POST_OP_BASE * (index + 1) | SRC1


class Bound:
    """A primitive with its argument list built once; ``run`` sets the data pointers."""

    def __init__(self, lib: _Library, prim, ids, mds) -> None:
        self.lib, self.prim = lib, prim
        self.mems = [lib.memory(md) for md in mds]
        self.args = (_Arg * len(ids))()
        for k, (arg, mem) in enumerate(zip(ids, self.mems)):
            self.args[k].arg, self.args[k].memory = arg, mem

    def run(self, *arrays) -> None:
        set_handle = self.lib.lib.dnnl_memory_set_data_handle
        for mem, a in zip(self.mems, arrays):
            set_handle(mem, address(a))
        self.lib.launch(self.prim, self.args)


def declare(lib) -> None:
    f = lib.lib
    if getattr(f, "_ember_binary_declared", False):
        return
    f.dnnl_post_ops_append_eltwise.argtypes = [_p, ctypes.c_int, ctypes.c_float, ctypes.c_float]
    f.dnnl_post_ops_append_binary.argtypes = [_p, ctypes.c_int, _p]
    f.dnnl_primitive_attr_set_post_ops.argtypes = [_p, _p]
    f.dnnl_primitive_attr_set_scales_mask.argtypes = [_p, ctypes.c_int, ctypes.c_int]
    f.dnnl_binary_primitive_desc_create.argtypes = [ctypes.POINTER(_p), _p, ctypes.c_int, _p,
                                                    _p, _p, _p]
    f._ember_binary_declared = True


def binary(lib: _Library, alg: int, n: int, src1_scalar: bool, post_ops, scales: tuple):
    """A binary primitive over (n,) float32 vectors: ``src0 alg src1`` then ``post_ops``
    (``("eltwise", alg, alpha, beta)`` or ``("binary", alg, scalar)``), with run-time
    scales on the sources in ``scales``. Arguments in order: src0, src1, dst, the binary
    post-op operands, the scales."""
    declare(lib)
    f = lib.lib
    full, one = lib.md((n,), (1,)), lib.md((1,), (1,))
    attr, po, pd = _p(), _p(), _p()
    lib.check(f.dnnl_primitive_attr_create(ctypes.byref(attr)), "dnnl_primitive_attr_create")
    lib.check(f.dnnl_post_ops_create(ctypes.byref(po)), "dnnl_post_ops_create")
    try:
        ids, mds = [SRC0, SRC1, _DST], [full, one if src1_scalar else full, full]
        for k, op in enumerate(post_ops):
            if op[0] == "eltwise":
                lib.check(f.dnnl_post_ops_append_eltwise(po, op[1], op[2], op[3]),
                          "dnnl_post_ops_append_eltwise")
            else:
                md = one if op[2] else full
                lib.check(f.dnnl_post_ops_append_binary(po, op[1], md),
                          "dnnl_post_ops_append_binary")
                ids.append(_post_op_src(k))
                mds.append(md)
        lib.check(f.dnnl_primitive_attr_set_post_ops(attr, po),
                  "dnnl_primitive_attr_set_post_ops")
        for arg in scales:
            lib.check(f.dnnl_primitive_attr_set_scales_mask(attr, arg, 0),
                      "dnnl_primitive_attr_set_scales_mask")
            ids.append(_ATTR_SCALES | arg)
            mds.append(one)
        lib.check(f.dnnl_binary_primitive_desc_create(
            ctypes.byref(pd), lib.engine, alg, full, mds[1], full, attr),
            "dnnl_binary_primitive_desc_create")
    finally:
        f.dnnl_post_ops_destroy(po)
        f.dnnl_primitive_attr_destroy(attr)
    return Bound(lib, lib.primitive(pd), ids, mds)
