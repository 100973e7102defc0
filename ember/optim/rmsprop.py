"""``RMSprop``: divide the gradient by a running root mean square of its recent values.

Example:
    >>> import ember
    >>> w = ember.tensor([1.0, -1.0], requires_grad=True)
    >>> opt = ember.optim.RMSprop([w], lr=0.01)
    >>> (w ** 2).sum().backward()
    >>> opt.step()
    >>> w
    tensor([ 0.9, -0.9], requires_grad=True)
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from ..ops.creation import zeros
from .optimizer import Optimizer
from .sgd import effective_grad

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSprop (Hinton), with PyTorch's formulas: optional momentum and centering.

    ``v = alpha v + (1 - alpha) g^2``; centered: ``a = alpha a + (1 - alpha) g`` and the
    denominator is ``sqrt(v - a^2) + eps``, else ``sqrt(v) + eps``. Without momentum
    ``p -= lr * g / denom``; with it ``b = momentum b + g / denom`` and ``p -= lr * b``.

    Args:
        params: tensors or parameter groups to optimize.
        lr: learning rate (default 1e-2).
        alpha: smoothing constant of the squared-gradient average (default 0.99).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty (default 0).
        momentum: momentum factor (default 0).
        centered: normalise by an estimate of the gradient's variance.
        maximize: maximize the objective instead of minimizing it.

    Example:
        >>> import ember
        >>> w = ember.tensor([3.0], requires_grad=True)
        >>> opt = ember.optim.RMSprop([w], lr=0.1, alpha=0.0)
        >>> (w * w).sum().backward()
        >>> opt.step()
        >>> round(w.item(), 4)
        2.9
    """

    _buffers = ("square_avg", "momentum_buffer", "grad_avg")
    _n_scratch = 2

    def __init__(self, params: Iterable, lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False, *, maximize: bool = False) -> None:
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        super()._check_group(group)
        for key in ("eps", "momentum", "weight_decay", "alpha"):
            if not group[key] >= 0.0:
                raise ValueError(f"RMSprop: invalid {key} value {group[key]}; it must be >= 0")

    def _new_state(self, p, group: dict) -> dict:
        return {"step": 0, "square_avg": zeros(*p.shape, dtype=p.dtype, device=p.device)}

    def _coefficients(self, p, group: dict, state: dict) -> tuple:
        # the order of the buffers follows _buffers: square_avg, momentum_buffer, grad_avg
        momentum, centered = group["momentum"], group["centered"]
        if momentum > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = zeros(*p.shape, dtype=p.dtype, device=p.device)
        if centered and "grad_avg" not in state:
            state["grad_avg"] = zeros(*p.shape, dtype=p.dtype, device=p.device)
        state["step"] += 1
        alpha = group["alpha"]
        return (alpha, math.sqrt(1.0 - alpha), group["eps"], group["lr"], momentum,
                "momentum_buffer" in state, centered, group["weight_decay"], group["maximize"])

    @staticmethod
    def _update(xp, c: tuple, p, g, bufs: tuple, s: list) -> None:
        alpha, g_coef, eps, lr, momentum, has_buf, centered, wd, maximize = c
        g = effective_grad(xp, p, g, wd, maximize, s[1])
        t = s[0]
        square_avg = bufs[0]
        xp.multiply(g, g_coef, out=t)
        xp.square(t, out=t)
        xp.multiply(square_avg, alpha, out=square_avg)
        xp.add(square_avg, t, out=square_avg)
        if centered:
            grad_avg = bufs[2] if has_buf else bufs[1]
            xp.multiply(grad_avg, alpha, out=grad_avg)
            xp.multiply(g, 1.0 - alpha, out=t)
            xp.add(grad_avg, t, out=grad_avg)
            xp.multiply(grad_avg, grad_avg, out=t)
            xp.subtract(square_avg, t, out=t)
            xp.sqrt(t, out=t)
        else:
            xp.sqrt(square_avg, out=t)
        xp.add(t, eps, out=t)
        xp.divide(g, t, out=t)
        if momentum > 0:
            buf = bufs[1]
            xp.multiply(buf, momentum, out=buf)
            xp.add(buf, t, out=buf)
            xp.multiply(buf, -lr, out=t)
        else:
            xp.multiply(t, -lr, out=t)
        xp.add(p, t, out=p)
