"""ember's op library: every primitive (forward + vjp) and the public functions built on them.

Families: ``elementwise``, ``reduce``, ``shape``, ``index``, ``linalg`` (products),
``decomp`` (``ember.linalg``), ``creation``, ``device_ops``. ``diff`` is the namespace of all
registered ops as recorded functions, used by vjps under ``create_graph=True``.
"""

from __future__ import annotations

from . import conv, decomp, lstm, nn_ops, resample, sampling  # noqa: F401  (ember.linalg and ember.nn.functional export them)
from . import methods as _methods  # noqa: F401  (attaches operators to Tensor)
from .compare import allclose, equal, isclose
from .creation import (
    arange,
    asarray,
    bernoulli,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    normal,
    ones,
    ones_like,
    rand,
    randint,
    randn,
    randperm,
    tensor,
    uniform,
    zeros,
    zeros_like,
)
from .device_ops import to_device
from .einsum import *  # noqa: F403
from .elementwise import (
    abs,
    add,
    astype,
    bitwise_and,
    bitwise_not,
    bitwise_or,
    bitwise_xor,
    ceil,
    clamp,
    clone,
    cos,
    div,
    eq,
    erf,
    exp,
    expm1,
    floor,
    floor_divide,
    fmod,
    ge,
    gt,
    isfinite,
    isinf,
    isnan,
    le,
    log,
    log1p,
    log2,
    log10,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    lt,
    maximum,
    minimum,
    mul,
    ne,
    neg,
    pow,
    reciprocal,
    relu,
    remainder,
    round,
    rsqrt,
    sigmoid,
    sign,
    sin,
    sqrt,
    square,
    sub,
    tan,
    tanh,
    trunc,
    where,
)
from .index import (
    gather,
    getitem,
    index_put,
    index_select,
    masked_fill,
    one_hot,
    scatter_add,
    take_along_dim,
)
from .linalg import add_n, dot, matmul, outer, vdot
from .math_more import (
    acos,
    acosh,
    arccos,
    arccosh,
    arcsin,
    arcsinh,
    arctan,
    arctan2,
    arctanh,
    asin,
    asinh,
    atan,
    atan2,
    atanh,
    bitwise_left_shift,
    bitwise_right_shift,
    copysign,
    cosh,
    hypot,
    logaddexp,
    nextafter,
    positive,
    signbit,
    sinh,
)
from .matrix import diag, diag_embed, diagonal, trace, tril, triu
from .reduce import (
    all,
    amax,
    amin,
    any,
    argmax,
    argmin,
    cumprod,
    cumsum,
    logsumexp,
    max,
    mean,
    min,
    norm,
    prod,
    std,
    sum,
    var,
    vector_norm,
)
from .registry import REGISTRY, Op, diff, register
from .scatter import masked_select, scatter, scatter_reduce
from .sets import nonzero, unique
from .shape import (
    broadcast_tensors,
    broadcast_to,
    cat,
    chunk,
    concat,
    expand,
    expand_dims,
    flatten,
    flip,
    matrix_transpose,
    moveaxis,
    movedim,
    pad,
    permute,
    permute_dims,
    repeat,
    repeat_interleave,
    reshape,
    roll,
    split,
    squeeze,
    stack,
    swapaxes,
    tile,
    transpose,
    unbind,
    unflatten,
    unsqueeze,
    view,
)
from .sorting import argsort, bucketize, kthvalue, searchsorted, sort, topk
from .windows import (
    bartlett_window,
    blackman_window,
    hamming_window,
    hann_window,
    kaiser_window,
)

clip = clamp
negative = neg
multiply = mul
subtract = sub
divide = div
true_divide = div
power = pow
absolute = abs
greater = gt
greater_equal = ge
less = lt
less_equal = le
not_equal = ne
concatenate = concat


def clamp_min(x, lower):
    """``max(x, lower)``, elementwise."""
    return clamp(x, min=lower)


def clamp_max(x, upper):
    """``min(x, upper)``, elementwise."""
    return clamp(x, max=upper)


def _public_names():
    import types

    return [n for n, v in globals().items()
            if not n.startswith("_") and not isinstance(v, types.ModuleType)
            and n not in ("annotations", "Op", "register", "REGISTRY", "diff")]


__all__ = _public_names()
