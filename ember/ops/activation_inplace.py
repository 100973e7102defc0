"""In-place activations (``F.relu_``, ``F.elu_``, ``inplace=True``) and RReLU, as in PyTorch.

An in-place activation overwrites its input and returns it (the same tensor object) with
its version counter bumped, so a backward through a graph that saved the old value fails
with the usual "modified in place" error. A leaf that requires grad is refused while
gradients are recorded. When recording, PyTorch saves one of two things, and so does ember:

* the result (``relu_``, ``leaky_relu_``, ``elu_``, ``celu_``, ``selu_``, ``rrelu_``): the
  gradient is computed from the output, so changing the output in place afterwards makes
  backward fail, and a negative slope (``leaky_relu_``) or alpha (``elu_``) fails backward
  (the output no longer tells the sign of the input);
* a copy of the original input (``hardtanh_``, ``relu6``, ``hardsigmoid``, ``hardswish``,
  ``silu``, ``mish``, ``threshold_``): the op runs out of place on that copy.

Without recording, float16/32/64 NumPy inputs are overwritten by ufuncs with ``out=``
(no full-size temporary for relu, leaky_relu, elu, celu, selu, hardtanh, hardsigmoid,
threshold, which take the array in cache-sized blocks where they need temporaries; one for
hardswish, silu, mish); other arrays compute the result and copy it in.

Example:
    >>> import ember
    >>> import ember.nn.functional as F
    >>> x = ember.tensor([-1.0, 2.0])
    >>> F.relu_(x) is x, x
    (True, tensor([0., 2.]))
"""

from __future__ import annotations

import numpy as np

from ..autograd.grad_mode import no_grad, state
from ..autograd.node import apply
from ..errors import AutogradError
from ..random import _gen
from ..tensor import Tensor
from . import activation as _act
from . import elementwise as ew
from ._nn_common import _check_float, _sigmoid
from ._select import where as _where
from .methods import _check_inplace, _commit, _snapshot
from .registry import Op, register, scaled_cost

__all__ = ["relu_", "leaky_relu_", "elu_", "celu_", "selu_", "hardtanh_", "threshold_",
           "rrelu", "rrelu_"]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _slope_error(op: str, what: str) -> AutogradError:
    return AutogradError(
        f"{op}: in-place backward with a negative {what} is not supported (the gradient is "
        "computed from the output, whose sign no longer tells the input's); call the "
        "out-of-place version (inplace=False) instead"
    )


# ---------------------------------------------------------------- primitives saving the result


@register
class ReluInplace(Op):
    """relu whose gradient reads the output (PyTorch's ``relu_``)."""

    needs_output = True
    uses_input_values = False

    def forward(xp, x):
        return xp.maximum(x, 0)

    def vjp(F, g, out, x):
        return (F.where(out <= 0, 0.0, g),)


@register
class LeakyReluInplace(Op):
    """leaky_relu whose gradient reads the output (PyTorch's ``leaky_relu_``)."""

    needs_output = True
    uses_input_values = False

    def forward(xp, x, negative_slope=0.01):
        return _where(xp, x > 0, x, x * negative_slope)

    def vjp(F, g, out, x, negative_slope=0.01):
        if negative_slope < 0:
            raise _slope_error("leaky_relu_", "slope")
        return (F.where(out > 0, g, g * negative_slope),)


@register
class EluInplace(Op):
    """``scale * elu(x * input_scale, alpha)`` (elu, celu, selu) with the gradient from the
    output (PyTorch's ``elu_`` with ``is_result``)."""

    needs_output = True
    uses_input_values = False
    cost = scaled_cost(3)

    def forward(xp, x, alpha=1.0, scale=1.0, input_scale=1.0):
        return _where(xp, x > 0, x * scale,
                        xp.expm1(xp.minimum(x, 0) * input_scale) * (alpha * scale))

    def vjp(F, g, out, x, alpha=1.0, scale=1.0, input_scale=1.0):
        if alpha < 0:
            raise _slope_error("elu_", "alpha")
        return (F.where(out <= 0, g * input_scale * (out + alpha * scale), g * scale),)


@register
class RreluNoise(Op):
    """RReLU's training slopes: ``uniform(lower, upper)`` where ``x <= 0``, else 1."""

    differentiable = False
    random = True  # the graph compiler re-runs it on every call

    def forward(xp, x, lower, upper):
        u = _gen(None).uniform(lower, upper, x.shape)
        return xp.where(x <= 0, xp.asarray(u.astype(x.dtype)), 1).astype(x.dtype)


