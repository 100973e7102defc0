"""The ``ember train/evaluate/predict/summary`` commands (argument parsing is in ember.cli)."""

from __future__ import annotations

import json
import os
import sys

import numpy as np

from . import config as _config
from .callbacks.backup import FILENAME as CHECKPOINT
from .run import RunError, find_latest_run, load_data, prepare_run_dir, train

__all__ = ["cmd_train", "cmd_evaluate", "cmd_predict", "cmd_summary", "ERRORS"]


def _errors() -> tuple:
    from ..errors import EmberError
    from ..io import CheckpointError

    return (_config.ConfigError, RunError, CheckpointError, EmberError)


ERRORS = _errors()


def _resume_dir(args, out) -> str:
    if args.resume:
        run_dir = args.resume
        if not os.path.isdir(run_dir):
            raise RunError(f"no run folder {run_dir} to resume; start a run with `ember train`")
    else:
        cfg = _config.load(args.config)
        run_dir = find_latest_run(cfg["train"]["output"], cfg["name"])
        if run_dir is None:
            where = os.path.join(cfg["train"]["output"], cfg["name"])
            raise RunError(f"no run to resume: {where} (or {where}-N) has no checkpoint; start "
                           "one with `ember train`")
    if not os.path.exists(os.path.join(run_dir, CHECKPOINT)):
        raise RunError(f"{run_dir} has no {CHECKPOINT} to resume from (the run stopped before "
                       "its first checkpoint); start it again with `ember train`")
    return run_dir


def _train_group(args):
    """The process group for ``--distributed`` (or an MPI launch of several ranks), else None."""
    from ..distributed import init_process_group, is_initialized
    from ..distributed.group import _GROUP
    from ..distributed.keras import launched_world_size

    wanted = getattr(args, "distributed", False) or (
        launched_world_size() > 1 and os.environ.get("EMBER_DISTRIBUTED", "1") != "0")
    if not wanted:
        return None
    if not is_initialized():
        init_process_group("mpi")
    return _GROUP[0] if _GROUP[0].world_size > 1 else None


def cmd_train(args, out=None) -> int:
    """``ember train [CONFIG] [--resume [RUN]] [--distributed]``; returns the exit status.

    Data-parallel (under MPI): rank 0 chooses the run folder and reads or updates its config,
    every rank trains, only rank 0 prints and writes files.
    """
    out = out or sys.stdout
    group = _train_group(args)
    if group is None:
        plan = _plan_train(args, out)
    else:
        if group.rank != 0:
            out = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
        try:
            plan = _plan_train(args, out) if group.rank == 0 else None
        except ERRORS as e:
            plan = {"error": str(e)}
        plan = group.all_gather_object(plan, "ember train (run folder)")[0]
        if "error" in plan:
            raise RunError(plan["error"])
    if "exit" in plan:
        return plan["exit"]
    cfg, run_dir, resume = plan["cfg"], plan["run_dir"], plan["resume"]
    results = train(cfg, run_dir, resume=resume, stop_after_steps=args.stop_after_steps,
                    verbose=0 if args.quiet else 1, out=out)
    if results.get("interrupted"):
        print(f"stopped; checkpoint saved in {run_dir}. Continue with:\n"
              f"  ember train --resume {run_dir}", file=out)
        return 130
    _report(results, out)
    return 0


def _plan_train(args, out) -> dict:
    """The config, run folder and whether to resume (or ``{"exit": status}`` when done)."""
    if args.resume is not None:
        if args.config and args.resume:
            raise RunError("give either a CONFIG or --resume RUN_FOLDER (a run folder holds its "
                           "own config)")
        run_dir = _resume_dir(args, out)
        cfg = _config.load(os.path.join(run_dir, "config.toml"))
        if args.epochs is not None and args.epochs != cfg["train"]["epochs"]:
            cfg["train"]["epochs"] = args.epochs
            with open(os.path.join(run_dir, "config.toml"), "w") as f:
                f.write(_config.dumps(cfg))
        elif os.path.exists(os.path.join(run_dir, "results.json")):
            with open(os.path.join(run_dir, "results.json")) as f:
                results = json.load(f)
            print(f"{run_dir} already finished its {cfg['train']['epochs']} epochs "
                  "(train longer with --epochs N)", file=out)
            _report(results, out)
            return {"exit": 0}
        print(f"resuming {run_dir}", file=out)
        resume = True
    else:
        cfg = _config.load(args.config)
        if args.epochs is not None:
            cfg["train"]["epochs"] = args.epochs
        if args.seed is not None:
            cfg["seed"] = args.seed
        run_dir = prepare_run_dir(cfg, args.out)
        resume = False
    return {"cfg": cfg, "run_dir": run_dir, "resume": resume}


