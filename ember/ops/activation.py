"""Activation functions and softmax: the primitives behind ``ember.nn.functional``'s activations.

Example:
    >>> import ember
    >>> import ember.nn.functional as F
    >>> F.softmax(ember.tensor([[1.0, 2.0, 3.0]]), dim=1).sum().item()
    1.0
"""

from __future__ import annotations

from ..autograd.node import apply
from ..backend.special import erf as _erf
from ..errors import ShapeError, op_error
from ..tensor import Tensor
from . import elementwise as ew
from . import shape as sh
from ._nn_common import (  # noqa: F401
    _INV_SQRT_2PI,
    _SQRT1_2,
    _SQRT_2_PI,
    _check_float,
    _check_same_dtype,
    _sigmoid,
)
from ._select import where as _where
from .registry import Op, register, scaled_cost

__all__ = [
    "relu", "sigmoid", "tanh", "threshold", "prelu", "gelu", "silu", "mish", "softplus",
    "leaky_relu", "elu", "selu", "celu", "hardtanh", "relu6", "hardsigmoid", "hardswish",
    "logsigmoid", "softsign", "tanhshrink", "softmax", "log_softmax", "softmin",
    # in-place forms and RReLU (activation_inplace.py)
    "relu_", "leaky_relu_", "elu_", "celu_", "selu_", "hardtanh_", "threshold_", "rrelu",
    "rrelu_",
]


# ----------------------------------------------------------------------------- activations


@register
class Gelu(Op):
    cost = scaled_cost(8)

    def forward(xp, x, approximate="none"):
        if approximate == "tanh":
            inner = (x + 0.044715 * (x * x * x)) * _SQRT_2_PI
            return 0.5 * x * (1.0 + xp.tanh(inner))
        return 0.5 * x * (1.0 + _erf(xp, x * _SQRT1_2))

    def vjp(F, g, out, x, approximate="none"):
        if approximate == "tanh":
            x2 = x * x
            t = F.tanh((x + 0.044715 * x2 * x) * _SQRT_2_PI)
            d = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _SQRT_2_PI * (1.0 + 0.134145 * x2)
        else:
            d = 0.5 * (1.0 + F.erf(x * _SQRT1_2)) + x * F.exp(x * x * -0.5) * _INV_SQRT_2PI
        return (g * d,)


@register
class Silu(Op):
    cost = scaled_cost(4)  # exp, add, divide, multiply

    def forward(xp, x):
        return x * _sigmoid(xp, x)

    def vjp(F, g, out, x):
        s = F.sigmoid(x)
        return (g * (s * (1.0 + x * (1.0 - s))),)


@register
class Softplus(Op):
    cost = scaled_cost(4)

    def forward(xp, x, beta=1.0, threshold=20.0):
        z = x * beta
        soft = (xp.log1p(xp.exp(-xp.abs(z))) + xp.maximum(z, 0)) / beta
        return xp.where(z > threshold, x, soft)  # a mask of rare outliers: no mispredicts

    def vjp(F, g, out, x, beta=1.0, threshold=20.0):
        z = x * beta
        return (F.where(z > threshold, g, g * F.sigmoid(z)),)


@register
class LeakyRelu(Op):
    def forward(xp, x, negative_slope=0.01):
        return _where(xp, x > 0, x, x * negative_slope)

    def vjp(F, g, out, x, negative_slope=0.01):
        return (F.where(x > 0, g, g * negative_slope),)


@register
class Elu(Op):
    cost = scaled_cost(3)

    def forward(xp, x, alpha=1.0):
        if x.dtype.itemsize == 2:  # float16, bfloat16: compute in float32, round once
            return Elu.forward(xp, x.astype(xp.float32), alpha).astype(x.dtype)
        return _where(xp, x > 0, x, xp.expm1(xp.minimum(x, 0)) * alpha)

    def vjp(F, g, out, x, alpha=1.0):
        return (F.where(x > 0, g, g * (F.exp(F.minimum(x, 0.0)) * alpha)),)


@register
class Hardtanh(Op):
    def forward(xp, x, min_val=-1.0, max_val=1.0):
        return xp.clip(x, min_val, max_val)

    def vjp(F, g, out, x, min_val=-1.0, max_val=1.0):
        return (F.where((x > min_val) & (x < max_val), g, 0.0),)


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """``max(x, 0)``; ``inplace=True`` writes the result into ``input`` and returns it.

    Example:
        >>> import ember
        >>> ember.nn.functional.relu(ember.tensor([-1.0, 2.0]))
        tensor([0., 2.])
    """
    return relu_(input) if inplace else ew.relu(input)


