"""Run the C bodies of ember's CUDA elementwise kernels on the host, to check them on the CPU.

``HostKernel`` takes what ``cupy.ElementwiseKernel`` takes (parameter lists with NumPy dtype
names, the per-element C body, a preamble) and compiles it with the host C++ compiler into
a loop over the elements: array parameters are read (and outputs written back) per element,
scalar parameters are passed by value. What CUDA provides beyond C++ (``float16``) is not
available, so only float32/float64/bool kernels can run here.
"""

from __future__ import annotations

import ctypes
import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

CXX = shutil.which("g++") or shutil.which("clang++")
_C = {"float32": "float", "float64": "double", "bool": "bool", "int32": "int",
      "int64": "long long"}
_CTYPES = {"float32": ctypes.c_float, "float64": ctypes.c_double, "bool": ctypes.c_bool,
           "int32": ctypes.c_int, "int64": ctypes.c_longlong}
_BUILD = Path(tempfile.gettempdir()) / "ember_host_kernels"


def _parse(params: str, out: bool) -> list[tuple[str, str, bool]]:
    res = []
    for p in params.split(","):
        p = p.strip()
        if p:
            t, name = p.split()
            res.append((t, name, out))
    return res


class HostKernel:
    """A stand-in for ``cupy.ElementwiseKernel`` that runs the same body on NumPy arrays."""

    def __init__(self, in_params: str, out_params: str, operation: str, name: str = "k",
                 preamble: str = "") -> None:
        self.params = _parse(in_params, False) + _parse(out_params, True)
        self.body, self.preamble, self.name = operation, preamble, name
        self._fns: dict = {}

    def _build(self, is_array: tuple):
        sig, load, store = ["long n"], [], []
        for (t, name, out), arr in zip(self.params, is_array):
            c = _C[t]
            if arr:
                sig.append(f"{'' if out else 'const '}{c}* {name}_p")
                load.append(f"{c} {name} = {name}_p[i];")
                if out:
                    store.append(f"{name}_p[i] = {name};")
            else:
                sig.append(f"{c} {name}")
        src = ("#include <cmath>\nusing namespace std;\n" + self.preamble.replace(
            "__device__ ", "") + f'\nextern "C" void {self.name}({", ".join(sig)}) {{\n'
            "  for (long i = 0; i < n; ++i) {\n    " + "\n    ".join(load) + "\n    {\n"
            + self.body + "\n    }\n    " + "\n    ".join(store) + "\n  }\n}\n")
        key = hashlib.sha1(src.encode()).hexdigest()[:16]
        _BUILD.mkdir(exist_ok=True)
        lib = _BUILD / f"{self.name}_{key}.so"
        if not lib.exists():
            cpp = _BUILD / f"{self.name}_{key}.cpp"
            cpp.write_text(src)
            subprocess.run([CXX, "-O1", "-shared", "-fPIC", "-ffp-contract=off", "-o",
                            str(lib), str(cpp)], check=True, capture_output=True, text=True)
        fn = getattr(ctypes.CDLL(str(lib)), self.name)
        fn.restype = None
        return fn

    def __call__(self, *args):
        assert len(args) == len(self.params), (len(args), len(self.params))
        is_array = tuple(isinstance(a, np.ndarray) for a in args)
        fn = self._fns.get(is_array)
        if fn is None:
            fn = self._fns[is_array] = self._build(is_array)
        shape = np.broadcast_shapes(*(a.shape for a in args if isinstance(a, np.ndarray)))
        n = int(np.prod(shape))
        cargs, keep, back = [ctypes.c_long(n)], [], []
        for (t, _, out), a in zip(self.params, args):
            if not isinstance(a, np.ndarray):
                cargs.append(_CTYPES[t](a))
                continue
            if out:
                assert a.shape == shape and a.dtype == np.dtype(t)
                buf = a if a.flags.c_contiguous else np.ascontiguousarray(a)
                if buf is not a:
                    back.append((a, buf))
            else:
                buf = np.ascontiguousarray(np.broadcast_to(a, shape), dtype=np.dtype(t))
            keep.append(buf)
            cargs.append(ctypes.c_void_p(buf.ctypes.data))
        fn(*cargs)
        for a, buf in back:
            a[...] = buf


_GRID_PRELUDE = """#include <cmath>
using namespace std;
struct ember_dim3 { long long x; };
static ember_dim3 blockIdx, threadIdx, gridDim, blockDim;
#define __global__
"""


class HostRawKernel:
    """A stand-in for ``cupy.RawKernel`` with ember's multi-tensor signature
    ``(const long long* table, int, int, long long)``: the kernel source compiled as C++,
    launched by a host loop over every block and thread of the grid in place of the GPU
    (``blockIdx``/``threadIdx``/``gridDim``/``blockDim`` are globals the loop sets)."""

    launches: list = []  # (name, grid, block) of every launch, for the tests

    def __init__(self, code: str, name: str) -> None:
        src = _GRID_PRELUDE + code + f"""
extern "C" void ember_grid(const long long* table, int n_t, int n_c, long long chunk,
                           long long grid, long long block) {{
  gridDim.x = grid; blockDim.x = block;
  for (blockIdx.x = 0; blockIdx.x < grid; ++blockIdx.x)
    for (threadIdx.x = 0; threadIdx.x < block; ++threadIdx.x)
      {name}(table, n_t, n_c, chunk);
}}
"""
        key = hashlib.sha1(src.encode()).hexdigest()[:16]
        _BUILD.mkdir(exist_ok=True)
        lib = _BUILD / f"{name}_{key}.so"
        if not lib.exists():
            cpp = _BUILD / f"{name}_{key}.cpp"
            cpp.write_text(src)
            subprocess.run([CXX, "-O1", "-shared", "-fPIC", "-ffp-contract=off", "-o",
                            str(lib), str(cpp)], check=True, capture_output=True, text=True)
        self.fn = ctypes.CDLL(str(lib)).ember_grid
        self.fn.restype = None
        self.name = name

    def __call__(self, grid: tuple, block: tuple, args: tuple) -> None:
        table, n_t, n_c, chunk = args
        assert table.dtype == np.int64 and table.flags.c_contiguous
        HostRawKernel.launches.append((self.name, grid, block))
        self.fn(ctypes.c_void_p(table.ctypes.data), ctypes.c_int(int(n_t)),
                ctypes.c_int(int(n_c)), ctypes.c_longlong(int(chunk)),
                ctypes.c_longlong(grid[0]), ctypes.c_longlong(block[0]))
