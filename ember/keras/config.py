"""Training from a TOML file: the network, data, optimiser and schedule as data, not code.

This is the Caffe idea -- a network defined in a config file and trained without writing a
program -- with Keras's layer names. ``ember train FILE`` reads it; ``ember train`` alone uses
``DEFAULT_CONFIG``, the seed CNN on scikit-learn's digits. Every mistake is reported with
where it is: the TOML line and column, the section and key, the layer's position.

Example:
    >>> from ember.keras import config
    >>> cfg = config.parse(config.DEFAULT_CONFIG)
    >>> cfg["model"]["layers"][0]["type"], cfg["train"]["optimizer"]["type"]
    ('Conv2D', 'adam')
"""

from __future__ import annotations

import copy
import os

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

__all__ = ["DEFAULT_CONFIG", "ConfigError", "parse", "load", "dumps", "build_model",
           "SCHEDULES"]

DEFAULT_CONFIG = """\
# ember train's built-in job: the CNN of seed 004 (Conv 32 -> pool -> Conv 64 -> pool ->
# Conv 64 -> Dense 64 -> Dense 10), with padding="same" so that it fits scikit-learn's
# 8x8 handwritten digits, trained with Adam.
name = "digits-cnn"
seed = 0

[data]
dataset = "digits"          # scikit-learn's bundled digits: 1797 images, 8x8, 10 classes
test_fraction = 0.2         # held out, reported once at the end
validation_fraction = 0.1   # of the rest, evaluated after every epoch

[model]
input_shape = [8, 8, 1]     # height, width, channels (Keras's channels-last)
layers = [
  { type = "Conv2D", filters = 32, kernel_size = 3, activation = "relu", padding = "same" },
  { type = "MaxPooling2D", pool_size = 2 },
  { type = "Conv2D", filters = 64, kernel_size = 3, activation = "relu", padding = "same" },
  { type = "MaxPooling2D", pool_size = 2 },
  { type = "Conv2D", filters = 64, kernel_size = 3, activation = "relu", padding = "same" },
  { type = "Flatten" },
  { type = "Dense", units = 64, activation = "relu" },
  { type = "Dense", units = 10, activation = "softmax" },
]

[train]
epochs = 12
batch_size = 32
loss = "sparse_categorical_crossentropy"
metrics = ["accuracy"]
output = "runs"             # run folders are created under this folder

[train.optimizer]
type = "adam"
learning_rate = 0.002

[train.schedule]
type = "cosine"             # cosine decay of the learning rate over all epochs
min_learning_rate = 0.0001
"""

#: Learning-rate schedules a config may name, with their keys.
SCHEDULES = {
    "cosine": {"min_learning_rate"},
    "step": {"step_size", "gamma"},
    "exponential": {"gamma"},
    "plateau": {"factor", "patience", "min_learning_rate", "monitor"},
}

_SECTIONS = {
    "": {"name", "seed", "data", "model", "train"},
    "data": {"dataset", "path", "test_fraction", "validation_fraction", "input_shape",
             "scale", "label_column"},
    "model": {"input_shape", "layers"},
    "train": {"epochs", "batch_size", "loss", "metrics", "output", "optimizer", "schedule",
              "early_stopping", "shuffle", "tensorboard"},
    "train.early_stopping": {"monitor", "patience", "min_delta", "restore_best_weights"},
}
_DEFAULTS = {
    "name": "run", "seed": 0,
    "data": {"dataset": "digits", "test_fraction": 0.2, "validation_fraction": 0.1},
    "model": {},
    "train": {"epochs": 10, "batch_size": 32, "loss": "sparse_categorical_crossentropy",
              "metrics": ["accuracy"], "output": "runs", "optimizer": {"type": "adam"},
              "shuffle": True, "tensorboard": False},
}
DATASETS = ("digits", "npz", "csv")


class ConfigError(ValueError):
    """A training config that cannot be used; the message says where and what to do."""


def _check_keys(table: dict, section: str, where: str) -> None:
    allowed = _SECTIONS[section]
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} in "
                          f"{'[' + section + ']' if section else 'the top level'}; allowed: "
                          + ", ".join(sorted(allowed)))


def _merge(defaults: dict, given: dict) -> dict:
    out = copy.deepcopy(defaults)
    for k, v in given.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _number(value, key: str, where: str, kind=float, low=None, high=None,
            low_open: bool = False, high_open: bool = False):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        rng = ""
        if low is not None or high is not None:
            lb = "(" if low_open else "["
            hb = ")" if high_open else "]"
            rng = f" in {lb}{'' if low is None else low}, {'' if high is None else high}{hb}"
        raise ConfigError(f"{where}: {key} must be {'an integer' if kind is int else 'a number'}"
                          f"{rng}, got {value!r}")
    return value