def _report(results: dict, out) -> None:
    parts = [f"{k[5:]} {v:.4f}" for k, v in results.items() if k.startswith("test_")]
    if parts:
        print("test: " + ", ".join(parts), file=out)
    run_dir = results["run_dir"]
    onnx = ", model.onnx" if results.get("onnx") else ""
    print(f"run folder: {run_dir} (model.keras{onnx}, {CHECKPOINT}, metrics.csv, curves.png, "
          "config.toml)", file=out)


def _load_for_use(path: str, config_path: str | None):
    """A trained model and the config whose data it evaluates on."""
    from ..io import load
    from .saving import load_model

    if os.path.isdir(path):
        cfg = _config.load(os.path.join(path, "config.toml")) if config_path is None else \
            _config.load(config_path)
        model_file = os.path.join(path, "model.keras")
        if os.path.exists(model_file):
            return load_model(model_file), cfg
        ckpt = os.path.join(path, CHECKPOINT)
        if not os.path.exists(ckpt):
            raise RunError(f"{path} holds neither model.keras nor {CHECKPOINT}")
        model = _config.build_model(cfg)
        model.load_state_dict(load(ckpt)["model"])
        return model, cfg
    if not os.path.exists(path):
        raise RunError(f"{path} does not exist: give a run folder or a model.keras file")
    return load_model(path), _config.load(config_path)


def cmd_evaluate(args, out=None) -> int:
    """``ember evaluate RUN_OR_MODEL``: loss and metrics on the held-out test split."""
    out = out or sys.stdout
    model, cfg = _load_for_use(args.path, args.config)
    data = load_data(cfg)
    split = "test" if data["test"] is not None else "val"
    if data[split] is None:
        raise RunError("the config holds out no test or validation data to evaluate on")
    logs = model.evaluate(*data[split], batch_size=256, verbose=0, return_dict=True)
    print(f"{split} ({len(data[split][0])} samples): "
          + ", ".join(f"{k} {v:.4f}" for k, v in logs.items()), file=out)
    return 0


def _read_input(path: str) -> np.ndarray:
    if not os.path.exists(path):
        raise RunError(f"input file {path} does not exist")
    if path.endswith(".npy"):
        return np.load(path, allow_pickle=False)
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as f:
            return f["x"] if "x" in f else f[f.files[0]]
    if path.endswith(".csv"):
        return np.loadtxt(path, delimiter=",", ndmin=2)
    raise RunError(f"cannot read {path}: give a .npy, .npz (array x) or .csv file")


def cmd_predict(args, out=None) -> int:
    """``ember predict RUN_OR_MODEL [INPUT]``: the predicted class of each sample."""
    out = out or sys.stdout
    model, cfg = _load_for_use(args.path, args.config)
    labels = None
    if args.input:
        x = _read_input(args.input).astype(np.float32)
        shape = model._build_input_shape
        if tuple(x.shape[1:]) != tuple(shape[1:]):
            if int(np.prod(x.shape[1:])) != int(np.prod(shape[1:])):
                raise RunError(f"the model takes samples of shape {tuple(shape[1:])}; "
                               f"{args.input} holds samples of shape {tuple(x.shape[1:])}")
            x = x.reshape((len(x), *shape[1:]))
    else:
        data = load_data(cfg)
        x, labels = data["test"] if data["test"] is not None else data["train"]
    x = x[:args.limit]
    probs = model.predict(x, batch_size=256, verbose=0)
    print("sample  predicted  probability" + ("  label" if labels is not None else ""),
          file=out)
    for i, p in enumerate(probs):
        line = f"{i:6d}  {int(p.argmax()):9d}  {float(p.max()):11.4f}"
        print(line + (f"  {int(labels[i]):5d}" if labels is not None else ""), file=out)
    if labels is not None:
        acc = float((probs.argmax(axis=-1) == labels[:len(probs)]).mean())
        print(f"accuracy on these {len(probs)}: {acc:.4f}", file=out)
    return 0


def cmd_summary(args, out=None) -> int:
    """``ember summary [CONFIG]``: the layer table of the config's model."""
    out = out or sys.stdout
    cfg = _config.load(args.config)
    shape = None
    if cfg["model"].get("input_shape") is None:
        shape = load_data(cfg)["train"][0].shape[1:]
    model = _config.build_model(cfg, input_shape=shape)
    model.summary(print_fn=lambda s: print(s, file=out))
    return 0
