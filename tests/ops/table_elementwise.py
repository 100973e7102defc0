"""Op table rows for elementwise ops: arithmetic, math functions, comparisons, where, clamp."""

from __future__ import annotations

import numpy as np
import torch

import ember

from .harness import ALL, FLOAT, INT, OpInfo, S

UNARY_SHAPES = {"0d": (), "1d": (3,), "2d": (2, 3)}
BINARY_SHAPES = {
    "same": ((2, 3), (2, 3)),
    "bcast_row": ((2, 3), (3,)),
    "bcast_outer": ((2, 1), (1, 3)),
    "0d_2d": ((), (2, 3)),
    "2d_0d": ((2, 3), ()),
    "0d_0d": ((), ()),
}


def normal(rng, shape):
    return rng.standard_normal(shape)


def nonzero(rng, shape):
    """Normal values at least 0.2 away from zero (kinks of abs, relu, sign; poles)."""
    x = rng.standard_normal(shape)
    return x + np.where(x >= 0, 0.2, -0.2)


def positive(rng, shape):
    return rng.uniform(0.5, 2.0, shape)


def unary(domain=normal, extra=()):
    def samples(rng):
        return [S(domain(rng, s), name=n) for n, s in UNARY_SHAPES.items()] + list(extra)

    return samples


def binary(domain_a=normal, domain_b=normal, scalars=(2.5,)):
    def samples(rng):
        out = [S(domain_a(rng, sa), domain_b(rng, sb), name=n)
               for n, (sa, sb) in BINARY_SHAPES.items()]
        out += [S(domain_a(rng, (2, 3)), c, name=f"scalar_{c}") for c in scalars]
        return out

    return samples


def _int_nonzero_divisor(arrays, dtype):
    a, b = (np.round(x * 3) if isinstance(x, np.ndarray) else x for x in arrays)
    if dtype == "uint8":
        a = np.abs(a)
        b = np.abs(b) if isinstance(b, np.ndarray) else b
    if isinstance(b, np.ndarray):
        b = np.where(b == 0, 2.0, b)
    return [a, b]


HALVES = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49, -3.7])
SPECIAL = np.array([0.0, -1.0, 2.5, np.nan, np.inf, -np.inf])

_U = [
    # name, ember fn, torch fn, domain, dtypes, extra forward-only samples
    ("neg", ember.neg, torch.neg, normal, FLOAT + INT[1:], ()),
    ("abs", ember.abs, torch.abs, nonzero, FLOAT + INT, ()),
    ("sign", ember.sign, torch.sign, nonzero, FLOAT + INT,
     (S(SPECIAL[:3], name="zero", grad=False),)),
    ("sqrt", ember.sqrt, torch.sqrt, positive, ALL, ()),
    ("rsqrt", ember.rsqrt, torch.rsqrt, positive, ALL, ()),
    ("exp", ember.exp, torch.exp, normal, ALL, ()),
    ("expm1", ember.expm1, torch.expm1, normal, ALL, ()),
    ("log", ember.log, torch.log, positive, ALL, ()),
    ("log1p", ember.log1p, torch.log1p, positive, ALL, ()),
    ("log2", ember.log2, torch.log2, positive, ALL, ()),
    ("log10", ember.log10, torch.log10, positive, ALL, ()),
    ("square", ember.square, torch.square, normal, FLOAT + INT, ()),
    ("reciprocal", ember.reciprocal, torch.reciprocal, nonzero, ALL, ()),
    ("round", ember.round, torch.round, normal, FLOAT + INT, (S(HALVES, name="halves",
                                                                 grad=False),)),
    ("floor", ember.floor, torch.floor, normal, FLOAT + INT, ()),
    ("ceil", ember.ceil, torch.ceil, normal, FLOAT + INT, ()),
    ("trunc", ember.trunc, torch.trunc, normal, FLOAT + INT, ()),
    ("sin", ember.sin, torch.sin, normal, ALL, ()),
    ("cos", ember.cos, torch.cos, normal, ALL, ()),
    ("tan", ember.tan, torch.tan, lambda r, s: r.uniform(-1.2, 1.2, s), ALL, ()),
    ("tanh", ember.tanh, torch.tanh, normal, ALL, ()),
    ("sigmoid", ember.sigmoid, torch.sigmoid, normal, ALL,
     (S(np.array([-800.0, -30.0, 0.0, 30.0, 800.0]), name="large", grad=False),)),
    ("erf", ember.erf, torch.erf, normal, ALL, ()),
    ("relu", ember.relu, torch.relu, nonzero, FLOAT + INT[1:], ()),
    ("clone", ember.clone, torch.clone, normal, ALL, ()),
]

