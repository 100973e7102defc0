"""A training run from a config: data, model, ``fit`` with a progress bar, and a run folder.

The run folder holds ``config.toml`` (the config used), ``checkpoint.safetensors`` (the whole
training state, for ``--resume``), ``model.keras`` (the trained model), ``metrics.csv``,
``curves.png`` (loss and accuracy per epoch), ``model.onnx`` (the inference graph, when the
``onnx`` package is installed) and ``results.json`` (test scores).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time

import numpy as np

from .. import random as _random
from . import config as _config
from .callbacks import BackupAndRestore, Callback, EarlyStopping, ReduceLROnPlateau, TensorBoard
from .callbacks.backup import FILENAME as CHECKPOINT
from .callbacks.base import plot_history

__all__ = ["load_data", "train", "RunError", "find_latest_run", "prepare_run_dir"]


class RunError(RuntimeError):
    """A run that cannot start or continue (folder missing, not writable, already used)."""


# ---------------------------------------------------------------------- data
def _read_arrays(cfg: dict):
    data = cfg["data"]
    kind = data["dataset"]
    if kind == "digits":
        from ..data.datasets import digits

        x, y = digits().arrays
        return _shaped(cfg, np.ascontiguousarray(x.transpose(0, 2, 3, 1)), y)
    path = data["path"]
    if not os.path.exists(path):
        raise _config.ConfigError(f"[data] path {path} does not exist")
    if kind == "npz":
        with np.load(path, allow_pickle=False) as f:
            if "x" not in f or "y" not in f:
                raise _config.ConfigError(f"[data] {path} must hold arrays named x and y, "
                                          f"found {', '.join(f.files)}")
            x, y = f["x"], f["y"]
    else:
        table = np.genfromtxt(path, delimiter=",", names=True, dtype=np.float64)
        names = table.dtype.names
        label = data.get("label_column", names[-1])
        if label not in names:
            raise _config.ConfigError(f"[data] label_column {label!r} is not a column of "
                                      f"{path}; columns: {', '.join(names)}")
        x = np.stack([table[n] for n in names if n != label], axis=1)
        y = table[label]
    x = x.astype(np.float32)
    if y.dtype.kind == "f" and np.all(y == np.round(y)):
        y = y.astype(np.int64)
    return _shaped(cfg, x, y)


def _shaped(cfg: dict, x: np.ndarray, y: np.ndarray):
    """Scale the samples and reshape them to the model's input_shape, if the config says."""
    if "scale" in cfg["data"]:
        x = x * np.float32(cfg["data"]["scale"])
    shape = cfg["model"].get("input_shape")
    if shape is not None:
        if int(np.prod(shape)) != int(np.prod(x.shape[1:])):
            raise _config.ConfigError(f"[model] input_shape {shape} does not match the data's "
                                      f"samples of shape {tuple(x.shape[1:])}")
        x = x.reshape((len(x), *shape))
    return x, y


def load_data(cfg: dict) -> dict:
    """Train, validation and test splits, drawn with the config's seed."""
    x, y = _read_arrays(cfg)
    if len(x) != len(y):
        raise _config.ConfigError(f"the data has {len(x)} samples but {len(y)} labels")
    order = _random.Generator(seed=cfg["seed"]).np.permutation(len(x))
    x, y = x[order], y[order]
    n_test = int(round(len(x) * cfg["data"]["test_fraction"]))
    n_val = int(round((len(x) - n_test) * cfg["data"]["validation_fraction"]))
    n_train = len(x) - n_test - n_val
    if n_train < 1:
        raise _config.ConfigError(f"the fractions leave no training samples (of {len(x)})")
    return {"train": (x[:n_train], y[:n_train]),
            "val": (x[n_train:n_train + n_val], y[n_train:n_train + n_val]) if n_val else None,
            "test": (x[n_train + n_val:], y[n_train + n_val:]) if n_test else None}


# ---------------------------------------------------------------------- run folder
def _writable(folder: str) -> None:
    try:
        os.makedirs(folder, exist_ok=True)
        probe = os.path.join(folder, ".ember-write-test")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        raise RunError(f"cannot write to the output folder {folder}: {e.strerror or e}; choose "
                       "another with --out") from None


