"""``LRScheduler``, the base of the learning-rate schedules, and the schedules built on others.

A scheduler changes ``group["lr"]`` of an optimiser's groups each time ``step()`` is called
(once per epoch or per batch, after ``optimizer.step()``), with PyTorch's formulas: most
schedules multiply the current rate ("chainable"), so several may act on one optimiser.

Example:
    >>> import ember
    >>> opt = ember.optim.SGD([ember.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = ember.optim.lr_scheduler.LambdaLR(opt, lambda epoch: 1 / (epoch + 1))
    >>> for _ in range(3):
    ...     opt.step()
    ...     sched.step()
    >>> sched.get_last_lr()
    [0.25]
"""

from __future__ import annotations

import types
import warnings
from bisect import bisect_right
from collections.abc import Callable
from typing import Any

from ..optimizer import Optimizer

__all__ = ["LRScheduler", "LambdaLR", "MultiplicativeLR", "SequentialLR", "ChainedScheduler"]


class LRScheduler:
    """Base class of the learning-rate schedules.

    A subclass implements ``get_lr()`` (the new rates from the current ones, at
    ``self.last_epoch``) and may implement ``_get_closed_form_lr()`` (the rates at any epoch
    from ``base_lrs``), used when ``step(epoch)`` is given an epoch.

    Args:
        optimizer: the optimiser whose groups' ``lr`` it sets.
        last_epoch: the index of the last epoch when resuming (-1 starts afresh; otherwise
            every group needs its ``initial_lr``).
    """

    _get_lr_called_within_step = False
    _is_initial = False

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: {type(optimizer).__name__} is not an "
                            "ember Optimizer")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"{type(self).__name__}: param 'initial_lr' is not specified in "
                        f"param_groups[{i}] when resuming with last_epoch={last_epoch}; load "
                        "the optimizer's state_dict first, or start with last_epoch=-1"
                    )
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's state: every attribute except the optimiser (plain values only)."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state written by ``state_dict``."""
        self.__dict__.update(state_dict)

    def get_last_lr(self) -> list[float]:
        """The learning rates the last ``step()`` set, one per parameter group."""
        return self._last_lr

    def get_lr(self) -> list[float]:
        """The learning rates for the current epoch (called by ``step``)."""
        raise NotImplementedError(f"{type(self).__name__} must define get_lr()")

    def _warn_if_outside_step(self) -> None:
        if not self._get_lr_called_within_step:
            warnings.warn("To get the last learning rate computed by the scheduler, please use "
                          "`get_last_lr()`.", UserWarning, stacklevel=3)

    def step(self, epoch: int | None = None) -> None:
        """Advance one epoch (or jump to ``epoch``, using the closed form) and set the rates."""
        if self._step_count == 1 and not getattr(self.optimizer, "_opt_called", False):
            warnings.warn(
                "Detected call of `lr_scheduler.step()` before `optimizer.step()`. Call "
                "`optimizer.step()` first, or the first value of the schedule is skipped.",
                UserWarning, stacklevel=2)
        self._step_count += 1
        self._update_lr(epoch)

    def _update_lr(self, epoch: int | None = None) -> None:
        self._get_lr_called_within_step = True
        try:
            if epoch is None:
                self.last_epoch += 1
                values = self.get_lr()
            else:
                self.last_epoch = epoch
                closed = getattr(self, "_get_closed_form_lr", None)
                values = closed() if closed is not None else self.get_lr()
        finally:
            self._get_lr_called_within_step = False
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _group_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]


_PLAIN_FUNCTIONS = (types.FunctionType, types.MethodType, types.BuiltinFunctionType)


def _lambdas(name: str, optimizer: Optimizer, lr_lambda) -> list[Callable[[int], float]]:
    n = len(optimizer.param_groups)
    fns = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * n
    if len(fns) != n:
        raise ValueError(f"{name}: expected {n} lr_lambdas (one per parameter group), "
                         f"got {len(fns)}")
    for fn in fns:
        if not callable(fn):
            raise TypeError(f"{name}: lr_lambda should be a function, got {type(fn).__name__}")
    return fns


