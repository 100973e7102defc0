"""``SGD``: stochastic gradient descent with momentum, dampening, Nesterov and weight decay.

Example:
    >>> import ember
    >>> w = ember.tensor([1.0, 2.0], requires_grad=True)
    >>> opt = ember.optim.SGD([w], lr=0.1, momentum=0.9, nesterov=True)
    >>> (w ** 2).sum().backward()
    >>> opt.step()
    >>> w
    tensor([0.62, 1.24], requires_grad=True)
"""

from __future__ import annotations

from collections.abc import Iterable

from ..ops.creation import zeros
from .optimizer import Optimizer

__all__ = ["SGD"]


def effective_grad(xp, p, g, weight_decay: float, maximize: bool, out):
    """The gradient with L2 weight decay and the sign of ``maximize`` applied (into ``out``)."""
    if weight_decay:
        xp.multiply(p, weight_decay, out=out)
        (xp.subtract if maximize else xp.add)(out, g, out=out)
        return out
    if maximize:
        return xp.negative(g, out=out)
    return g


class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with (Nesterov) momentum.

    With ``g`` the gradient (plus ``weight_decay * p``), the momentum buffer
    ``b = momentum * b + (1 - dampening) * g`` (``b = g`` on the first step), and the update
    ``p -= lr * (g + momentum * b if nesterov else b)``, as in PyTorch.

    Args:
        params: tensors or parameter groups to optimize.
        lr: learning rate (default 1e-3).
        momentum: momentum factor (default 0).
        dampening: dampening of the momentum (default 0).
        weight_decay: L2 penalty added to the gradient (default 0).
        nesterov: use Nesterov momentum (needs momentum > 0 and zero dampening).
        maximize: maximize the objective instead of minimizing it.

    Example:
        >>> import ember
        >>> w = ember.tensor([1.0], requires_grad=True)
        >>> opt = ember.optim.SGD([w], lr=0.5)
        >>> (3 * w).sum().backward()
        >>> opt.step()
        >>> w.item()
        -0.5
    """

    _buffers = ("momentum_buffer",)
    _n_scratch = 2

    def __init__(self, params: Iterable, lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
                 *, maximize: bool = False) -> None:
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        super()._check_group(group)
        if group["momentum"] < 0:
            raise ValueError(f"SGD: invalid momentum value {group['momentum']}; it must be >= 0")
        if group["weight_decay"] < 0:
            raise ValueError(f"SGD: invalid weight_decay value {group['weight_decay']}; "
                             "it must be >= 0")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum > 0 and zero dampening")

    def _coefficients(self, p, group: dict, state: dict) -> tuple:
        momentum = group["momentum"]
        first = False
        if momentum != 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = zeros(*p.shape, dtype=p.dtype, device=p.device)
            first = True  # PyTorch starts the buffer at the first gradient itself
        return (group["lr"], group["weight_decay"], group["maximize"], momentum,
                1.0 - group["dampening"], group["nesterov"], first)

    @staticmethod
    def _update(xp, c: tuple, p, g, bufs: tuple, s: list) -> None:
        lr, weight_decay, maximize, momentum, damp, nesterov, first = c
        g = effective_grad(xp, p, g, weight_decay, maximize, s[1])
        t = s[0]
        if momentum != 0:
            buf = bufs[0]
            if first:
                xp.copyto(buf, g)
            else:
                xp.multiply(buf, momentum, out=buf)
                if damp == 1.0:
                    xp.add(buf, g, out=buf)
                else:
                    xp.multiply(g, damp, out=t)
                    xp.add(buf, t, out=buf)
            if nesterov:
                xp.multiply(buf, momentum, out=t)
                xp.add(t, g, out=t)
                g = t
            else:
                g = buf
        xp.multiply(g, -lr, out=t)
        xp.add(p, t, out=p)
