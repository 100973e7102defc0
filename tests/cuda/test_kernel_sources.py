"""The C bodies of the CUDA kernels, compiled and run on the host (tests/cuda/host_kernels.py):
fused elementwise groups against the unfused executor, fused Adam/SGD against the NumPy
optimisers. CUDA compiles the same text; here it runs element by element in C++."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.backend import get_backend
from ember.backend.cuda_fusion import _PRELUDE
from ember.graph import trace
from ember.graph.executor import compile_graph

from .host_kernels import CXX, HostKernel, HostRawKernel
from .test_fused_kernels import FUNCS, _GroupBackend

pytestmark = pytest.mark.skipif(CXX is None, reason="no host C++ compiler (g++/clang++)")


class _HostGroupBackend(_GroupBackend):
    def fused_kernel(self, group):
        if not group.supported():
            return None
        self.groups.append(group)
        ins, outs, body = group.c_source()
        return HostKernel(ins, outs, body, f"fused{len(self.groups)}", preamble=_PRELUDE)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("name,fn", FUNCS, ids=[f[0] for f in FUNCS])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_group_c_source_equals_the_unfused_executor(name, fn, dtype):
    rng = np.random.default_rng(0)
    x = ember.from_numpy(rng.standard_normal((4, 5)).astype(dtype))
    y = ember.from_numpy(rng.uniform(0.1, 2.0, (4, 5)).astype(dtype))
    g = trace(fn, x, y)
    backend = _HostGroupBackend()
    grouped = compile_graph(g, backend=backend)
    plain = compile_graph(g)
    assert backend.groups
    x2 = ember.from_numpy(rng.standard_normal((4, 5)).astype(dtype))
    for args in ((x, y), (x2, y)):
        want, got = plain(*args), grouped(*args)
        want = want if isinstance(want, tuple) else (want,)
        got = got if isinstance(got, tuple) else (got,)
        for a, b in zip(got, want):
            # the kernel rounds where C rounds (double literals, libm's exp): an ulp or two
            # of an intermediate, amplified by cancellation in exp(.) - 1 near 0
            tol = (1e-5, 1e-6) if dtype == "float32" else (1e-12, 1e-14)
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=tol[0], atol=tol[1],
                                       equal_nan=True)


class _HostCupy:
    """What ``fused_step`` needs of CuPy: its array type and ElementwiseKernel."""

    ndarray = np.ndarray
    asarray = staticmethod(np.ascontiguousarray)

    @staticmethod
    def ElementwiseKernel(ins, outs, body, name):  # noqa: N802 - CuPy's name
        return HostKernel(ins, outs, body, name)

    @staticmethod
    def RawKernel(code, name):  # noqa: N802 - CuPy's name
        return HostRawKernel(code, name)


@pytest.mark.parametrize("make", [
    lambda ps: ember.optim.Adam(ps, lr=1e-2),
    lambda ps: ember.optim.Adam(ps, lr=1e-2, weight_decay=0.1, maximize=True),
    lambda ps: ember.optim.AdamW(ps, lr=1e-2, amsgrad=True),
    lambda ps: ember.optim.SGD(ps, lr=0.1),
    lambda ps: ember.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda ps: ember.optim.SGD(ps, lr=0.1, momentum=0.8, dampening=0.3, maximize=True),
], ids=["adam", "adam_l2_max", "adamw_ams", "sgd", "sgd_nesterov_wd", "sgd_damp_max"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("multi", [False, True], ids=["per_param", "multi_tensor"])
def test_fused_optimizer_c_source_equals_numpy_rule(make, dtype, multi, monkeypatch):
    from ember.backend.cuda_optim import fused_step

    rng = np.random.default_rng(1)
    w0 = rng.standard_normal((7, 5)).astype(dtype)
    cpu = get_backend("cpu")
    host_cp = _HostCupy()
    calls = []

    def fused(opt, jobs):
        calls.append(len(jobs))
        return [] if fused_step(host_cp, opt, jobs, multi_tensor=multi) else jobs

    HostRawKernel.launches.clear()
    traj = []
    for use in (True, False):
        if use:
            monkeypatch.setattr(cpu, "fused_optimizer_step", fused)
        else:  # the NumPy rule for every job
            monkeypatch.setattr(cpu, "fused_optimizer_step", lambda opt, jobs: jobs)
        w = ember.nn.Parameter(ember.from_numpy(w0.copy()))
        opt = make([w])
        for step in range(15):
            opt.zero_grad()
            ((w * w).sum() + (w * float(step)).mean()).backward()
            opt.step()
        traj.append(w.detach().numpy())
    assert calls == [1] * 15
    assert len(HostRawKernel.launches) == (15 if multi else 0)
    np.testing.assert_allclose(traj[0], traj[1], rtol=1e-6 if dtype == "float32" else 1e-14,
                               atol=1e-7 if dtype == "float32" else 1e-15)