def sigmoid(input: Tensor) -> Tensor:
    """``1 / (1 + exp(-x))``, without overflow."""
    return ew.sigmoid(input)


def tanh(input: Tensor) -> Tensor:
    """The hyperbolic tangent."""
    return ew.tanh(input)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """``value`` where ``x <= threshold``, else ``x`` (NaN stays NaN, as in PyTorch)."""
    if inplace:
        return threshold_(input, threshold, value)
    return ew.where(input <= threshold, value, input)


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """``x`` where positive, ``weight * x`` elsewhere; ``weight`` has 1 or C (dim 1) entries."""
    if weight.numel() != 1 and input.ndim >= 2:
        weight = sh.reshape(weight, (1, -1) + (1,) * (input.ndim - 2))
    return ew.where(input > 0, input, input * weight)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit: ``x * Phi(x)`` (``approximate="tanh"``: the tanh form).

    Example:
        >>> import ember
        >>> ember.nn.functional.gelu(ember.tensor([0.0, 1.0]))
        tensor([0.    , 0.8413])
    """
    _check_float(input, "gelu")
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return apply(Gelu, input, approximate=approximate)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """Sigmoid linear unit (swish): ``x * sigmoid(x)``."""
    if inplace:
        return _inp._silu_(input)
    _check_float(input, "silu")
    return apply(Silu, input)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * tanh(softplus(x))``."""
    if inplace:
        return _inp._mish_(input)
    return input * ew.tanh(softplus(input))


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``log(1 + exp(beta * x)) / beta``, linear where ``beta * x > threshold``.

    Example:
        >>> import ember
        >>> ember.nn.functional.softplus(ember.tensor([0.0]))
        tensor([0.6931])
    """
    _check_float(input, "softplus")
    if beta == 0:
        raise ValueError("softplus: beta must be non-zero")
    return apply(Softplus, input, beta=float(beta), threshold=float(threshold))


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """``x`` where positive, ``negative_slope * x`` elsewhere."""
    if inplace:
        return leaky_relu_(input, negative_slope)
    _check_float(input, "leaky_relu")
    return apply(LeakyRelu, input, negative_slope=float(negative_slope))


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``x`` where positive, ``alpha * (exp(x) - 1)`` elsewhere."""
    if inplace:
        return elu_(input, alpha)
    _check_float(input, "elu")
    return apply(Elu, input, alpha=float(alpha))


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """Scaled ELU with the self-normalising constants."""
    if inplace:
        return selu_(input)
    x = _widen(input)
    out = elu(x, 1.6732632423543772848170429916717) * 1.0507009873554804934193349852946
    return out if x is input else out.to(input.dtype)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""
    if inplace:
        return celu_(input, alpha)
    if alpha == 0:
        raise ValueError("celu: alpha must be non-zero (it divides the input)")
    if alpha == 1.0:
        return elu(input, 1.0)
    x = _widen(input)
    out = elu(x / alpha, 1.0) * alpha
    return out if x is input else out.to(input.dtype)


