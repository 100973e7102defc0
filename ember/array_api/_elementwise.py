"""The array API's element-wise functions over ember's ops.

Two tensors of different dtypes promote by the standard's table whatever their ranks
(PyTorch lets a 0-d tensor of the same kind lose; the standard does not). Python scalars are
accepted as the second (or first) argument and take the tensor's dtype.
"""

from __future__ import annotations

from ..ops import elementwise as _ew
from ..ops import math_more as _mm
from ..tensor import Tensor
from ._dtypes import result_type


def _promoted(a, b):
    if a.__class__ is Tensor and b.__class__ is Tensor and a.dtype is not b.dtype:
        d = result_type(a.dtype, b.dtype)
        a, b = _ew.astype(a, d, copy=False), _ew.astype(b, d, copy=False)
    return a, b


def _named(f, name: str, doc: str):
    f.__name__ = f.__qualname__ = name
    f.__doc__ = doc
    return f


def _binary(fn, name: str, doc: str):
    def f(x1, x2, /) -> Tensor:
        return fn(*_promoted(x1, x2))

    return _named(f, name, doc)


def _unary(fn, name: str, doc: str):
    def f(x: Tensor, /) -> Tensor:
        return fn(x)

    return _named(f, name, doc)


def _rounding(fn, name: str, doc: str):
    """floor/ceil/trunc/round: the input itself (a copy) for integer and bool dtypes."""

    def f(x: Tensor, /) -> Tensor:
        if x.data.dtype.kind in "iub":
            return _ew.clone(x)
        return fn(x)

    return _named(f, name, doc)


abs = _unary(_ew.abs, "abs", "``|x|``.")  # noqa: A001
acos = _unary(_mm.acos, "acos", "Inverse cosine.")
acosh = _unary(_mm.acosh, "acosh", "Inverse hyperbolic cosine.")
asin = _unary(_mm.asin, "asin", "Inverse sine.")
asinh = _unary(_mm.asinh, "asinh", "Inverse hyperbolic sine.")
atan = _unary(_mm.atan, "atan", "Inverse tangent.")
atanh = _unary(_mm.atanh, "atanh", "Inverse hyperbolic tangent.")
bitwise_invert = _unary(_ew.bitwise_not, "bitwise_invert", "``~x`` (integer or bool).")
ceil = _rounding(_ew.ceil, "ceil", "Round up.")
# ember has no complex dtypes: real input is its own conjugate and real part (a copy)
conj = _unary(_ew.clone, "conj", "The complex conjugate: a copy of real input.")
cos = _unary(_ew.cos, "cos", "Cosine.")
cosh = _unary(_mm.cosh, "cosh", "Hyperbolic cosine.")
exp = _unary(_ew.exp, "exp", "``e ** x``.")
expm1 = _unary(_ew.expm1, "expm1", "``exp(x) - 1``.")
floor = _rounding(_ew.floor, "floor", "Round down.")
isfinite = _unary(_ew.isfinite, "isfinite", "True where finite.")
isinf = _unary(_ew.isinf, "isinf", "True where infinite.")
isnan = _unary(_ew.isnan, "isnan", "True where NaN.")
log = _unary(_ew.log, "log", "Natural logarithm.")
log1p = _unary(_ew.log1p, "log1p", "``log(1 + x)``.")
log2 = _unary(_ew.log2, "log2", "Base-2 logarithm.")
log10 = _unary(_ew.log10, "log10", "Base-10 logarithm.")
logical_not = _unary(_ew.logical_not, "logical_not", "Elementwise not.")
negative = _unary(_ew.neg, "negative", "``-x``.")
positive = _unary(_mm.positive, "positive", "``+x``.")
real = _unary(_ew.clone, "real", "The real part: a copy of real input.")
reciprocal = _unary(_ew.reciprocal, "reciprocal", "``1 / x``.")
round = _rounding(_ew.round, "round", "Round half to even.")  # noqa: A001
sign = _unary(_ew.sign, "sign", "-1, 0 or 1 by the sign of x.")
signbit = _unary(_mm.signbit, "signbit", "True where the sign bit is set.")
sin = _unary(_ew.sin, "sin", "Sine.")
sinh = _unary(_mm.sinh, "sinh", "Hyperbolic sine.")
sqrt = _unary(_ew.sqrt, "sqrt", "Square root.")
square = _unary(_ew.square, "square", "``x * x``.")
tan = _unary(_ew.tan, "tan", "Tangent.")
tanh = _unary(_ew.tanh, "tanh", "Hyperbolic tangent.")
trunc = _rounding(_ew.trunc, "trunc", "Round toward zero.")

