"""Keras losses, ``loss(y_true, y_pred, sample_weight=None)``, over ember.nn.functional.

Each loss computes one value per sample (the mean over the last axis for elementwise losses)
and reduces with Keras's ``"sum_over_batch_size"``: the (weighted) sum divided by the number
of values. With ``from_logits=False`` the probabilities are clipped to ``[1e-7, 1 - 1e-7]``
as in Keras -- unless they come straight from a ``softmax``/``sigmoid`` activation, in which
case the loss works on the logits (log-softmax), which is exact.

Example:
    >>> import ember
    >>> from ember.keras import losses
    >>> loss = losses.get("sparse_categorical_crossentropy")
    >>> round(loss(ember.tensor([0]), ember.tensor([[0.5, 0.5]])).item(), 4)
    0.6931
"""

from __future__ import annotations

from .. import nn
from ..errors import ShapeError
from ..nn import functional as F
from ..ops.creation import tensor as _tensor
from ..tensor import Tensor
from . import activations

__all__ = ["Loss", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
           "BinaryCrossentropy", "MeanSquaredError", "MeanAbsoluteError", "Huber",
           "KLDivergence", "LossFunctionWrapper", "get", "serialize", "LOSSES",
           "categorical_crossentropy", "sparse_categorical_crossentropy",
           "binary_crossentropy", "mean_squared_error", "mean_absolute_error"]

EPSILON = 1e-7
_REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "none", None)


def _fits(a: tuple, b: tuple) -> bool:
    """Equal shapes, where None (an unknown size, such as the batch) matches anything."""
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


def _as_tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else _tensor(x)