def _widen(x: Tensor) -> Tensor:
    """float16/bfloat16 ``x`` as float32, so that a composite activation rounds once (as
    PyTorch's CPU kernels do); other tensors as they are."""
    return x.float() if x.is_floating_point() and x.element_size() == 2 else x


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """Clip to ``[min_val, max_val]`` (zero gradient at and beyond the limits)."""
    if inplace:
        return hardtanh_(input, min_val, max_val)
    _check_float(input, "hardtanh")
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) must not exceed max_val ({max_val})")
    return apply(Hardtanh, input, min_val=float(min_val), max_val=float(max_val))


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """``min(max(x, 0), 6)``."""
    return hardtanh(input, 0.0, 6.0, inplace)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """``relu6(x + 3) / 6``."""
    if inplace:
        return _inp._hardsigmoid_(input)
    return hardtanh(input + 3.0, 0.0, 6.0) * (1.0 / 6.0)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * relu6(x + 3) / 6``."""
    if inplace:
        return _inp._hardswish_(input)
    return input * hardsigmoid(input)


def logsigmoid(input: Tensor) -> Tensor:
    """``log(sigmoid(x))``, computed stably as ``-softplus(-x)``."""
    return -softplus(-input)


def softsign(input: Tensor) -> Tensor:
    """``x / (1 + |x|)``."""
    return input / (ew.abs(input) + 1.0)


def tanhshrink(input: Tensor) -> Tensor:
    """``x - tanh(x)``."""
    return input - ew.tanh(input)


# ----------------------------------------------------------------------------- softmax


@register
class Softmax(Op):
    needs_output = True
    uses_input_values = False  # the vjp reads only the output

    cost = scaled_cost(5)  # max, subtract, exp, sum, divide

    def forward(xp, x, axis):
        e = xp.exp(x - x.max(axis=axis, keepdims=True))
        e /= e.sum(axis=axis, keepdims=True)
        return e

    def vjp(F, g, out, x, axis):
        return (F.softmax_backward(g, out, axis=axis, log=False),)


@register
class LogSoftmax(Op):
    needs_output = True
    uses_input_values = False  # the vjp reads only the output

    cost = scaled_cost(5)  # max, subtract, exp, sum, log

    def forward(xp, x, axis):
        s = x - x.max(axis=axis, keepdims=True)
        s -= xp.log(xp.exp(s).sum(axis=axis, keepdims=True))
        return s

    def vjp(F, g, out, x, axis):
        return (F.softmax_backward(g, out, axis=axis, log=True),)


@register
class SoftmaxBackward(Op):
    """The input gradient of softmax (``log`` False) or log_softmax (``log`` True) from the
    output gradient ``g`` and the output ``out``: one op, so a backend can run it as one
    kernel (cuDNN's ``cudnnSoftmaxBackward`` on CUDA)."""

    cost = scaled_cost(4)  # multiply (or exp), sum, multiply, subtract

    def forward(xp, g, out, axis, log):
        if log:
            return g - xp.exp(out) * g.sum(axis=axis, keepdims=True)
        go = g * out
        go -= out * go.sum(axis=axis, keepdims=True)
        return go

    def vjp(F, gg, _, g, out, axis, log):
        ax = (axis,)
        if log:  # r = g - exp(out) * sum(g)
            e = F.exp(out)
            return gg - F.sum(gg * e, axis=ax, keepdims=True), \
                -(gg * e) * F.sum(g, axis=ax, keepdims=True)
        # r = g * out - out * sum(g * out)
        s = F.sum(g * out, axis=ax, keepdims=True)
        t = F.sum(gg * out, axis=ax, keepdims=True)
        return out * (gg - t), gg * (g - s) - g * t


def _softmax_dim(x: Tensor, dim, op: str) -> int:
    if dim is None:  # PyTorch's legacy rule for a missing dim
        dim = 0 if x.ndim in (0, 1, 3) else 1
    n = max(x.ndim, 1)
    if not -n <= dim < n:
        raise op_error(ShapeError, op, f"dim {dim} is out of range for a tensor with {x.ndim} "
                       "dimension(s)", args=[x])
    return dim % n


def _softmax_input(x, dim, dtype, op):
    if dtype is not None:  # PyTorch's dtype argument: cast first (integers included)
        x = x.to(dtype)
    _check_float(x, op)
    if x.ndim == 0:
        x = sh.reshape(x, (1,))
        return x, 0, True
    return x, _softmax_dim(x, dim, op), False


def softmax(input: Tensor, dim: int | None = None, dtype=None) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``dim``, computed stably (one primitive).

    Example:
        >>> import ember
        >>> ember.nn.functional.softmax(ember.tensor([0.0, 0.0]), dim=0)
        tensor([0.5, 0.5])
    """
    x, axis, scalar = _softmax_input(input, dim, dtype, "softmax")
    out = apply(Softmax, x, axis=axis)
    return sh.reshape(out, ()) if scalar else out


def log_softmax(input: Tensor, dim: int | None = None, dtype=None) -> Tensor:
    """``x - logsumexp(x)`` along ``dim`` (one primitive, stable for large inputs)."""
    x, axis, scalar = _softmax_input(input, dim, dtype, "log_softmax")
    out = apply(LogSoftmax, x, axis=axis)
    return sh.reshape(out, ()) if scalar else out


def softmin(input: Tensor, dim: int | None = None, dtype=None) -> Tensor:
    """``softmax(-x)`` along ``dim``."""
    return softmax(-input, dim, dtype)


from . import activation_inplace as _inp  # noqa: E402  (it builds on the functions above)
from .activation_inplace import (  # noqa: E402
    celu_,
    elu_,
    hardtanh_,
    leaky_relu_,
    relu_,
    rrelu,
    rrelu_,
    selu_,
    threshold_,
)