def parse(text: str, where: str = "<config>") -> dict:
    """Parse and check a TOML training config; fill in defaults.

    Raises:
        ConfigError: a TOML syntax error (with line and column), an unknown key or name, or
            a value of the wrong type or range.
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{where}: TOML syntax error: {e}") from None
    _check_keys(raw, "", where)
    for section in ("data", "model", "train"):
        if section in raw and not isinstance(raw[section], dict):
            raise ConfigError(f"{where}: {section} must be a table ([{section}])")
        _check_keys(raw.get(section, {}), section, where)
    cfg = _merge(_DEFAULTS, raw)
    if "early_stopping" in cfg["train"]:
        _check_keys(cfg["train"]["early_stopping"], "train.early_stopping", where)
    _validate(cfg, where)
    return cfg


def _validate(cfg: dict, where: str) -> None:
    if not isinstance(cfg["name"], str) or not cfg["name"] or "/" in cfg["name"]:
        raise ConfigError(f"{where}: name must be a non-empty string without '/', "
                          f"got {cfg['name']!r}")
    _number(cfg["seed"], "seed", where, int, 0)
    data, train, model = cfg["data"], cfg["train"], cfg["model"]
    if data["dataset"] not in DATASETS:
        raise ConfigError(f"{where}: [data] dataset {data['dataset']!r} is not known; known "
                          f"datasets: {', '.join(DATASETS)}")
    if data["dataset"] != "digits" and not isinstance(data.get("path"), str):
        raise ConfigError(f"{where}: [data] dataset {data['dataset']!r} needs path = \"...\"")
    _number(data["test_fraction"], "[data] test_fraction", where, float, 0, 1, high_open=True)
    _number(data["validation_fraction"], "[data] validation_fraction", where, float, 0, 1,
            high_open=True)
    _number(train["epochs"], "[train] epochs", where, int, 1)
    _number(train["batch_size"], "[train] batch_size", where, int, 1)
    if not isinstance(train["metrics"], list):
        raise ConfigError(f"{where}: [train] metrics must be a list of names")
    layers = model.get("layers")
    if not isinstance(layers, list) or not layers:
        raise ConfigError(f"{where}: [model] layers must be a non-empty list of tables like "
                          "{ type = \"Dense\", units = 10 }")
    for i, layer in enumerate(layers):
        if not isinstance(layer, dict) or not isinstance(layer.get("type"), str):
            raise ConfigError(f"{where}: model.layers[{i}] must be a table with a type = "
                              "\"LayerName\" key")
    shape = model.get("input_shape", data.get("input_shape"))
    if shape is not None and (not isinstance(shape, list) or not all(
            isinstance(d, int) and d > 0 for d in shape)):
        raise ConfigError(f"{where}: [model] input_shape must be a list of positive integers, "
                          f"got {shape!r}")
    opt = train["optimizer"]
    if not isinstance(opt, dict) or not isinstance(opt.get("type"), str):
        raise ConfigError(f"{where}: [train.optimizer] needs type = \"adam\" (or sgd, rmsprop, "
                          "...)")
    schedule = train.get("schedule")
    if schedule is not None:
        kind = schedule.get("type") if isinstance(schedule, dict) else None
        if kind not in SCHEDULES:
            raise ConfigError(f"{where}: [train.schedule] type {kind!r} is not known; known "
                              f"schedules: {', '.join(sorted(SCHEDULES))}")
        unknown = sorted(set(schedule) - SCHEDULES[kind] - {"type"})
        if unknown:
            raise ConfigError(f"{where}: [train.schedule] unknown key(s) {', '.join(unknown)} "
                              f"for type {kind!r}; allowed: "
                              + ", ".join(sorted(SCHEDULES[kind])))


def load(path: str | os.PathLike | None = None) -> dict:
    """Read and check a config file (``None``: the built-in default)."""
    if path is None:
        return parse(DEFAULT_CONFIG, "<built-in default config>")
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read config file {path}: {e}") from None
    return parse(text, path)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def dumps(cfg: dict) -> str:
    """The config as TOML text (``parse(dumps(cfg)) == cfg``)."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in cfg.items() if not isinstance(v, dict)]

    def table(name: str, t: dict) -> None:
        lines.append(f"\n[{name}]")
        subtables = []
        for k, v in t.items():
            if isinstance(v, dict):
                subtables.append((k, v))
            elif k == "layers":
                lines.append("layers = [")
                lines.extend(f"  {_toml_value(layer)}," for layer in v)
                lines.append("]")
            else:
                lines.append(f"{k} = {_toml_value(v)}")
        for k, v in subtables:
            table(f"{name}.{k}", v)

    for k, v in cfg.items():
        if isinstance(v, dict):
            table(k, v)
    return "\n".join(lines) + "\n"


def build_model(cfg: dict, input_shape=None):
    """The compiled ``Sequential`` model a config describes.

    Raises:
        ConfigError: an unknown layer, optimiser, loss or metric name (listing the known
            ones), bad layer arguments, or layers whose shapes do not fit (naming the layer
            and the shape it got).
    """
    from . import layers as klayers
    from . import losses, metrics, optimizers
    from .sequential import Sequential

    shape = cfg["model"].get("input_shape") or input_shape
    model = Sequential(name=cfg["name"].replace("-", "_"))
    if shape is not None:
        model.add(klayers.Input(shape=tuple(shape)))
    for i, spec in enumerate(cfg["model"]["layers"]):
        args = {k: v for k, v in spec.items() if k != "type"}
        where = f"model.layers[{i}] ({spec['type']})"
        try:
            cls = klayers.get(spec["type"])
        except ValueError as e:
            raise ConfigError(f"model.layers[{i}]: {e}") from None
        try:
            layer = cls(**args)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{where}: {e}") from None
        try:
            model.add(layer)
        except ValueError as e:
            raise ConfigError(f"{where}: {e}") from None
    train = cfg["train"]
    opt = dict(train["optimizer"])
    kind = opt.pop("type")
    try:
        optimizer = optimizers.get(kind).__class__(**opt)
    except ValueError as e:
        raise ConfigError(f"[train.optimizer]: {e}") from None
    except TypeError as e:
        raise ConfigError(f"[train.optimizer] ({kind}): {e}") from None
    try:
        loss = losses.get(train["loss"])
    except ValueError as e:
        raise ConfigError(f"[train] loss: {e}") from None
    for m in train["metrics"]:
        try:
            metrics.get(m, loss, (None,), (None, 2))
        except (ValueError, TypeError) as e:
            raise ConfigError(f"[train] metrics: {e}") from None
    model.compile(optimizer=optimizer, loss=loss, metrics=list(train["metrics"]))
    return model
