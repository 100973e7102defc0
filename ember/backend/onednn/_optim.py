"""Adam's update of large float32 parameters as three oneDNN binary primitives.

NumPy runs ``Adam._update`` as a dozen ufunc passes on one core (the update stays on the
calling thread while oneDNN is active, see ``ember.optim._parallel``). oneDNN's binary
primitive takes a chain of post-ops (eltwise functions and further binary operands) that it
applies in registers, and runs on oneDNN's own OpenMP threads, which are awake anyway. An
update becomes three passes over memory:

1. ``m = beta1 * m + m_coef * g``: binary add, scales on both sources given at run time,
   written in place (oneDNN allows ``dst`` to be ``src0``);
2. ``v = beta2 * (v + (1 - beta2) / beta2 * g * g)``: binary mul of ``g`` by itself (scale
   on src0) with post-ops ``+ v`` and ``* beta2``;
3. ``p = p + neg_step * m / (sqrt(v) + eps)``: ``v * 1`` with post-ops ``sqrt``, ``+ eps``,
   ``pow(., -1)``, ``* m``, ``* neg_step``, ``+ p``.

oneDNN 3.2's binary primitive has no ``sum`` post-op, so passes 2 and 3 read the tensor they
write (``v``, ``p``) as a post-op operand at the same offsets: the kernel loads, computes
and stores block by block, and each element is read before it is written. Every per-step
scalar (the bias corrections, ``eps`` times ``sqrt(1 - beta2^t)``) is a one-element operand
or a run-time scale, so one primitive per parameter size serves every step. The result
differs from the NumPy rule by rounding only (the order of the multiplications in pass 2);
the tests hold it to PyTorch's float32 Adam.

Used for float32, C-contiguous parameters of at least ``MIN_SIZE`` elements without L2
weight decay or AMSGrad (AdamW's decoupled decay is one NumPy pass before); the rest stays
with the NumPy rule.
"""

from __future__ import annotations

import ctypes

import numpy as np

from ._lib import _Arg, _Library, _p, address, cached

MIN_SIZE = 1 << 15  # elements: below this the three calls cost more than NumPy's passes

_BINARY_ADD, _BINARY_MUL = 0x1FFF0, 0x1FFF1
_ELTWISE_SQRT, _ELTWISE_POW = 0x25, 0x30
_SRC0, _SRC1, _DST, _ATTR_SCALES, _POST_OP_BASE = 1, 2, 17, 4096, 32768


def _post_op_src(index: int) -> int:
    """DNNL_ARG_ATTR_MULTIPLE_POST_OP(index) | DNNL_ARG_SRC_1."""
    return _POST_OP_BASE * (index + 1) | _SRC1


class _Bound:
    """A primitive with its argument list built once; ``run`` sets the data pointers."""

    def __init__(self, lib: _Library, prim, ids, mds) -> None:
        self.lib, self.prim = lib, prim
        self.mems = [lib.memory(md) for md in mds]
        self.args = (_Arg * len(ids))()
        for k, (arg, mem) in enumerate(zip(ids, self.mems)):
            self.args[k].arg, self.args[k].memory = arg, mem

    def run(self, *arrays) -> None:
        lib = self.lib.lib
        for mem, a in zip(self.mems, arrays):
            lib.dnnl_memory_set_data_handle(mem, address(a))
        self.lib.check(lib.dnnl_primitive_execute(self.prim, self.lib.stream, len(self.args),
                                                  self.args), "dnnl_primitive_execute")
        self.lib.check(lib.dnnl_stream_wait(self.lib.stream), "dnnl_stream_wait")



