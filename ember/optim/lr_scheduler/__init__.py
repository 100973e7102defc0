"""``ember.optim.lr_scheduler``: learning-rate schedules with PyTorch's names and formulas.

Call ``scheduler.step()`` after ``optimizer.step()``: once per epoch for most schedules,
once per batch for ``OneCycleLR``, and with the monitored metric for ``ReduceLROnPlateau``.

Example:
    >>> import ember
    >>> from ember.optim.lr_scheduler import ExponentialLR
    >>> opt = ember.optim.SGD([ember.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = ExponentialLR(opt, gamma=0.9)
    >>> opt.step(); sched.step(); sched.get_last_lr()
    [0.9]
"""

from __future__ import annotations

from .base import ChainedScheduler, LambdaLR, LRScheduler, MultiplicativeLR, SequentialLR
from .decay import (
    ConstantLR,
    CosineAnnealingLR,
    ExponentialLR,
    LinearLR,
    MultiStepLR,
    PolynomialLR,
    StepLR,
)
from .one_cycle import OneCycleLR
from .plateau import ReduceLROnPlateau

__all__ = ["LRScheduler", "LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR",
           "ExponentialLR", "CosineAnnealingLR", "LinearLR", "ConstantLR", "PolynomialLR",
           "OneCycleLR", "SequentialLR", "ChainedScheduler", "ReduceLROnPlateau"]
