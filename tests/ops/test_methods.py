"""Tensor methods and operators against PyTorch's methods of the same name and arguments."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember

A = np.random.default_rng(0).standard_normal((2, 3))

METHODS = [  # (name, args); the same call on an ember and a torch tensor
    ("sum", (1,)), ("mean", ()), ("prod", (0,)), ("var", ()), ("std", (1,)), ("max", ()),
    ("min", (1,)), ("amax", (0,)), ("amin", ((0, 1),)), ("argmax", ()), ("argmin", (1,)),
    ("logsumexp", (1,)), ("cumsum", (0,)), ("cumprod", (1,)), ("all", ()), ("any", ()),
    ("norm", ()), ("reshape", (3, 2)), ("view", (6,)), ("permute", (1, 0)),
    ("transpose", (0, 1)), ("unsqueeze", (0,)), ("squeeze", ()), ("flatten", ()),
    ("expand", (2, 2, 3)), ("tile", ((2,),)), ("repeat", (1, 2)), ("flip", ((0,),)),
    ("roll", (1, 0)), ("split", (1,)), ("chunk", (2,)), ("unbind", ()), ("float", ()),
    ("double", ()), ("half", ()), ("bfloat16", ()), ("long", ()), ("int", ()), ("short", ()),
    ("bool", ()), ("byte", ()), ("abs", ()), ("neg", ()), ("negative", ()), ("sign", ()),
    ("exp", ()), ("expm1", ()), ("sigmoid", ()), ("tanh", ()), ("relu", ()),
    ("clamp", (-0.5, 0.5)), ("clip", (None, 0.1)), ("round", ()), ("floor", ()), ("ceil", ()),
    ("trunc", ()), ("square", ()), ("reciprocal", ()), ("erf", ()), ("sin", ()), ("cos", ()),
    ("tan", ()), ("isnan", ()), ("isinf", ()), ("isfinite", ()), ("clone", ()),
    ("contiguous", ()), ("fmod", (0.7,)), ("remainder", (0.7,)), ("floor_divide", (0.7,)),
    ("pow", (2,)), ("add", (1.0,)), ("sub", (1.0,)), ("mul", (2,)), ("multiply", (2,)),
    ("subtract", (1,)), ("div", (2,)), ("divide", (2.0,)), ("true_divide", (2,)),
    ("movedim", (0, 1)), ("moveaxis", (1, 0)), ("swapaxes", (0, 1)),
    ("repeat_interleave", (2,)), ("logical_not", ()), ("new_zeros", ((2,),)),
    ("new_ones", ((2,),)), ("new_full", ((2,), 3.0)), ("new_tensor", ([1, 2],)),
    ("unflatten", (1, (3, 1))), ("eq", (0.5,)), ("ne", (0.5,)), ("lt", (0.5,)), ("le", (0.5,)),
    ("gt", (0.5,)), ("ge", (0.5,)), ("masked_fill", ("MASK", 0.0)), ("where", ("MASK", 1.0)),
    ("maximum", ("SELF",)), ("minimum", ("SELF",)), ("matmul", ("SELF_T",)),
    ("type_as", ("SELF",)), ("expand_as", ("SELF",)), ("view_as", ("SELF",)),
    ("reshape_as", ("SELF",)), ("sqrt", ()), ("rsqrt", ()), ("log", ()), ("log1p", ()),
    ("log2", ()), ("log10", ()),
]

OPERATORS = ["__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
             "__truediv__", "__rtruediv__", "__floordiv__", "__rfloordiv__", "__mod__",
             "__rmod__", "__pow__", "__rpow__", "__lt__", "__le__", "__gt__", "__ge__",
             "__eq__", "__ne__"]


def _norm(r):
    if isinstance(r, (tuple, list)) and not isinstance(r, torch.Size):
        return [_norm(x) for x in r]
    if isinstance(r, ember.Tensor):
        return r.dtype.name, np.asarray(r.data, dtype=np.float64)
    if isinstance(r, torch.Tensor):
        return str(r.dtype).removeprefix("torch."), r.double().numpy()
    return r


def _compare(got, want, what):
    got, want = _norm(got), _norm(want)
    if isinstance(want, list):
        assert len(got) == len(want), what
        for g, w in zip(got, want):
            _compare_one(g, w, what)
    else:
        _compare_one(got, want, what)


def _compare_one(got, want, what):
    assert got[0] == want[0], f"{what}: dtype {got[0]} != {want[0]}"
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6, atol=1e-6, equal_nan=True,
                               err_msg=what)


def _args(args, lib):
    x = ember.tensor(A) if lib is ember else torch.tensor(A)
    sub = {"SELF": x, "SELF_T": x.T, "MASK": x > 0}
    return x, [sub[a] if isinstance(a, str) and a in sub else a for a in args]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("name,args", METHODS, ids=[m[0] for m in METHODS])
def test_method_matches_torch(name, args):
    e, ea = _args(args, ember)
    t, ta = _args(args, torch)
    _compare(getattr(e, name)(*ea), getattr(t, name)(*ta), name)


@pytest.mark.parametrize("other", [2, 0.5, "TENSOR", "ROW"])
@pytest.mark.parametrize("name", OPERATORS)
def test_operator_matches_torch(name, other):
    b = np.abs(A[0]) + 0.5
    e, t = ember.tensor(np.abs(A) + 0.1), torch.tensor(np.abs(A) + 0.1)
    eo = {"TENSOR": e * 0.5 + 0.3, "ROW": ember.tensor(b)}.get(other, other)
    to = {"TENSOR": t * 0.5 + 0.3, "ROW": torch.tensor(b)}.get(other, other)
    _compare(getattr(e, name)(eo), getattr(t, name)(to), f"{name} {other}")


def test_properties_and_queries():
    e, t = ember.tensor(A), torch.tensor(A)
    np.testing.assert_array_equal(e.T.numpy(), t.T.numpy())
    assert e.size() == tuple(t.size()) and e.size(1) == t.size(1) and e.dim() == t.dim()
    assert e.numel() == t.numel() and e.element_size() == t.element_size()
    assert e.is_floating_point() and not ember.tensor([1]).is_floating_point()
    assert ember.tensor([[2.5]]).item() == 2.5 and e.tolist() == t.tolist()
    x = ember.tensor([True, False])
    assert (~x).tolist() == [False, True] and (~ember.tensor([1, 2])).tolist() == [-2, -3]
    assert (x & ember.tensor([True, True])).tolist() == [True, False]
    assert (ember.tensor([1, 6]) | 2).tolist() == [3, 6]
    assert (ember.tensor([1, 6]) ^ ember.tensor([3, 3])).tolist() == [2, 5]
