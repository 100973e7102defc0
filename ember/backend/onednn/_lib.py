"""oneDNN's C library through ctypes: loading it, its engine and stream, memory descriptors,
primitive execution, and the cache of primitives by problem (shared by every primitive
family in this package)."""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import os
import sys
import threading

import numpy as np

_F32, _FORMAT_ANY, _CPU, _IN_ORDER = 3, 1, 1, 1
_FORWARD_TRAINING, _CONVOLUTION_DIRECT = 64, 1
_Q_WEIGHTS, _Q_DIFF_WEIGHTS = 131, 132
_SRC, _DST, _WEIGHTS, _BIAS = 1, 17, 33, 41
_DIFF_SRC, _DIFF_DST, _DIFF_WEIGHTS, _DIFF_BIAS = 129, 145, 161, 169
_MAX_CACHED = 256  # problems (each a JIT-compiled primitive); the least recently used go

_p = ctypes.c_void_p
_Dims = ctypes.c_int64 * 12
_FORWARD_INFERENCE, _BACKWARD, _Q_WORKSPACE = 96, 128, 135
_WORKSPACE, _DIFF = 64, 128


class _Arg(ctypes.Structure):
    """dnnl_exec_arg_t."""

    _fields_ = [("arg", ctypes.c_int), ("memory", _p)]


class _Version(ctypes.Structure):
    """dnnl_version_t."""

    _fields_ = [("major", ctypes.c_int), ("minor", ctypes.c_int), ("patch", ctypes.c_int),
                ("hash", ctypes.c_char_p), ("cpu_runtime", ctypes.c_uint),
                ("gpu_runtime", ctypes.c_uint)]


class OneDNNError(RuntimeError):
    """A oneDNN call failed (its name and status code in the message)."""


def _candidates() -> list[str]:
    """Paths where libdnnl may lie: $EMBER_ONEDNN_LIBRARY, the pip wheels' files, the
    environment's lib folders, then the system's loader."""
    names = []
    env = os.environ.get("EMBER_ONEDNN_LIBRARY")
    if env:
        names.append(env)
    try:
        from importlib import metadata

        for dist in ("onednn-cpu-gomp", "onednn-cpu-iomp", "onednn"):
            try:
                files = metadata.files(dist) or []
            except metadata.PackageNotFoundError:
                continue
            for f in files:
                if f.name.startswith("libdnnl.so"):
                    names.append(str(f.locate()))
    except Exception:  # noqa: BLE001 - metadata of a broken install: try the folders
        pass
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix)):
        names.append(os.path.join(prefix, "lib", "libdnnl.so.3"))
    found = ctypes.util.find_library("dnnl")
    if found:
        names.append(found)
    return list(dict.fromkeys(names))


class _Library:
    """libdnnl's functions used here, one CPU engine and one in-order stream."""

    def __init__(self, path: str) -> None:
        lib = ctypes.CDLL(path)
        self.lib, self.path = lib, path
        lib.dnnl_version.restype = ctypes.POINTER(_Version)
        v = lib.dnnl_version().contents
        self.version = (v.major, v.minor, v.patch)
        if v.major != 3:
            raise OSError(f"{path} is oneDNN {v.major}.{v.minor}; ember needs oneDNN 3")
        lib.dnnl_primitive_desc_query_md.restype = _p
        lib.dnnl_primitive_desc_query_md.argtypes = [_p, ctypes.c_int, ctypes.c_int]
        lib.dnnl_memory_desc_get_size.restype = ctypes.c_size_t
        lib.dnnl_memory_desc_get_size.argtypes = [_p]
        lib.dnnl_memory_set_data_handle.argtypes = [_p, _p]
        lib.dnnl_primitive_execute.argtypes = [_p, _p, ctypes.c_int, ctypes.POINTER(_Arg)]
        lib.dnnl_stream_wait.argtypes = [_p]
        self.engine, self.stream = _p(), _p()
        self.check(lib.dnnl_engine_create(ctypes.byref(self.engine), _CPU, ctypes.c_size_t(0)),
                   "dnnl_engine_create")
        self.check(lib.dnnl_stream_create(ctypes.byref(self.stream), self.engine,
                                          ctypes.c_uint(_IN_ORDER)), "dnnl_stream_create")

    @staticmethod
    def check(status: int, what: str) -> None:
        if status != 0:
            raise OneDNNError(f"oneDNN: {what} failed with status {status}")

    def md(self, shape, strides=None):
        """A float32 memory descriptor: with ``strides`` (in elements), or format 'any'."""
        md = _p()
        if strides is None:
            self.check(self.lib.dnnl_memory_desc_create_with_tag(
                ctypes.byref(md), len(shape), _Dims(*shape), _F32, _FORMAT_ANY),
                "dnnl_memory_desc_create_with_tag")
        else:
            self.check(self.lib.dnnl_memory_desc_create_with_strides(
                ctypes.byref(md), len(shape), _Dims(*shape), _F32, _Dims(*strides)),
                "dnnl_memory_desc_create_with_strides")
        return md

    def memory(self, md):
        mem = _p()
        self.check(self.lib.dnnl_memory_create(ctypes.byref(mem), md, self.engine, None),
                   "dnnl_memory_create")
        return mem

    def primitive(self, pd):
        prim = _p()
        self.check(self.lib.dnnl_primitive_create(ctypes.byref(prim), pd),
                   "dnnl_primitive_create")
        return prim

    def reorder(self, src_md, dst_md):
        pd = _p()
        self.check(self.lib.dnnl_reorder_primitive_desc_create(
            ctypes.byref(pd), src_md, self.engine, dst_md, self.engine, None),
            "dnnl_reorder_primitive_desc_create")
        return self.primitive(pd)

    def queried(self, pd, what: int):
        """``(memory descriptor, bytes)`` of a primitive descriptor's argument."""
        md = _p(self.lib.dnnl_primitive_desc_query_md(pd, what, 0))
        return md, self.lib.dnnl_memory_desc_get_size(md)

    def execute(self, prim, args) -> None:
        """Run ``prim`` on ``[(arg id, memory, array), ...]`` and wait for it."""
        lib = self.lib
        arr = (_Arg * len(args))()
        for k, (arg, mem, a) in enumerate(args):
            lib.dnnl_memory_set_data_handle(mem, address(a))
            arr[k].arg, arr[k].memory = arg, mem
        self.launch(prim, arr)

    def launch(self, prim, arr) -> None:
        """Run ``prim`` on the argument array ``arr`` (data pointers set) and wait for it."""
        lib = self.lib
        self.check(lib.dnnl_primitive_execute(prim, self.stream, len(arr), arr),
                   "dnnl_primitive_execute")
        self.check(lib.dnnl_stream_wait(self.stream), "dnnl_stream_wait")