class Loss:
    """Base class: subclasses define ``call(y_true, y_pred)`` -> one value per sample."""

    default_name = "loss"

    def __init__(self, reduction: str | None = "sum_over_batch_size",
                 name: str | None = None) -> None:
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of "
                             f"{_REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction
        self.name = name or self.default_name

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define call(y_true, y_pred)")

    def check_labels(self, y_true_shape: tuple, y_true_integer: bool,
                     y_pred_shape: tuple) -> None:
        """Raise a ValueError when labels of this shape/kind cannot go with this loss."""
        if not _fits(tuple(y_true_shape), tuple(y_pred_shape)) and not (
                len(y_true_shape) + 1 == len(y_pred_shape) and y_pred_shape[-1] == 1):
            raise ShapeError(f"{self.name}: labels of shape {tuple(y_true_shape)} do not match "
                             f"predictions of shape {tuple(y_pred_shape)}")

    def _match(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        if y_true.ndim + 1 == y_pred.ndim and y_pred.shape[-1] == 1:
            y_true = y_true.unsqueeze(-1)
        if not y_true.dtype.is_floating_point or y_true.dtype != y_pred.dtype:
            y_true = y_true.to(y_pred.dtype)
        return y_true

    def __call__(self, y_true, y_pred: Tensor, sample_weight=None) -> Tensor:
        y_true = _as_tensor(y_true)
        self.check_labels(tuple(y_true.shape), not y_true.dtype.is_floating_point,
                          tuple(y_pred.shape))
        values = self.call(y_true, y_pred)
        if sample_weight is not None:
            w = _as_tensor(sample_weight).to(values.dtype)
            values = values * w.reshape(tuple(w.shape) + (1,) * (values.ndim - w.ndim))
        if self.reduction in ("none", None):
            return values
        total = values.sum()
        if self.reduction == "sum":
            return total
        return total / max(values.numel(), 1)

    def get_config(self) -> dict:
        return {"reduction": self.reduction, "name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> Loss:
        return cls(**config)


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy with integer class labels ``(batch,)`` and probabilities (or logits)
    ``(batch, classes)``; wraps ``ember.nn.functional.cross_entropy``/``nll_loss``."""

    default_name = "sparse_categorical_crossentropy"

    def __init__(self, from_logits: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.from_logits = bool(from_logits)

    def check_labels(self, y_true_shape, y_true_integer, y_pred_shape) -> None:
        n_pred = len(y_pred_shape)
        if len(y_true_shape) == n_pred and y_true_shape[-1] == y_pred_shape[-1] > 1:
            raise ValueError(
                f"{self.name} expects integer class ids of shape {tuple(y_pred_shape[:-1])}, got "
                f"labels of shape {tuple(y_true_shape)}, which look one-hot; use "
                "loss='categorical_crossentropy', or pass y.argmax(axis=-1)")
        ok = _fits(tuple(y_true_shape), tuple(y_pred_shape[:-1])) or (
            len(y_true_shape) == n_pred and y_true_shape[-1] == 1
            and _fits(tuple(y_true_shape[:-1]), tuple(y_pred_shape[:-1])))
        if not ok:
            raise ShapeError(f"{self.name}: labels of shape {tuple(y_true_shape)} do not fit "
                             f"predictions of shape {tuple(y_pred_shape)}; expected class ids "
                             f"of shape {tuple(y_pred_shape[:-1])}")

    def call(self, y_true, y_pred):
        return sparse_categorical_crossentropy(y_true, y_pred, self.from_logits)

    def get_config(self) -> dict:
        return {**super().get_config(), "from_logits": self.from_logits}


class CategoricalCrossentropy(Loss):
    """Cross-entropy with one-hot (or soft) labels ``(batch, classes)``."""

    default_name = "categorical_crossentropy"

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)

    def check_labels(self, y_true_shape, y_true_integer, y_pred_shape) -> None:
        if _fits(tuple(y_true_shape), tuple(y_pred_shape)):
            return
        hint = ""
        if _fits(tuple(y_true_shape), tuple(y_pred_shape[:-1])) or \
                _fits(tuple(y_true_shape), tuple(y_pred_shape[:-1]) + (1,)):
            hint = ("; these look like integer class ids: use "
                    "loss='sparse_categorical_crossentropy', or one-hot encode them with "
                    f"ember.keras.utils.to_categorical(y, {y_pred_shape[-1]})")
        raise ValueError(f"{self.name} expects one-hot labels of the predictions' shape "
                         f"{tuple(y_pred_shape)}, got labels of shape {tuple(y_true_shape)}"
                         + hint)

    def call(self, y_true, y_pred):
        y_true = self._match(y_true, y_pred)
        if self.label_smoothing:
            k = y_pred.shape[-1]
            y_true = y_true * (1.0 - self.label_smoothing) + self.label_smoothing / k
        return categorical_crossentropy(y_true, y_pred, self.from_logits)

    def get_config(self) -> dict:
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing}


class BinaryCrossentropy(Loss):
    """Binary cross-entropy on probabilities (or logits) of the positive class."""

    default_name = "binary_crossentropy"

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        y_true = self._match(y_true, y_pred)
        if self.label_smoothing:
            y_true = y_true * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        return binary_crossentropy(y_true, y_pred, self.from_logits)

    def get_config(self) -> dict:
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing}


class MeanSquaredError(Loss):
    """``mean((y_true - y_pred) ** 2)`` over the last axis."""

    default_name = "mean_squared_error"

    def call(self, y_true, y_pred):
        return mean_squared_error(self._match(y_true, y_pred), y_pred)


class MeanAbsoluteError(Loss):
    """``mean(|y_true - y_pred|)`` over the last axis."""

    default_name = "mean_absolute_error"

    def call(self, y_true, y_pred):
        return mean_absolute_error(self._match(y_true, y_pred), y_pred)


class Huber(Loss):
    """Quadratic for errors below ``delta``, linear above; mean over the last axis."""

    default_name = "huber_loss"

    def __init__(self, delta: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.delta = float(delta)

    def call(self, y_true, y_pred):
        y_true = self._match(y_true, y_pred)
        return F.huber_loss(y_pred, y_true, reduction="none", delta=self.delta).mean(dim=-1)

    def get_config(self) -> dict:
        return {**super().get_config(), "delta": self.delta}


class KLDivergence(Loss):
    """``sum(y_true * log(y_true / y_pred))`` over the last axis (both clipped to [1e-7, 1])."""

    default_name = "kl_divergence"

    def call(self, y_true, y_pred):
        y_true = self._match(y_true, y_pred).clamp(EPSILON, 1.0)
        return (y_true * (y_true.log() - y_pred.clamp(EPSILON, 1.0).log())).sum(dim=-1)


class LossFunctionWrapper(Loss):
    """A loss from a plain function ``fn(y_true, y_pred)`` returning per-sample values (or a
    scalar), or from an ``ember.nn`` loss module (called as ``module(y_pred, y_true)``)."""

    def __init__(self, fn, name: str | None = None, **kwargs) -> None:
        super().__init__(name=name or getattr(fn, "__name__", type(fn).__name__).lower(),
                         **kwargs)
        self.fn = fn

    def check_labels(self, y_true_shape, y_true_integer, y_pred_shape) -> None:
        return None

    def call(self, y_true, y_pred):
        if isinstance(self.fn, nn.Module):
            return self.fn(y_pred, y_true)
        return self.fn(y_true, y_pred)

    def get_config(self) -> dict:
        raise ValueError(f"the loss {self.name!r} is Python code and cannot be saved to a config")


# ---------------------------------------------------------------------- per-sample functions
def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False):
    """Per-sample cross-entropy with integer labels."""
    logits = y_pred if from_logits else activations.logits_of(y_pred, "softmax")
    c = y_pred.shape[-1]
    labels = y_true.reshape(-1).long()
    if logits is not None:
        per = F.cross_entropy(logits.reshape(-1, c), labels, reduction="none")
    else:
        logp = y_pred.clamp(EPSILON, 1.0 - EPSILON).log().reshape(-1, c)
        per = F.nll_loss(logp, labels, reduction="none")
    return per.reshape(tuple(y_pred.shape[:-1]))


def categorical_crossentropy(y_true, y_pred, from_logits: bool = False):
    """Per-sample cross-entropy with one-hot or soft labels."""
    logits = y_pred if from_logits else activations.logits_of(y_pred, "softmax")
    if logits is not None:
        logp = F.log_softmax(logits, dim=-1)
    else:
        p = y_pred / y_pred.sum(dim=-1, keepdim=True)
        logp = p.clamp(EPSILON, 1.0 - EPSILON).log()
    return -(y_true * logp).sum(dim=-1)


def binary_crossentropy(y_true, y_pred, from_logits: bool = False):
    """Per-sample binary cross-entropy, the mean over the last axis."""
    logits = y_pred if from_logits else activations.logits_of(y_pred, "sigmoid")
    if logits is not None:
        per = F.binary_cross_entropy_with_logits(logits, y_true, reduction="none")
    else:
        p = y_pred.clamp(EPSILON, 1.0 - EPSILON)
        per = -(y_true * p.log() + (1.0 - y_true) * (1.0 - p).log())
    return per.mean(dim=-1)


def mean_squared_error(y_true, y_pred):
    """Per-sample mean squared error over the last axis."""
    return F.mse_loss(y_pred, y_true, reduction="none").mean(dim=-1)


def mean_absolute_error(y_true, y_pred):
    """Per-sample mean absolute error over the last axis."""
    return F.l1_loss(y_pred, y_true, reduction="none").mean(dim=-1)


LOSSES: dict[str, type] = {
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "huber": Huber, "huber_loss": Huber,
    "kl_divergence": KLDivergence, "kld": KLDivergence,
}
_BY_CLASS = {cls.__name__: cls for cls in LOSSES.values()}


def get(identifier) -> Loss:
    """A Loss from a Keras name, a Loss, a ``{"class_name", "config"}`` dict or a callable.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        cls = LOSSES.get(identifier.lower()) or _BY_CLASS.get(identifier)
        if cls is None:
            raise ValueError(f"unknown loss {identifier!r}; known losses: "
                             + ", ".join(sorted(LOSSES)))
        return cls()
    if isinstance(identifier, dict):
        return get(identifier["class_name"]).from_config(identifier.get("config", {}))
    if callable(identifier):
        return LossFunctionWrapper(identifier)
    raise TypeError(f"loss must be a name, a Loss or a callable, got {type(identifier).__name__}")


def serialize(loss: Loss) -> dict:
    return {"class_name": type(loss).__name__, "config": loss.get_config()}
