"""Op table rows for reductions: sum, mean, var, std, prod, max/min, amax/amin, argmax/argmin,
logsumexp, cumsum, cumprod, all, any, norm -- each over all, one, several and negative dims,
with and without keepdim."""

from __future__ import annotations

import numpy as np
import torch

import ember

from .harness import ALL, FLOAT, INT, OpInfo, S

SHAPE = (2, 3, 4)
DIMS = [  # (name, dim, keepdim)
    ("all", None, False), ("all_keep", None, True), ("d1", 1, False), ("neg", -1, False),
    ("d1_keep", 1, True), ("tuple", (0, 2), False), ("tuple_neg_keep", (-1, 0), True),
]
NOT_UINT8 = tuple(d for d in ALL if d != "uint8")
INT_DIMS = [d for d in DIMS if not isinstance(d[1], tuple)]


def _distinct(rng, shape):
    """Normal values without ties (gradients of max/min/norm are unique)."""
    n = int(np.prod(shape))
    return (rng.permutation(n) + rng.uniform(0.1, 0.5, n)).reshape(shape) / n - 0.5


def reduce_samples(dims=DIMS, domain=_distinct, zero_d=True, extra=()):
    def samples(rng):
        out = [S(domain(rng, SHAPE), name=n, dim=d, keepdim=k) for n, d, k in dims]
        if zero_d:
            out.append(S(domain(rng, ()), name="0d", dim=None, keepdim=False))
        return out + [s(rng) if callable(s) else s for s in extra]

    return samples


def _tdim(x, dim):
    """PyTorch's spelling of "all dimensions" for ops whose ``dim`` may not be None."""
    return tuple(range(x.ndim)) if dim is None else dim


def _torch_reduce(fn):
    def call(x, dim=None, keepdim=False, **kw):
        if dim is None and not keepdim:
            return fn(x, **kw)
        return fn(x, dim=_tdim(x, dim), keepdim=keepdim, **kw)

    return call


def _prod_torch(x, dim=None, keepdim=False):
    """torch.prod takes one int dim: reduce the dims one at a time, last first."""
    if dim is None and not keepdim:
        return torch.prod(x)
    dims = sorted((d % max(x.ndim, 1) for d in ((dim,) if isinstance(dim, int) else
                                               _tdim(x, dim))), reverse=True)
    for d in dims:
        x = torch.prod(x, dim=d, keepdim=keepdim)
    return x


def _with_zeros(rng, shape):
    """Values with one zero in some slices along dim 1 and two zeros in another."""
    x = _distinct(rng, shape) + 1.2
    x[0, 1, 0] = 0.0
    x[1, 0, 2] = x[1, 2, 2] = 0.0
    return x


def _cum_samples(rng, zeros=False):
    make = _with_zeros if zeros else _distinct
    out = [S(make(rng, SHAPE), name=f"d{d}", dim=d) for d in (0, 1, -1)]
    out.append(S(_distinct(rng, (5,)), name="1d", dim=0))
    out.append(S(_distinct(rng, ()), name="0d", dim=0))
    if zeros:
        out.append(S(np.array([2.0, 0.0, 3.0, 0.0, 0.5]), name="1d_two_zeros", dim=0))
    return out


def _max_dim_samples(rng):
    return [S(_distinct(rng, SHAPE), name=n, dim=d, keepdim=k) for n, d, k in INT_DIMS
            if d is not None] + [S(_distinct(rng, (4,)), name="1d", dim=0, keepdim=False),
                                 S(_distinct(rng, ()), name="0d", dim=-1, keepdim=True)]


def _bool_samples(rng):
    x = rng.standard_normal(SHAPE)
    x[0] = np.abs(x[0]) + 0.1
    return [S(x, name=n, dim=d, keepdim=k) for n, d, k in DIMS] + [
        S(rng.standard_normal(SHAPE) > -5, name="bool_true", dim=1, keepdim=False),
        S(np.zeros(SHAPE), name="zeros", dim=None, keepdim=False)]


def _norm_samples(rng):
    out = []
    for p in (2, 1, float("inf"), float("-inf"), 3, "fro", 0):
        for n, d, k in (("all", None, False), ("d1", 1, False), ("tuple_keep", (0, 2), True)):
            out.append(S(_distinct(rng, SHAPE), name=f"p{p}_{n}", p=p, dim=d, keepdim=k,
                         grad=p != 0))
    out.append(S(np.zeros((2, 3)), name="zero_vector", p=2, dim=1, keepdim=False,
                 gradgrad=False))
    return out


def _full_samples(rng):
    return [S(_distinct(rng, SHAPE), name="3d"), S(_distinct(rng, ()), name="0d"),
            S(np.array([1.0, 3.0, 3.0, -1.0]), name="ties", gradgrad=False)]


def _var_samples(rng):
    base = reduce_samples(zero_d=False)(rng) + [
        S(_distinct(rng, ()), name="0d_nan", dim=None, keepdim=False, grad=False)]
    return base + [
        S(_distinct(rng, SHAPE), name="corr0", dim=1, keepdim=False, correction=0),
        S(_distinct(rng, SHAPE), name="corr2_tuple", dim=(0, 2), keepdim=True, correction=2),
        S(_distinct(rng, SHAPE), name="corr_too_big", dim=0, keepdim=False, correction=2,
          grad=False),
    ]


def _var_torch(fn):
    def call(x, dim=None, keepdim=False, correction=1):
        return fn(x, dim=_tdim(x, dim), keepdim=keepdim, correction=correction)

    return call


