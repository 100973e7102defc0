"""Elementwise primitives: arithmetic, math functions, comparisons, ``where``, casts.

Binary ops broadcast like NumPy. Python scalars are "weak": ``x * 2.0`` keeps ``x``'s
dtype. Mixed tensor dtypes promote by ``ember.dtypes.result_type``.
"""

from __future__ import annotations

import math

from .. import dtypes as _dt
from ..autograd.node import apply
from ..tensor import Tensor
from ._select import where as _where
from .registry import Op, copy_cost, register

# ----------------------------------------------------------------------------- binary


@register
class Add(Op):
    uses_input_values = False  # the vjp needs only shapes

    def forward(xp, a, b):
        return a + b

    def vjp(F, g, out, a, b):
        return g, g


@register
class Sub(Op):
    uses_input_values = False  # the vjp needs only shapes

    def forward(xp, a, b):
        return a - b

    def vjp(F, g, out, a, b):
        return g, -g


@register
class Mul(Op):
    value_needed_for = {0: (1,), 1: (0,)}  # a's value only for b's gradient, and vice versa
    def forward(xp, a, b):
        return a * b

    def vjp(F, g, out, a, b):
        return g * b, g * a


@register
class Div(Op):
    value_needed_for = {0: (1,), 1: (0, 1)}
    def forward(xp, a, b):
        return a / b

    def vjp(F, g, out, a, b):
        gb = g / b
        return gb, -gb * a / b


@register
class Pow(Op):
    needs_output = True

    def forward(xp, a, b):
        return a**b

    def vjp(F, g, out, a, b):
        if isinstance(b, (int, float)):
            if b == 0:
                return g * 0.0, None
            ga = g * b * a ** (b - 1) if b != 2 else g * 2.0 * a
            return ga, None
        ga = g * b * a ** (b - 1)
        gb = None
        if not isinstance(a, (int, float)):
            gb = F.where(a == 0, 0.0, g * out * F.log(F.where(a == 0, 1.0, a)))
        elif a > 0:
            gb = g * out * math.log(a)
        else:
            gb = g * 0.0
        return ga, gb


@register
class Maximum(Op):
    def forward(xp, a, b):
        return xp.maximum(a, b)

    def vjp(F, g, out, a, b):
        half = F.where(a == b, g * 0.5, g)
        return F.where(a < b, 0.0, half), F.where(a > b, 0.0, half)


@register
class Minimum(Op):
    def forward(xp, a, b):
        return xp.minimum(a, b)

    def vjp(F, g, out, a, b):
        half = F.where(a == b, g * 0.5, g)
        return F.where(a > b, 0.0, half), F.where(a < b, 0.0, half)


@register
class Remainder(Op):
    def forward(xp, a, b):
        return xp.remainder(a, b)

    def vjp(F, g, out, a, b):
        return g, -g * F.floor(a / b)


@register
class Fmod(Op):
    """C's remainder: the sign of the dividend (``remainder`` takes the divisor's)."""

    def forward(xp, a, b):
        return xp.fmod(a, b)

    def vjp(F, g, out, a, b):
        return g, -g * F.trunc(a / b)


@register
class FloorDivide(Op):
    differentiable = False

    def forward(xp, a, b):
        return xp.floor_divide(a, b)


@register
class Where(Op):
    def forward(xp, cond, a, b):
        return _where(xp, cond, a, b)

    def vjp(F, g, out, cond, a, b):
        return None, F.where(cond, g, 0.0), F.where(cond, 0.0, g)


# ----------------------------------------------------------------------------- unary


@register
class Neg(Op):
    uses_input_values = False  # the vjp needs only shapes

    def forward(xp, x):
        return -x

    def vjp(F, g, out, x):
        return (-g,)


@register
class Abs(Op):
    def forward(xp, x):
        return xp.abs(x)

    def vjp(F, g, out, x):
        return (g * F.sign(x),)


@register
class Sign(Op):
    def forward(xp, x):
        return xp.sign(x)

    def vjp(F, g, out, x):
        return (g * 0.0,)


@register
class Round(Op):
    def forward(xp, x, decimals=0):
        return xp.round(x, decimals)

    def vjp(F, g, out, x, decimals=0):
        return (g * 0.0,)


