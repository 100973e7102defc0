"""More elementwise math: inverse and hyperbolic trigonometry, ``atan2``, ``hypot``,
``copysign``, ``logaddexp``, ``signbit``, ``nextafter`` and bit shifts.

Integer inputs of the floating functions become the default float dtype, as in PyTorch.

Example:
    >>> import ember
    >>> ember.atan2(ember.tensor([1.0, -1.0]), ember.tensor([1.0, 1.0]))
    tensor([ 0.7854, -0.7854])
"""

from __future__ import annotations

from .. import dtypes as _dt
from ..autograd.node import apply
from ..tensor import Tensor
from .elementwise import Astype, _as_tensor_like, _binary, _nondiff, _promote, _unary_float
from .registry import Op, register

# ----------------------------------------------------------------------------- unary


@register
class Asin(Op):
    def forward(xp, x):
        return xp.arcsin(x)

    def vjp(F, g, out, x):
        return (g * F.rsqrt(1.0 - x * x),)


@register
class Acos(Op):
    def forward(xp, x):
        return xp.arccos(x)

    def vjp(F, g, out, x):
        return (-g * F.rsqrt(1.0 - x * x),)


@register
class Atan(Op):
    def forward(xp, x):
        return xp.arctan(x)

    def vjp(F, g, out, x):
        return (g / (x * x + 1.0),)


@register
class Sinh(Op):
    def forward(xp, x):
        return xp.sinh(x)

    def vjp(F, g, out, x):
        return (g * F.cosh(x),)


@register
class Cosh(Op):
    def forward(xp, x):
        return xp.cosh(x)

    def vjp(F, g, out, x):
        return (g * F.sinh(x),)


@register
class Asinh(Op):
    def forward(xp, x):
        return xp.arcsinh(x)

    def vjp(F, g, out, x):
        return (g * F.rsqrt(x * x + 1.0),)


@register
class Acosh(Op):
    def forward(xp, x):
        return xp.arccosh(x)

    def vjp(F, g, out, x):
        return (g * F.rsqrt(x * x - 1.0),)


@register
class Atanh(Op):
    def forward(xp, x):
        return xp.arctanh(x)

    def vjp(F, g, out, x):
        return (g / (1.0 - x * x),)


# ----------------------------------------------------------------------------- binary


@register
class Atan2(Op):
    def forward(xp, a, b):
        return xp.arctan2(a, b)

    def vjp(F, g, out, a, b):
        scale = g / (a * a + b * b)
        return scale * b, -scale * a


@register
class Hypot(Op):
    needs_output = True

    def forward(xp, a, b):
        return xp.hypot(a, b)

    def vjp(F, g, out, a, b):
        scale = g / out
        return scale * a, scale * b


@register
class Copysign(Op):
    """``|a|`` with the sign of ``b``; the gradient is ``out / a`` (0 where ``a == 0``) for
    ``a`` and 0 for ``b``, as in PyTorch."""

    needs_output = True

    def forward(xp, a, b):
        return xp.copysign(a, b)

    def vjp(F, g, out, a, b):
        zero = a == 0
        return g * F.where(zero, 0.0, out / F.where(zero, 1.0, a)), g * 0.0


@register
class Logaddexp(Op):
    needs_output = True

    def forward(xp, a, b):
        return xp.logaddexp(a, b)

    def vjp(F, g, out, a, b):
        return g * F.exp(a - out), g * F.exp(b - out)


Signbit = _nondiff("Signbit", lambda xp, x: xp.signbit(x))
Nextafter = _nondiff("Nextafter", lambda xp, a, b: xp.nextafter(a, b))
BitwiseLeftShift = _nondiff("BitwiseLeftShift", lambda xp, a, b: xp.left_shift(a, b))
BitwiseRightShift = _nondiff("BitwiseRightShift", lambda xp, a, b: xp.right_shift(a, b))


# ----------------------------------------------------------------------------- public API

asin = _unary_float(Asin, "Inverse sine (NaN outside [-1, 1]).")
acos = _unary_float(Acos, "Inverse cosine (NaN outside [-1, 1]).")
atan = _unary_float(Atan, "Inverse tangent.")
sinh = _unary_float(Sinh, "Hyperbolic sine.")
cosh = _unary_float(Cosh, "Hyperbolic cosine.")
asinh = _unary_float(Asinh, "Inverse hyperbolic sine.")
acosh = _unary_float(Acosh, "Inverse hyperbolic cosine (NaN below 1).")
atanh = _unary_float(Atanh, "Inverse hyperbolic tangent (NaN outside [-1, 1]).")
arcsin, arccos, arctan = asin, acos, atan
arcsinh, arccosh, arctanh = asinh, acosh, atanh


def _floating(op, name: str, doc: str):
    """A binary op on floating operands: PyTorch's promotion, then integers to float."""

    def fn(a, b):
        a, b = _promote(a, b)
        for i, t in enumerate((a, b)):
            if isinstance(t, Tensor) and t.data.dtype.kind in "iub":
                t = apply(Astype, t, dtype=_dt.default_float.name)
                a, b = (t, b) if i == 0 else (a, t)
        return apply(op, a, b)

    fn.__name__ = name
    fn.__doc__ = doc
    return fn


atan2 = _floating(Atan2, "atan2", "The angle of the point ``(b, a)``: ``atan(a / b)`` in the "
                  "right quadrant.")
arctan2 = atan2
hypot = _floating(Hypot, "hypot", "``sqrt(a**2 + b**2)`` without overflow or underflow.")
copysign = _floating(Copysign, "copysign", "``|a|`` with the sign of ``b`` (also of zeros and "
                     "NaNs).")
logaddexp = _floating(Logaddexp, "logaddexp", "``log(exp(a) + exp(b))`` without overflow.")
nextafter = _binary(Nextafter)
nextafter.__doc__ = "The next representable float after ``a`` toward ``b`` (no gradient)."
bitwise_left_shift = _binary(BitwiseLeftShift)
bitwise_left_shift.__doc__ = "``a << b`` on integer tensors."
bitwise_right_shift = _binary(BitwiseRightShift)
bitwise_right_shift.__doc__ = "``a >> b`` (arithmetic shift) on integer tensors."


def signbit(x) -> Tensor:
    """True where the sign bit of ``x`` is set (also for ``-0.0`` and negative NaNs).

    Example:
        >>> import ember
        >>> ember.signbit(ember.tensor([-0.0, 0.0, -2.0]))
        tensor([ True, False,  True])
    """
    if not isinstance(x, Tensor):
        x = _as_tensor_like(x, None)
    return apply(Signbit, x)


def positive(x) -> Tensor:
    """``+x``: ``x`` itself (PyTorch returns the input unchanged)."""
    if not isinstance(x, Tensor):
        x = _as_tensor_like(x, None)
    return x
