"""Saving and loading models: JSON for the architecture, safetensors for the weights.

``model.save("m.keras")`` writes one zip file holding ``config.json`` (the layer configs and
the compile settings), ``model.weights.safetensors`` (the state dict) and, once the model has
trained, ``optimizer.safetensors`` (the ``ember.io`` checkpoint of the optimiser state).
Nothing is pickled, so loading a file cannot run code. Every file is written to a temporary
name and renamed, so a crash leaves the previous file whole.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile

from .. import __version__
from ..io import load, load_safetensors, save, save_safetensors

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "model_from_json",
           "model_from_config"]

CONFIG = "config.json"
WEIGHTS = "model.weights.safetensors"
OPTIMIZER = "optimizer.safetensors"


def _check_target(filepath, overwrite: bool, what: str) -> str:
    path = os.fspath(filepath)
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{what}: {path} exists; pass overwrite=True to replace it")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{what}: the folder {folder} does not exist")
    return path


def _compile_config(model) -> dict | None:
    if not getattr(model, "compiled", False):
        return None
    from . import losses, optimizers

    try:
        loss = model._loss_fn
        return {
            "optimizer": optimizers.serialize(model.optimizer),
            "loss": [losses.serialize(item) for item in loss] if isinstance(loss, list)
            else (None if loss is None else losses.serialize(loss)),
            "metrics": [m for m in model._metric_ids if isinstance(m, str)],
            "loss_weights": model.loss_weights,
        }
    except ValueError:
        return None  # a custom optimizer or loss: the architecture and weights still save


def save_model(model, filepath, overwrite: bool = True) -> None:
    """Write ``model`` (config, weights, optimiser state) to one zip file at ``filepath``."""
    path = _check_target(filepath, overwrite, "save")
    if path.endswith(".safetensors"):
        raise ValueError(f"save: {path} names a weights file; use model.save_weights() for "
                         "safetensors weights, or a .keras name for the whole model")
    if not model.built:
        raise ValueError(f"save: model '{model.name}' is not built yet, so it has no weights; "
                         "build it (input_shape=, build() or a call on data) first")
    config = {"class_name": type(model).__name__, "config": model.get_config(),
              "compile_config": _compile_config(model), "ember_version": __version__,
              "build_input_shape": model._build_input_shape}
    folder = os.path.dirname(os.path.abspath(path))
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        weights = os.path.join(tmp, WEIGHTS)
        save_safetensors(dict(model.state_dict()), weights)
        opt = getattr(model, "optimizer", None)
        opt_file = None
        if opt is not None and getattr(opt, "built", False) and config["compile_config"]:
            opt_file = os.path.join(tmp, OPTIMIZER)
            save(opt.state_dict(), opt_file)
        archive = os.path.join(tmp, "model.keras")
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(CONFIG, json.dumps(config, indent=1))
            zf.write(weights, WEIGHTS)
            if opt_file:
                zf.write(opt_file, OPTIMIZER)
        os.replace(archive, path)


def model_from_config(config: dict, custom_objects: dict | None = None):
    """Rebuild a model (or layer) from ``{"class_name": ..., "config": ...}``."""
    from .layers import deserialize

    return deserialize(config, custom_objects)


def model_from_json(text: str, custom_objects: dict | None = None):
    """Rebuild a model from ``model.to_json()``'s output (new, untrained weights)."""
    return model_from_config(json.loads(text), custom_objects)


def load_model(filepath, custom_objects: dict | None = None, compile: bool = True):
    """Load a model saved by ``model.save``: architecture, weights, and (with ``compile``) the
    optimiser, loss and metrics, ready to continue training."""
    path = os.fspath(filepath)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load_model: {path} does not exist")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"load_model: {path} is not a model saved by model.save() (a zip with "
                         "config.json and safetensors weights)")
    with zipfile.ZipFile(path) as zf, tempfile.TemporaryDirectory() as tmp:
        names = set(zf.namelist())
        if CONFIG not in names or WEIGHTS not in names:
            raise ValueError(f"load_model: {path} lacks {CONFIG} or {WEIGHTS}")
        config = json.loads(zf.read(CONFIG))
        zf.extract(WEIGHTS, tmp)
        weights = load_safetensors(os.path.join(tmp, WEIGHTS))
        opt_state = None
        if OPTIMIZER in names:
            zf.extract(OPTIMIZER, tmp)
            opt_state = load(os.path.join(tmp, OPTIMIZER))
    model = model_from_config(config, custom_objects)
    shape = config.get("build_input_shape")
    if not model.built and shape is not None:
        model.build(_as_shape(shape))
    model.load_state_dict(weights)
    compile_config = config.get("compile_config")
    if compile and compile_config:
        from . import losses, optimizers

        loss = compile_config["loss"]
        model.compile(optimizer=optimizers.get(compile_config["optimizer"]),
                      loss=[losses.get(x) for x in loss] if isinstance(loss, list)
                      else (None if loss is None else losses.get(loss)),
                      metrics=compile_config.get("metrics"),
                      loss_weights=compile_config.get("loss_weights"))
        model._pending_optimizer_state = opt_state
    return model


def _as_shape(shape):
    if shape and isinstance(shape[0], list):
        return [tuple(s) for s in shape]
    return tuple(shape)


def save_weights(model, filepath, overwrite: bool = True) -> None:
    """Write the model's state dict to a safetensors file."""
    path = _check_target(filepath, overwrite, "save_weights")
    if not model.built:
        raise ValueError(f"save_weights: model '{model.name}' is not built yet, so it has no "
                         "weights")
    save_safetensors(dict(model.state_dict()), path, {"format": "ember.keras"})


def load_weights(model, filepath) -> None:
    """Load a safetensors state dict into a built model (names and shapes must match)."""
    path = os.fspath(filepath)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load_weights: {path} does not exist")
    if not model.built:
        raise ValueError(f"load_weights: model '{model.name}' is not built yet; build it "
                         "(input_shape=, build() or a call on data) before loading weights")
    model.load_state_dict(load_safetensors(path))