@register
class Floor(Op):
    def forward(xp, x):
        return xp.floor(x)

    def vjp(F, g, out, x):
        return (g * 0.0,)


@register
class Ceil(Op):
    def forward(xp, x):
        return xp.ceil(x)

    def vjp(F, g, out, x):
        return (g * 0.0,)


@register
class Trunc(Op):
    def forward(xp, x):
        return xp.trunc(x)

    def vjp(F, g, out, x):
        return (g * 0.0,)


@register
class Sqrt(Op):
    needs_output = True

    def forward(xp, x):
        return xp.sqrt(x)

    def vjp(F, g, out, x):
        return (g / (out * 2.0),)


@register
class Rsqrt(Op):
    needs_output = True

    def forward(xp, x):
        return xp.reciprocal(xp.sqrt(x))

    def vjp(F, g, out, x):
        return (g * (out * out * out) * -0.5,)


@register
class Exp(Op):
    needs_output = True

    def forward(xp, x):
        return xp.exp(x)

    def vjp(F, g, out, x):
        return (g * out,)


@register
class Expm1(Op):
    needs_output = True

    def forward(xp, x):
        return xp.expm1(x)

    def vjp(F, g, out, x):
        return (g * (out + 1.0),)


@register
class Log(Op):
    def forward(xp, x):
        return xp.log(x)

    def vjp(F, g, out, x):
        return (g / x,)


@register
class Log1p(Op):
    def forward(xp, x):
        return xp.log1p(x)

    def vjp(F, g, out, x):
        return (g / (x + 1.0),)


@register
class Log2(Op):
    def forward(xp, x):
        return xp.log2(x)

    def vjp(F, g, out, x):
        return (g / (x * math.log(2.0)),)


@register
class Log10(Op):
    def forward(xp, x):
        return xp.log10(x)

    def vjp(F, g, out, x):
        return (g / (x * math.log(10.0)),)


@register
class Square(Op):
    def forward(xp, x):
        return x * x

    def vjp(F, g, out, x):
        return (g * (x * 2.0),)


@register
class Reciprocal(Op):
    needs_output = True

    def forward(xp, x):
        return xp.reciprocal(x)

    def vjp(F, g, out, x):
        return (-g * out * out,)


@register
class Sin(Op):
    def forward(xp, x):
        return xp.sin(x)

    def vjp(F, g, out, x):
        return (g * F.cos(x),)


@register
class Cos(Op):
    def forward(xp, x):
        return xp.cos(x)

    def vjp(F, g, out, x):
        return (-g * F.sin(x),)


@register
class Tan(Op):
    needs_output = True

    def forward(xp, x):
        return xp.tan(x)

    def vjp(F, g, out, x):
        return (g * (out * out + 1.0),)


@register
class Tanh(Op):
    needs_output = True

    def forward(xp, x):
        return xp.tanh(x)

    def vjp(F, g, out, x):
        return (g * (1.0 - out * out),)


@register
class Sigmoid(Op):
    needs_output = True

    def forward(xp, x):
        # exp of a non-positive number only: no overflow warnings for large |x|
        e = xp.exp(-xp.abs(x))
        return _where(xp, x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)

    def vjp(F, g, out, x):
        return (g * out * (1.0 - out),)


@register
class Erf(Op):
    def forward(xp, x):
        from ..backend.special import erf

        return erf(xp, x)

    def vjp(F, g, out, x):
        return (g * F.exp(-(x * x)) * (2.0 / math.sqrt(math.pi)),)


@register
class Relu(Op):
    def forward(xp, x):
        return xp.maximum(x, 0)

    def vjp(F, g, out, x):
        return (F.relu_backward(g, x),)


@register
class ReluBackward(Op):
    """relu's input gradient ``g * (x > 0)``, one op so that a backend runs it as one pass
    (a oneDNN binary primitive on the CPU) instead of a comparison and a product."""

    def forward(xp, g, x):
        return g * (x > 0)

    def vjp(F, u, out, g, x):
        return F.relu_backward(u, x), None


@register
class Clamp(Op):
    def forward(xp, x, min=None, max=None):
        # Python-float bounds would widen bfloat16 (ml_dtypes) to float32
        return xp.clip(x, min, max).astype(x.dtype, copy=False)

    def vjp(F, g, out, x, min=None, max=None):
        if min is not None:
            g = F.where(x < min, 0.0, g)
        if max is not None:
            g = F.where(x > max, 0.0, g)
        return (g,)