def find_latest_run(output: str, name: str) -> str | None:
    """The most recently saved run folder ``output/name[-N]`` that has a checkpoint."""
    if not os.path.isdir(output):
        return None
    runs = [os.path.join(output, d) for d in os.listdir(output)
            if d == name or (d.startswith(name + "-") and d[len(name) + 1:].isdigit())]
    runs = [r for r in runs if os.path.exists(os.path.join(r, CHECKPOINT))]
    return max(runs, key=lambda r: os.path.getmtime(os.path.join(r, CHECKPOINT))) if runs else None


def prepare_run_dir(cfg: dict, out: str | None) -> str:
    """A fresh run folder: ``out`` itself, or ``<output>/<name>``, ``-2``, ``-3`` ..."""
    if out is not None:
        if os.path.exists(os.path.join(out, CHECKPOINT)):
            raise RunError(f"{out} already holds a run; continue it with --resume {out}, or "
                           "choose another folder with --out")
        _writable(out)
        return out
    base = os.path.join(cfg["train"]["output"], cfg["name"])
    run, i = base, 1
    while os.path.exists(run):
        i += 1
        run = f"{base}-{i}"
    _writable(run)
    return run


# ---------------------------------------------------------------------- callbacks
class RunFiles(Callback):
    """Write metrics.csv and curves.png after every epoch (their rows resume with the run)."""

    rank_zero_only = True  # data-parallel training: only rank 0 writes the files

    def __init__(self, run_dir: str) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.rows: list[dict] = []

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None) -> None:
        row = {"epoch": epoch + 1, **(logs or {}),
               "learning_rate": self.model.optimizer.learning_rate,
               "seconds": round(time.perf_counter() - self._start, 3)}
        self.rows.append(row)
        self.write()

    def write(self) -> None:
        keys = list(dict.fromkeys(k for row in self.rows for k in row))
        path = os.path.join(self.run_dir, "metrics.csv")
        with open(path + ".tmp", "w") as f:
            f.write(",".join(keys) + "\n")
            for row in self.rows:
                f.write(",".join(_cell(row.get(k, "")) for k in keys) + "\n")
        os.replace(path + ".tmp", path)
        history = {k: [row[k] for row in self.rows if k in row] for k in keys
                   if k not in ("epoch", "seconds", "learning_rate")}
        try:
            plot_history(history, [row["epoch"] - 1 for row in self.rows],
                         os.path.join(self.run_dir, "curves.png"), title=self.run_dir)
        except ImportError:
            if not getattr(self, "_warned", False):
                print("note: install matplotlib to get curves.png", file=sys.stderr)
                self._warned = True

    def get_state(self) -> dict:
        return {"rows": self.rows}

    def set_state(self, state: dict) -> None:
        self.rows = [dict(r) for r in state["rows"]]


def _cell(v) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


class StopAfterSteps(Callback):
    """Stop as Ctrl-C would, after ``n`` training steps of this process (for tests)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n, self.seen = n, 0

    def on_train_batch_end(self, batch, logs=None) -> None:
        self.seen += 1
        if self.seen >= self.n:
            self.model.interrupted = self.model.stop_training = True


class CosineSchedule(Callback):
    """Cosine decay of the learning rate per epoch, from the optimiser's to ``minimum``."""

    def __init__(self, epochs: int, minimum: float) -> None:
        super().__init__()
        self.epochs, self.minimum = epochs, float(minimum)

    def on_epoch_begin(self, epoch, logs=None) -> None:
        import math

        if not hasattr(self, "initial"):
            self.initial = self.model.optimizer.learning_rate
        t = epoch / max(self.epochs - 1, 1)
        self.model.optimizer.learning_rate = self.minimum + 0.5 * (
            self.initial - self.minimum) * (1 + math.cos(math.pi * t))

    def get_state(self) -> dict:
        return {"initial": self.initial} if hasattr(self, "initial") else {}

    def set_state(self, state: dict) -> None:
        self.initial = state["initial"]


