"""Tensor methods and operators against PyTorch's methods of the same name and arguments."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from ember.errors import AutogradError, DTypeError, ShapeError

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


INPLACE = {  # name -> f(y, w, lib) modifying y in place
    "add_": lambda y, w: y.add_(w), "add_alpha": lambda y, w: y.add_(w, alpha=2),
    "sub_": lambda y, w: y.sub_(w, alpha=0.5), "mul_": lambda y, w: y.mul_(w),
    "div_": lambda y, w: y.div_(w), "pow_": lambda y, w: y.abs_().pow_(w),
    "iadd": lambda y, w: y.__iadd__(w), "imul": lambda y, w: y.__imul__(3.0),
    "itruediv": lambda y, w: y.__itruediv__(w), "ipow": lambda y, w: y.__ipow__(3),
    "clamp_": lambda y, w: y.clamp_(-0.5, 0.5), "clip_tensor": lambda y, w: y.clip_(min=w - 1),
    "exp_": lambda y, w: y.exp_(), "sigmoid_": lambda y, w: y.sigmoid_(),
    "relu_": lambda y, w: y.relu_(), "sqrt_": lambda y, w: y.abs_().sqrt_(),
    "sin_cos": lambda y, w: y.sin_().cos_(), "masked_fill_": lambda y, w: y.masked_fill_(
        y > 0, 0.25), "fill_tensor": lambda y, w: y.fill_(w.sum()),
    "zero_": lambda y, w: y.zero_(), "copy_": lambda y, w: y.copy_(w),
    "setitem": lambda y, w: y.__setitem__(0, w), "round_": lambda y, w: y.round_(),
}


@pytest.mark.parametrize("name", list(INPLACE))
def test_inplace_methods_match_torch_with_gradients(name):
    got = []
    for lib in (ember, torch):
        x = lib.tensor(A, requires_grad=True)
        w = lib.tensor(A[0] * 0.5 + 1, requires_grad=True)
        y = x * 1
        r = INPLACE[name](y, w)
        assert r is None or r is y
        (y * lib.tensor(A + 2)).sum().backward()
        got.append([np.asarray(t.detach().data if lib is ember else t.detach())
                    for t in (y, x.grad, w.grad if w.grad is not None else w * 0)])
    for e, t in zip(*got):
        np.testing.assert_allclose(e, t, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fn,cls,pattern", [
    (lambda x: x.mul_(2), AutogradError, r"^mul_: a leaf tensor that requires grad"),
    (lambda x: x.exp_(), AutogradError, r"^exp_: a leaf tensor"),
    (lambda x: x.clamp_(0, 1), AutogradError, r"^clamp_: a leaf tensor"),
    (lambda x: x.masked_fill_(x > 0, 1.0), AutogradError, r"^masked_fill_: a leaf tensor"),
    (lambda x: x.__itruediv__(2), AutogradError, r"^div_: a leaf tensor"),
    (lambda x: ember.ones(2, dtype="int64").div_(2), DTypeError,
     r"^div_: the result cannot be stored in this int64 tensor in place"),
    (lambda x: ember.ones(2, dtype="int64").add_(0.5), DTypeError, r"^add_: the result"),
    (lambda x: ember.ones(2, dtype="int64").clamp_(0.5, 1.5), DTypeError,
     r"^clamp_: the result is float32, which cannot be stored in this int64 tensor"),
    (lambda x: ember.ones(2).add_(ember.ones(3, 2)), ShapeError,
     r"^add_: the result would not have this tensor's shape \(2,\)"),
])
def test_inplace_errors_name_the_method(fn, cls, pattern):
    with pytest.raises(cls, match=pattern):
        fn(ember.ones(2, requires_grad=True))


def test_inplace_without_grad_keeps_dtype_and_bumps_version():
    for dtype in ("float16", "bfloat16", "int64", "float64"):
        x = ember.ones(3, dtype=dtype)
        t = torch.ones(3, dtype=getattr(torch, dtype))
        v = x._version[0]
        for f in (lambda z: z.add_(2), lambda z: z.mul_(3), lambda z: z.__isub__(z * 0 + 1),
                  lambda z: z.clamp_(0, 5), lambda z: z.sub_(1)):
            assert f(x) is x
            f(t)
        assert x.dtype.name == dtype and x._version[0] == v + 5
        np.testing.assert_array_equal(np.asarray(x.data, np.float64), t.double().numpy())