ELEMENTWISE = [
    OpInfo(n, fe, ft, unary(dom, extra), dtypes=dt) for n, fe, ft, dom, dt, extra in _U
] + [
    OpInfo("round_decimals", lambda x: ember.round(x, decimals=2),
           lambda x: torch.round(x, decimals=2), unary(), dtypes=("float32", "float64")),
    OpInfo("isnan", ember.isnan, torch.isnan, unary(extra=(S(SPECIAL, name="special"),)),
           dtypes=ALL, grad=False),
    OpInfo("isinf", ember.isinf, torch.isinf, unary(extra=(S(SPECIAL, name="special"),)),
           dtypes=ALL, grad=False),
    OpInfo("isfinite", ember.isfinite, torch.isfinite,
           unary(extra=(S(SPECIAL, name="special"),)), dtypes=ALL, grad=False),
    OpInfo("logical_not", ember.logical_not, torch.logical_not, unary(), dtypes=ALL,
           grad=False),
    OpInfo("add", ember.add, torch.add, binary(scalars=(2.5, 2)), dtypes=ALL),
    OpInfo("add_alpha", lambda a, b: ember.add(a, b, alpha=2),
           lambda a, b: torch.add(a, b, alpha=2), binary(scalars=()), dtypes=FLOAT + INT),
    OpInfo("sub", ember.sub, torch.sub, binary(scalars=(2.5, 2)), dtypes=FLOAT + INT),
    OpInfo("sub_alpha", lambda a, b: ember.sub(a, b, alpha=0.5),
           lambda a, b: torch.sub(a, b, alpha=0.5), binary(scalars=()), dtypes=FLOAT),
    OpInfo("rsub_scalar", lambda a: 2.5 - a, lambda a: 2.5 - a, unary(), dtypes=FLOAT + INT),
    OpInfo("mul", ember.mul, torch.mul, binary(scalars=(2.5, 3)), dtypes=ALL),
    OpInfo("div", ember.div, torch.div, binary(normal, nonzero, scalars=(2.5, 2)), dtypes=ALL,
           int_inputs=_int_nonzero_divisor),
    OpInfo("rdiv_scalar", lambda a: 2.0 / a, lambda a: 2.0 / a, unary(nonzero), dtypes=ALL,
           int_inputs=lambda arrs, dt: [np.where(np.round(arrs[0] * 3) == 0, 1.0,
                                                 np.abs(np.round(arrs[0] * 3)))]),
    OpInfo("div_floor", lambda a, b: ember.div(a, b, rounding_mode="floor"),
           lambda a, b: torch.div(a, b, rounding_mode="floor"),
           binary(normal, nonzero, scalars=(2.5, 2)), dtypes=FLOAT + INT, grad=False,
           int_inputs=_int_nonzero_divisor),
    OpInfo("div_trunc", lambda a, b: ember.div(a, b, rounding_mode="trunc"),
           lambda a, b: torch.div(a, b, rounding_mode="trunc"),
           binary(normal, nonzero, scalars=(2.5, 2)), dtypes=FLOAT + INT,
           int_inputs=_int_nonzero_divisor),
    OpInfo("floor_divide", ember.floor_divide, torch.floor_divide,
           binary(normal, nonzero, scalars=(2.5, 2)), dtypes=FLOAT + INT, grad=False,
           int_inputs=_int_nonzero_divisor),
    OpInfo("remainder", ember.remainder, torch.remainder,
           binary(normal, nonzero, scalars=(2.5, 2, -1.5)), dtypes=FLOAT + INT,
           int_inputs=_int_nonzero_divisor),
    OpInfo("fmod_method", lambda a, b: a.fmod(b), lambda a, b: a.fmod(b),
           binary(normal, nonzero, scalars=(2.5, 2, -1.5)), dtypes=FLOAT + INT,
           int_inputs=_int_nonzero_divisor),
    OpInfo("pow", ember.pow, torch.pow, binary(positive, normal, scalars=(2, 3, 0.5, -1.5, 0)),
           dtypes=FLOAT),
    OpInfo("pow_neg_base", ember.pow, torch.pow, binary(nonzero, normal, scalars=(2, 3, -1)),
           dtypes=FLOAT, grad=False),
    OpInfo("pow_int_exp", lambda a: a ** 2, lambda a: a ** 2, unary(nonzero), dtypes=FLOAT + INT),
    OpInfo("rpow_scalar", lambda b: 2.0 ** b, lambda b: 2.0 ** b, unary(), dtypes=ALL),
    OpInfo("maximum", ember.maximum, torch.maximum, binary(scalars=()), dtypes=ALL),
    OpInfo("minimum", ember.minimum, torch.minimum, binary(scalars=()), dtypes=ALL),
    OpInfo("maximum_ties", ember.maximum, torch.maximum,
           lambda rng: [S(np.array([1.0, 2.0, -3.0]), np.array([1.0, 0.5, -3.0]), name="ties")],
           dtypes=("float64",), gradgrad=False),
    OpInfo("minimum_ties", ember.minimum, torch.minimum,
           lambda rng: [S(np.array([1.0, 2.0, -3.0]), np.array([1.0, 0.5, -3.0]), name="ties")],
           dtypes=("float64",), gradgrad=False),
    OpInfo("clamp_scalars", lambda x: ember.clamp(x, -0.5, 0.7),
           lambda x: torch.clamp(x, -0.5, 0.7), unary(), dtypes=FLOAT),
    OpInfo("clamp_min", lambda x: ember.clamp(x, min=-0.3), lambda x: torch.clamp(x, min=-0.3),
           unary(), dtypes=FLOAT),
    OpInfo("clamp_max", lambda x: ember.clip(x, max=0.3), lambda x: torch.clip(x, max=0.3),
           unary(), dtypes=FLOAT),
    OpInfo("clamp_int", lambda x: ember.clamp(x, -2, 3), lambda x: torch.clamp(x, -2, 3),
           unary(), dtypes=INT[1:]),
    OpInfo("clamp_tensors", ember.clamp, torch.clamp,
           lambda rng: [S(normal(rng, (2, 3)), rng.uniform(-1, -0.1, (3,)),
                          rng.uniform(0.1, 1, (2, 1)), name="bounds"),
                        S(normal(rng, (2, 3)), None, rng.uniform(-0.5, 0.5, (2, 3)),
                          name="max_only")],
           dtypes=("float32", "float64")),
    OpInfo("relu_backward", lambda g, x: ember.ops.registry.diff.relu_backward(g, x),
           lambda g, x: torch.ops.aten.threshold_backward(g, x, 0),
           lambda rng: [S(normal(rng, s), nonzero(rng, s), name=n)
                        for n, s in UNARY_SHAPES.items()], dtypes=FLOAT),
    OpInfo("where", ember.where, torch.where,
           lambda rng: [S(normal(rng, (2, 3)) > 0, normal(rng, (2, 3)), normal(rng, (2, 3)),
                          name="same"),
                        S(normal(rng, (2, 1)) > 0, normal(rng, (3,)), normal(rng, ()),
                          name="bcast"),
                        S(normal(rng, (2, 3)) > 0, normal(rng, (2, 3)), 0.5, name="scalar")],
           dtypes=ALL),
]



def _torch_logical(fn):
    return lambda a, b: fn(a, b if isinstance(b, torch.Tensor) else torch.as_tensor(b))


for _name in ("eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor"):
    ELEMENTWISE.append(OpInfo(
        _name, getattr(ember, _name), _torch_logical(getattr(torch, _name)),
        binary(scalars=(0.5, 0)) if _name.startswith("logical") else
        lambda rng: binary(scalars=(0.5, 0))(rng) + [
            S(np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 3.0]), name="ties")],
        dtypes=ALL, grad=False))
