"""Weights ember ships: small models trained on scikit-learn's digits, with a model card each.

Each shipped model has ``shipped/<name>.safetensors`` and ``shipped/<name>.json`` (the card:
data, split, test accuracy, seed, the command that reproduces the file). The command is

    python -m ember.zoo.pretrained NAME --out DIR

which trains the model from scratch (a few seconds on a laptop) and writes both files into
``DIR``. Both models use the split of ``ember train``'s built-in job: the digits shuffled with
seed 0, 20% held out for the test accuracy, 10% of the rest for validation.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from ..nn import Module
from .models._common import ZooError

__all__ = ["SHIPPED", "WEIGHTS_DIR", "load_shipped", "model_card", "reproduce", "seed_cnn",
           "digits_splits", "digits_to_lenet", "evaluate_shipped"]

#: The folder that holds the shipped weights and cards.
WEIGHTS_DIR = Path(__file__).resolve().parent / "shipped"

#: Shipped model name -> (epochs, learning rate) of its training run.
SHIPPED: dict[str, dict] = {
    "lenet5": {"epochs": 15, "batch_size": 32, "learning_rate": 0.002},
    "seed_cnn": {"epochs": 12},
}


def _check_name(name: str) -> None:
    if name not in SHIPPED:
        raise ZooError(f"ember.zoo: no shipped weights named {name!r}; ember ships: "
                       + ", ".join(sorted(SHIPPED)))


def _shipped_file(name: str, folder, suffix: str, missing: str) -> Path:
    """``<folder>/<name><suffix>`` of shipped weights ``name``; FileNotFoundError with
    ``missing`` (the path at ``{}``) and the command that recreates it when it is absent."""
    _check_name(name)
    path = Path(folder or WEIGHTS_DIR) / f"{name}{suffix}"
    if not path.is_file():
        raise FileNotFoundError(f"ember.zoo: {missing.format(path)} with: python -m "
                                f"ember.zoo.pretrained {name} --out {path.parent}")
    return path


def model_card(name: str, folder: str | os.PathLike | None = None) -> dict:
    """The model card of shipped weights ``name`` (a dict read from ``<name>.json``).

    Example:
        >>> from ember.zoo.pretrained import model_card
        >>> card = model_card("lenet5")
        >>> card["data"]["dataset"], card["command"]
        ('digits', 'python -m ember.zoo.pretrained lenet5 --out DIR')
    """
    path = _shipped_file(name, folder, ".json", "the model card {} is missing; reinstall "
                         "ember or recreate it")
    with open(path) as f:
        return json.load(f)


def load_shipped(model: Module, name: str, folder: str | os.PathLike | None = None) -> Module:
    """Load the shipped weights ``name`` into ``model`` (strict: every name and shape).

    Args:
        model: a model of the shipped architecture (``LeNet5()``, ``seed_cnn()``).
        name: ``"lenet5"`` or ``"seed_cnn"``.
        folder: where the weights are (ember's ``zoo/shipped`` by default).

    Example:
        >>> import ember
        >>> from ember.zoo.pretrained import load_shipped
        >>> model = load_shipped(ember.zoo.LeNet5(), "lenet5")
        >>> model.fc3.out_features
        10
    """
    from ..io import load_safetensors

    path = _shipped_file(name, folder, ".safetensors", "the shipped weights {} are missing; "
                         "reinstall ember or recreate them")
    model.load_state_dict(load_safetensors(path))
    return model


# ---------------------------------------------------------------------- data
def _default_config(seed: int = 0, epochs: int | None = None) -> dict:
    from ..keras import config as _config

    cfg = _config.parse(_config.DEFAULT_CONFIG, "<built-in default config>")
    cfg["seed"] = seed
    if epochs is not None:
        cfg["train"]["epochs"] = epochs
    return cfg


def digits_splits(seed: int = 0) -> dict:
    """Train/val/test arrays of the digits, ``(N, 8, 8, 1)`` float32, as ``ember train`` splits.

    Example:
        >>> from ember.zoo.pretrained import digits_splits
        >>> [len(digits_splits()[k][1]) for k in ("train", "val", "test")]
        [1294, 144, 359]
    """
    from ..keras.run import load_data

    return load_data(_default_config(seed))


def digits_to_lenet(x: np.ndarray) -> np.ndarray:
    """8x8 digits ``(N, 8, 8, 1)`` or ``(N, 1, 8, 8)`` -> ``(N, 1, 32, 32)``: each pixel 4x4.

    Example:
        >>> import numpy as np
        >>> from ember.zoo.pretrained import digits_to_lenet
        >>> digits_to_lenet(np.zeros((2, 8, 8, 1))).shape
        (2, 1, 32, 32)
    """
    x = np.asarray(x, dtype=np.float32).reshape(len(x), 1, 8, 8)
    return np.ascontiguousarray(x.repeat(4, axis=2).repeat(4, axis=3))


def _accuracy(model: Module, x: np.ndarray, y: np.ndarray) -> float:
    from ..autograd.grad_mode import no_grad
    from ..ops.creation import from_numpy

    was_training = model.training
    model.eval()
    with no_grad():
        pred = model(from_numpy(x)).numpy().argmax(axis=1)
    model.train(was_training)
    return float((pred == y).mean())


# ---------------------------------------------------------------------- training
def _train_lenet5(seed: int, epochs: int) -> tuple[Module, dict]:
    from .. import nn, optim
    from ..ops.creation import from_numpy
    from ..random import Generator, manual_seed
    from .models.lenet import LeNet5

    hp = SHIPPED["lenet5"]
    data = digits_splits(seed)
    x, y = digits_to_lenet(data["train"][0]), data["train"][1]
    manual_seed(seed)
    model = LeNet5()
    opt = optim.Adam(model.parameters(), lr=hp["learning_rate"])
    loss_fn = nn.CrossEntropyLoss()
    order = Generator(seed=seed).np
    bs = hp["batch_size"]
    for _ in range(epochs):
        perm = order.permutation(len(x))
        for i in range(0, len(x), bs):
            idx = perm[i:i + bs]
            loss = loss_fn(model(from_numpy(x[idx])), from_numpy(y[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    test_x, test_y = data["test"]
    return model, {"test_accuracy": _accuracy(model, digits_to_lenet(test_x), test_y),
                   "test_samples": int(len(test_y)),
                   "training": {"optimizer": "Adam", **hp, "epochs": epochs,
                                "loss": "cross-entropy", "train_samples": int(len(y))},
                   "input": "(N, 1, 32, 32): the 8x8 digits in [0, 1], each pixel repeated "
                            "4x4 (ember.zoo.pretrained.digits_to_lenet)"}


def _train_seed_cnn(seed: int, epochs: int) -> tuple[Module, dict]:
    import tempfile

    from ..keras.models import load_model
    from ..keras.run import train

    cfg = _default_config(seed, epochs)
    with tempfile.TemporaryDirectory() as run_dir:
        results = train(cfg, run_dir, verbose=0)
        model = load_model(os.path.join(run_dir, "model.keras"))
    test_x, test_y = digits_splits(seed)["test"]
    return model, {"test_accuracy": _accuracy(model, test_x, test_y),
                   "test_samples": int(len(test_y)),
                   "training": {"config": "ember.keras.config.DEFAULT_CONFIG (ember train's "
                                          "built-in job)", "epochs": epochs,
                                "train_seconds": results["train_seconds"]},
                   "input": "(N, 8, 8, 1): the 8x8 digits in [0, 1], channels last"}


def reproduce(name: str, out: str | os.PathLike, seed: int = 0,
              epochs: int | None = None) -> dict:
    """Train shipped model ``name`` from scratch; write its weights and card into ``out``.

    Args:
        name: ``"lenet5"`` or ``"seed_cnn"``.
        out: the folder for ``<name>.safetensors`` and ``<name>.json`` (created if needed).
        seed: the seed of the split, the initial weights and the shuffling.
        epochs: train this many epochs instead of the shipped run's.

    Returns:
        The model card that was written.
    """
    from threadpoolctl import threadpool_limits  # scikit-learn's dependency, as the digits

    from ..io import save_safetensors

    _check_name(name)
    epochs = SHIPPED[name]["epochs"] if epochs is None else epochs
    start = time.perf_counter()
    # One BLAS thread and ember's own convolution kernels (not oneDNN's, whose kernels
    # depend on the CPU): the sums are then done in the same order on every machine (and
    # these small matrices gain nothing from more threads).
    from .. import backends

    enabled, backends.onednn.enabled = backends.onednn.enabled, False
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            model, facts = (_train_lenet5 if name == "lenet5" else _train_seed_cnn)(seed,
                                                                                   epochs)
    finally:
        backends.onednn.enabled = enabled
    card = {
        "name": name,
        "architecture": ("ember.zoo.LeNet5()" if name == "lenet5" else
                         "ember.zoo.seed_cnn(): seed 004's CNN as an ember.keras Sequential"),
        "data": {"dataset": "digits", "source": "scikit-learn's bundled UCI handwritten digits "
                 "(1797 images, 8x8, 10 classes), pixels divided by 16",
                 "split": "shuffled with the seed; the last 20% is the test set, 10% of the "
                          "rest validation (ember.keras.run.load_data, as ember train)"},
        "seed": seed,
        "blas_threads": 1,
        **facts,
        "command": f"python -m ember.zoo.pretrained {name} --out DIR",
        "seconds": round(time.perf_counter() - start, 1),
    }
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    save_safetensors(model.state_dict(), folder / f"{name}.safetensors",
                     metadata={"name": name, "seed": str(seed)})
    tmp = folder / f"{name}.json.tmp"
    tmp.write_text(json.dumps(card, indent=1) + "\n")
    os.replace(tmp, folder / f"{name}.json")
    return card


def evaluate_shipped(name: str, folder: str | os.PathLike | None = None) -> float:
    """The test accuracy of shipped weights ``name`` on the card's test split.

    Example:
        >>> from ember.zoo.pretrained import evaluate_shipped, model_card
        >>> evaluate_shipped("lenet5") == model_card("lenet5")["test_accuracy"]
        True
    """
    from .models.lenet import lenet5

    card = model_card(name, folder)
    test_x, test_y = digits_splits(card["seed"])["test"]
    if name == "lenet5":
        model = load_shipped(lenet5(), name, folder)
        test_x = digits_to_lenet(test_x)
    else:
        model = load_shipped(seed_cnn(), name, folder)
    return _accuracy(model, test_x, test_y)


def seed_cnn(pretrained: bool = False):
    """Seed 004's CNN (``ember train``'s built-in model) as a compiled ``ember.keras`` model.

    Args:
        pretrained: load the weights ember ships (trained on the digits by ``ember train``'s
            built-in job; the test accuracy is in ``ember zoo info seed_cnn``).

    Shape:
        ``(N, 8, 8, 1)`` -> ``(N, 10)`` class probabilities (softmax).

    Example:
        >>> import ember
        >>> model = ember.zoo.seed_cnn(pretrained=True)
        >>> model.predict(ember.zeros(2, 8, 8, 1), verbose=0).shape
        (2, 10)
    """
    from ..keras import config as _config

    model = _config.build_model(_default_config())
    if pretrained:
        load_shipped(model, "seed_cnn")
    return model


def main(argv: list[str] | None = None) -> int:
    """``python -m ember.zoo.pretrained NAME --out DIR [--seed S] [--epochs E]``."""
    parser = argparse.ArgumentParser(prog="python -m ember.zoo.pretrained",
                                     description="Train one of ember's shipped models and "
                                     "write its weights and model card.")
    parser.add_argument("name", choices=sorted(SHIPPED))
    parser.add_argument("--out", required=True, help="the folder to write into")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, help="override the shipped run's epochs")
    args = parser.parse_args(argv)
    card = reproduce(args.name, args.out, seed=args.seed, epochs=args.epochs)
    print(f"{args.name}: test accuracy {card['test_accuracy']:.4f} on {card['test_samples']} "
          f"digits; wrote {args.out}/{args.name}.safetensors and .json", file=sys.stdout)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
