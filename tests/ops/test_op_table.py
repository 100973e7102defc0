"""Generic tests driven by the op table: forward, gradcheck, gradients against PyTorch,
double backward."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember

from .harness import (
    assert_close,
    cast_inputs,
    ember_np,
    is_diff,
    outputs,
    run_reference,
    to_ember,
    to_torch,
    torch_dtype_name,
)
from .op_table import cases


def _float_outputs(result):
    return [o for o in outputs(result) if o.dtype.is_floating_point]


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning",
                            "ignore:divide by zero:RuntimeWarning",
                            "ignore:.*degrees of freedom is <= 0:UserWarning")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("op,sample", cases(lambda op, s: "float32" in op.dtypes))
def test_forward(op, sample, dtype):
    args = cast_inputs(sample, op, dtype)
    got = outputs(op.ember(*[to_ember(a) for a in args], **sample.kwargs))
    want, _, t_out = run_reference(op, args, sample.kwargs)
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert_close(ember_np(g), w, dtype, op.tol.get(dtype), what=f"{op.name} output {i}")
        want_dtype = torch_dtype_name(t_out[i]) if t_out is not None else str(w.dtype)
        assert g.dtype.name == want_dtype, f"{op.name} output {i}: dtype {g.dtype.name}"


def _diff_positions(sample):
    return [i for i, a in enumerate(sample.args) if is_diff(a)]


def _partial(op, sample, tensors):
    """``fn(*diff_inputs)`` -> the op's float outputs, the other arguments fixed."""
    pos = _diff_positions(sample)

    def fn(*xs):
        full = list(tensors)
        for i, x in zip(pos, xs):
            full[i] = x
        return _float_outputs(op.ember(*full, **sample.kwargs))

    return fn, [tensors[i] for i in pos]


def _grad_cases():
    return cases(lambda op, s: op.grad and s.grad and _diff_positions(s))


@pytest.mark.parametrize("op,sample", [c for c in _grad_cases() if c.values[0].gradcheck])
def test_gradcheck(op, sample):
    tensors = [to_ember(a, is_diff(a)) for a in sample.args]
    fn, inputs = _partial(op, sample, tensors)
    assert ember.autograd.gradcheck(fn, inputs)


@pytest.mark.parametrize("op,sample", cases(
    lambda op, s: op.grad and op.gradgrad and s.grad and s.gradgrad and _diff_positions(s)))
def test_gradgradcheck(op, sample):
    tensors = [to_ember(a, is_diff(a)) for a in sample.args]
    fn, inputs = _partial(op, sample, tensors)
    assert ember.autograd.gradgradcheck(fn, inputs)


def _layout_cases():
    out = []
    for c in _grad_cases():
        op, s = c.values
        if op.torch is None or not s.torch_grad:
            continue
        out.append(pytest.param(op, s, True, id=c.id + "-contiguous"))
        if any(s.args[i].size > 1 for i in _diff_positions(s)):
            out.append(pytest.param(op, s, False, id=c.id + "-noncontiguous"))
    return out


@pytest.mark.parametrize("op,sample,contiguous", _layout_cases())
def test_grad_matches_torch(op, sample, contiguous):
    e_in = [to_ember(a, is_diff(a), contiguous) for a in sample.args]
    t_in = [to_torch(a, is_diff(a)) for a in sample.args]
    e_out = outputs(op.ember(*e_in, **sample.kwargs))
    t_out = outputs(op.torch(*t_in, **sample.kwargs))
    rng = np.random.default_rng(0)
    pairs = [(e, t, rng.standard_normal(e.shape)) for e, t in zip(e_out, t_out)
             if e.dtype.is_floating_point]
    for e, t, _ in pairs:
        assert_close(ember_np(e), t.detach().numpy(), "float64", what=f"{op.name} forward")
    pos = _diff_positions(sample)
    e_pairs = [(e, c) for e, _, c in pairs if e.requires_grad]
    ge = ember.autograd.grad([e for e, _ in e_pairs], [e_in[i] for i in pos],
                             grad_outputs=[ember.from_numpy(c) for _, c in e_pairs],
                             allow_unused=True) if e_pairs else [None] * len(pos)
    t_pairs = [(t, c) for _, t, c in pairs if t.requires_grad]
    gt = torch.autograd.grad([t for t, _ in t_pairs], [t_in[i] for i in pos],
                             grad_outputs=[torch.from_numpy(c) for _, c in t_pairs],
                             allow_unused=True) if t_pairs else [None] * len(pos)
    for k, (i, a, b) in enumerate(zip(pos, ge, gt)):
        shape = sample.args[i].shape
        a = np.zeros(shape) if a is None else ember_np(a)
        b = np.zeros(shape) if b is None else b.numpy()
        assert_close(a, b, "float64", what=f"{op.name} gradient of argument {i}")
        assert a.dtype == np.float64, f"{op.name}: gradient {k} has dtype {a.dtype}"
