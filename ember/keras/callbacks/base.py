"""``Callback``, the list ``fit`` drives, and ``History`` (with ``plot()``)."""

from __future__ import annotations

import os

__all__ = ["Callback", "CallbackList", "History", "LambdaCallback"]


class Callback:
    """Base class: override the ``on_*`` hooks you need.

    ``self.model`` is the model being trained and ``self.params`` holds ``epochs``, ``steps``,
    ``verbose``, ``samples`` and ``batch_size``. ``get_state``/``set_state`` (an ember
    addition) let ``BackupAndRestore`` resume a callback's counters exactly.
    """

    def __init__(self) -> None:
        self.model = None
        self.params: dict = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def get_state(self) -> dict:
        return {}

    def set_state(self, state: dict) -> None:
        return None

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_train_batch_begin(self, batch, logs=None): ...
    def on_train_batch_end(self, batch, logs=None): ...
    def on_test_begin(self, logs=None): ...
    def on_test_end(self, logs=None): ...
    def on_test_batch_begin(self, batch, logs=None): ...
    def on_test_batch_end(self, batch, logs=None): ...
    def on_predict_begin(self, logs=None): ...
    def on_predict_end(self, logs=None): ...
    def on_predict_batch_begin(self, batch, logs=None): ...
    def on_predict_batch_end(self, batch, logs=None): ...


class LambdaCallback(Callback):
    """A callback from functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(self, **hooks) -> None:
        super().__init__()
        for name, fn in hooks.items():
            if not name.startswith("on_") or not hasattr(Callback, name):
                raise TypeError(f"LambdaCallback: unknown hook {name!r}")
            setattr(self, name, fn)


class History(Callback):
    """Records the logs of every epoch: ``history.history["loss"]`` is the list of losses.

    ``fit`` adds one automatically and returns it.

    Example:
        >>> from ember.keras.callbacks import History
        >>> h = History()
        >>> h.on_train_begin()
        >>> h.on_epoch_end(0, {"loss": 0.5}); h.on_epoch_end(1, {"loss": 0.25})
        >>> h.history, h.epoch
        ({'loss': [0.5, 0.25]}, [0, 1])
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []

    def set_model(self, model) -> None:
        super().set_model(model)
        model.history = self

    def on_train_begin(self, logs=None) -> None:
        self.epoch = []
        self.history = {}

    def on_epoch_end(self, epoch, logs=None) -> None:
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)

    def plot(self, path: str | os.PathLike | None = None, title: str | None = None):
        """Plot the loss and each metric per epoch (training and validation); save a PNG to
        ``path`` if given. Needs matplotlib. Returns the matplotlib Figure."""
        return plot_history(self.history, self.epoch, path, title)


def plot_history(history: dict, epochs: list, path=None, title: str | None = None):
    """The figure behind ``History.plot``: one panel for the loss, one per metric."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("History.plot needs matplotlib: pip install matplotlib") from None
    names = [k for k in history if not k.startswith("val_") and k not in ("learning_rate",)]
    if not names:
        raise ValueError("History.plot: nothing recorded yet; call fit() first")
    names = ["loss"] + [k for k in names if k != "loss"] if "loss" in names else names
    fig = Figure(figsize=(5 * len(names), 3.6))
    axes = fig.subplots(1, len(names), squeeze=False)
    x = [e + 1 for e in epochs] or list(range(1, len(history[names[0]]) + 1))
    for ax, name in zip(axes[0], names):
        ax.plot(x[:len(history[name])], history[name], marker="o", ms=3, label="train")
        if "val_" + name in history:
            ax.plot(x[:len(history["val_" + name])], history["val_" + name], marker="o", ms=3,
                    label="validation")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        path = os.fspath(path)
        tmp = path + ".tmp.png"
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, path)
    return fig


class CallbackList:
    """The callbacks of one ``fit``/``evaluate``/``predict`` call, in order: the user's, then
    the progress bar and History (so they see logs the others add, such as the learning
    rate), then ``BackupAndRestore`` (so it saves everything else's state)."""

    def __init__(self, callbacks=None, model=None, add_history: bool = False,
                 add_progbar: bool = False, **params) -> None:
        from .backup import BackupAndRestore
        from .progbar import ProgbarLogger

        callbacks = list(callbacks or [])
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be ember.keras.callbacks.Callback instances, "
                                f"got {type(cb).__name__}")
        backups = [cb for cb in callbacks if isinstance(cb, BackupAndRestore)]
        rest = [cb for cb in callbacks if not isinstance(cb, BackupAndRestore)]
        if add_progbar and not any(isinstance(cb, ProgbarLogger) for cb in rest):
            rest.append(ProgbarLogger())
        if add_history:
            rest.append(History())
        self.callbacks = rest + backups
        params = {k: v for k, v in params.items() if v is not None}
        for cb in self.callbacks:
            cb.set_params(params)
            if model is not None:
                cb.set_model(model)
        if model is not None and add_history:
            model._callback_list = self

    def get_states(self) -> dict:
        return {f"{i}:{type(cb).__name__}": cb.get_state() for i, cb in enumerate(self.callbacks)
                if cb.get_state()}

    def set_states(self, states: dict) -> None:
        for i, cb in enumerate(self.callbacks):
            state = states.get(f"{i}:{type(cb).__name__}")
            if state:
                cb.set_state(state)

    def _call(self, hook: str, *args) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(*args)

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._call("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._call("on_train_batch_end", batch, logs)

    def on_test_begin(self, logs=None):
        self._call("on_test_begin", logs)

    def on_test_end(self, logs=None):
        self._call("on_test_end", logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._call("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        self._call("on_test_batch_end", batch, logs)

    def on_predict_begin(self, logs=None):
        self._call("on_predict_begin", logs)

    def on_predict_end(self, logs=None):
        self._call("on_predict_end", logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._call("on_predict_batch_begin", batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._call("on_predict_batch_end", batch, logs)
