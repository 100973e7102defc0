"""The multi-tensor optimiser kernel (ember/backend/cuda_optim.py): one launch updates every
parameter of a step. Its CUDA source is compiled as C++ and run by a host loop over a small
grid (tests/cuda/host_kernels.py: few blocks, few threads, tiny chunks, so chunks, block
striding and thread striding are all exercised), against the NumPy optimisers."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.backend import cuda_optim, get_backend

from .host_kernels import CXX, HostRawKernel
from .test_kernel_sources import _HostCupy

pytestmark = pytest.mark.skipif(CXX is None, reason="no host C++ compiler (g++/clang++)")

SHAPES = [(7, 5), (3,), (40,), (2, 3, 4), (1,)]


def _run(make, dtype, fused, steps=9, skip=None):
    rng = np.random.default_rng(3)
    params = [ember.nn.Parameter(ember.from_numpy(rng.standard_normal(s).astype(dtype)))
              for s in SHAPES]
    opt = make(params)
    for step in range(steps):
        opt.zero_grad()
        loss = sum(((p * p).sum() * (i + 1) + (p * float(step)).mean())
                   for i, p in enumerate(params) if not (skip and step % 3 == 0 and
                                                         p is params[skip]))
        loss.backward()
        opt.step()
    return [p.detach().numpy() for p in params]


MAKERS = [
    ("adam_groups", lambda ps: ember.optim.Adam(
        [{"params": ps[:2]}, {"params": ps[2:], "lr": 3e-2, "weight_decay": 0.1}], lr=1e-2)),
    ("adamw_amsgrad", lambda ps: ember.optim.AdamW(ps, lr=1e-2, amsgrad=True,
                                                   weight_decay=0.05)),
    ("sgd_groups", lambda ps: ember.optim.SGD(
        [{"params": ps[:3], "momentum": 0.9, "nesterov": True},
         {"params": ps[3:], "lr": 0.05, "maximize": True}], lr=0.1)),
    ("sgd_damp_wd", lambda ps: ember.optim.SGD(ps, lr=0.1, momentum=0.8, dampening=0.3,
                                               weight_decay=0.01)),
]


@pytest.mark.parametrize("name,make", MAKERS, ids=[m[0] for m in MAKERS])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_launch_per_step_equals_numpy(name, make, dtype, monkeypatch):
    monkeypatch.setattr(cuda_optim, "CHUNK", 7)
    monkeypatch.setattr(cuda_optim, "BLOCK", 4)
    monkeypatch.setattr(cuda_optim, "MAX_BLOCKS", 3)
    cpu = get_backend("cpu")
    host = _HostCupy()
    want = _run(make, dtype, False, skip=1)
    monkeypatch.setattr(cpu, "fused_optimizer_step",
                        lambda opt, jobs: [] if cuda_optim.fused_step(host, opt, jobs) else jobs)
    HostRawKernel.launches.clear()
    got = _run(make, dtype, True, skip=1)
    # SGD groups differ in momentum (two rule variants): two launches; otherwise one
    per_step = 2 if name == "sgd_groups" else 1
    assert len(HostRawKernel.launches) == 9 * per_step
    assert all(grid == (3,) and block == (4,) for _, grid, block in HostRawKernel.launches)
    tol = dict(rtol=1e-6, atol=1e-7) if dtype == "float32" else dict(rtol=1e-14, atol=1e-15)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, **tol)


def test_table_layout():
    a = np.zeros(10, np.float32)
    b = np.zeros(10, np.float32)
    c = np.zeros(3, np.float32)
    table, n_t, n_c = cuda_optim.pack_table([((a, b), 10, (1.5, -2.0)),
                                             ((c, c), 3, (0.25, 1.0))], chunk=4)
    assert (n_t, n_c) == (2, 4)
    ints = table[:4 + 2 + 4 + 4]
    assert list(ints[:4]) == [a.ctypes.data, b.ctypes.data, c.ctypes.data, c.ctypes.data]
    assert list(ints[4:6]) == [10, 3]
    assert list(ints[6:10]) == [0, 0, 0, 1] and list(ints[10:14]) == [0, 4, 8, 0]
    assert list(table[14:].view(np.float64)) == [1.5, -2.0, 0.25, 1.0]


def test_non_contiguous_state_falls_back_to_per_parameter_kernels(monkeypatch):
    host = _HostCupy()
    HostRawKernel.launches.clear()
    p = np.ones((4, 6), np.float32)[:, ::2]  # not contiguous
    q = np.ones(5, np.float32)
    jobs = [(np, (0.1, 0.0, False, 0, 1.0, False, False), arr,
             np.full(arr.shape, 2.0, np.float32), ()) for arr in (p, q)]
    assert cuda_optim.fused_step(host, ember.optim.SGD, jobs)
    assert len(HostRawKernel.launches) == 1  # q only
    np.testing.assert_allclose(q, 0.8, rtol=1e-7)
    np.testing.assert_allclose(p, 0.8, rtol=1e-7)  # the ElementwiseKernel path


def test_a_kernel_that_fails_to_compile_falls_back_once(monkeypatch):
    class Broken(_HostCupy):
        @staticmethod
        def RawKernel(code, name):  # noqa: N802
            raise RuntimeError("nvrtc: error")

    monkeypatch.setattr(cuda_optim, "_BROKEN", set())
    q = np.ones(5, np.float64)
    job = (np, (0.5, 0.0, False, 0, 1.0, False, False), q, np.ones(5), ())
    with pytest.warns(RuntimeWarning, match="multi-tensor sgd kernel for float64 failed"):
        assert cuda_optim.fused_step(Broken(), ember.optim.SGD, [job])
    np.testing.assert_allclose(q, 0.5)
    assert ("sgd", "float64", False) in cuda_optim._BROKEN


def test_while_capturing_a_cuda_graph_the_per_parameter_kernels_run():
    import types

    class Capturing(_HostCupy):
        cuda = types.SimpleNamespace(get_current_stream=lambda: types.SimpleNamespace(
            is_capturing=lambda: True))

    HostRawKernel.launches.clear()
    q = np.ones(5, np.float32)
    job = (np, (0.5, 0.0, False, 0, 1.0, False, False), q, np.ones(5, np.float32), ())
    assert cuda_optim.fused_step(Capturing(), ember.optim.SGD, [job])
    assert not HostRawKernel.launches
    np.testing.assert_allclose(q, 0.5)
