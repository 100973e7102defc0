"""Fused optimiser updates on CUDA: Adam/AdamW and SGD in one kernel per parameter.

On NumPy an update is a dozen ufunc passes run in chunks on threads (``ember.optim._parallel``).
On a GPU each pass would be a kernel launch and a trip through memory, so the CUDA backend
runs each rule as one ``cupy.ElementwiseKernel``: every thread reads its element of the
parameter, gradient and state once, applies the whole rule in registers (float32 math for
float16 parameters) and writes parameter and state back. The arithmetic follows the order of
the NumPy rule (``Adam._update``, ``SGD._update``), with the same step coefficients, which the
optimiser computes on the host as before (``_coefficients``).

Optimisers without a kernel here (Adagrad, RMSprop, custom ones) keep the generic path,
which runs the same NumPy-style update with CuPy arrays.
"""

from __future__ import annotations

import numpy as np

_MATH = {"float16": "float", "float32": "float", "float64": "double"}  # C math type
_SCALAR = {"float16": "float32", "float32": "float32", "float64": "float64"}  # param type
_STORE = {"float16": "float16", "float32": "float", "float64": "double"}  # C element type

_ADAM = """
M pp = (M)p; M gg = (M)g;
if (decay != (M)1) pp = pp * decay;
if (wd != (M)0) gg = maximize ? pp * wd - gg : pp * wd + gg;
M t = gg * m_coef;
M mm = (M)m * beta1 + t;
t = t * ratio;
t = t * t;
M vv = (M)v * beta2 + t;
m = (T)mm; v = (T)vv;
{AMS}
t = sqrt(vv) + eps;
t = mm / t;
p = (T)(pp + t * neg_step);
"""
_AMS = "M vm = (M)vmax; vm = vm > vv ? vm : vv; vmax = (T)vm; vv = vm;"

_SGD = """
M pp = (M)p; M gg = (M)g;
if (wd != (M)0) gg = maximize ? pp * wd - gg : pp * wd + gg;
else if (maximize) gg = -gg;
{MOMENTUM}
p = (T)(pp + gg * neg_lr);
"""
_MOMENTUM = """
M b = first ? gg : (damp == (M)1 ? (M)buf * momentum + gg : (M)buf * momentum + gg * damp);
buf = (T)b;
gg = nesterov ? b * momentum + gg : b;
"""

_CACHE: dict = {}


def _kernel(cp, kind: str, dtype: str, variant: bool):
    key = (cp, kind, dtype, variant)
    k = _CACHE.get(key)
    if k is None:
        k = _CACHE[key] = cp.ElementwiseKernel(*kernel_source(kind, dtype, variant))
    return k


def kernel_source(kind: str, dtype: str, variant: bool) -> tuple[str, str, str, str]:
    """``(in_params, out_params, body, name)`` of a fused update kernel: ``kind`` "adam" (with
    amsgrad when ``variant``) or "sgd" (with a momentum buffer when ``variant``)."""
    m, sc = _MATH[dtype], _SCALAR[dtype]
    if kind == "adam":
        ins = (f"{dtype} g, {sc} beta1, {sc} beta2, {sc} m_coef, {sc} ratio, {sc} eps, "
               f"{sc} neg_step, {sc} wd, bool maximize, {sc} decay")
        outs = f"{dtype} p, {dtype} m, {dtype} v" + (f", {dtype} vmax" if variant else "")
        body = _ADAM.replace("{AMS}", _AMS if variant else "")
    else:
        ins = (f"{dtype} g, {sc} neg_lr, {sc} wd, bool maximize, {sc} momentum, {sc} damp, "
               "bool nesterov, bool first")
        outs = f"{dtype} p" + (f", {dtype} buf" if variant else "")
        body = _SGD.replace("{MOMENTUM}", _MOMENTUM if variant else "")
    body = body.replace("(M)", f"({m})").replace("M ", f"{m} ").replace("(T)", f"({_STORE[dtype]})")
    return ins, outs, body, f"ember_{kind}_{dtype}{'_v' if variant else ''}"


def fused_step(cp, optimizer, jobs: list) -> bool:
    """Run ``jobs`` (``(xp, coefs, p, g, bufs)`` per parameter) with fused kernels;
    ``optimizer`` is the optimiser or its class (the jit's fused step op has only the class).

    Returns False, having done nothing, when the optimiser has no fused kernel.
    """
    from ..optim.adam import Adam
    from ..optim.sgd import SGD

    cls = optimizer if isinstance(optimizer, type) else type(optimizer)
    if issubclass(cls, Adam):
        kind = "adam"
    elif cls is SGD:
        kind = "sgd"
    else:
        return False
    if any(p.dtype.name not in _MATH or not isinstance(p, cp.ndarray) or
           not isinstance(g, cp.ndarray) for _, _, p, g, _ in jobs):
        return False
    for _, c, p, g, bufs in jobs:
        s = np.dtype(_MATH[p.dtype.name] == "double" and np.float64 or np.float32).type
        if kind == "adam":
            beta1, beta2, m_coef, g_coef, eps, neg_step, wd, maximize, decay, amsgrad = c
            k = _kernel(cp, "adam", p.dtype.name, bool(amsgrad))
            k(g, s(beta1), s(beta2), s(m_coef), s(g_coef / m_coef), s(eps), s(neg_step),
              s(wd), bool(maximize), s(decay), p, *bufs[:3 if amsgrad else 2])
        else:
            lr, wd, maximize, momentum, damp, nesterov, first = c
            k = _kernel(cp, "sgd", p.dtype.name, momentum != 0)
            k(g, s(-lr), s(wd), bool(maximize), s(momentum), s(damp), bool(nesterov),
              bool(first), p, *bufs[:1 if momentum != 0 else 0])
    return True
