"""The op table's record types and the helpers that run one sample through ember and PyTorch.

An ``OpInfo`` names an op, its ember callable, its reference (a PyTorch callable, or a NumPy
one where PyTorch has no equivalent), a sample generator, the dtypes it claims and whether
it is differentiable (once, twice). A ``Sample`` holds positional arguments -- NumPy arrays,
which the tests turn into tensors, and plain Python values, passed as they are -- plus
keyword arguments given to both callables. Float64 arrays are the differentiable inputs.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import ml_dtypes
import numpy as np
import torch

import ember

FLOAT = ("float16", "bfloat16", "float32", "float64")
INT = ("uint8", "int8", "int16", "int32", "int64")
ALL = FLOAT + INT + ("bool",)

# (rtol, atol) per dtype: float32/float64 as the brief says; low precision by a few ulps
TOL = {
    "float64": (1e-7, 1e-7),
    "float32": (1.3e-6, 1e-5),
    "float16": (2e-3, 2e-3),
    "bfloat16": (1.6e-2, 1.6e-2),
}


@dataclass
class Sample:
    args: tuple
    kwargs: dict
    name: str
    grad: bool = True  # False: a forward-only sample (a kink, NaN, ties that break gradcheck)
    gradgrad: bool = True  # False: the first derivative has a kink here
    torch_grad: bool = True  # False: PyTorch cannot differentiate this case


def S(*args, name: str, grad: bool = True, gradgrad: bool = True, torch_grad: bool = True,
      **kwargs) -> Sample:
    """A sample: positional arguments, keyword arguments, an id for the test name."""
    args = tuple(np.asarray(a) if isinstance(a, np.generic) else a for a in args)
    return Sample(args, kwargs, name, grad, gradgrad, torch_grad)


def _round_ints(arrays, dtype):
    out = []
    for a in arrays:
        if isinstance(a, np.ndarray) and a.dtype == np.float64:
            a = np.round(a * 3)
            if dtype == "uint8":
                a = np.abs(a)
        out.append(a)
    return out


@dataclass
class OpInfo:
    name: str
    ember: Callable
    torch: Callable | None
    samples: Callable[[np.random.Generator], list]
    ref: Callable | None = None  # NumPy reference (forward only) when ``torch`` is None
    dtypes: tuple = FLOAT
    grad: bool = True
    gradgrad: bool = True
    gradcheck: bool = True  # False: finite differences are meaningless (ties of 3 or more)
    int_inputs: Callable = _round_ints  # float64 sample arrays -> integer-valued arrays
    tol: dict = field(default_factory=dict)  # per-dtype (rtol, atol) overrides

    def sample_list(self) -> list:
        """The samples, drawn once from a generator seeded by the op's name."""
        if self.name not in _SAMPLES:
            _SAMPLES[self.name] = self.samples(np.random.default_rng(zlib.crc32(
                self.name.encode())))
        return _SAMPLES[self.name]


_SAMPLES: dict = {}


# ----------------------------------------------------------------------------- conversion


def np_dtype(name: str):
    return np.dtype(ml_dtypes.bfloat16) if name == "bfloat16" else np.dtype(name)


def cast_inputs(sample: Sample, op: OpInfo, dtype: str) -> list:
    """The sample's float64 arrays cast to ``dtype`` (integer-valued first for int dtypes)."""
    args = op.int_inputs(list(sample.args), dtype) if dtype in INT else list(sample.args)
    out = []
    for a in args:
        if isinstance(a, np.generic):
            a = np.asarray(a)
        if isinstance(a, np.ndarray) and a.dtype == np.float64:
            a = np.asarray(a > 0) if dtype == "bool" else a.astype(np_dtype(dtype))
        out.append(a)
    return out


def noncontiguous(a: np.ndarray) -> np.ndarray:
    """Same values as ``a`` in a strided, axis-permuted view of a larger buffer."""
    if a.size <= 1:
        return a
    t = np.moveaxis(a, -1, 0)
    buf = np.zeros(t.shape + (2,), a.dtype)
    buf[..., 0] = t
    v = np.moveaxis(buf[..., 0], 0, -1)
    assert not v.flags.c_contiguous and np.array_equal(v, a)
    return v


def is_diff(a) -> bool:
    return isinstance(a, np.ndarray) and a.dtype == np.float64


def to_ember(a, requires_grad=False, contiguous=True):
    if not isinstance(a, np.ndarray):
        return a
    t = ember.from_numpy(a.copy() if contiguous else noncontiguous(a))
    if requires_grad:
        t.requires_grad_()
    return t


def to_torch(a, requires_grad=False):
    if not isinstance(a, np.ndarray):
        return a
    if a.dtype == np_dtype("bfloat16"):
        return torch.from_numpy(a.astype(np.float32)).to(torch.bfloat16)
    t = torch.from_numpy(a.copy())
    if requires_grad:
        t.requires_grad_()
    return t


def outputs(result) -> list:
    """An op's result as a flat list of tensors."""
    if isinstance(result, (list, tuple)):
        return [r for x in result for r in outputs(x)]
    return [result]


def ember_np(t) -> np.ndarray:
    return np.asarray(t.detach().data)


def torch_np(t) -> np.ndarray:
    t = t.detach()
    if t.dtype == torch.bfloat16:
        return t.float().numpy().astype(ml_dtypes.bfloat16)
    return t.numpy()


def torch_dtype_name(t) -> str:
    return str(t.dtype).removeprefix("torch.")


def assert_close(got, want, dtype: str, tol=None, what: str = "") -> None:
    """Compare an ember array with a reference: shape, dtype name and values."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != reference {want.shape}"
    if got.dtype.kind in "biu" or want.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want, err_msg=what)
        return
    rtol, atol = tol or TOL.get(dtype, TOL["float64"])
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol,
                               atol=atol, equal_nan=True, err_msg=what)


def run_reference(op: OpInfo, args: list, kwargs: dict, requires_grad=False):
    """The reference result as NumPy arrays (and the torch inputs/outputs for gradients)."""
    if op.torch is None:
        out = op.ref(*args, **kwargs)
        return [np.asarray(o) for o in outputs(out)], None, None
    t_args = [to_torch(a, requires_grad and is_diff(a)) for a in args]
    out = outputs(op.torch(*t_args, **kwargs))
    return [torch_np(o) for o in out], t_args, out