@register
class Astype(Op):
    uses_input_values = False  # the vjp needs only shapes

    cost = copy_cost

    def forward(xp, x, dtype):
        return x.astype(_dt.to_dtype(dtype).np, copy=False)

    def vjp(F, g, out, x, dtype):
        return (g,)  # the engine casts the gradient back to x's dtype


@register
class Clone(Op):
    uses_input_values = False  # the vjp needs only shapes

    cost = copy_cost

    def forward(xp, x):
        return x.copy()

    def vjp(F, g, out, x):
        return (g,)


# ----------------------------------------------------------------------------- no gradient


def _nondiff(name: str, fn):
    cls = type(name, (Op,), {"differentiable": False, "forward": staticmethod(fn)})
    return register(cls)


Eq = _nondiff("Eq", lambda xp, a, b: a == b)
Ne = _nondiff("Ne", lambda xp, a, b: a != b)
Lt = _nondiff("Lt", lambda xp, a, b: a < b)
Le = _nondiff("Le", lambda xp, a, b: a <= b)
Gt = _nondiff("Gt", lambda xp, a, b: a > b)
Ge = _nondiff("Ge", lambda xp, a, b: a >= b)
LogicalAnd = _nondiff("LogicalAnd", lambda xp, a, b: xp.logical_and(a, b))
LogicalOr = _nondiff("LogicalOr", lambda xp, a, b: xp.logical_or(a, b))
LogicalXor = _nondiff("LogicalXor", lambda xp, a, b: xp.logical_xor(a, b))
LogicalNot = _nondiff("LogicalNot", lambda xp, x: xp.logical_not(x))
Isnan = _nondiff("Isnan", lambda xp, x: xp.isnan(x))
Isinf = _nondiff("Isinf", lambda xp, x: xp.isinf(x))
Isfinite = _nondiff("Isfinite", lambda xp, x: xp.isfinite(x))
BitwiseAnd = _nondiff("BitwiseAnd", lambda xp, a, b: a & b)
BitwiseOr = _nondiff("BitwiseOr", lambda xp, a, b: a | b)
BitwiseXor = _nondiff("BitwiseXor", lambda xp, a, b: a ^ b)
BitwiseNot = _nondiff("BitwiseNot", lambda xp, x: ~x)


# ----------------------------------------------------------------------------- public API


def _as_tensor_like(x, like):
    from .creation import tensor

    return tensor(x, device=like.device if like is not None else None)


_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "V": 2}  # "V": ml_dtypes' bfloat16


def _scalar_as(x, like):
    """A Python scalar as a 0-d tensor of ``like``'s dtype: NumPy widens bfloat16 (an
    ml_dtypes type, kind "V") combined with a Python float to float32."""
    from .creation import tensor

    return tensor(x, dtype=like.dtype, device=like.device)


def _promote(a, b):
    """Cast tensor operands so the op sees PyTorch's promotion (not NumPy's)."""
    ta, tb = isinstance(a, Tensor), isinstance(b, Tensor)
    if ta and tb:
        da, db = a.data.dtype, b.data.dtype
        if da != db:
            # PyTorch: a 0-d tensor only decides the dtype when its category (bool < int <
            # float) is higher than the other operand's: float16 x + float64 0-d -> float16
            if a.data.ndim == 0 and b.data.ndim and _CATEGORY[da.kind] <= _CATEGORY[db.kind]:
                r = _dt.from_numpy_dtype(db)
            elif b.data.ndim == 0 and a.data.ndim and _CATEGORY[db.kind] <= _CATEGORY[da.kind]:
                r = _dt.from_numpy_dtype(da)
            else:
                r = _dt.result_type(_dt.from_numpy_dtype(da), _dt.from_numpy_dtype(db))
            if r.np != da:
                a = apply(Astype, a, dtype=r.name)
            if r.np != db:
                b = apply(Astype, b, dtype=r.name)
        return a, b
    if ta:
        if b.__class__ is float and a.data.dtype.kind in "iub":
            a = apply(Astype, a, dtype=_dt.default_float.name)
        elif a.data.dtype.kind == "V" and isinstance(b, (int, float)):
            b = _scalar_as(b, a)
        elif not isinstance(b, (int, float, bool)):
            b = _as_tensor_like(b, a)
            return _promote(a, b)
        return a, b
    if tb:
        if a.__class__ is float and b.data.dtype.kind in "iub":
            b = apply(Astype, b, dtype=_dt.default_float.name)
        elif b.data.dtype.kind == "V" and isinstance(a, (int, float)):
            a = _scalar_as(a, b)
        elif not isinstance(a, (int, float, bool)):
            a = _as_tensor_like(a, b)
            return _promote(a, b)
        return a, b
    return _as_tensor_like(a, None), b


