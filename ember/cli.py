"""The ``ember`` command.

``ember train`` trains a network described in a TOML file (by default the seed CNN on
scikit-learn's digits) and writes a run folder; ``ember evaluate``/``predict`` use a finished
run, ``ember summary`` prints a config's layer table, ``ember bench`` runs the benchmarks.
``ember demo`` trains a two-layer network on two spirals with nothing but tensors and
autograd; ``ember info`` prints versions, the BLAS NumPy uses, whether oneDNN runs, and the
devices.
"""

from __future__ import annotations

import argparse
import math
import sys
import time


def _spirals(n: int, gen):
    import ember

    t = ember.rand(n, generator=gen) * 2 * math.pi + 0.5
    label = ember.randint(0, 2, (n,), generator=gen)
    sign = label.float() * 2 - 1
    x = ember.stack([t.cos() * t * sign, t.sin() * t * sign], dim=1) / 10
    x = x + ember.randn(n, 2, generator=gen) * 0.02
    return x, label


def demo(steps: int = 1000, seed: int = 0, out=sys.stdout) -> float:
    """Fit a 2-64-2 MLP with hand-written SGD on two spirals; returns the final accuracy."""
    import ember

    gen = ember.Generator(seed=seed)
    x, y = _spirals(512, gen)
    w1 = (ember.randn(2, 64, generator=gen) * 4.0).requires_grad_()
    b1 = ember.zeros(64, requires_grad=True)
    w2 = (ember.randn(64, 2, generator=gen) * 0.1).requires_grad_()
    b2 = ember.zeros(2, requires_grad=True)
    params = [w1, b1, w2, b2]
    onehot = ember.one_hot(y, 2).float()
    start = time.perf_counter()
    for step in range(steps + 1):
        logits = (x @ w1 + b1).tanh() @ w2 + b2
        logp = logits - logits.logsumexp(dim=1, keepdim=True)
        loss = -(logp * onehot).sum(dim=1).mean()
        for p in params:
            p.grad = None
        loss.backward()
        with ember.no_grad():
            for p in params:
                p -= 1.0 * p.grad
        if step % 100 == 0:
            acc = (logits.argmax(dim=1) == y).float().mean().item()
            print(f"step {step:4d}  loss {loss.item():.4f}  accuracy {acc:.3f}", file=out)
    print(f"trained in {time.perf_counter() - start:.2f} s", file=out)
    return acc


def info(out=sys.stdout, bench: bool = False) -> None:
    """Versions, backends, devices, the BLAS NumPy uses and its threads; with ``bench``, the
    measured matmul GFLOP/s and memory bandwidth of each device (``benchmark_device``)."""
    import importlib.util
    import os
    import platform

    import numpy as np

    import ember

    print(f"ember {ember.__version__}", file=out)
    print(f"python {platform.python_version()} ({platform.machine()})", file=out)
    print(f"numpy {np.__version__}", file=out)
    cupy = importlib.util.find_spec("cupy") is not None
    print("backends: numpy (cpu)" + (", cupy (cuda)" if cupy else "; cupy not installed, so "
                                     "no cuda backend"), file=out)
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            print(f"BLAS: {pool.get('internal_api')} {pool.get('version')} "
                  f"threads={pool.get('num_threads')} core={pool.get('architecture')}", file=out)
    except ImportError:
        print("BLAS: install threadpoolctl to see which BLAS NumPy uses", file=out)
    onednn = ember.backends.onednn
    if not onednn.enabled:
        print("oneDNN: switched off (ember.backends.onednn.enabled is False or EMBER_ONEDNN=0)",
              file=out)
    elif onednn.is_available():
        print("oneDNN: {} (float32 convolutions, matmuls, LSTM, pooling, batch norm, ReLU, "
              "Adam/SGD updates)".format(".".join(map(str, onednn.version()))), file=out)
    else:
        print(f"oneDNN: not used: {onednn.why_unavailable()}", file=out)
    print(f"cpu cores: {os.cpu_count()}", file=out)
    print("devices: cpu", file=out)
    for line in ember.cuda.info_lines():  # GPUs, CUDA, cuDNN and CuPy versions (or why none)
        print(line, file=out)
    if bench:
        from .utils.benchmark import benchmark_device, format_benchmark

        print("benchmark (best of 5, ember's matmul and the array library's interleaved):",
              file=out)
        print(format_benchmark(benchmark_device()), file=out)


