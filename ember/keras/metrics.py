"""Keras metrics: stateful accumulators over batches (``update_state``/``result``/``reset_state``).

The per-batch work runs in ember ops without gradients; the running totals are Python floats,
so ``get_state()`` is plain JSON and an interrupted epoch resumes with exactly the same
numbers. ``"accuracy"`` in ``compile`` picks binary, categorical or sparse-categorical
accuracy from the loss and the shapes, as Keras does.

Example:
    >>> import ember
    >>> from ember.keras import metrics
    >>> m = metrics.SparseCategoricalAccuracy()
    >>> m.update_state(ember.tensor([0, 1]), ember.tensor([[0.9, 0.1], [0.8, 0.2]]))
    >>> m.result()
    0.5
"""

from __future__ import annotations

import math

from ..autograd.grad_mode import no_grad
from ..ops.creation import tensor as _tensor
from ..ops.shape import broadcast_to
from ..tensor import Tensor

__all__ = ["Metric", "Mean", "MeanMetricWrapper", "Accuracy", "BinaryAccuracy",
           "CategoricalAccuracy", "SparseCategoricalAccuracy", "TopKCategoricalAccuracy",
           "MeanSquaredError", "MeanAbsoluteError", "Precision", "Recall", "AUC", "get",
           "METRICS"]


def _t(x) -> Tensor:
    return x if isinstance(x, Tensor) else _tensor(x)


class Metric:
    """Base class: ``update_state(y_true, y_pred, sample_weight=None)``, ``result()``,
    ``reset_state()``; ``get_state``/``set_state`` give the totals as JSON."""

    _state_names: tuple = ()

    def __init__(self, name: str | None = None) -> None:
        self.name = name or type(self).__name__.lower()
        self.reset_state()

    def reset_state(self) -> None:
        for n in self._state_names:
            setattr(self, n, 0.0)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define update_state(y_true, "
                                  "y_pred, sample_weight=None)")

    def result(self) -> float:
        raise NotImplementedError(f"{type(self).__name__} must define result()")

    def get_state(self) -> dict:
        return {n: getattr(self, n) for n in self._state_names}

    def set_state(self, state: dict) -> None:
        for n in self._state_names:
            setattr(self, n, state[n])

    def get_config(self) -> dict:
        return {"name": self.name}

    def __call__(self, y_true, y_pred, sample_weight=None) -> float:
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


class Mean(Metric):
    """The (weighted) mean of the values given to ``update_state(values, sample_weight)``.

    Example:
        >>> from ember.keras import metrics
        >>> m = metrics.Mean()
        >>> m.update_state(1.0); m.update_state(3.0, sample_weight=3)
        >>> m.result()
        2.5
    """

    _state_names = ("total", "count")

    def update_state(self, values, sample_weight=None) -> None:
        if isinstance(values, (int, float)):
            w = 1.0 if sample_weight is None else float(sample_weight)
            self.total += float(values) * w
            self.count += w
            return
        with no_grad():
            v = _t(values).double()
            if sample_weight is None:
                self.total += v.sum().item()
                self.count += float(v.numel())
            else:
                w = _t(sample_weight).double()
                w = w.reshape(tuple(w.shape) + (1,) * (v.ndim - w.ndim))
                self.total += (v * w).sum().item()
                self.count += broadcast_to(w, tuple(v.shape)).sum().item()

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0


class MeanMetricWrapper(Mean):
    """The mean of a per-sample function ``fn(y_true, y_pred)`` over all samples seen."""

    def __init__(self, fn, name: str | None = None) -> None:
        self.fn = fn
        super().__init__(name=name or fn.__name__)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        with no_grad():
            super().update_state(self.fn(_t(y_true), _t(y_pred).detach()), sample_weight)


def _labels(y_true: Tensor, y_pred: Tensor) -> Tensor:
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    return y_true


def accuracy(y_true, y_pred):
    return (y_true.to(y_pred.dtype) == y_pred).float()


def binary_accuracy(y_true, y_pred, threshold: float = 0.5):
    if y_true.ndim + 1 == y_pred.ndim:
        y_true = y_true.unsqueeze(-1)
    return ((y_pred > threshold).float() == y_true.float()).float()


def categorical_accuracy(y_true, y_pred):
    return (y_true.argmax(dim=-1) == y_pred.argmax(dim=-1)).float()


