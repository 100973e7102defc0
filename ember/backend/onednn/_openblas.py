"""OpenBLAS held to one thread beside oneDNN."""

from __future__ import annotations

import ctypes

import numpy as np

from ._lib import active


class _OpenBLAS:
    """OpenBLAS's thread-count functions, found among the loaded libraries."""

    def __init__(self) -> None:
        self.set = self.get = None
        try:
            with open("/proc/self/maps") as f:
                paths = sorted({line.split()[-1] for line in f
                                if "openblas" in line.lower() and "/" in line})
        except OSError:  # pragma: no cover - not Linux
            return
        for path in paths:
            try:
                dll = ctypes.CDLL(path)
            except OSError:  # pragma: no cover
                continue
            for prefix in ("scipy_openblas", "openblas"):
                for suffix in ("64_", ""):
                    setter = getattr(dll, f"{prefix}_set_num_threads{suffix}", None)
                    getter = getattr(dll, f"{prefix}_get_num_threads{suffix}", None)
                    if setter is not None and getter is not None:
                        setter.argtypes, setter.restype = [ctypes.c_int], None
                        getter.argtypes, getter.restype = [], ctypes.c_int
                        self.set, self.get = setter, getter
                        return


_instance: _OpenBLAS | None = None


def single_blas(fn):
    """``fn`` (a CPU forward that calls BLAS) run with OpenBLAS held to one thread when it
    works on float32 arrays while oneDNN is active.

    oneDNN's threads and OpenBLAS's both park by spinning for a while after each call: an
    OpenBLAS call with two threads leaves a worker spinning for about a tenth of a second on
    the core oneDNN's next primitive needs, which then runs at half speed (a whole CNN step
    about twice as slow). With oneDNN doing float32 products, convolutions and LSTM layers,
    ember's remaining float32 BLAS calls (batch-norm sums, fallbacks) are small, and one
    thread serves them. float64 work, which oneDNN never runs, keeps OpenBLAS's threads. The
    rule depends only on dtypes and the switch, so a result never depends on timing.
    """

    def call(*args, **attrs):
        global _instance
        if not active() or not any(getattr(a, "dtype", None) == np.float32 for a in args):
            return fn(*args, **attrs)
        if _instance is None:
            _instance = _OpenBLAS()
        ob = _instance
        old = 1 if ob.get is None else ob.get()
        if old == 1:
            return fn(*args, **attrs)
        ob.set(1)
        try:
            return fn(*args, **attrs)
        finally:
            ob.set(old)

    call.__name__ = getattr(fn, "__name__", "forward")
    call.__doc__ = getattr(fn, "__doc__", None)
    call.__wrapped__ = fn
    return call