@register
class RreluInplace(Op):
    """``x * noise`` whose node keeps the output (PyTorch's ``rrelu_`` while training)."""

    needs_output = True
    value_needed_for = {0: (), 1: (0,)}  # only the noise, for x's gradient

    def forward(xp, x, noise):
        return x * noise

    def vjp(F, g, out, x, noise):
        return (g * noise, None)


# ---------------------------------------------------------------- the driver


def _fast(x: Tensor) -> bool:
    d = x.data
    return state.tracer is None and type(d) is np.ndarray and d.dtype.char in "efd"


def _via_result(x: Tensor, name: str, op, *extra, **attrs) -> Tensor:
    """Record ``op`` with the result kept as the node's output: ``x``'s own array."""
    _check_inplace(x, name)
    stand = Tensor(x.data, True)  # x's history without x (a node holding x would be a cycle)
    stand._node, stand._idx = x._node, x._idx
    out = apply(op, stand, *extra, **attrs)
    _commit(x, out, name)
    node = out._node
    if node is not None:
        node.out = ((x.data, x._version, x._version[0]),)
    return x


def _via_copy(x: Tensor, name: str, fn, *args) -> Tensor:
    """Record ``fn`` out of place on a copy of ``x``'s current value."""
    _check_inplace(x, name)
    return _commit(x, fn(_snapshot(x), *args), name)


def _unrecorded(x: Tensor, name: str, fn, *args) -> Tensor:
    with no_grad():
        out = fn(x, *args)
    return _commit(x, out, name)


_BLOCK = 1 << 14  # elements per block of the no-grad kernels: the temporaries stay in cache


def _blocks(d):
    """``d`` as cache-sized pieces that share its memory (all of it when not contiguous)."""
    if not d.flags.c_contiguous or d.size <= _BLOCK:
        return (d,)
    flat = d.reshape(-1)
    return [flat[i:i + _BLOCK] for i in range(0, flat.size, _BLOCK)]


def _done(x: Tensor) -> Tensor:
    x._version[0] += 1
    return x


# ---------------------------------------------------------------- saving the result


def relu_(input: Tensor) -> Tensor:
    """``max(x, 0)`` written into ``input``, which is returned.

    Example:
        >>> import ember
        >>> x = ember.tensor([-1.0, 2.0])
        >>> ember.nn.functional.relu_(x) is x, x
        (True, tensor([0., 2.]))
    """
    if state.grad_enabled and input._rg:
        return _via_result(input, "relu_", ReluInplace)
    if _fast(input) or (state.tracer is None and type(input.data) is np.ndarray
                        and input.data.dtype.kind in "iu"):
        d = input.data
        np.maximum(d, 0, out=d)
        return _done(input)
    return _unrecorded(input, "relu_", ew.relu)


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """In-place :func:`leaky_relu`; backward refuses a negative slope, as PyTorch's does."""
    _check_float(input, "leaky_relu_")
    slope = float(negative_slope)
    if state.grad_enabled and input._rg:
        return _via_result(input, "leaky_relu_", LeakyReluInplace, negative_slope=slope)
    if _fast(input):  # max(x, s x) for s <= 1, min(x, s x) for s > 1
        pick = np.maximum if slope <= 1 else np.minimum
        for b in _blocks(input.data):
            pick(b, b * slope, out=b)
        return _done(input)
    return _unrecorded(input, "leaky_relu_", _act.leaky_relu, slope)