def sparse_categorical_accuracy(y_true, y_pred):
    return (_labels(y_true, y_pred).long() == y_pred.argmax(dim=-1)).float()


def top_k_categorical_accuracy(y_true, y_pred, k: int = 5):
    target = y_pred.gather(-1, y_true.argmax(dim=-1, keepdim=True))
    return ((y_pred > target).sum(dim=-1) < k).float()


def mean_squared_error(y_true, y_pred):
    if y_true.ndim + 1 == y_pred.ndim:
        y_true = y_true.unsqueeze(-1)
    return ((y_true.to(y_pred.dtype) - y_pred) ** 2).mean(dim=-1)


def mean_absolute_error(y_true, y_pred):
    if y_true.ndim + 1 == y_pred.ndim:
        y_true = y_true.unsqueeze(-1)
    return (y_true.to(y_pred.dtype) - y_pred).abs().mean(dim=-1)


class Accuracy(MeanMetricWrapper):
    """How often predictions equal labels exactly."""

    def __init__(self, name: str = "accuracy") -> None:
        super().__init__(accuracy, name)


class BinaryAccuracy(MeanMetricWrapper):
    """How often ``y_pred > threshold`` equals the 0/1 label."""

    def __init__(self, name: str = "binary_accuracy", threshold: float = 0.5) -> None:
        self.threshold = float(threshold)
        super().__init__(lambda t, p: binary_accuracy(t, p, self.threshold), name)


class CategoricalAccuracy(MeanMetricWrapper):
    """How often the argmax of the prediction is the argmax of the one-hot label."""

    def __init__(self, name: str = "categorical_accuracy") -> None:
        super().__init__(categorical_accuracy, name)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often the argmax of the prediction is the integer label."""

    def __init__(self, name: str = "sparse_categorical_accuracy") -> None:
        super().__init__(sparse_categorical_accuracy, name)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot label's class is among the ``k`` highest predictions."""

    def __init__(self, k: int = 5, name: str = "top_k_categorical_accuracy") -> None:
        self.k = int(k)
        super().__init__(lambda t, p: top_k_categorical_accuracy(t, p, self.k), name)


class MeanSquaredError(MeanMetricWrapper):
    """The mean squared error over everything seen."""

    def __init__(self, name: str = "mean_squared_error") -> None:
        super().__init__(mean_squared_error, name)


class MeanAbsoluteError(MeanMetricWrapper):
    """The mean absolute error over everything seen."""

    def __init__(self, name: str = "mean_absolute_error") -> None:
        super().__init__(mean_absolute_error, name)


class _Confusion(Metric):
    _state_names = ("tp", "fp", "fn")

    def __init__(self, thresholds: float = 0.5, name: str | None = None) -> None:
        self.thresholds = float(thresholds)
        super().__init__(name)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        with no_grad():
            truth = _t(y_true).reshape(-1) > 0.5
            pred = _t(y_pred).detach().reshape(-1) > self.thresholds
            w = None if sample_weight is None else _t(sample_weight).double().reshape(-1)

            def count(mask):
                m = mask.double()
                return (m * w).sum().item() if w is not None else m.sum().item()

            self.tp += count(truth & pred)
            self.fp += count(~truth & pred)
            self.fn += count(truth & ~pred)


class Precision(_Confusion):
    """``tp / (tp + fp)`` of binary predictions ``y_pred > thresholds``."""

    def result(self) -> float:
        d = self.tp + self.fp
        return self.tp / d if d else 0.0


class Recall(_Confusion):
    """``tp / (tp + fn)`` of binary predictions ``y_pred > thresholds``."""

    def result(self) -> float:
        d = self.tp + self.fn
        return self.tp / d if d else 0.0


