"""Keras optimisers: Keras's names and defaults, each driving an ``ember.optim`` optimiser.

A Keras optimiser is created before the model has weights (``compile(optimizer="adam")``),
so it holds its hyper-parameters and builds the ``ember.optim`` optimiser over the model's
parameters on the first ``fit``. The update formulas are ember.optim's (PyTorch's); Keras's
``epsilon`` maps to ``eps``, ``rho`` to RMSprop's ``alpha``. ``weight_decay`` is decoupled
(``w -= lr * weight_decay * w`` before the step), as in Keras; ``clipnorm``/
``global_clipnorm``/``clipvalue`` clip the gradients first with ``ember.nn.utils``.

Example:
    >>> import ember
    >>> from ember.keras import optimizers
    >>> opt = optimizers.get("adam")
    >>> w = ember.nn.Parameter(ember.ones(2))
    >>> opt.build([w])
    >>> (w * w).sum().backward(); opt.step()
    >>> opt.iterations, [round(v, 3) for v in w.tolist()]
    (1, [0.999, 0.999])
"""

from __future__ import annotations

import math

from .. import optim
from ..autograd.grad_mode import no_grad
from ..nn.utils import clip_grad_norm_, clip_grad_value_

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "get", "serialize",
           "OPTIMIZERS", "schedules"]


class _Schedules:
    """``optimizers.schedules``: learning rate as a function of the step count."""

    class LearningRateSchedule:
        def __call__(self, step: int) -> float:
            raise NotImplementedError(f"{type(self).__name__} must define __call__(step)")

        def get_config(self) -> dict:
            return dict(self.__dict__)

    class ExponentialDecay(LearningRateSchedule):
        """``initial * decay_rate ** (step / decay_steps)`` (floored with ``staircase``)."""

        def __init__(self, initial_learning_rate: float, decay_steps: int, decay_rate: float,
                     staircase: bool = False) -> None:
            self.initial_learning_rate = float(initial_learning_rate)
            self.decay_steps, self.decay_rate = int(decay_steps), float(decay_rate)
            self.staircase = bool(staircase)

        def __call__(self, step: int) -> float:
            p = step / self.decay_steps
            return self.initial_learning_rate * self.decay_rate ** (
                math.floor(p) if self.staircase else p)

    class CosineDecay(LearningRateSchedule):
        """Cosine from ``initial`` down to ``alpha * initial`` over ``decay_steps``."""

        def __init__(self, initial_learning_rate: float, decay_steps: int,
                     alpha: float = 0.0) -> None:
            self.initial_learning_rate = float(initial_learning_rate)
            self.decay_steps, self.alpha = int(decay_steps), float(alpha)

        def __call__(self, step: int) -> float:
            p = min(step, self.decay_steps) / self.decay_steps
            cosine = 0.5 * (1 + math.cos(math.pi * p))
            return self.initial_learning_rate * ((1 - self.alpha) * cosine + self.alpha)

    class PiecewiseConstantDecay(LearningRateSchedule):
        """``values[i]`` while ``step <= boundaries[i]`` (``values[-1]`` after the last)."""

        def __init__(self, boundaries: list, values: list) -> None:
            if len(values) != len(boundaries) + 1:
                raise ValueError("PiecewiseConstantDecay: need one more value than boundaries")
            self.boundaries, self.values = list(boundaries), [float(v) for v in values]

        def __call__(self, step: int) -> float:
            for b, v in zip(self.boundaries, self.values):
                if step <= b:
                    return v
            return self.values[-1]


schedules = _Schedules


