"""A subclass that forgets the method it must define is told which one."""

from __future__ import annotations

import pytest

import ember
from ember import keras
from ember.optim.lr_scheduler.base import LRScheduler


def test_keras_bases_name_the_missing_method():
    class M(keras.metrics.Metric):
        pass

    class L(keras.losses.Loss):
        pass

    class I(keras.initializers.Initializer):  # noqa: E742
        pass

    with pytest.raises(NotImplementedError, match="M must define update_state"):
        M().update_state(ember.ones(1), ember.ones(1))
    with pytest.raises(NotImplementedError, match="M must define result"):
        M().result()
    with pytest.raises(NotImplementedError, match=r"L must define call\(y_true, y_pred\)"):
        L().call(ember.ones(1), ember.ones(1))
    with pytest.raises(NotImplementedError, match=r"I must define __call__\(weight\)"):
        I()(ember.ones(1))


def test_custom_function_and_scheduler_name_the_missing_method():
    class F(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

    x = ember.ones(2, requires_grad=True)
    with pytest.raises(NotImplementedError, match="must define backward"):
        F.apply(x).sum().backward()

    class S(LRScheduler):
        pass

    opt = ember.optim.SGD([ember.nn.Parameter(ember.ones(1))], lr=0.1)
    with pytest.raises(NotImplementedError, match="S must define get_lr"):
        S(opt)