def _binary(op):
    def fn(a, b):
        if a.__class__ is Tensor and (b.__class__ is float or b.__class__ is int):
            if a.data.dtype.kind in "iubV":
                a, b = _promote(a, b)
            return apply(op, a, b)
        if (a.__class__ is Tensor and b.__class__ is Tensor
                and a.data.dtype == b.data.dtype):
            return apply(op, a, b)
        return apply(op, *_promote(a, b))

    return fn


_add = _binary(Add)
_sub = _binary(Sub)


def add(a, b, *, alpha=1):
    """``a + alpha * b`` with broadcasting.

    Example:
        >>> import ember
        >>> ember.add(ember.tensor([1.0, 2.0]), 1.0)
        tensor([2., 3.])
    """
    if alpha != 1:
        b = mul(b, alpha)
    return _add(a, b)


def sub(a, b, *, alpha=1):
    """``a - alpha * b`` with broadcasting."""
    if alpha != 1:
        b = mul(b, alpha)
    return _sub(a, b)


mul = _binary(Mul)
div_true = _binary(Div)
pow = _binary(Pow)  # noqa: A001 - PyTorch's name
maximum = _binary(Maximum)
minimum = _binary(Minimum)
remainder = _binary(Remainder)
fmod = _binary(Fmod)
floor_divide = _binary(FloorDivide)
eq = _binary(Eq)
ne = _binary(Ne)
lt = _binary(Lt)
le = _binary(Le)
gt = _binary(Gt)
ge = _binary(Ge)
logical_and = _binary(LogicalAnd)
logical_or = _binary(LogicalOr)
logical_xor = _binary(LogicalXor)
bitwise_and = _binary(BitwiseAnd)
bitwise_or = _binary(BitwiseOr)
bitwise_xor = _binary(BitwiseXor)


def _is_int(x) -> bool:
    return x.data.dtype.kind in "iub" if isinstance(x, Tensor) else isinstance(x, int)


def div(a, b, *, rounding_mode: str | None = None):
    """``a / b``; ``rounding_mode`` "floor" or "trunc" as in PyTorch.

    Integer tensors divide to the default float dtype (true division).
    """
    if rounding_mode == "floor":
        return floor_divide(a, b)
    if rounding_mode == "trunc" and _is_int(a) and _is_int(b):
        # integer division rounding toward zero stays integer: step floor's result
        # up by one where it rounded a negative, inexact quotient down
        q = floor_divide(a, b)
        inexact = ne(sub(a, mul(q, b)), 0)
        return where(logical_and(inexact, ne(lt(a, 0), lt(b, 0))), add(q, 1), q)
    if isinstance(a, Tensor) and a.data.dtype.kind in "iub" and (
        not isinstance(b, Tensor) or b.data.dtype.kind in "iub"
    ):
        a = apply(Astype, a, dtype=_dt.default_float.name)
    elif isinstance(b, Tensor) and b.data.dtype.kind in "iub" and not isinstance(a, Tensor):
        b = apply(Astype, b, dtype=_dt.default_float.name)
    out = div_true(a, b)
    if rounding_mode == "trunc":
        out = trunc(out)
    elif rounding_mode is not None:
        raise ValueError(
            f"div: rounding_mode must be None, 'floor' or 'trunc', got {rounding_mode!r}"
        )
    return out


def _unary(op, doc: str):
    def fn(x):
        if not isinstance(x, Tensor):
            x = _as_tensor_like(x, None)
        return apply(op, x)

    fn.__name__ = op.name
    fn.__doc__ = doc
    return fn


