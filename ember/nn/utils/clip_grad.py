"""Gradient clipping: ``clip_grad_norm_`` and ``clip_grad_value_``.

Both change the ``.grad`` of the given parameters in place, between ``loss.backward()`` and
``optimizer.step()``.

Example:
    >>> import ember
    >>> w = ember.tensor([3.0, 4.0], requires_grad=True)
    >>> w.grad = ember.tensor([3.0, 4.0])
    >>> ember.nn.utils.clip_grad_norm_([w], max_norm=1.0).item()
    5.0
    >>> [round(v, 4) for v in w.grad.tolist()]
    [0.6, 0.8]
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from contextlib import nullcontext

from ...backend import backend_of
from ...ops.creation import tensor
from ...tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _grads(parameters, name: str) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = []
    for i, p in enumerate(parameters):
        if not isinstance(p, Tensor):
            raise TypeError(f"{name}: parameter {i} is a {type(p).__name__}, not a tensor")
        if p.grad is not None:
            grads.append(p.grad)
    return grads


def _vector_norm(xp, a, p: float):
    """The p-norm of all of ``a``'s elements, as a 0-d array of ``a``'s dtype."""
    a = a.reshape(-1)
    if p == 2.0:
        return xp.sqrt(xp.dot(a, a))
    if p == math.inf:
        return xp.abs(a).max() if a.size else xp.zeros((), a.dtype)
    if p == -math.inf:
        return xp.abs(a).min() if a.size else xp.asarray(math.inf, a.dtype)
    if p == 0.0:
        return xp.asarray(xp.count_nonzero(a), dtype=a.dtype)
    if p == 1.0:
        return xp.abs(a).sum()
    return (xp.abs(a) ** p).sum() ** (1.0 / p)


def clip_grad_norm_(parameters: Iterable[Tensor] | Tensor, max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False) -> Tensor:
    """Scale the gradients so that their joint norm is at most ``max_norm``; in place.

    The norm is taken over all gradients together, as if concatenated into one vector;
    every gradient is multiplied by ``min(1, max_norm / (total_norm + 1e-6))``, as in PyTorch.
    Parameters without a gradient are skipped.

    Args:
        parameters: a tensor or an iterable of tensors whose ``.grad`` is clipped.
        max_norm: the largest norm allowed.
        norm_type: the order of the norm (``2.0``, ``1.0``, ``math.inf`` ...).
        error_if_nonfinite: raise if the total norm is NaN or infinite, instead of scaling
            the gradients by it.

    Returns:
        The total norm of the gradients before clipping, as a 0-d tensor.

    Example:
        >>> import ember, math
        >>> w = ember.tensor([1.0, -3.0], requires_grad=True)
        >>> w.grad = ember.tensor([1.0, -3.0])
        >>> ember.nn.utils.clip_grad_norm_(w, max_norm=10.0, norm_type=math.inf).item()
        3.0
        >>> w.grad
        tensor([ 1., -3.])
    """
    norm_type = float(norm_type)
    max_norm = float(max_norm)
    grads = _grads(parameters, "clip_grad_norm_")
    if not grads:
        return tensor(0.0)
    xp = backend_of(grads[0].data).xp
    dtype = grads[0].data.dtype
    norms = xp.stack([_vector_norm(xp, g.data, norm_type).astype(dtype) for g in grads])
    total = _vector_norm(xp, norms, norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
            f"{float(total)}, so they cannot be clipped. To scale them by the non-finite norm "
            "anyway, pass error_if_nonfinite=False"
        )
    coef = min(max_norm / (float(total) + 1e-6), 1.0)
    # a non-finite norm gives coef 0 and inf * 0 = nan, as in PyTorch: no warning for that
    quiet = xp.errstate(invalid="ignore") if hasattr(xp, "errstate") else nullcontext()
    with quiet:
        for g in grads:
            xp.multiply(g.data, coef, out=g.data, casting="unsafe")
            g._version[0] += 1
    return Tensor(xp.asarray(total))


def clip_grad_value_(parameters: Iterable[Tensor] | Tensor, clip_value: float) -> None:
    """Clamp every gradient element into ``[-clip_value, clip_value]``; in place.

    Example:
        >>> import ember
        >>> w = ember.zeros(3, requires_grad=True)
        >>> w.grad = ember.tensor([-5.0, 0.5, 2.0])
        >>> ember.nn.utils.clip_grad_value_([w], clip_value=1.0)
        >>> w.grad
        tensor([-1. ,  0.5,  1. ])
    """
    clip_value = float(clip_value)
    if clip_value < 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    for g in _grads(parameters, "clip_grad_value_"):
        xp = backend_of(g.data).xp
        xp.clip(g.data, -clip_value, clip_value, out=g.data)
        g._version[0] += 1
