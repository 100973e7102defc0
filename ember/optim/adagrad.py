"""``Adagrad``: per-coordinate learning rates from the sum of all past squared gradients.

Example:
    >>> import ember
    >>> w = ember.tensor([1.0, -1.0], requires_grad=True)
    >>> opt = ember.optim.Adagrad([w], lr=0.1)
    >>> (w ** 2).sum().backward()
    >>> opt.step()
    >>> w
    tensor([ 0.9, -0.9], requires_grad=True)
"""

from __future__ import annotations

from collections.abc import Iterable

from ..ops.creation import full
from .optimizer import Optimizer
from .sgd import effective_grad

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""Adagrad (Duchi et al.), with PyTorch's formulas and defaults.

    ``sum += g^2`` and ``p -= lr / (1 + (t - 1) lr_decay) * g / (sqrt(sum) + eps)``.
    The state exists from construction, as in PyTorch.

    Args:
        params: tensors or parameter groups to optimize.
        lr: learning rate (default 1e-2).
        lr_decay: learning-rate decay per step (default 0).
        weight_decay: L2 penalty (default 0).
        initial_accumulator_value: the starting value of ``sum`` (default 0).
        eps: added to the denominator (default 1e-10).
        maximize: maximize the objective instead of minimizing it.

    Example:
        >>> import ember
        >>> w = ember.tensor([2.0], requires_grad=True)
        >>> opt = ember.optim.Adagrad([w], lr=0.5)
        >>> (w * w).sum().backward()
        >>> opt.step()
        >>> round(w.item(), 4)
        1.5
    """

    _buffers = ("sum",)
    _n_scratch = 2

    def __init__(self, params: Iterable, lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, *, maximize: bool = False) -> None:
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value,
                        maximize=maximize)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p].update(self._new_state(p, group))

    def _check_group(self, group: dict) -> None:
        super()._check_group(group)
        for key in ("lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            if not group[key] >= 0.0:
                raise ValueError(f"Adagrad: invalid {key} value {group[key]}; it must be >= 0")

    def _new_state(self, p, group: dict) -> dict:
        init = group["initial_accumulator_value"]
        return {"step": 0, "sum": full(tuple(p.shape), init, dtype=p.dtype, device=p.device)}

    def _coefficients(self, p, group: dict, state: dict) -> tuple:
        step = state["step"] = state["step"] + 1
        clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        return (clr, group["eps"], group["weight_decay"], group["maximize"])

    @staticmethod
    def _update(xp, c: tuple, p, g, bufs: tuple, s: list) -> None:
        clr, eps, wd, maximize = c
        g = effective_grad(xp, p, g, wd, maximize, s[1])
        t, state_sum = s[0], bufs[0]
        xp.multiply(g, g, out=t)
        xp.add(state_sum, t, out=state_sum)
        xp.sqrt(state_sum, out=t)
        xp.add(t, eps, out=t)
        xp.divide(g, t, out=t)
        xp.multiply(t, -clr, out=t)
        xp.add(p, t, out=p)
