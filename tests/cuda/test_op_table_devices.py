"""Every row of the op table, forward and backward, on CUDA against the CPU result.

Each row runs the same op on the GPU from the same inputs and compares outputs and input
gradients with the CPU's (float64: 1e-10 relative; float32: 1e-5). Without a GPU the rows
are skipped; test_strict_device.py runs the same rows on a strict stand-in device.
"""

from __future__ import annotations

import numpy as np
import pytest

import ember
from tests.ops.harness import cast_inputs, is_diff, outputs
from tests.ops.op_table import cases

from .conftest import requires_cuda

TOL = {"float32": (1e-5, 1e-5), "float64": (1e-10, 1e-12)}


def _run(op, args, kwargs, device, with_grad):
    tensors = []
    for a in args:
        if isinstance(a, np.ndarray):
            t = ember.from_numpy(a.copy()).to(device)
            if with_grad and a.dtype.kind == "f":
                t = t.detach().requires_grad_()
            tensors.append(t)
        else:
            tensors.append(a)
    outs = outputs(op.ember(*tensors, **kwargs))
    floats = [o for o in outs if o.dtype.is_floating_point and o._rg]
    grads = []
    if with_grad and floats:
        rng = np.random.default_rng(7)
        total = None
        for o in floats:
            w = ember.from_numpy(rng.standard_normal(o.shape).astype(o.data.dtype)).to(device)
            term = (o * w).sum()
            total = term if total is None else total + term
        total.backward()
        grads = [t.grad for t in tensors if isinstance(t, ember.Tensor) and t._rg]
    host = [np.asarray(o.detach().cpu().numpy()) for o in outs]
    ghost = [None if g is None else np.asarray(g.cpu().numpy()) for g in grads]
    return host, ghost


@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("device", [pytest.param("cuda", marks=requires_cuda)])
@pytest.mark.parametrize("op,sample", cases(lambda op, s: "float32" in op.dtypes))
def test_op_on_device_matches_cpu(op, sample, dtype, device):
    args = cast_inputs(sample, op, dtype)
    grad = op.grad and sample.grad and any(is_diff(a) for a in sample.args)
    got, ggot = _run(op, args, sample.kwargs, device, grad)
    rtol, atol = TOL[dtype]
    want, gwant = _run(op, args, sample.kwargs, "cpu", grad)
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == w.dtype, f"{op.name} output {i}: {g.dtype} on {device}, {w.dtype} on cpu"
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, equal_nan=True,
                                   err_msg=f"{op.name} output {i} on {device}")
    for i, (g, w) in enumerate(zip(ggot, gwant)):
        if w is None:
            assert g is None
            continue
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, equal_nan=True,
                                   err_msg=f"{op.name} gradient {i} on {device}")