_char_from_buffer, _addressof = ctypes.c_char.from_buffer, ctypes.addressof


def address(a) -> int:
    """The address of array ``a``'s first element: through the buffer protocol for a
    writable C-contiguous array (a quarter of ``a.ctypes.data``'s cost, which is most of a
    small primitive's call), else ``a.ctypes.data``."""
    flags = a.flags
    if flags.c_contiguous and flags.writeable and a.size:
        return _addressof(_char_from_buffer(a))
    return a.ctypes.data


_STATE: dict = {}
_LOCK = threading.Lock()
_PROBLEMS: collections.OrderedDict = collections.OrderedDict()
_UNSUPPORTED: set = set()


def _after_fork_in_child() -> None:
    """A forked child inherits oneDNN's state but not its OpenMP threads, and OpenMP is not
    fork-safe: the child runs ember's NumPy kernels instead."""
    global _LOCK
    _LOCK = threading.Lock()
    _PROBLEMS.clear()
    if _STATE.get("lib") is not None:
        _STATE["lib"] = None
        _STATE["why"] = ("this process was forked after oneDNN started its OpenMP threads, "
                         "which do not survive a fork; start workers with 'spawn' to use it")


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def load():
    """``(library, "")``, or ``(None, why)`` when oneDNN cannot be used here."""
    if "lib" in _STATE:
        return _STATE["lib"], _STATE["why"]
    lib, why = None, "oneDNN is not installed (pip install 'ember[onednn]')"
    tried = []
    for path in _candidates():
        if os.path.sep in path and not os.path.exists(path):
            continue
        try:
            lib, why = _Library(path), ""
            break
        except (OSError, AttributeError, OneDNNError) as exc:
            tried.append(f"{path}: {exc}")
    if lib is None and tried:
        why = "oneDNN could not be loaded: " + "; ".join(tried)
    _STATE["lib"], _STATE["why"] = lib, why
    return lib, why


_SWITCH: list = []  # ember.backends.onednn, imported on first use (it imports this package)


def active() -> bool:
    """Whether oneDNN runs ember's CPU primitives now (enabled and loaded). Called for every
    BLAS-using op, so it avoids an import statement and a function call per call."""
    if not _SWITCH:
        from ...backends import onednn as switch

        _SWITCH.append(switch)
    if not _SWITCH[0].enabled:
        return False
    lib = _STATE.get("lib")
    return lib is not None or ("lib" not in _STATE and load()[0] is not None)


def cached(key, make):
    """The problem cached under ``key``, made by ``make(library)`` on first use (the least
    recently used go beyond ``_MAX_CACHED``); None when oneDNN is switched off or missing,
    or when ``make`` raised ``OneDNNError`` for this key (remembered: the caller falls back
    to NumPy's kernels)."""
    if not active():
        return None
    with _LOCK:
        prob = _PROBLEMS.get(key)
        if prob is not None:
            _PROBLEMS.move_to_end(key)
            return prob
        if key in _UNSUPPORTED:
            return None
        try:
            prob = make(_STATE["lib"])
        except OneDNNError:  # not implemented for this problem
            _UNSUPPORTED.add(key)
            return None
        _PROBLEMS[key] = prob
        if len(_PROBLEMS) > _MAX_CACHED:
            _PROBLEMS.popitem(last=False)
    return prob


def _usable(*arrays) -> bool:
    return all(a is None or (a.dtype == np.float32 and a.size) for a in arrays)


def _nhwc_strides(shape) -> tuple:
    """Channels-last strides of an (N, C, H, W) or (N, C, D, H, W) shape, in elements."""
    c, spatial = shape[1], tuple(shape[2:])
    inner = [c]
    for size in reversed(spatial[1:]):
        inner.insert(0, inner[0] * size)
    return (inner[0] * spatial[0], 1, *inner)