def _schedule_callbacks(cfg: dict) -> list:
    from .callbacks import LearningRateScheduler

    train, out = cfg["train"], []
    s = train.get("schedule")
    if s is not None:
        kind = s["type"]
        if kind == "cosine":
            out.append(CosineSchedule(train["epochs"], s.get("min_learning_rate", 0.0)))
        elif kind == "step":
            size, gamma = int(s.get("step_size", 10)), float(s.get("gamma", 0.1))
            out.append(LearningRateScheduler(
                lambda epoch, lr: lr * gamma if epoch and epoch % size == 0 else lr))
        elif kind == "exponential":
            gamma = float(s.get("gamma", 0.9))
            out.append(LearningRateScheduler(lambda epoch, lr: lr * gamma if epoch else lr))
        else:
            out.append(ReduceLROnPlateau(monitor=s.get("monitor", "val_loss"),
                                         factor=s.get("factor", 0.5),
                                         patience=s.get("patience", 2),
                                         min_lr=s.get("min_learning_rate", 0.0)))
    es = train.get("early_stopping")
    if es:
        out.append(EarlyStopping(**es))
    return out


# ---------------------------------------------------------------------- train
def train(cfg: dict, run_dir: str, resume: bool = False, stop_after_steps: int | None = None,
          verbose: int = 1, out=None) -> dict:
    """Train the config's model in ``run_dir``; returns the results (or ``interrupted``)."""
    out = out or sys.stdout
    from ..distributed import get_rank

    writer = get_rank() == 0  # under MPI only rank 0 writes (every rank trains and resumes)
    _random.manual_seed(cfg["seed"])
    data = load_data(cfg)
    x, y = data["train"]
    model = _config.build_model(cfg, input_shape=x.shape[1:])
    if not resume and writer:
        with open(os.path.join(run_dir, "config.toml"), "w") as f:
            f.write(_config.dumps(cfg))
    files = RunFiles(run_dir)
    callbacks = _schedule_callbacks(cfg) + [files]
    if cfg["train"].get("tensorboard"):
        callbacks.append(TensorBoard(os.path.join(run_dir, "tensorboard")))
    if stop_after_steps:
        callbacks.append(StopAfterSteps(stop_after_steps))
    backup = BackupAndRestore(run_dir, delete_checkpoint=False)
    callbacks.append(backup)
    if verbose and writer:
        print(f"run folder: {run_dir}", file=out)
        if not resume:
            model.summary(print_fn=lambda s: print(s, file=out))

    def on_sigint(signum, frame):
        model.interrupted = model.stop_training = True
        signal.signal(signal.SIGINT, signal.default_int_handler)
        print("\ninterrupted: finishing this batch and saving a checkpoint "
              "(Ctrl-C again to abort)", file=out, flush=True)

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_sigint) if main else None
    start = time.perf_counter()
    try:
        model.fit(x, y, batch_size=cfg["train"]["batch_size"], epochs=cfg["train"]["epochs"],
                  validation_data=data["val"], shuffle=cfg["train"]["shuffle"],
                  callbacks=callbacks, verbose=verbose)
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)
    seconds = time.perf_counter() - start
    if model.interrupted:
        return {"interrupted": True, "run_dir": run_dir}
    results = {"run_dir": run_dir, "epochs": cfg["train"]["epochs"],
               "train_seconds": round(seconds, 2), "resumed": backup.restored}
    if data["test"] is not None:
        logs = model.evaluate(*data["test"], batch_size=256, verbose=0, return_dict=True)
        results.update({"test_" + k: v for k, v in logs.items()})
    if not writer:
        return results
    model.save(os.path.join(run_dir, "model.keras"))
    results["onnx"] = _export_onnx(model, x, os.path.join(run_dir, "model.onnx"))
    tmp = os.path.join(run_dir, "results.json.tmp")
    with open(tmp, "w") as f:
        json.dump(results, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(run_dir, "results.json"))
    return results


def _export_onnx(model, x, path: str) -> str | None:
    """The trained model as ONNX (inference graph, dynamic batch) when onnx is installed."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        print("note: install onnx (pip install 'ember[onnx]') to get model.onnx", file=sys.stderr)
        return None
    from .. import onnx as ember_onnx
    from ..ops.creation import tensor
    from ..tensor import Tensor

    example = x[:1] if isinstance(x, Tensor) else tensor(x[:1])
    was_training = model.training
    model.eval()
    try:
        tmp = path + ".tmp"
        ember_onnx.export(model, example, tmp,
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                          input_names=["input"], output_names=["output"])
        os.replace(tmp, path)
    finally:
        model.train(was_training)
    return os.path.basename(path)