def _elu_(x: Tensor, name: str, alpha: float, scale: float, input_scale: float) -> Tensor:
    _check_float(x, name)
    if state.grad_enabled and x._rg:
        return _via_result(x, name, EluInplace, alpha=alpha, scale=scale,
                           input_scale=input_scale)
    if _fast(x):  # scale * max(x, 0) + alpha * scale * expm1(min(x, 0) * input_scale)
        for b in _blocks(x.data):
            t = np.minimum(b, 0)
            if input_scale != 1.0:
                t *= input_scale
            np.expm1(t, out=t)
            t *= alpha * scale
            np.maximum(b, 0, out=b)
            if scale != 1.0:
                b *= scale
            b += t
        return _done(x)
    with no_grad():
        out = apply(EluInplace, x, alpha=alpha, scale=scale, input_scale=input_scale)
    return _commit(x, out, name)


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """In-place :func:`elu`; backward refuses a negative ``alpha``, as PyTorch's does."""
    return _elu_(input, "elu_", float(alpha), 1.0, 1.0)


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """In-place :func:`celu`: ``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""
    if alpha == 0:
        raise ValueError("celu_: alpha must be non-zero (it divides the input)")
    return _elu_(input, "celu_", float(alpha), 1.0, 1.0 / alpha)


def selu_(input: Tensor) -> Tensor:
    """In-place :func:`selu`."""
    return _elu_(input, "selu_", _SELU_ALPHA, _SELU_SCALE, 1.0)


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
          training: bool = False, inplace: bool = False) -> Tensor:
    """Randomised leaky ReLU: slopes drawn from ``uniform(lower, upper)`` for ``x <= 0``
    while training (from ember's generator), the fixed slope ``(lower + upper) / 2`` otherwise.

    Example:
        >>> import ember
        >>> ember.nn.functional.rrelu(ember.tensor([-4.0, 1.0]), 0.25, 0.75)
        tensor([-2.,  1.])
    """
    _check_float(input, "rrelu")
    if not 0 <= lower <= upper:
        raise ValueError(f"rrelu: expected 0 <= lower <= upper, got lower={lower}, "
                         f"upper={upper}")
    if inplace:
        return rrelu_(input, lower, upper, training)
    if not training:
        return _act.leaky_relu(input, (lower + upper) / 2)
    noise = apply(RreluNoise, input.detach(), lower=float(lower), upper=float(upper))
    return input * noise


def rrelu_(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
           training: bool = False) -> Tensor:
    """In-place :func:`rrelu` (the gradient reads the output, as PyTorch's ``rrelu_``)."""
    _check_float(input, "rrelu_")
    if not 0 <= lower <= upper:
        raise ValueError(f"rrelu_: expected 0 <= lower <= upper, got lower={lower}, "
                         f"upper={upper}")
    if not training:
        return leaky_relu_(input, (lower + upper) / 2)
    noise = apply(RreluNoise, input.detach(), lower=float(lower), upper=float(upper))
    if state.grad_enabled and input._rg:
        return _via_result(input, "rrelu_", RreluInplace, noise)
    if _fast(input):
        np.multiply(input.data, noise.data, out=input.data)
        return _done(input)
    return _unrecorded(input, "rrelu_", ew.mul, noise)


# ---------------------------------------------------------------- saving a copy of the input


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """In-place :func:`hardtanh`."""
    _check_float(input, "hardtanh_")
    if min_val > max_val:
        raise ValueError(f"hardtanh_: min_val ({min_val}) must not exceed max_val ({max_val})")
    if state.grad_enabled and input._rg:
        return _via_copy(input, "hardtanh_", _act.hardtanh, min_val, max_val)
    if _fast(input):
        np.clip(input.data, min_val, max_val, out=input.data)
        return _done(input)
    return _unrecorded(input, "hardtanh_", _act.hardtanh, min_val, max_val)


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    """In-place :func:`threshold`: ``value`` where ``x <= threshold``."""
    if state.grad_enabled and input._rg:
        return _via_copy(input, "threshold_", _act.threshold, threshold, value)
    if state.tracer is None and type(input.data) is np.ndarray:
        d = input.data
        np.copyto(d, value, where=d <= threshold, casting="unsafe")
        return _done(input)
    return _unrecorded(input, "threshold_", _act.threshold, threshold, value)


def _hardsigmoid_(x: Tensor) -> Tensor:
    _check_float(x, "hardsigmoid")
    if state.grad_enabled and x._rg:
        return _via_copy(x, "hardsigmoid", _act.hardsigmoid)
    if _fast(x):
        d = x.data
        d += 3.0
        np.clip(d, 0.0, 6.0, out=d)
        d *= 1.0 / 6.0
        return _done(x)
    return _unrecorded(x, "hardsigmoid", _act.hardsigmoid)


def _times_(x: Tensor, name: str, fn, factor) -> Tensor:
    """``x * factor(x)`` into ``x`` (silu, hardswish, mish): one temporary for the factor."""
    _check_float(x, name)
    if state.grad_enabled and x._rg:
        return _via_copy(x, name, fn)
    if _fast(x):
        d = x.data
        d *= factor(d)
        return _done(x)
    return _unrecorded(x, name, fn)


def _hardsigmoid_np(d):
    t = d + 3.0
    np.clip(t, 0.0, 6.0, out=t)
    t *= 1.0 / 6.0
    return t


def _tanh_softplus_np(d):
    t = np.log1p(np.exp(-np.abs(d)))
    t += np.maximum(d, 0)
    return np.tanh(t, out=t)


def _silu_(x: Tensor) -> Tensor:
    return _times_(x, "silu", _act.silu, lambda d: _sigmoid(np, d))


def _hardswish_(x: Tensor) -> Tensor:
    return _times_(x, "hardswish", _act.hardswish, _hardsigmoid_np)


def _mish_(x: Tensor) -> Tensor:
    return _times_(x, "mish", _act.mish, _tanh_softplus_np)


# the Tensor method (PyTorch has relu_ and sigmoid_ among the activations)
Tensor.relu_ = relu_