class AUC(Metric):
    """Area under the ROC (or precision-recall) curve, from confusion counts at
    ``num_thresholds`` evenly spaced thresholds, as Keras computes it.

    Example:
        >>> import ember
        >>> from ember.keras import metrics
        >>> m = metrics.AUC()
        >>> m.update_state(ember.tensor([0, 0, 1, 1]), ember.tensor([0.1, 0.4, 0.35, 0.8]))
        >>> round(m.result(), 2)
        0.75
    """

    def __init__(self, num_thresholds: int = 200, curve: str = "ROC",
                 name: str | None = None) -> None:
        if curve not in ("ROC", "PR"):
            raise ValueError(f"AUC: curve must be 'ROC' or 'PR', got {curve!r}")
        if num_thresholds < 3:
            raise ValueError("AUC: num_thresholds must be at least 3")
        self.num_thresholds, self.curve = int(num_thresholds), curve
        eps = 1e-7
        inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        self.thresholds = [-eps] + inner + [1.0 + eps]
        super().__init__(name or "auc")

    def reset_state(self) -> None:
        n = self.num_thresholds
        self.tp, self.fp, self.tn, self.fn = [0.0] * n, [0.0] * n, [0.0] * n, [0.0] * n

    def get_state(self) -> dict:
        return {"tp": list(self.tp), "fp": list(self.fp), "tn": list(self.tn),
                "fn": list(self.fn)}

    def set_state(self, state: dict) -> None:
        self.tp, self.fp, self.tn, self.fn = (list(state[k]) for k in ("tp", "fp", "tn", "fn"))

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        with no_grad():
            truth = (_t(y_true).reshape(-1, 1) > 0.5).double()
            pred = _t(y_pred).detach().double().reshape(-1, 1)
            thr = _tensor(self.thresholds, dtype=pred.dtype).reshape(1, -1)
            above = (pred > thr).double()
            w = 1.0 if sample_weight is None else _t(sample_weight).double().reshape(-1, 1)
            pos, neg = truth * w, (1.0 - truth) * w
            for acc, values in ((self.tp, (above * pos).sum(dim=0)),
                                (self.fp, (above * neg).sum(dim=0)),
                                (self.fn, ((1.0 - above) * pos).sum(dim=0)),
                                (self.tn, ((1.0 - above) * neg).sum(dim=0))):
                for i, v in enumerate(values.tolist()):
                    acc[i] += v

    def result(self) -> float:
        tp, fp, tn, fn = self.tp, self.fp, self.tn, self.fn
        n = self.num_thresholds
        if self.curve == "ROC":
            tpr = [a / (a + b) if a + b else 0.0 for a, b in zip(tp, fn)]
            fpr = [a / (a + b) if a + b else 0.0 for a, b in zip(fp, tn)]
            return sum((fpr[i] - fpr[i + 1]) * (tpr[i] + tpr[i + 1]) / 2 for i in range(n - 1))
        total = 0.0
        for i in range(n - 1):
            dtp = tp[i] - tp[i + 1]
            p0, p1 = tp[i] + fp[i], tp[i + 1] + fp[i + 1]
            dp = p0 - p1
            slope = dtp / dp if dp > 0 else 0.0
            intercept = tp[i + 1] - slope * p1
            ratio = p0 / p1 if p0 > 0 and p1 > 0 else 1.0
            denom = tp[i + 1] + fn[i + 1]
            if denom > 0:
                total += slope * (dtp + intercept * math.log(ratio)) / denom
        return total


METRICS: dict[str, type] = {
    "accuracy": Accuracy, "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "precision": Precision, "recall": Recall, "auc": AUC,
}
_BY_CLASS = {cls.__name__: cls for cls in METRICS.values()}


def get(identifier, loss=None, y_true_shape=None, y_pred_shape=None) -> Metric:
    """A Metric from a name, class instance or per-sample function.

    ``"accuracy"``/``"acc"`` picks Keras's variant: sparse-categorical for integer labels,
    binary for one output column, categorical otherwise.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in ("accuracy", "acc") and y_pred_shape is not None:
            loss_name = getattr(loss, "name", "")
            if "binary" in loss_name or y_pred_shape[-1] == 1:
                return BinaryAccuracy(name=identifier)
            if "sparse" in loss_name or (y_true_shape is not None and (
                    len(y_true_shape) < len(y_pred_shape) or y_true_shape[-1] == 1)):
                return SparseCategoricalAccuracy(name=identifier)
            return CategoricalAccuracy(name=identifier)
        cls = METRICS.get(key) or _BY_CLASS.get(identifier)
        if cls is None:
            raise ValueError(f"unknown metric {identifier!r}; known metrics: "
                             + ", ".join(sorted(set(METRICS) | {"acc"})))
        metric = cls()
        metric.name = identifier if identifier in METRICS else metric.name
        return metric
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise TypeError(f"metric must be a name, a Metric or a callable, "
                    f"got {type(identifier).__name__}")
