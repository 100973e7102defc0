"""The one-kernel-per-fused-group path of the executor, checked on the CPU.

A stand-in backend compiles each group with ``FusedGroup.evaluate`` (the NumPy rendering of
the same expression graph the CUDA kernel is generated from), so the grouping, the inputs,
the constants and the choice of outputs are checked against the unfused executor here; the
C rendering is compiled by CuPy only on a GPU (tests/cuda/test_gpu.py).
"""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.backend import Backend, get_backend
from ember.backend.cuda_fusion import FusedGroup
from ember.graph import trace
from ember.graph.executor import compile_graph


class _GroupBackend(Backend):
    def __init__(self):
        cpu = get_backend("cpu")
        super().__init__("numpy", np, np.ndarray)
        self.overrides = cpu.overrides
        self.groups: list[FusedGroup] = []

    def fused_kernel(self, group):
        if not group.supported():
            return None
        self.groups.append(group)
        return group.evaluate


FUNCS = [
    ("chain", lambda x, y: ((x * 2.0 + y).exp() - 1.0) / (y * y + 1.0)),
    ("two_outputs", lambda x, y: ((x + y).relu() @ y.T, (x - y).tanh())),
    ("where_clamp", lambda x, y: ember.where(x > y, x.clamp(-0.5, 0.5), y.sqrt().abs())),
    ("compare_cast", lambda x, y: ((x < y).to(ember.float32) * 3.0 + x.sign()).sum()),
    ("pow_recip", lambda x, y: (x ** 2 + y.abs() ** 0.5 + 1.0).reciprocal().log1p()),
    ("broadcast", lambda x, y: (x * y[:1] + y.mean()).sigmoid() if hasattr(x, "sigmoid")
     else x * y[:1]),
    ("maximum_nan", lambda x, y: ember.maximum(x, y / (x - x)) + ember.minimum(x, y)),
]


def test_group_with_an_output_smaller_than_the_group_falls_back():
    def f(x, y):
        s = (y[:1] * 2.0).exp()  # (1, 5), used after the group
        return x + s, s.sum()

    g = trace(f, ember.ones(4, 5), ember.ones(4, 5))
    backend = _GroupBackend()
    run = compile_graph(g, backend=backend)
    assert backend.groups == [] and "u_" in run.source
    x, y = ember.randn(4, 5), ember.randn(4, 5)
    got, want = run(x, y), f(x, y)
    np.testing.assert_allclose(got[0].numpy(), want[0].numpy(), rtol=1e-6)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("name,fn", FUNCS, ids=[f[0] for f in FUNCS])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_group_kernels_equal_the_unfused_executor(name, fn, dtype):
    rng = np.random.default_rng(0)
    x = ember.from_numpy(rng.standard_normal((4, 5)).astype(dtype))
    y = ember.from_numpy(rng.uniform(0.1, 2.0, (4, 5)).astype(dtype))
    g = trace(fn, x, y)
    backend = _GroupBackend()
    grouped = compile_graph(g, backend=backend)
    plain = compile_graph(g)
    assert backend.groups, "no fused group reached the backend"
    assert "g" in grouped.source and any(f"g{k}(" in grouped.source for k in range(99))
    x2 = ember.from_numpy(rng.standard_normal((4, 5)).astype(dtype))
    for args in ((x, y), (x2, y)):
        want = plain(*args)
        got = grouped(*args)
        want = want if isinstance(want, tuple) else (want,)
        got = got if isinstance(got, tuple) else (got,)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6 if dtype == "float32"
                                       else 1e-13, atol=0, equal_nan=True)


def test_only_values_used_after_the_group_are_stored():
    g = trace(lambda x: ((x * 2.0 + 1.0).exp() * 3.0).sum(), ember.ones(3))
    backend = _GroupBackend()
    compile_graph(g, backend=backend)
    (group,) = backend.groups
    assert len(group.nodes) == 4 and len(group.outputs) == 1
    ins, outs, body = group.c_source()
    assert ins == "float32 in0" and outs == "float32 out0"
    assert body.splitlines()[0] == "float x0 = (float)in0;"
    assert body.splitlines()[-1] == "out0 = (float)t3;"


def test_unsupported_dtypes_fall_back_to_ufuncs():
    g = trace(lambda x: (x * 2 + 1) * x, ember.ones(3, dtype=ember.int64))
    backend = _GroupBackend()
    run = compile_graph(g, backend=backend)
    assert backend.groups == [] and "u_" in run.source
    np.testing.assert_array_equal(run(ember.tensor([1, 2, 3])).numpy(), [3, 10, 21])