def bench(args: list[str]) -> int:
    """Run the repository's benchmarks (``python -m bench``) from its root."""
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    if not (root / "bench" / "__main__.py").exists():
        print("ember bench: the bench/ folder ships with ember's source repository, not with the "
              "installed package; run it from a clone", file=sys.stderr)
        return 2
    return subprocess.call([sys.executable, "-m", "bench", *args], cwd=root)


def zoo(args) -> int:
    """``ember zoo list`` and ``ember zoo info NAME``; returns the exit status."""
    from .zoo import registry

    try:
        if args.zoo_command == "list":
            registry.print_models()
        else:
            registry.print_info(args.name)
    except (registry.ZooError, OSError) as e:
        print(f"ember zoo {args.zoo_command}: error: {e}", file=sys.stderr)
        return 2
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ember", description="ember deep-learning framework")
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser("demo", help="train a small network with autograd, print the loss")
    p_demo.add_argument("--steps", type=int, default=1000)
    p_demo.add_argument("--seed", type=int, default=0)
    p_info = sub.add_parser("info", help="versions, BLAS and devices")
    p_info.add_argument("--bench", action="store_true",
                        help="measure each device's peak matmul GFLOP/s and memory bandwidth")
    p_train = sub.add_parser(
        "train", help="train the network a TOML config describes (default: a CNN on digits)",
        description="Train the network described by CONFIG (a TOML file); without CONFIG, the "
        "built-in job: the seed CNN on scikit-learn's digits. Writes a run folder with the "
        "checkpoint, metrics.csv, curves.png and the config used. Ctrl-C saves a checkpoint; "
        "--resume continues exactly where it stopped.")
    p_train.add_argument("config", nargs="?", help="a TOML config file (see docs/config.md)")
    p_train.add_argument("--resume", nargs="?", const="", metavar="RUN",
                         help="continue an interrupted run (the latest one of CONFIG by default)")
    p_train.add_argument("--out", help="the run folder (default: <output>/<name>[-N])")
    p_train.add_argument("--epochs", type=int, help="override the config's epochs")
    p_train.add_argument("--seed", type=int, help="override the config's seed")
    p_train.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p_train.add_argument("--stop-after-steps", type=int, help=argparse.SUPPRESS)
    p_train.add_argument("--distributed", action="store_true",
                         help="train data-parallel on the ranks of an MPI launch "
                         "(mpirun -n 4 ember train --distributed); on by itself under mpirun")
    p_eval = sub.add_parser("evaluate", help="test loss and metrics of a run or saved model")
    p_eval.add_argument("path", metavar="RUN_OR_MODEL")
    p_eval.add_argument("--config", help="the config whose data to use (a run has its own)")
    p_pred = sub.add_parser("predict", help="predicted classes of a run or saved model")
    p_pred.add_argument("path", metavar="RUN_OR_MODEL")
    p_pred.add_argument("input", nargs="?", help="samples (.npy, .npz or .csv); default: the "
                        "test split of the config's data")
    p_pred.add_argument("--config", help="the config whose data to use (a run has its own)")
    p_pred.add_argument("--limit", type=int, default=10, help="at most this many samples")
    p_sum = sub.add_parser("summary", help="the layer table of a config's model")
    p_sum.add_argument("config", nargs="?", help="a TOML config (default: the built-in one)")
    sub.add_parser("bench", help="run the benchmarks in bench/ (arguments pass through)",
                   add_help=False)
    p_zoo = sub.add_parser("zoo", help="the model zoo: list models, or show one's facts")
    zoo_sub = p_zoo.add_subparsers(dest="zoo_command", required=True)
    zoo_sub.add_parser("list", help="every zoo model with its parameters and input")
    p_zoo_info = zoo_sub.add_parser("info", help="one model's facts and its weights' model card")
    p_zoo_info.add_argument("name", metavar="NAME")
    return parser


def main(argv=None) -> int:
    """The ``ember`` command; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:
        return bench(argv[1:])
    args = _parser().parse_args(argv)
    if args.command == "demo":
        demo(args.steps, args.seed)
        return 0
    if args.command == "info":
        info(bench=args.bench)
        return 0
    if args.command == "zoo":
        return zoo(args)
    from .keras import commands

    run = {"train": commands.cmd_train, "evaluate": commands.cmd_evaluate,
           "predict": commands.cmd_predict, "summary": commands.cmd_summary}[args.command]
    try:
        return run(args)
    except (*commands.ERRORS, OSError, ImportError) as e:
        print(f"ember {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
