"""The CPU backend: NumPy arrays, NumPy's BLAS, and oneDNN's convolutions when installed.

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
from . import Backend, onednn, register_backend


class _NumpyBackend(Backend):
    def forward(self, op):
        """The forward of ``op``; one that calls BLAS (``op.blas``) holds OpenBLAS to one
        thread while oneDNN is active (``onednn.single_blas``)."""
        fn = self.forwards.get(op)
        if fn is None:
            fn = super().forward(op)
            if op.blas and op.name not in self.overrides:  # oneDNN's overrides hold their
                fn = self.forwards[op] = onednn.single_blas(fn)  # NumPy fallbacks themselves
        return fn

    def runs_natively(self, op_name, dtype):
        """oneDNN's 3-d convolutions, for float32 while oneDNN is active."""
        return (op_name in onednn.NATIVE and dtype == np.float32 and onednn.active())

    def matmul_into(self, a, b, out):
        """``a @ b`` into ``out`` as the matmul op's forward computes it (oneDNN for float32
        while it is active), so a compiled graph rounds as eager mode does."""
        y = onednn.matmul(a, b, out=out if out.flags.c_contiguous else None)
        if y is None:
            _single_blas_matmul(a, b, out=out)
        elif y is not out:
            out[...] = y
        return out

    def linear_into(self, x, weight, bias, out):
        """``x @ weight.T + bias`` into ``out``, as the linear op's forward computes it."""
        y = onednn.matmul(x, np.ascontiguousarray(weight).T, bias,
                          out=out if out.flags.c_contiguous else None)
        if y is None:
            _single_blas_matmul(x, weight.T, out=out)
            if bias is not None:
                np.add(out, bias, out=out)
        elif y is not out:
            out[...] = y
        return out

    def relu_into(self, x, out):
        """``max(x, 0)`` into ``out``, through oneDNN as the relu op's forward when it can."""
        if onednn.relu(x, out) is None:
            np.maximum(x, 0, out=out)
        return out

    def relu_backward_into(self, g, x, out):
        """``g * (x > 0)`` into ``out``, through oneDNN as relu_backward's forward when it
        can."""
        if onednn.relu_backward(g, x, out) is None:
            np.multiply(g, x > 0, out=out)
        return out

    def where_into(self, cond, a, b, out):
        """``where(cond, a, b)`` into ``out``, branch-free for large float arrays
        (``ember.ops._select``), as the where op's forward."""
        from ..ops._select import select

        if select(cond, a, b, out) is None:
            super().where_into(cond, a, b, out)
        return out

    def fused_optimizer_step(self, optimizer, jobs: list) -> list:
        """Adam's, AdamW's and SGD's updates of large float32 parameters through oneDNN while
        it is active (``onednn.adam_update``, ``onednn.sgd_update``); returns the jobs left
        for the NumPy rule."""
        if not onednn.active():
            return jobs
        if not _RULES:  # imported on first use (ember.optim imports the backend): runs every step
            from ..optim.adam import Adam
            from ..optim.sgd import SGD

            _RULES.update({Adam._update: onednn.adam_update, SGD._update: onednn.sgd_update})
        run = _RULES.get(getattr(optimizer, "_update", None))
        return jobs if run is None else run(jobs)


_RULES: dict = {}  # an optimiser's NumPy rule -> the oneDNN update that serves it


_single_blas_matmul = onednn.single_blas(np.matmul)
backend = _NumpyBackend("numpy", np, np.ndarray)
backend.device = cpu
register_backend(backend, "cpu")
onednn.install(backend)  # float32 convolutions through oneDNN (loaded on first use)


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
