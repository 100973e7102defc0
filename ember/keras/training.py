"""``compile``, ``fit``, ``evaluate`` and ``predict``: Keras's training loop over ember autograd.

One training step is the PyTorch loop written once: forward with ``training=True``, the
compiled loss, ``backward()``, the ``ember.optim`` step, then the metrics (without
gradients). Override ``train_step(data)`` / ``test_step(data)`` to change it, as in Keras.
"""

from __future__ import annotations

from .. import random as _random
from ..autograd.grad_mode import no_grad
from ..tensor import Tensor
from . import activations, losses, optimizers
from . import metrics as _metrics
from .callbacks.base import CallbackList
from .data_adapter import ArrayData, adapt, unpack
from .evaluation import Evaluator
from .layers.base import flatten, shape_of
from .train_state import class_weights_for, load_train_state, train_state

__all__ = ["Trainer"]


class Trainer(Evaluator):
    """The Keras training API, mixed into ``Model``."""

    compiled = False
    interrupted = False
    stop_training = False

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                weighted_metrics=None, run_eagerly: bool = False, steps_per_execution: int = 1,
                jit_compile="auto", auto_scale_loss: bool = True) -> None:
        """Choose the optimiser, loss and metrics for ``fit``/``evaluate``.

        Args:
            optimizer: a name (``"adam"``, ``"sgd"``, ``"rmsprop"``, ...), a Keras optimiser
                or an ``ember.optim`` optimiser.
            loss: a name (``"sparse_categorical_crossentropy"``, ``"mse"``, ...), a Loss, a
                function ``fn(y_true, y_pred)``, or a list (one per output).
            metrics: names (``"accuracy"``, ``"auc"``, ...) or Metric objects.
            loss_weights: weights of the per-output losses.
            jit_compile: True compiles the training step (forward, loss, backward and the
                optimiser update) with ``ember.jit`` into one static graph, retraced when the
                batch shape changes; "auto" and False run eagerly.
        """
        self.optimizer = optimizers.get(optimizer)
        if isinstance(loss, (list, tuple)):
            self._loss_fn = [losses.get(item) for item in loss]
        else:
            self._loss_fn = None if loss is None else losses.get(loss)
        self.loss = loss
        self.loss_weights = None if loss_weights is None else list(loss_weights)
        self._metric_ids = list(metrics or []) + list(weighted_metrics or [])
        self._compiled_metrics: list | None = None
        self._loss_tracker = _metrics.Mean(name="loss")
        self.jit_compile = jit_compile
        self._jit_train = None
        self.run_eagerly = bool(run_eagerly)
        self.steps_per_execution = int(steps_per_execution)
        self.compiled = True

    def _check_compiled(self, what: str) -> None:
        if not self.compiled:
            raise RuntimeError(f"{what}: the model must be compiled first; call "
                               "model.compile(optimizer=..., loss=...)")
        if self._loss_fn is None and what != "predict":
            raise ValueError(f"{what}: the model was compiled without a loss; pass loss=... to "
                             "compile()")

    @property
    def metrics(self) -> list:
        """The loss tracker and the compiled metrics (once the first batch resolved them)."""
        return [self._loss_tracker] + list(self._compiled_metrics or [])

    @property
    def metrics_names(self) -> list[str]:
        return [m.name for m in self.metrics]

    def reset_metrics(self) -> None:
        for m in self.metrics:
            m.reset_state()

    def _apply_metric_states(self) -> None:
        pending = getattr(self, "_pending_metric_states", None)
        if pending:
            for m in self.metrics:
                if m.name in pending:
                    m.set_state(pending.pop(m.name))

    def _resolve_metrics(self, y, y_pred) -> None:
        if self._compiled_metrics is not None:
            return
        if self._metric_ids and isinstance(y_pred, (list, tuple)):
            raise ValueError("metrics for models with several outputs are not supported; "
                             "compile without metrics or evaluate each output separately")
        loss = self._loss_fn if not isinstance(self._loss_fn, list) else None
        self._compiled_metrics = [
            _metrics.get(m, loss, None if y is None else tuple(y.shape),
                        None if y_pred is None else tuple(y_pred.shape))
            for m in self._metric_ids]
        self._apply_metric_states()

    # ------------------------------------------------------------------ steps
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None) -> Tensor:
        """The compiled loss (summed over outputs with ``loss_weights``)."""
        if isinstance(self._loss_fn, list):
            if not isinstance(y_pred, (list, tuple)) or len(y_pred) != len(self._loss_fn):
                raise ValueError(f"compile() got {len(self._loss_fn)} losses but the model "
                                 f"has {len(flatten(y_pred))} output(s)")
            ys = y if isinstance(y, (list, tuple)) else [y]
            if len(ys) != len(y_pred):
                raise ValueError(f"the model has {len(y_pred)} outputs but y holds {len(ys)} "
                                 "label arrays; give one per output")
            weights = self.loss_weights or [1.0] * len(y_pred)
            total = None
            for fn, w, t, p in zip(self._loss_fn, weights, ys, y_pred):
                term = fn(t, p, sample_weight) * w
                total = term if total is None else total + term
            return total
        if isinstance(y_pred, (list, tuple)):
            raise ValueError(f"the model has {len(y_pred)} outputs; compile with a list of "
                             "losses, one per output")
        return self._loss_fn(y, y_pred, sample_weight)

    def compute_metrics(self, x, y, y_pred, sample_weight=None, loss=None,
                        batch_size: int = 1) -> dict:
        """Update the loss tracker and metrics with one batch; return their current values."""
        if loss is not None:
            self._loss_tracker.update_state(float(loss.item()), sample_weight=batch_size)
        self._resolve_metrics(y, y_pred)
        if self._compiled_metrics:
            detached = y_pred.detach()
            for m in self._compiled_metrics:
                m.update_state(y, detached, sample_weight)
        return {m.name: m.result() for m in self.metrics}

    def _call_model(self, x, training: bool):
        if self._call_accepts("training"):
            return self(x, training=training)
        return self(x)

    def _optimize(self, x, y, sample_weight):
        """Forward, loss, backward and the optimiser update; returns (y_pred, loss)."""
        self.optimizer.zero_grad()
        sync = self.__dict__.get("_data_parallel")  # ember.distributed: averages gradients
        if sync is not None:
            sync.start_step()
        y_pred = self._call_model(x, True)
        loss = self.compute_loss(x, y, y_pred, sample_weight)
        activations.forget_logits()
        (loss if sync is None else sync.scale_loss(loss)).backward()
        self.optimizer.step()
        return y_pred, loss

    def train_step(self, data) -> dict:
        """One optimisation step on a batch ``(x, y[, sample_weight])``; returns the logs."""
        x, y, sample_weight = unpack(data)
        if self.jit_compile is True and not self.run_eagerly:
            if self.__dict__.get("_data_parallel") is not None:
                raise RuntimeError("fit: jit_compile=True does not support data-parallel "
                                   "training yet; compile with jit_compile=False under MPI")
            if getattr(self, "_jit_train", None) is None:
                from ..graph import jit

                self._jit_train = jit(self._optimize)
            y_pred, loss = self._jit_train(x, y, sample_weight)
        else:
            y_pred, loss = self._optimize(x, y, sample_weight)
        logs = self.compute_metrics(x, y, y_pred, sample_weight, loss, flatten(x)[0].shape[0])
        sync = self.__dict__.get("_data_parallel")
        return logs if sync is None else sync.sync_metrics(logs)  # totals over every rank

    def test_step(self, data) -> dict:
        """Loss and metrics on one batch, without gradients."""
        x, y, sample_weight = unpack(data)
        y_pred = self._call_model(x, False)
        loss = self.compute_loss(x, y, y_pred, sample_weight)
        activations.forget_logits()
        return self.compute_metrics(x, y, y_pred, sample_weight, loss, flatten(x)[0].shape[0])

    def predict_step(self, data):
        x, _, _ = unpack(data)
        return self._call_model(x, False)

    # ------------------------------------------------------------------ fit
    def fit(self, x=None, y=None, batch_size: int | None = None, epochs: int = 1,
            verbose="auto", callbacks=None, validation_split: float = 0.0,
            validation_data=None, shuffle: bool = True, class_weight: dict | None = None,
            sample_weight=None, initial_epoch: int = 0, steps_per_epoch: int | None = None,
            validation_steps: int | None = None, validation_batch_size: int | None = None,
            validation_freq: int = 1):
        """Train for ``epochs`` passes over the data; returns the ``History``.

        Args:
            x, y: arrays/tensors (a list for several inputs), or ``x`` an
                ``ember.data.DataLoader`` yielding ``(x, y)`` batches (then no ``y``).
            batch_size: samples per step (32).
            epochs: the epoch to stop after (counted from 0, so ``initial_epoch`` resumes).
            verbose: 0 silent, 1 or "auto" a live progress bar, 2 one line per epoch.
            callbacks: Keras callbacks (EarlyStopping, ModelCheckpoint, ...).
            validation_split: the last fraction of the arrays, held out for validation.
            validation_data: ``(x_val, y_val)`` or a loader, evaluated after each epoch.
            shuffle: reshuffle the arrays each epoch (ember's default generator).
            class_weight: ``{class: weight}``, turned into per-sample weights.
            sample_weight: one weight per sample.

        Launched by MPI with several ranks (``mpirun -n 4 python train.py``), ``fit`` trains
        data-parallel: ``batch_size`` is the global batch, each rank trains on its share, and
        only rank 0 prints and writes files (see docs/distributed.md).
        """
        self._check_compiled("fit")
        data = adapt(x, y, sample_weight, batch_size, "fit")
        val = None
        if validation_data is not None:
            vx, vy, vw = unpack(validation_data) if isinstance(validation_data, (tuple, list)) \
                else (validation_data, None, None)
            val = adapt(vx, vy, vw, validation_batch_size or batch_size, "fit (validation)")
        elif validation_split:
            data, val = data.split(validation_split)
        self._prepare(data)
        from ..distributed.keras import data_parallel_for

        sync = data_parallel_for(self)  # launched under MPI: train data-parallel
        if sync is not None:
            sync.use_data(data)
        steps = data.num_batches if steps_per_epoch is None else int(steps_per_epoch)
        bs = data.batch_size if isinstance(data, ArrayData) else \
            getattr(data.loader, "batch_size", None)
        cbs = CallbackList(callbacks, model=self, add_history=True, add_progbar=verbose != 0,
                           verbose=1 if verbose == "auto" else verbose, epochs=epochs,
                           steps=steps, samples=getattr(data, "n", None), batch_size=bs)
        if sync is not None:
            sync.silence(cbs.callbacks)  # ranks > 0 neither print nor write files
            self.__dict__["_data_parallel"] = sync
        self.stop_training = self.interrupted = False
        self._resume = self._pending_metric_states = None
        was_training = self.training
        logs: dict = {}
        cbs.on_train_begin()
        resume, self._resume = self._resume, None
        self.train()
        try:
            for epoch in range(resume["epoch"] if resume else initial_epoch, epochs):
                skip = resume["step"] if resume and epoch == resume["epoch"] else 0
                if sync is not None:
                    sync.epoch_begin(epoch)
                self.reset_metrics()
                cbs.on_epoch_begin(epoch, {"resumed_at_batch": skip} if skip else None)
                if resume and epoch == resume["epoch"]:
                    epoch_rng = resume["epoch_rng"]
                    _random.set_rng_state(epoch_rng)
                    order = data.order(shuffle)
                    _random.set_rng_state(resume["rng"])
                    self._pending_metric_states = dict(resume["metrics"])
                    self._apply_metric_states()
                    resume = None
                else:
                    epoch_rng = _random.get_rng_state()
                    order = data.order(shuffle)
                self._progress = {"epoch": epoch, "step": skip, "epoch_rng": epoch_rng}
                for step, (bx, by, bw) in enumerate(data.batches(order, skip), start=skip):
                    if step >= steps:
                        break
                    if sync is not None:
                        shard = sync.shard(bx, by, bw)
                        if shard is None:  # fewer samples than ranks: skipped on every rank
                            continue
                        bx, by, bw = shard
                    if class_weight is not None:
                        bw = class_weights_for(class_weight, by, bw)
                    cbs.on_train_batch_begin(step)
                    logs = self.train_step((bx, by, bw))
                    self._progress["step"] = step + 1
                    cbs.on_train_batch_end(step, logs)
                    if self.stop_training if sync is None else sync.agree_stop():
                        break
                if sync is not None:
                    sync.agree_stop()  # a stop request that came after the last batch's check
                if self.interrupted:
                    break
                epoch_logs = dict(logs)
                if sync is not None:
                    sync.sync_buffers()
                if val is not None and (epoch + 1) % validation_freq == 0:
                    val_logs = self._run_eval(val, validation_steps)
                    epoch_logs.update({"val_" + k: v for k, v in val_logs.items()})
                    self.train()
                self._progress = {"epoch": epoch + 1, "step": 0, "epoch_rng": None}
                cbs.on_epoch_end(epoch, epoch_logs)
                logs = epoch_logs
                if self.stop_training if sync is None else sync.agree_stop():
                    break
        finally:
            self.train(was_training)
            if sync is not None:
                sync.close()
                self.__dict__.pop("_data_parallel", None)
        cbs.on_train_end(logs)
        return self.history

    def _prepare(self, data) -> None:
        """Build the model (from the first batch if needed), check labels, build the optimiser."""
        if not self.built:
            self._build_from_example(data.first_x())
        if isinstance(data, ArrayData) and data.y is not None and not isinstance(data.y, list) \
                and not isinstance(self._loss_fn, list):
            self._check_labels(data)
        opt = self.optimizer
        params = [p for p in self.parameters() if p.requires_grad]
        if not opt.built or [id(p) for p in opt._params] != [id(p) for p in params]:
            old = opt.inner
            opt.build(params)  # trainable flags changed: keep the state of the ones still here
            if old is not None:
                kept = {id(q): state for q, state in old.state.items()}
                for p in params:
                    if id(p) in kept:
                        opt.inner.state[p] = kept[id(p)]
            pending = getattr(self, "_pending_optimizer_state", None)
            if pending is not None:
                opt.load_state_dict(pending)
                self._pending_optimizer_state = None

    def _check_labels(self, data: ArrayData) -> None:
        out = self.compute_output_shape(shape_of(data.x))
        if isinstance(out, list):
            return
        y = data.y
        self._loss_fn.check_labels(tuple(y.shape), not y.dtype.is_floating_point, out)
        if isinstance(self._loss_fn, losses.SparseCategoricalCrossentropy) and out[-1]:
            with no_grad():
                lo, hi = y.min().item(), y.max().item()
            if lo < 0 or hi >= out[-1] or (y.dtype.is_floating_point and
                                           not bool((y == y.round()).all())):
                raise ValueError(f"{self._loss_fn.name}: labels must be integer class ids in "
                                 f"[0, {out[-1]}) for a model with {out[-1]} outputs; found "
                                 f"values from {lo:g} to {hi:g}")

    # ------------------------------------------------------------------ resume
    def _train_state(self) -> dict:
        return train_state(self)

    def _load_train_state(self, state: dict) -> None:
        load_train_state(self, state)
