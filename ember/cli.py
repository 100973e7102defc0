"""The ``ember`` command.

``ember demo`` trains a two-layer network on a synthetic two-spirals problem with nothing but
tensors and autograd, printing the loss as it falls. ``ember info`` prints versions and the
BLAS NumPy uses.
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


def info(out=sys.stdout) -> None:
    import numpy as np

    import ember

    print(f"ember {ember.__version__}", file=out)
    print(f"numpy {np.__version__}", file=out)
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            print(f"BLAS: {pool.get('internal_api')} {pool.get('version')} "
                  f"threads={pool.get('num_threads')} core={pool.get('architecture')}", file=out)
    except ImportError:
        print("BLAS: install threadpoolctl to see which BLAS NumPy uses", file=out)
    print("devices: cpu", file=out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="ember", description="ember deep-learning framework")
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser("demo", help="train a small network with autograd, print the loss")
    p_demo.add_argument("--steps", type=int, default=1000)
    p_demo.add_argument("--seed", type=int, default=0)
    sub.add_parser("info", help="versions, BLAS and devices")
    args = parser.parse_args(argv)
    if args.command == "demo":
        demo(args.steps, args.seed)
    elif args.command == "info":
        info()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