class Optimizer:
    """Base of the Keras optimisers; subclasses name their ``ember.optim`` class and map args.

    Args:
        learning_rate: a float or an ``optimizers.schedules`` schedule.
        weight_decay: decoupled weight decay, or None.
        clipnorm, global_clipnorm, clipvalue: gradient clipping before each step.
    """

    ember_class: type = optim.Optimizer
    default_lr = 0.001

    def __init__(self, learning_rate=None, weight_decay: float | None = None,
                 clipnorm: float | None = None, clipvalue: float | None = None,
                 global_clipnorm: float | None = None, name: str | None = None) -> None:
        lr = self.default_lr if learning_rate is None else learning_rate
        self._schedule = lr if isinstance(lr, schedules.LearningRateSchedule) else None
        if self._schedule is None and not float(lr) > 0:
            raise ValueError(f"{type(self).__name__}: learning_rate must be positive, got {lr!r}")
        self._lr = self._schedule(0) if self._schedule else float(lr)
        self.weight_decay = weight_decay
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.name = name or type(self).__name__.lower()
        self.iterations = 0
        self.inner: optim.Optimizer | None = None
        self._params: list = []

    def _ember_kwargs(self) -> dict:
        return {}

    def build(self, params) -> None:
        """Create the ``ember.optim`` optimiser over ``params`` (the trainable ones)."""
        self._params = list(params)
        self.inner = self.ember_class(self._params, lr=self._lr, **self._ember_kwargs())

    @property
    def built(self) -> bool:
        return self.inner is not None

    @property
    def learning_rate(self) -> float:
        return self.inner.param_groups[0]["lr"] if self.inner is not None else self._lr

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self._lr = float(value)
        if self.inner is not None:
            for group in self.inner.param_groups:
                group["lr"] = self._lr

    lr = learning_rate

    def zero_grad(self) -> None:
        self.inner.zero_grad()

    def step(self) -> None:
        """Clip, apply weight decay and update the parameters from their ``.grad``."""
        if self.inner is None:
            raise RuntimeError(f"{type(self).__name__}: build(params) before step()")
        if self._schedule is not None:
            self.learning_rate = self._schedule(self.iterations)
        params = [p for p in self._params if p.grad is not None]
        if self.clipvalue is not None:
            clip_grad_value_(params, self.clipvalue)
        if self.global_clipnorm is not None:
            clip_grad_norm_(params, self.global_clipnorm)
        if self.clipnorm is not None:
            for p in params:
                clip_grad_norm_([p], self.clipnorm)
        if self.weight_decay and self.ember_class is not optim.AdamW:
            with no_grad():
                for p in params:
                    p.mul_(1.0 - self.learning_rate * self.weight_decay)
        self.inner.step()
        self.iterations += 1

    def state_dict(self) -> dict:
        """The ember.optim state plus Keras's iteration counter."""
        return {"optimizer": self.inner.state_dict(), "iterations": self.iterations}

    def load_state_dict(self, state: dict) -> None:
        self.inner.load_state_dict(state["optimizer"])
        self.iterations = int(state["iterations"])

    def get_config(self) -> dict:
        if self._schedule is not None:
            raise ValueError("an optimizer with a learning-rate schedule cannot be saved to a "
                             "config yet; pass a float learning_rate")
        config = {"name": self.name, "learning_rate": self._lr,
                  "weight_decay": self.weight_decay}
        for key in ("clipnorm", "clipvalue", "global_clipnorm"):
            if getattr(self, key) is not None:
                config[key] = getattr(self, key)
        return config

    @classmethod
    def from_config(cls, config: dict) -> Optimizer:
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} learning_rate={self.learning_rate}>"


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum; ``ember.optim.SGD``."""

    ember_class = optim.SGD
    default_lr = 0.01

    def __init__(self, learning_rate=0.01, momentum: float = 0.0, nesterov: bool = False,
                 **kwargs) -> None:
        super().__init__(learning_rate, **kwargs)
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def _ember_kwargs(self) -> dict:
        return {"momentum": self.momentum, "nesterov": self.nesterov}

    def get_config(self) -> dict:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam (Keras's defaults: lr 0.001, epsilon 1e-7); ``ember.optim.Adam``."""

    ember_class = optim.Adam

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False, **kwargs) -> None:
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)
        self.epsilon, self.amsgrad = float(epsilon), bool(amsgrad)

    def _ember_kwargs(self) -> dict:
        return {"betas": (self.beta_1, self.beta_2), "eps": self.epsilon,
                "amsgrad": self.amsgrad}

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (Keras's default 0.004); ``ember.optim.AdamW``."""

    ember_class = optim.AdamW

    def __init__(self, learning_rate=0.001, weight_decay: float = 0.004, **kwargs) -> None:
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)

    def _ember_kwargs(self) -> dict:
        return {**super()._ember_kwargs(), "weight_decay": float(self.weight_decay)}


class RMSprop(Optimizer):
    """RMSprop (``rho`` is ember.optim's ``alpha``); ``ember.optim.RMSprop``."""

    ember_class = optim.RMSprop

    def __init__(self, learning_rate=0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, centered: bool = False, **kwargs) -> None:
        super().__init__(learning_rate, **kwargs)
        self.rho, self.momentum = float(rho), float(momentum)
        self.epsilon, self.centered = float(epsilon), bool(centered)

    def _ember_kwargs(self) -> dict:
        return {"alpha": self.rho, "momentum": self.momentum, "eps": self.epsilon,
                "centered": self.centered}

    def get_config(self) -> dict:
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


class Adagrad(Optimizer):
    """Adagrad (Keras's defaults: initial accumulator 0.1); ``ember.optim.Adagrad``."""

    ember_class = optim.Adagrad

    def __init__(self, learning_rate=0.001, initial_accumulator_value: float = 0.1,
                 epsilon: float = 1e-7, **kwargs) -> None:
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)

    def _ember_kwargs(self) -> dict:
        return {"initial_accumulator_value": self.initial_accumulator_value,
                "eps": self.epsilon}

    def get_config(self) -> dict:
        return {**super().get_config(),
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


OPTIMIZERS: dict[str, type] = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop,
                               "adagrad": Adagrad}


def get(identifier) -> Optimizer:
    """A Keras optimiser from a name (``"adam"``), a config dict or an instance.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        cls = OPTIMIZERS.get(identifier.lower())
        if cls is None:
            raise ValueError(f"unknown optimizer {identifier!r}; known optimizers: "
                             + ", ".join(sorted(OPTIMIZERS)))
        return cls()
    if isinstance(identifier, dict):
        cls = get(identifier["class_name"]).__class__
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, optim.Optimizer):
        return _Wrapped(identifier)
    raise TypeError(f"optimizer must be a name, a Keras optimizer or an ember.optim optimizer, "
                    f"got {type(identifier).__name__}")


class _Wrapped(Optimizer):
    """An ``ember.optim`` optimiser the user built over the parameters already."""

    def __init__(self, inner: optim.Optimizer) -> None:
        super().__init__(inner.param_groups[0]["lr"])
        self.inner = inner
        self._params = [p for g in inner.param_groups for p in g["params"]]
        self.name = type(inner).__name__.lower()

    def build(self, params) -> None:
        return None

    def get_config(self) -> dict:
        raise ValueError("an ember.optim optimizer given to compile() cannot be saved to a "
                         "config; use a Keras optimizer (e.g. 'adam')")


def serialize(opt: Optimizer) -> dict:
    return {"class_name": type(opt).__name__, "config": opt.get_config()}
