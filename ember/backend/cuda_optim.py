"""Fused optimiser updates on CUDA: Adam/AdamW and SGD in one kernel per step.

On NumPy an update is a dozen ufunc passes run in chunks on threads (``ember.optim._parallel``).
On a GPU each pass would be a kernel launch and a trip through memory, so the CUDA backend
runs each rule as one ``cupy.ElementwiseKernel``: every thread reads its element of the
parameter, gradient and state once, applies the whole rule in registers (float32 math for
float16 parameters) and writes parameter and state back. The arithmetic follows the order of
the NumPy rule (``Adam._update``, ``SGD._update``), with the same step coefficients, which the
optimiser computes on the host as before (``_coefficients``).

Multi-tensor apply: the parameters of a step (all groups; one launch per parameter dtype and
rule variant, so at most one per group) are updated by ONE ``cupy.RawKernel``. The host packs
a table into one int64 array, uploaded once per step: per tensor the pointers of parameter,
gradient and state buffers, its size and its step coefficients (float64 bits, so they can
differ per parameter, e.g. Adam's bias corrections after a parameter skipped steps), and
per chunk of ``CHUNK`` elements its tensor and start. Each block walks chunks, its threads
the chunk's elements, and runs the same per-element body as the per-parameter kernel. The
per-parameter ``ElementwiseKernel`` stays the fallback: for non-contiguous arrays, a
gradient of another dtype, or when the raw kernel cannot be compiled (once, then for good).

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
CHUNK = 1 << 14  # elements per chunk of the multi-tensor kernel (one block each)
BLOCK = 512  # threads per block
MAX_BLOCKS = 65535
_RAW_TYPE = {"float16": "__half", "float32": "float", "float64": "double"}
_ADAM_COEFS = ("beta1", "beta2", "m_coef", "ratio", "eps", "neg_step", "wd", "maximize",
               "decay")
_SGD_COEFS = ("neg_lr", "wd", "maximize", "momentum", "damp", "nesterov", "first")
_BROKEN: set = set()  # (kind, dtype, variant) whose raw kernel failed to compile

_MT = """{PRELUDE}
extern "C" __global__ void {NAME}(const long long* table, int n_tensors, int n_chunks,
                                  long long chunk) {
  const long long* ptrs = table;
  const long long* sizes = ptrs + (long long)n_tensors * {NP};
  const long long* chunk_tensor = sizes + n_tensors;
  const long long* chunk_start = chunk_tensor + n_chunks;
  const double* coefs = (const double*)(chunk_start + n_chunks);
  for (long long ch = blockIdx.x; ch < n_chunks; ch += gridDim.x) {
    const long long ti = chunk_tensor[ch];
    const long long cs = chunk_start[ch];
    const long long ce = cs + chunk < sizes[ti] ? cs + chunk : sizes[ti];
    const double* kc = coefs + ti * {NC};
{SCALARS}
{POINTERS}
    for (long long i = cs + threadIdx.x; i < ce; i += blockDim.x) {
{LOADS}
      {
{BODY}
      }
{STORES}
    }
  }
}
"""


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


def multi_tensor_source(kind: str, dtype: str, variant: bool) -> tuple[str, str]:
    """``(source, name)`` of the multi-tensor kernel for one rule, dtype and variant."""
    m, t = _MATH[dtype], _RAW_TYPE[dtype]
    names = _ADAM_COEFS if kind == "adam" else _SGD_COEFS
    if kind == "adam":
        arrays = ["p", "g", "m", "v"] + (["vmax"] if variant else [])
        body = _ADAM.replace("{AMS}", _AMS if variant else "")
    else:
        arrays = ["p", "g"] + (["buf"] if variant else [])
        body = _SGD.replace("{MOMENTUM}", _MOMENTUM if variant else "")
    flags = ("maximize", "nesterov", "first")
    scalars = "\n".join(
        f"    const bool {n} = kc[{i}] != 0.0;" if n in flags else
        f"    const {m} {n} = ({m})kc[{i}];"
        for i, n in enumerate(names))
    pointers = "\n".join(
        f"    {'const ' if a == 'g' else ''}{t}* {a}_ = ({'const ' if a == 'g' else ''}{t}*)"
        f"ptrs[ti * {len(arrays)} + {i}];" for i, a in enumerate(arrays))
    loads = "\n".join(f"      {t} {a} = {a}_[i];" for a in arrays)
    stores = "\n".join(f"      {a}_[i] = {a};" for a in arrays if a != "g")
    body = body.replace("(M)", f"({m})").replace("M ", f"{m} ").replace("(T)", f"({t})")
    body = "\n".join("        " + line for line in body.strip().splitlines())
    name = f"ember_mt_{kind}_{dtype}{'_v' if variant else ''}"
    prelude = "#include <cuda_fp16.h>" if dtype == "float16" else ""
    src = (_MT.replace("{PRELUDE}", prelude).replace("{NAME}", name)
           .replace("{NP}", str(len(arrays))).replace("{NC}", str(len(names)))
           .replace("{SCALARS}", scalars).replace("{POINTERS}", pointers)
           .replace("{LOADS}", loads).replace("{STORES}", stores).replace("{BODY}", body))
    return src, name


def _address(a) -> int:
    """The address of an array's first element (CuPy's device pointer; NumPy's for the host
    test harness)."""
    ptr = getattr(a.data, "ptr", None)
    return a.ctypes.data if ptr is None else ptr


def pack_table(entries: list, chunk: int) -> tuple[np.ndarray, int, int]:
    """The multi-tensor table (int64) for ``entries`` of ``(arrays, size, coefs)``:
    ``(table, n_tensors, n_chunks)``."""
    ptrs, sizes, c_tensor, c_start, coefs = [], [], [], [], []
    for t, (arrays, size, cs) in enumerate(entries):
        ptrs.extend(_address(a) for a in arrays)
        sizes.append(size)
        starts = range(0, size, chunk)
        c_tensor.extend([t] * len(starts))
        c_start.extend(starts)
        coefs.extend(float(c) for c in cs)
    ints = np.array(ptrs + sizes + c_tensor + c_start, dtype=np.int64)
    table = np.concatenate([ints, np.array(coefs, dtype=np.float64).view(np.int64)])
    return table, len(entries), len(c_tensor)


def _raw_kernel(cp, kind: str, dtype: str, variant: bool):
    key = (cp, "mt", kind, dtype, variant)
    k = _CACHE.get(key)
    if k is None:
        src, name = multi_tensor_source(kind, dtype, variant)
        k = _CACHE[key] = cp.RawKernel(src, name)
    return k


def _coef_row(kind: str, c: tuple) -> tuple:
    """The kernel's per-tensor scalars (in ``_ADAM_COEFS``/``_SGD_COEFS`` order)."""
    if kind == "adam":
        beta1, beta2, m_coef, g_coef, eps, neg_step, wd, maximize, decay, _ = c
        return (beta1, beta2, m_coef, g_coef / m_coef, eps, neg_step, wd, maximize, decay)
    lr, wd, maximize, momentum, damp, nesterov, first = c
    return (-lr, wd, maximize, momentum, damp, nesterov, first)