def _unary_float(op, doc: str):
    """Unary math that turns integer input into the default float dtype, as PyTorch does."""

    def fn(x):
        if not isinstance(x, Tensor):
            x = _as_tensor_like(x, None)
        if x.data.dtype.kind in "iub":
            x = apply(Astype, x, dtype=_dt.default_float.name)
        return apply(op, x)

    fn.__name__ = op.name
    fn.__doc__ = doc
    return fn


neg = _unary(Neg, "``-x``.")
abs = _unary(Abs, "``|x|``.")  # noqa: A001
sign = _unary(Sign, "-1, 0 or 1 by the sign of x (zero gradient).")
floor = _unary(Floor, "Round down (zero gradient).")
ceil = _unary(Ceil, "Round up (zero gradient).")
trunc = _unary(Trunc, "Round toward zero (zero gradient).")
square = _unary(Square, "``x * x``.")
sqrt = _unary_float(Sqrt, "Square root.")
rsqrt = _unary_float(Rsqrt, "``1 / sqrt(x)``.")
exp = _unary_float(Exp, "``e ** x``.")
expm1 = _unary_float(Expm1, "``exp(x) - 1``, accurate near 0.")
log = _unary_float(Log, "Natural logarithm.")
log1p = _unary_float(Log1p, "``log(1 + x)``, accurate near 0.")
log2 = _unary_float(Log2, "Base-2 logarithm.")
log10 = _unary_float(Log10, "Base-10 logarithm.")
reciprocal = _unary_float(Reciprocal, "``1 / x``.")
sin = _unary_float(Sin, "Sine.")
cos = _unary_float(Cos, "Cosine.")
tan = _unary_float(Tan, "Tangent.")
tanh = _unary_float(Tanh, "Hyperbolic tangent.")
sigmoid = _unary_float(Sigmoid, "``1 / (1 + exp(-x))``, computed without overflow.")
erf = _unary_float(Erf, "The error function.")
relu = _unary(Relu, "``max(x, 0)``.")
clone = _unary(Clone, "A copy of x that is part of the graph (gradients flow through).")
logical_not = _unary(LogicalNot, "Elementwise not.")
bitwise_not = _unary(BitwiseNot, "Elementwise bitwise not.")
isnan = _unary(Isnan, "True where x is NaN.")
isinf = _unary(Isinf, "True where x is +/-inf.")
isfinite = _unary(Isfinite, "True where x is neither NaN nor inf.")


def round(x, decimals: int = 0):  # noqa: A001
    """Round half to even, to ``decimals`` places (zero gradient)."""
    return apply(Round, x, decimals=decimals)


def clamp(x, min=None, max=None):  # noqa: A002
    """Limit x to [min, max]; min/max may be numbers or tensors (then broadcast).

    Example:
        >>> import ember
        >>> ember.clamp(ember.tensor([-2.0, 0.5, 3.0]), min=0.0, max=1.0)
        tensor([0. , 0.5, 1. ])
    """
    if min is None and max is None:
        raise ValueError("clamp: give at least one of min and max")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = x
        if min is not None:
            out = maximum(out, min)
        if max is not None:
            out = minimum(out, max)
        return out
    if x.data.dtype.kind in "iub" and (min.__class__ is float or max.__class__ is float):
        x = apply(Astype, x, dtype=_dt.default_float.name)
    return apply(Clamp, x, min=min, max=max)


def where(condition, x, y):
    """Pick from x where condition is true, else from y (broadcasting all three).

    Example:
        >>> import ember
        >>> ember.where(ember.tensor([True, False]), 1.0, ember.tensor([5.0, 6.0]))
        tensor([1., 6.])
    """
    if not isinstance(condition, Tensor):
        condition = _as_tensor_like(condition, x if isinstance(x, Tensor) else None)
    if condition.data.dtype.kind != "b":
        condition = apply(Astype, condition, dtype="bool")
    if isinstance(x, Tensor) or isinstance(y, Tensor):
        x, y = _promote(x, y)
    else:
        x = _as_tensor_like(x, condition)
    return apply(Where, condition, x, y)


def astype(x, dtype, copy: bool = True):
    """x converted to ``dtype`` (array API name; ``Tensor.to(dtype)`` is the same)."""
    d = _dt.to_dtype(dtype)
    if d.np == x.data.dtype:
        return apply(Clone, x) if copy else x
    return apply(Astype, x, dtype=d.name)
