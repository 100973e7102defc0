"""``Adam`` and ``AdamW``: adaptive moment estimation, with L2 or decoupled weight decay.

Example:
    >>> import ember
    >>> w = ember.tensor([1.0, -1.0], requires_grad=True)
    >>> opt = ember.optim.Adam([w], lr=0.1)
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

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    r"""Adam (Kingma & Ba), optionally AMSGrad, with PyTorch's formulas and defaults.

    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``, and
    ``p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``, where ``g`` includes the
    L2 term ``weight_decay * p`` (Adam) or ``p`` first shrinks by ``1 - lr * weight_decay``
    (AdamW). AMSGrad uses the running maximum of ``v``.

    Args:
        params: tensors or parameter groups to optimize.
        lr: learning rate (default 1e-3).
        betas: decay rates of the first and second moment (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty (default 0).
        amsgrad: use the AMSGrad variant.
        maximize: maximize the objective instead of minimizing it.
        decoupled_weight_decay: apply weight decay to the parameter directly, as AdamW does.

    Example:
        >>> import ember
        >>> w = ember.tensor([2.0], requires_grad=True)
        >>> opt = ember.optim.Adam([w], lr=0.5, amsgrad=True)
        >>> (w * w).sum().backward()
        >>> opt.step()
        >>> round(w.item(), 4)
        1.5
    """

    _buffers = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    _n_scratch = 2

    def __init__(self, params: Iterable, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        super()._check_group(group)
        name = type(self).__name__
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
        for i, b in enumerate(betas):
            if not 0.0 <= b < 1.0:
                raise ValueError(f"{name}: invalid beta parameter at index {i}: {b}; "
                                 "it must be in [0, 1)")
        if not group["eps"] >= 0.0:
            raise ValueError(f"{name}: invalid epsilon value {group['eps']}; it must be >= 0")
        if not group["weight_decay"] >= 0.0:
            raise ValueError(f"{name}: invalid weight_decay value {group['weight_decay']}; "
                             "it must be >= 0")

    def _new_state(self, p, group: dict) -> dict:
        state = {"step": 0,
                 "exp_avg": zeros(*p.shape, dtype=p.dtype, device=p.device),
                 "exp_avg_sq": zeros(*p.shape, dtype=p.dtype, device=p.device)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = zeros(*p.shape, dtype=p.dtype, device=p.device)
        return state

    def _coefficients(self, p, group: dict, state: dict) -> tuple:
        if group["amsgrad"] and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = zeros(*p.shape, dtype=p.dtype, device=p.device)
        step = state["step"] = state["step"] + 1
        beta1, beta2 = group["betas"]
        lr, wd = group["lr"], group["weight_decay"]
        decay = 1.0
        if group["decoupled_weight_decay"]:
            decay, wd = 1.0 - lr * wd, 0.0
        # m / (sqrt(v) / s + eps) == s * m / (sqrt(v) + eps * s), with s = sqrt(1 - beta2^t)
        s = (1.0 - beta2 ** step) ** 0.5  # also a tensor expression while tracing
        step_size = lr / (1.0 - beta1 ** step) * s
        # maximize without L2 decay flips the sign of g in m only (v sees g^2)
        m_coef = -(1.0 - beta1) if group["maximize"] and not wd else 1.0 - beta1
        return (beta1, beta2, m_coef, math.sqrt(1.0 - beta2), group["eps"] * s, -step_size,
                wd, group["maximize"], decay, group["amsgrad"])

    @staticmethod
    def _update(xp, c: tuple, p, g, bufs: tuple, s: list) -> None:
        beta1, beta2, m_coef, g_coef, eps, neg_step, wd, maximize, decay, amsgrad = c
        m, v = bufs[0], bufs[1]
        t = s[0]
        if decay != 1.0:
            xp.multiply(p, decay, out=p)
        if wd:
            g = effective_grad(xp, p, g, wd, maximize, s[1])
        xp.multiply(g, m_coef, out=t)
        xp.multiply(m, beta1, out=m)
        xp.add(m, t, out=m)
        xp.multiply(t, g_coef / m_coef, out=t)  # in place is cheaper than g * g_coef
        xp.square(t, out=t)
        xp.multiply(v, beta2, out=v)
        xp.add(v, t, out=v)
        if amsgrad:
            xp.maximum(bufs[2], v, out=bufs[2])
            v = bufs[2]
        xp.sqrt(v, out=t)
        xp.add(t, eps, out=t)
        xp.divide(m, t, out=t)
        xp.multiply(t, neg_step, out=t)
        xp.add(p, t, out=p)


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter): ``p *= 1 - lr * weight_decay``.

    Args:
        params: tensors or parameter groups to optimize.
        lr: learning rate (default 1e-3).
        betas: decay rates of the moments (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        weight_decay: decoupled weight decay (default 1e-2).
        amsgrad: use the AMSGrad variant.
        maximize: maximize the objective instead of minimizing it.

    Example:
        >>> import ember
        >>> w = ember.tensor([1.0], requires_grad=True)
        >>> opt = ember.optim.AdamW([w], lr=0.1, weight_decay=0.5)
        >>> (0 * w).sum().backward()
        >>> opt.step()
        >>> round(w.item(), 4)
        0.95
    """

    def __init__(self, params: Iterable, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)
