"""Dtype coverage: every op's forward in each low-precision, integer and bool dtype it claims,
against PyTorch in the same dtype, with PyTorch's result dtype; and the promotion table."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import ember

from .harness import (
    ALL,
    assert_close,
    cast_inputs,
    ember_np,
    np_dtype,
    outputs,
    run_reference,
    to_ember,
    to_torch,
    torch_dtype_name,
)
from .op_table import OP_TABLE

OTHER_DTYPES = [d for d in ALL if d not in ("float32", "float64")]


def _dtype_cases():
    return [pytest.param(op, s, d, id=f"{op.name}-{s.name}-{d}")
            for op in OP_TABLE for d in OTHER_DTYPES if d in op.dtypes
            for s in op.sample_list()]


@pytest.mark.filterwarnings("ignore::RuntimeWarning",
                            "ignore:.*degrees of freedom is <= 0:UserWarning")
@pytest.mark.parametrize("op,sample,dtype", _dtype_cases())
def test_forward_dtype(op, sample, dtype):
    args = cast_inputs(sample, op, dtype)
    got = outputs(op.ember(*[to_ember(a) for a in args], **sample.kwargs))
    want, _, t_out = run_reference(op, args, sample.kwargs)
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        want_dtype = torch_dtype_name(t_out[i]) if t_out is not None else str(w.dtype)
        assert g.dtype.name == want_dtype, f"{op.name} output {i}: dtype {g.dtype.name}"
        assert_close(ember_np(g), w, g.dtype.name, op.tol.get(dtype), what=f"{op.name} out {i}")


def _operand(dtype: str, shape, lib):
    a = np.ones(shape, dtype=np_dtype(dtype)) if dtype != "bool" else np.ones(shape, bool)
    return to_ember(a) if lib == "ember" else to_torch(a)


PROMOTING = {
    "add": (ember.add, torch.add), "mul": (ember.mul, torch.mul),
    "div": (ember.div, torch.div), "maximum": (ember.maximum, torch.maximum),
    "where": (lambda a, b: ember.where(ember.tensor(True), a, b),
              lambda a, b: torch.where(torch.tensor(True), a, b)),
    "eq": (ember.eq, torch.eq), "pow": (ember.pow, torch.pow),
}


@pytest.mark.parametrize("op", list(PROMOTING))
@pytest.mark.parametrize("shapes", [((2,), (2,)), ((2,), ()), ((), (2,))],
                         ids=["nd_nd", "nd_0d", "0d_nd"])
def test_promotion_matches_torch(op, shapes):
    fe, ft = PROMOTING[op]
    wrong = []
    for da, db in itertools.product(ALL, ALL):
        if op == "pow" and "bool" in (da, db) or op in ("maximum", "where") and (
                {da, db} == {"float16", "bfloat16"}):
            continue
        want = torch_dtype_name(ft(_operand(da, shapes[0], "t"), _operand(db, shapes[1], "t")))
        got = fe(_operand(da, shapes[0], "ember"), _operand(db, shapes[1], "ember")).dtype.name
        if got != want:
            wrong.append(f"{da} {op} {db}: {got}, torch {want}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("scalar", [2, 2.5, True])
@pytest.mark.parametrize("op", ["add", "mul", "div", "pow"])
def test_python_scalars_are_weak(op, scalar):
    fe, ft = PROMOTING[op]
    wrong = []
    for d in ALL:
        if op == "pow" and (d == "bool" or isinstance(scalar, bool)):
            continue
        for args_e, args_t in (((_operand(d, (2,), "ember"), scalar),
                                (_operand(d, (2,), "t"), scalar)),):
            want = torch_dtype_name(ft(*args_t))
            got = fe(*args_e).dtype.name
            if got != want:
                wrong.append(f"{d} {op} {scalar!r}: {got}, torch {want}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("dtype", ["bool", "uint8", "int32", "int64"])
def test_mean_of_integers_is_default_float(dtype):
    # PyTorch refuses integer means; ember returns the default float dtype (like logsumexp)
    a = np.array([[1, 0, 1], [1, 1, 0]], dtype=dtype)
    for dim in (None, 1):
        got = ember.mean(ember.tensor(a), dim)
        assert got.dtype is ember.float32
        np.testing.assert_allclose(got.numpy(), a.mean(axis=dim), rtol=1e-6)
    assert ember.var(ember.tensor(a)).dtype is ember.float32


@pytest.mark.parametrize("fn", ["sum", "prod"])
@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "uint8"])
def test_integer_reductions_keep_the_requested_dtype_like_pytorch(fn, dtype):
    import torch

    values = [100, 100, 3] if fn == "sum" else [100, 3, 7]
    e = getattr(ember, fn)(ember.tensor(values, dtype=getattr(ember, dtype)),
                           dtype=getattr(ember, dtype))
    t = getattr(torch, fn)(torch.tensor(values, dtype=getattr(torch, dtype)),
                           dtype=getattr(torch, dtype))
    assert e.dtype.name == dtype
    assert int(e.item()) == int(t.item())  # wraps around exactly as PyTorch's


@pytest.mark.parametrize("fn", ["tril", "triu"])
def test_triangles_of_a_bool_matrix_stay_bool(fn):
    import torch

    m = np.array([[True, False, True], [True, True, False], [False, True, True]])
    e = getattr(ember, fn)(ember.tensor(m), 0)
    t = getattr(torch, fn)(torch.tensor(m), 0)
    assert e.dtype == ember.bool
    np.testing.assert_array_equal(e.numpy(), t.numpy())


@pytest.mark.parametrize("name,args", [("elu", (0.7,)), ("celu", (2.0,)), ("selu", ())])
@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_composite_activations_round_once_in_half_precision(name, args, dtype):
    # PyTorch computes these in float32 and rounds once; so must ember (ONNX's Celu bfloat16
    # node test caught a result two bfloat16 steps off)
    x = np.linspace(-3, 3, 241, dtype=np.float32)
    half = getattr(torch, dtype)
    want = getattr(torch.nn.functional, name)(torch.from_numpy(x).to(half), *args)
    got = getattr(ember.nn.functional, name)(ember.from_numpy(x).to(getattr(ember, dtype)), *args)
    assert got.dtype == getattr(ember, dtype)
    np.testing.assert_array_equal(got.float().numpy(), want.float().numpy())


def test_einsum_reduces_bfloat16():
    x = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    got = ember.einsum("ij->i", ember.from_numpy(x).bfloat16())
    want = torch.einsum("ij->i", torch.from_numpy(x).bfloat16())
    assert got.dtype == ember.bfloat16
    np.testing.assert_array_equal(got.float().numpy(), want.float().numpy())


def test_import_ember_leaves_ml_dtypes_until_bfloat16_is_used():
    # ml_dtypes 0.7 takes most of a second to import; ember imports it on first bfloat16 use
    import subprocess
    import sys

    code = ("import sys, ember; assert 'ml_dtypes' not in sys.modules; "
            "t = ember.ones(2).bfloat16(); assert 'ml_dtypes' in sys.modules; "
            "import numpy as np, ml_dtypes; "
            "a = ember.from_numpy(np.ones(3, dtype=ml_dtypes.bfloat16)); "
            "assert a.dtype is ember.bfloat16 and t.dtype is ember.bfloat16")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_a_bfloat16_array_made_outside_ember_converts_first():
    # in a fresh process the first bfloat16 ember sees may be a NumPy array's, not ember's
    import subprocess
    import sys

    code = ("import numpy as np, ml_dtypes, ember; "
            "a = ember.from_numpy(np.ones(3, dtype=ml_dtypes.bfloat16)); "
            "assert a.dtype is ember.bfloat16, a.dtype; assert (a + a).dtype is ember.bfloat16")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