def _multi_tensor(cp, kind: str, jobs: list) -> list:
    """Run the contiguous jobs with one raw kernel per (dtype, variant); return the rest."""
    rest, batches = [], {}
    for job in jobs:
        _, c, p, g, bufs = job
        variant = bool(c[-1]) if kind == "adam" else c[3] != 0
        n_bufs = (3 if variant else 2) if kind == "adam" else (1 if variant else 0)
        arrays = (p, g) + tuple(bufs[:n_bufs])
        key = (kind, p.dtype.name, variant)
        if key in _BROKEN or g.dtype != p.dtype or \
                not all(a.flags.c_contiguous and a.dtype == p.dtype for a in arrays):
            rest.append(job)
            continue
        batches.setdefault(key, []).append((job, (arrays, p.size, _coef_row(kind, c))))
    for key, items in batches.items():
        try:
            kernel = _raw_kernel(cp, *key)
            table, n_t, n_c = pack_table([e for _, e in items], CHUNK)
            if n_c:
                kernel((min(n_c, MAX_BLOCKS),), (BLOCK,),
                       (cp.asarray(table), np.int32(n_t), np.int32(n_c), np.int64(CHUNK)))
        except Exception as exc:  # noqa: BLE001 - NVRTC/driver refused: per-parameter kernels
            from .cupy_backend import warn_once

            _BROKEN.add(key)
            warn_once(f"mt{key}", f"ember: the multi-tensor {key[0]} kernel for {key[1]} "
                      f"failed ({type(exc).__name__}: {exc}); using one kernel per parameter")
            rest.extend(job for job, _ in items)
    return rest


def _capturing(cp) -> bool:
    """Whether the current stream is capturing a CUDA graph (the table's host-to-device copy
    from pageable memory is not allowed then: the per-parameter kernels take scalars)."""
    cuda = getattr(cp, "cuda", None)
    if cuda is None:  # the host test harness
        return False
    return bool(cuda.get_current_stream().is_capturing())


def fused_step(cp, optimizer, jobs: list, multi_tensor: bool = True) -> bool:
    """Run ``jobs`` (``(xp, coefs, p, g, bufs)`` per parameter) with fused kernels;
    ``optimizer`` is the optimiser or its class (the jit's fused step op has only the class).
    With ``multi_tensor``, contiguous parameters are updated by one kernel per step (per
    dtype and rule variant); the others (and all without it) by one kernel per parameter.

    Returns False, having done nothing, when the optimiser has no fused kernel.
    """
    from ..optim.adam import Adam
    from ..optim.sgd import SGD

    # by the update rule, as the CPU's hook: a subclass that overrides _update has none
    rule = getattr(optimizer if isinstance(optimizer, type) else type(optimizer), "_update", None)
    kind = {Adam._update: "adam", SGD._update: "sgd"}.get(rule)
    if kind is None:
        return False
    if any(p.dtype.name not in _MATH or not isinstance(p, cp.ndarray) or
           not isinstance(g, cp.ndarray) for _, _, p, g, _ in jobs):
        return False
    if multi_tensor and not _capturing(cp):
        jobs = _multi_tensor(cp, kind, jobs)
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
