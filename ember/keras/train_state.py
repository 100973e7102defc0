"""Everything an interrupted ``fit`` needs to continue exactly: weights, optimiser state,
random-generator states, the position in the epoch, metric totals, history and callback
state. ``BackupAndRestore`` saves it with ``ember.io`` (safetensors + JSON, no pickle)."""

from __future__ import annotations

from .. import random as _random
from ..autograd.grad_mode import no_grad
from ..ops.creation import tensor as _tensor
from ..tensor import Tensor

__all__ = ["train_state", "load_train_state", "class_weights_for", "STATE_VERSION"]

STATE_VERSION = 1


def train_state(model) -> dict:
    """A nested dict of tensors and JSON values; ``ember.io.save`` writes it."""
    progress = getattr(model, "_progress", None) or {"epoch": 0, "step": 0, "epoch_rng": None}
    history = getattr(model, "history", None)
    callbacks = getattr(model, "_callback_list", None)
    return {
        "version": STATE_VERSION,
        "epoch": int(progress["epoch"]),
        "step": int(progress["step"]),
        "epoch_rng": progress["epoch_rng"],
        "rng": _random.get_rng_state(),
        "metrics": {m.name: m.get_state() for m in model.metrics},
        "history": {"epoch": list(history.epoch), "history": dict(history.history)}
        if history is not None else None,
        "callbacks": callbacks.get_states() if callbacks is not None else {},
        "model": dict(model.state_dict()),
        "optimizer": model.optimizer.state_dict(),
    }


def load_train_state(model, state: dict) -> None:
    """Restore ``train_state``'s output into a compiled, built model whose optimiser is built;
    the next ``fit`` continues from the saved position."""
    if state.get("version") != STATE_VERSION:
        raise ValueError(f"this checkpoint has state version {state.get('version')!r}; this "
                         f"ember reads version {STATE_VERSION}")
    model.load_state_dict(state["model"])
    model.optimizer.load_state_dict(state["optimizer"])
    _random.set_rng_state(state["rng"])
    history = getattr(model, "history", None)
    if history is not None and state.get("history"):
        history.epoch = list(state["history"]["epoch"])
        history.history = {k: list(v) for k, v in state["history"]["history"].items()}
    callbacks = getattr(model, "_callback_list", None)
    if callbacks is not None:
        callbacks.set_states(state.get("callbacks") or {})
    model._resume = {
        "epoch": state["epoch"], "step": state["step"],
        "epoch_rng": state["epoch_rng"] if state["epoch_rng"] is not None else state["rng"],
        "rng": state["rng"], "metrics": state["metrics"],
    }


def class_weights_for(class_weight: dict, y: Tensor, sample_weight):
    """Per-sample weights ``class_weight[label]`` (labels as ids or one-hot rows)."""
    if y is None:
        raise ValueError("class_weight needs labels y")
    with no_grad():
        ids = y.argmax(dim=-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(-1).long()
        size = max(int(k) for k in class_weight) + 1
        table = [1.0] * max(size, int(ids.max().item()) + 1)
        for k, w in class_weight.items():
            table[int(k)] = float(w)
        weights = _tensor(table)[ids]
    return weights if sample_weight is None else weights * sample_weight