class LambdaLR(LRScheduler):
    """Set each group's rate to its initial rate times ``lr_lambda(epoch)``.

    Args:
        optimizer: the wrapped optimiser.
        lr_lambda: a function of the epoch, or a list of them (one per group).
        last_epoch: the index of the last epoch when resuming.

    The functions are not part of ``state_dict`` (only callable objects' attributes are).

    Example:
        >>> import ember
        >>> opt = ember.optim.SGD([ember.zeros(1, requires_grad=True)], lr=0.1)
        >>> sched = ember.optim.lr_scheduler.LambdaLR(opt, lambda e: 0.5 ** e)
        >>> opt.step(); sched.step(); sched.get_last_lr()
        [0.05]
    """

    def __init__(self, optimizer: Optimizer, lr_lambda, last_epoch: int = -1) -> None:
        self.optimizer = optimizer
        self.lr_lambdas = _lambdas(type(self).__name__, optimizer, lr_lambda)
        super().__init__(optimizer, last_epoch)

    def state_dict(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = [
            None if isinstance(fn, _PLAIN_FUNCTIONS) or not hasattr(fn, "__dict__")
            else dict(fn.__dict__) for fn in self.lr_lambdas
        ]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        fns = state.pop("lr_lambdas", [None] * len(self.lr_lambdas))
        self.__dict__.update(state)
        for fn, attrs in zip(self.lr_lambdas, fns):
            if attrs is not None:
                fn.__dict__.update(attrs)

    def get_lr(self) -> list[float]:
        self._warn_if_outside_step()
        return [base * fn(self.last_epoch) for fn, base in zip(self.lr_lambdas, self.base_lrs)]


class MultiplicativeLR(LambdaLR):
    """Multiply each group's rate by ``lr_lambda(epoch)`` at every step.

    Example:
        >>> import ember
        >>> opt = ember.optim.SGD([ember.zeros(1, requires_grad=True)], lr=1.0)
        >>> sched = ember.optim.lr_scheduler.MultiplicativeLR(opt, lambda e: 0.5)
        >>> opt.step(); sched.step(); opt.step(); sched.step(); sched.get_last_lr()
        [0.25]
    """

    def get_lr(self) -> list[float]:
        self._warn_if_outside_step()
        if self._is_initial:
            return self._group_lrs()
        return [g["lr"] * fn(self.last_epoch)
                for fn, g in zip(self.lr_lambdas, self.optimizer.param_groups)]


def _check_members(name: str, optimizer: Optimizer, schedulers) -> None:
    if len(schedulers) < 1:
        raise ValueError(f"{name} expects at least one scheduler, got none")
    from .plateau import ReduceLROnPlateau

    for i, s in enumerate(schedulers):
        if not isinstance(s, LRScheduler):
            raise TypeError(f"{name}: scheduler {i} is a {type(s).__name__}, not an "
                            "LRScheduler")
        if isinstance(s, ReduceLROnPlateau):
            raise ValueError(f"{name} does not support ReduceLROnPlateau (scheduler {i}): its "
                             "step() needs the metric; step it yourself")
        if s.optimizer is not optimizer:
            raise ValueError(f"{name} expects all schedulers to belong to the same optimizer, "
                             f"but scheduler {i} ({type(s).__name__}) has another one")


class SequentialLR(LRScheduler):
    """Run one schedule after another, switching at the given epochs (e.g. warm-up, decay).

    Args:
        optimizer: the wrapped optimiser.
        schedulers: the schedules, in order.
        milestones: the epochs at which the next schedule takes over (one fewer than
            schedulers); each starts from its own epoch 0 there.
        last_epoch: the index of the last epoch when resuming.

    Example:
        >>> import ember
        >>> from ember.optim import lr_scheduler as ls
        >>> opt = ember.optim.SGD([ember.zeros(1, requires_grad=True)], lr=1.0)
        >>> warm = ls.LinearLR(opt, start_factor=0.5, total_iters=2)
        >>> decay = ls.ExponentialLR(opt, gamma=0.5)
        >>> sched = ls.SequentialLR(opt, [warm, decay], milestones=[2])
        >>> lrs = []
        >>> for _ in range(4):
        ...     lrs.append(sched.get_last_lr()[0]); opt.step(); sched.step()
        >>> lrs
        [0.5, 0.75, 1.0, 0.5]
    """

    def __init__(self, optimizer: Optimizer, schedulers: list, milestones: list[int],
                 last_epoch: int = -1) -> None:
        _check_members("SequentialLR", optimizer, schedulers)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                "SequentialLR expects one more scheduler than milestones, got "
                f"{len(schedulers)} schedulers and {len(milestones)} milestones"
            )
        self._schedulers = list(schedulers)
        self._milestones = list(milestones)
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in optimizer.param_groups:  # undo the steps the schedulers took at creation
            group["lr"] = group["initial_lr"]
        for s in self._schedulers:
            _undo(s)
        idx = bisect_right(self._milestones, 0)
        self._schedulers[idx]._initial_step()
        self._last_lr = self._schedulers[idx].get_last_lr()

    def step(self) -> None:  # type: ignore[override]
        """Advance one epoch in the schedule that is active now."""
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            scheduler._update_lr(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        members = state.pop("_schedulers")
        self.__dict__.update(state)
        for s, sd in zip(self._schedulers, members):
            s.load_state_dict(sd)


def _undo(scheduler) -> None:
    if hasattr(scheduler, "_schedulers"):
        for s in scheduler._schedulers:
            _undo(s)
    else:
        scheduler.last_epoch -= 1


class ChainedScheduler(LRScheduler):
    """Step several chainable schedules together, each multiplying the rate in turn.

    Example:
        >>> import ember
        >>> from ember.optim import lr_scheduler as ls
        >>> opt = ember.optim.SGD([ember.zeros(1, requires_grad=True)], lr=1.0)
        >>> sched = ls.ChainedScheduler([ls.ExponentialLR(opt, 0.5), ls.StepLR(opt, 2, 0.1)])
        >>> for _ in range(2):
        ...     opt.step(); sched.step()
        >>> [round(x, 6) for x in sched.get_last_lr()]
        [0.025]
    """

    def __init__(self, schedulers: list, optimizer: Optimizer | None = None) -> None:
        if not schedulers:
            raise ValueError("ChainedScheduler expects at least one scheduler, got none")
        optimizer = optimizer or schedulers[0].optimizer
        _check_members("ChainedScheduler", optimizer, schedulers)
        self._schedulers = list(schedulers)
        self.optimizer = optimizer
        self._last_lr = self._group_lrs()

    def step(self) -> None:  # type: ignore[override]
        """Step every member schedule."""
        for s in self._schedulers:
            s.step()
        self._last_lr = self._group_lrs()

    state_dict = SequentialLR.state_dict
    load_state_dict = SequentialLR.load_state_dict