def _declare(lib) -> None:
    f = lib.lib
    if getattr(f, "_ember_optim_declared", False):
        return
    f.dnnl_post_ops_append_eltwise.argtypes = [_p, ctypes.c_int, ctypes.c_float, ctypes.c_float]
    f.dnnl_post_ops_append_binary.argtypes = [_p, ctypes.c_int, _p]
    f.dnnl_primitive_attr_set_post_ops.argtypes = [_p, _p]
    f.dnnl_primitive_attr_set_scales_mask.argtypes = [_p, ctypes.c_int, ctypes.c_int]
    f.dnnl_binary_primitive_desc_create.argtypes = [ctypes.POINTER(_p), _p, ctypes.c_int, _p,
                                                    _p, _p, _p]
    f._ember_optim_declared = True


def _binary(lib: _Library, alg: int, n: int, src1_scalar: bool, post_ops, scales: tuple):
    """A binary primitive over (n,) float32 vectors: ``src0 alg src1`` then ``post_ops``
    (``("eltwise", alg, alpha, beta)`` or ``("binary", alg, scalar)``), with run-time
    scales on the sources in ``scales``. Arguments in order: src0, src1, dst, the binary
    post-op operands, the scales."""
    f = lib.lib
    full, one = lib.md((n,), (1,)), lib.md((1,), (1,))
    attr, po, pd = _p(), _p(), _p()
    lib.check(f.dnnl_primitive_attr_create(ctypes.byref(attr)), "dnnl_primitive_attr_create")
    lib.check(f.dnnl_post_ops_create(ctypes.byref(po)), "dnnl_post_ops_create")
    try:
        ids, mds = [_SRC0, _SRC1, _DST], [full, one if src1_scalar else full, full]
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
    return _Bound(lib, lib.primitive(pd), ids, mds)


class _AdamProblem:
    """The three primitives of Adam's update for parameters of ``n`` elements."""

    def __init__(self, lib: _Library, n: int) -> None:
        _declare(lib)
        self.moment = _binary(lib, _BINARY_ADD, n, False, (), (_SRC0, _SRC1))
        self.second = _binary(lib, _BINARY_MUL, n, False,
                              (("binary", _BINARY_ADD, False), ("binary", _BINARY_MUL, True)),
                              (_SRC0,))
        self.param = _binary(lib, _BINARY_MUL, n, True, (
            ("eltwise", _ELTWISE_SQRT, 0.0, 0.0), ("binary", _BINARY_ADD, True),
            ("eltwise", _ELTWISE_POW, 1.0, -1.0), ("binary", _BINARY_MUL, False),
            ("binary", _BINARY_MUL, True), ("binary", _BINARY_ADD, False)), ())


def _eligible(xp, coefs, p, g, bufs) -> bool:
    beta2, wd, amsgrad = coefs[1], coefs[6], coefs[9]
    return (xp is np and p.size >= MIN_SIZE and not wd and not amsgrad and beta2 > 0.0
            and len(bufs) == 2
            and all(a.dtype == np.float32 and a.flags.c_contiguous and a.shape == p.shape
                    for a in (p, g) + tuple(bufs)))


def adam_update(jobs: list) -> list:
    """Run the oneDNN update for the jobs ``(xp, coefs, p, g, (m, v))`` of an Adam step
    that it serves (see the module); returns the others, for the NumPy rule."""
    rest = []
    for job in jobs:
        xp, coefs, p, g, bufs = job
        prob = cached(("adam", p.size), lambda lib, n=p.size: _AdamProblem(lib, n)) \
            if _eligible(xp, coefs, p, g, bufs) else None
        if prob is None:
            rest.append(job)
            continue
        beta1, beta2, m_coef, g_coef, eps, neg_step, _, _, decay, _ = coefs
        m, v = bufs
        c = np.array([beta1, m_coef, g_coef * g_coef / beta2, beta2, 1.0, eps, neg_step],
                     np.float32)
        if decay != 1.0:
            np.multiply(p, decay, out=p)
        prob.moment.run(m, g, m, c[0:1], c[1:2])
        prob.second.run(g, g, v, v, c[3:4], c[2:3])
        prob.param.run(v, c[4:5], p, c[5:6], m, c[6:7], p)
    return rest