add = _binary(_ew.add, "add", "``x1 + x2``.")
atan2 = _binary(_mm.atan2, "atan2", "The angle of the point ``(x2, x1)``.")
bitwise_and = _binary(_ew.bitwise_and, "bitwise_and", "``x1 & x2``.")
bitwise_left_shift = _binary(_mm.bitwise_left_shift, "bitwise_left_shift", "``x1 << x2``.")
bitwise_or = _binary(_ew.bitwise_or, "bitwise_or", "``x1 | x2``.")
bitwise_right_shift = _binary(_mm.bitwise_right_shift, "bitwise_right_shift",
                              "``x1 >> x2``.")
bitwise_xor = _binary(_ew.bitwise_xor, "bitwise_xor", "``x1 ^ x2``.")
copysign = _binary(_mm.copysign, "copysign", "``|x1|`` with the sign of ``x2``.")
divide = _binary(_ew.div, "divide", "``x1 / x2``.")
equal = _binary(_ew.eq, "equal", "``x1 == x2``.")
floor_divide = _binary(_ew.floor_divide, "floor_divide", "``x1 // x2``.")
greater = _binary(_ew.gt, "greater", "``x1 > x2``.")
greater_equal = _binary(_ew.ge, "greater_equal", "``x1 >= x2``.")
hypot = _binary(_mm.hypot, "hypot", "``sqrt(x1**2 + x2**2)``.")
less = _binary(_ew.lt, "less", "``x1 < x2``.")
less_equal = _binary(_ew.le, "less_equal", "``x1 <= x2``.")
logaddexp = _binary(_mm.logaddexp, "logaddexp", "``log(exp(x1) + exp(x2))``.")
logical_and = _binary(_ew.logical_and, "logical_and", "Elementwise and.")
logical_or = _binary(_ew.logical_or, "logical_or", "Elementwise or.")
logical_xor = _binary(_ew.logical_xor, "logical_xor", "Elementwise exclusive or.")
maximum = _binary(_ew.maximum, "maximum", "The larger of x1 and x2 (NaN if either is).")
minimum = _binary(_ew.minimum, "minimum", "The smaller of x1 and x2 (NaN if either is).")
multiply = _binary(_ew.mul, "multiply", "``x1 * x2``.")
nextafter = _binary(_mm.nextafter, "nextafter", "The next float after x1 toward x2.")
not_equal = _binary(_ew.ne, "not_equal", "``x1 != x2``.")
pow = _binary(_ew.pow, "pow", "``x1 ** x2``.")  # noqa: A001
remainder = _binary(_ew.remainder, "remainder", "``x1 % x2`` (the sign of x2).")
subtract = _binary(_ew.sub, "subtract", "``x1 - x2``.")


def clip(x: Tensor, /, min=None, max=None) -> Tensor:  # noqa: A002
    """``x`` limited to ``[min, max]`` (numbers or tensors); keeps x's dtype.

    Example:
        >>> import ember.array_api as xp
        >>> xp.clip(xp.asarray([-1.0, 0.5, 2.0]), 0.0, 1.0)
        tensor([0. , 0.5, 1. ])
    """
    if min is None and max is None:
        return _ew.clone(x)
    out = _ew.clamp(x, min=min, max=max)
    return out if out.dtype is x.dtype else _ew.astype(out, x.dtype, copy=False)


__all__ = [n for n, v in list(globals().items())
           if callable(v) and not n.startswith("_") and n not in ("Tensor", "result_type")]
