"""The CPU backend: NumPy arrays, NumPy's BLAS.

A training step allocates and frees the same large temporaries every step. glibc's default
thresholds hand blocks over 128 KiB back to the kernel on every free, so each step page-faults
its temporaries in again (about 40% of a small CNN's step). Raising the mmap and trim
thresholds keeps those blocks in the process, as PyTorch's CPU caching allocator does.
"""

from __future__ import annotations

import ctypes
import sys

import numpy as np

from ..device import cpu
from . import Backend, register_backend

backend = Backend("numpy", np, np.ndarray)
backend.device = cpu
register_backend(backend, "cpu")

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def _keep_freed_memory() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)
        libc.mallopt(_M_TRIM_THRESHOLD, 512 << 20)
    except (OSError, AttributeError):  # not glibc: keep the platform's defaults
        pass


_keep_freed_memory()
