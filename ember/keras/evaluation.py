"""``evaluate``, ``predict`` and the one-batch methods of Keras models."""

from __future__ import annotations

from ..autograd.grad_mode import no_grad
from ..ops.shape import concat
from . import activations
from .callbacks.base import CallbackList
from .data_adapter import adapt
from .train_state import class_weights_for

__all__ = ["Evaluator"]


class Evaluator:
    """Inference and one-batch steps; ``Trainer`` adds ``compile`` and ``fit``."""

    def _run_eval(self, data, steps: int | None = None, cbs: CallbackList | None = None) -> dict:
        self.eval()
        self.reset_metrics()
        logs: dict = {}
        with no_grad():
            for i, batch in enumerate(data.batches(None)):
                if steps is not None and i >= steps:
                    break
                if cbs is not None:
                    cbs.on_test_batch_begin(i)
                logs = self.test_step(batch)
                if cbs is not None:
                    cbs.on_test_batch_end(i, logs)
        return logs

    def evaluate(self, x=None, y=None, batch_size: int | None = None, verbose="auto",
                 sample_weight=None, steps: int | None = None, callbacks=None,
                 return_dict: bool = False):
        """The loss and metrics over the data (no gradients, inference mode).

        Returns:
            the loss alone if there are no metrics, else ``[loss, *metrics]``; a dict with
            ``return_dict=True``.
        """
        self._check_compiled("evaluate")
        data = adapt(x, y, sample_weight, batch_size, "evaluate")
        self._prepare(data)
        cbs = CallbackList(callbacks, model=self, steps=data.num_batches)
        cbs.on_test_begin()
        was_training = self.training
        try:
            logs = self._run_eval(data, steps, cbs)
        finally:
            self.train(was_training)
        cbs.on_test_end(logs)
        if return_dict:
            return logs
        values = [logs[m.name] for m in self.metrics if m.name in logs]
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size: int | None = None, verbose="auto", steps: int | None = None,
                callbacks=None):
        """The model's outputs for ``x`` as a NumPy array (a list for several outputs)."""
        data = adapt(x, None, None, batch_size, "predict")
        if not self.built:
            self._build_from_example(data.first_x())
        cbs = CallbackList(callbacks, model=self, steps=data.num_batches)
        cbs.on_predict_begin()
        outputs: list = []
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                for i, batch in enumerate(data.batches(None)):
                    if steps is not None and i >= steps:
                        break
                    cbs.on_predict_batch_begin(i)
                    out = self.predict_step(batch)
                    outputs.append(out)
                    cbs.on_predict_batch_end(i, {"outputs": out})
        finally:
            self.train(was_training)
            activations.forget_logits()
        cbs.on_predict_end()
        if not outputs:
            raise ValueError("predict: the data yielded no batches")
        if isinstance(outputs[0], (list, tuple)):
            return [concat([o[i] for o in outputs]).numpy() for i in range(len(outputs[0]))]
        return concat(outputs).numpy()

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       return_dict: bool = False):
        """One optimisation step on one batch; returns the loss (and metrics)."""
        self._check_compiled("train_on_batch")
        data = adapt(x, y, sample_weight, None, "train_on_batch")
        self._prepare(data)
        bx, by, bw = data.x, data.y, data.sample_weight
        if class_weight is not None:
            bw = class_weights_for(class_weight, by, bw)
        self.reset_metrics()
        was_training = self.training
        self.train()
        try:
            logs = self.train_step((bx, by, bw))
        finally:
            self.train(was_training)
        return logs if return_dict else _values(logs)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict: bool = False):
        """Loss (and metrics) on one batch, without training."""
        self._check_compiled("test_on_batch")
        data = adapt(x, y, sample_weight, None, "test_on_batch")
        self._prepare(data)
        self.reset_metrics()
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                logs = self.test_step((data.x, data.y, data.sample_weight))
        finally:
            self.train(was_training)
        return logs if return_dict else _values(logs)

    def predict_on_batch(self, x):
        """The model's outputs for one batch, as NumPy."""
        data = adapt(x, None, None, None, "predict_on_batch")
        return self.predict(data.x, batch_size=max(data.n, 1), verbose=0)


def _values(logs: dict):
    values = list(logs.values())
    return values[0] if len(values) == 1 else values