REDUCE = [
    OpInfo("sum", ember.sum, _torch_reduce(torch.sum), reduce_samples(), dtypes=ALL),
    OpInfo("mean", ember.mean, _torch_reduce(torch.mean), reduce_samples(), dtypes=FLOAT),
    OpInfo("var", ember.var, _var_torch(torch.var), _var_samples, dtypes=FLOAT),
    OpInfo("std", ember.std, _var_torch(torch.std), _var_samples, dtypes=FLOAT),
    OpInfo("var_unbiased_false", lambda x, dim, keepdim: ember.var(x, dim, unbiased=False),
           lambda x, dim, keepdim: torch.var(x, dim, unbiased=False),
           reduce_samples([("d1", 1, False)], zero_d=False)),
    OpInfo("prod", ember.prod, _prod_torch, reduce_samples(extra=(
        lambda rng: S(_with_zeros(rng, SHAPE), name="zeros_d1", dim=1, keepdim=False),
        lambda rng: S(_with_zeros(rng, SHAPE), name="zeros_all", dim=None, keepdim=False),
        lambda rng: S(_with_zeros(rng, SHAPE), name="zeros_tuple", dim=(1, 2), keepdim=True),
    )), dtypes=ALL),
    OpInfo("amax", ember.amax, _torch_reduce(torch.amax), reduce_samples(), dtypes=ALL),
    OpInfo("amin", ember.amin, _torch_reduce(torch.amin), reduce_samples(), dtypes=ALL),
    OpInfo("amax_ties", ember.amax, _torch_reduce(torch.amax), lambda rng: [
        S(np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]), name=n, dim=d, keepdim=False)
        for n, d in (("all", None), ("d1", 1), ("d0", 0))], dtypes=FLOAT, gradgrad=False,
           gradcheck=False),
    OpInfo("max_full", ember.max, torch.max, _full_samples, dtypes=ALL),
    OpInfo("min_full", ember.min, torch.min, _full_samples, dtypes=ALL),
    OpInfo("max_dim", ember.max, torch.max, _max_dim_samples, dtypes=ALL),
    OpInfo("min_dim", ember.min, torch.min, _max_dim_samples, dtypes=ALL),
    OpInfo("max_method", lambda x, dim, keepdim: x.max(dim, keepdim).values,
           lambda x, dim, keepdim: x.max(dim, keepdim).values, _max_dim_samples),
    OpInfo("argmax", ember.argmax, torch.argmax, reduce_samples(INT_DIMS), dtypes=FLOAT + INT,
           grad=False),
    OpInfo("argmin", ember.argmin, torch.argmin, reduce_samples(INT_DIMS), dtypes=FLOAT + INT,
           grad=False),
    OpInfo("logsumexp", ember.logsumexp, lambda x, dim, keepdim: torch.logsumexp(
        x, _tdim(x, dim) if x.ndim else 0, keepdim), reduce_samples(
        extra=(S(np.array([[-np.inf, -np.inf], [1000.0, 1000.0]]), name="inf_large", dim=1,
                 keepdim=False, grad=False),)), dtypes=ALL),
    OpInfo("cumsum", ember.cumsum, torch.cumsum, _cum_samples, dtypes=ALL),
    OpInfo("cumprod", ember.cumprod, torch.cumprod, _cum_samples, dtypes=ALL),
    OpInfo("cumprod_zeros", ember.cumprod, torch.cumprod,
           lambda rng: _cum_samples(rng, zeros=True), dtypes=FLOAT),
    # torch.all/any return uint8 for uint8 input (a legacy quirk); ember returns bool
    OpInfo("all", ember.all, _torch_reduce(torch.all), _bool_samples, dtypes=NOT_UINT8,
           grad=False),
    OpInfo("any", ember.any, _torch_reduce(torch.any), _bool_samples, dtypes=NOT_UINT8,
           grad=False),
    OpInfo("norm", ember.norm, lambda x, p, dim, keepdim: torch.linalg.vector_norm(
        x, 2 if p == "fro" else p, _tdim(x, dim), keepdim), _norm_samples, dtypes=FLOAT),
]

# the array API spelling (axis=, keepdims=) of the same reductions
ARRAY_API = {
    "sum": (lambda x: ember.sum(x, axis=(0, 2), keepdims=True),
            lambda x: torch.sum(x, dim=(0, 2), keepdim=True)),
    "mean": (lambda x: ember.mean(x, axis=-1), lambda x: torch.mean(x, dim=-1)),
    "var": (lambda x: ember.var(x, axis=1, keepdims=True, correction=0),
            lambda x: torch.var(x, dim=1, keepdim=True, correction=0)),
    "std": (lambda x: ember.std(x, axis=(1, 2)), lambda x: torch.std(x, dim=(1, 2))),
    "prod": (lambda x: ember.prod(x, axis=1), lambda x: torch.prod(x, dim=1)),
    "amax": (lambda x: ember.amax(x, axis=(0, 1)), lambda x: torch.amax(x, dim=(0, 1))),
    "logsumexp": (lambda x: ember.logsumexp(x, axis=2, keepdims=True),
                  lambda x: torch.logsumexp(x, dim=2, keepdim=True)),
    "cumsum": (lambda x: ember.cumsum(x, None, axis=1), lambda x: torch.cumsum(x, dim=1)),
    "argmax": (lambda x: ember.argmax(x, axis=1, keepdims=True),
               lambda x: torch.argmax(x, dim=1, keepdim=True)),
}
REDUCE.append(OpInfo(
    "reduce_axis_keywords", lambda x, which: ARRAY_API[which][0](x),
    lambda x, which: ARRAY_API[which][1](x),
    lambda rng: [S(_distinct(rng, SHAPE), name=w, which=w, grad=w != "argmax")
                 for w in ARRAY_API]))
