"""``python -m bench.bench_jit``: the training step compiled with ``ember.jit`` against eager
ember and eager PyTorch, on W1-W5, in one process, alternating rounds, 2 threads.

Each workload is built three times from bench/workloads.py with the same seed: eager ember,
ember with the whole step (forward, loss, backward, ember.optim.Adam's update) under
``ember.jit``, and PyTorch. While tracing, the optimiser records its update rule as ops with
the step count in a tensor (ember/optim/_traced.py); the bench checks that the jit losses
follow eager ember's.

    python -m bench.bench_jit              # W1-W5
    python -m bench.bench_jit W1 W5 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from .workloads import WORKLOADS

THREADS = 2


def build(key: str, with_torch: bool):
    import ember
    import ember.optim  # noqa: F401  (until ember/__init__ imports it)
    from ember.graph import jit

    _, builder = WORKLOADS[key]
    steps = {"eager": builder(ember), "jit": jit(builder(ember))}
    if with_torch:
        import torch

        torch.set_num_threads(THREADS)
        steps["torch"] = builder(torch)
    return steps


def agreement(key: str, n: int = 4) -> float:
    """Largest relative difference of the loss between eager and jit over ``n`` steps."""
    steps = build(key, False)
    worst = 0.0
    for _ in range(n):
        a = np.asarray(steps["eager"]().detach().numpy(), dtype=np.float64)
        b = np.asarray(steps["jit"]().detach().numpy(), dtype=np.float64)
        worst = max(worst, float(np.max(np.abs(a - b) / np.maximum(np.abs(a), 1e-30))))
    return worst


def run(key: str, rounds: int, per_round: int, warmup: int, with_torch: bool) -> dict:
    steps = build(key, with_torch)
    for step in steps.values():
        for _ in range(warmup):
            step()
    samples = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            for _ in range(per_round):
                t0 = time.perf_counter()
                step()
                samples[name].append(time.perf_counter() - t0)
    row = {"workload": key, "description": WORKLOADS[key][0]}
    for name, times in samples.items():
        row[f"{name}_ms"] = statistics.median(times) * 1e3
    row["eager_over_jit"] = row["eager_ms"] / row["jit_ms"]
    if with_torch:
        row["torch_over_jit"] = row["torch_ms"] / row["jit_ms"]
    row["loss_rel_diff"] = agreement(key)
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_jit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workloads", nargs="*", default=["W1", "W2", "W3", "W4", "W5"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--no-torch", action="store_true")
    args = parser.parse_args(argv)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(THREADS)
    except ImportError:
        pass
    with_torch = not args.no_torch
    print("| workload | eager ms | jit ms | PyTorch ms | eager/jit | PyTorch/jit | loss diff |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for key in args.workloads:
        if key not in WORKLOADS or key == "W6":
            parser.error(f"unknown workload {key!r}; choose from W1-W5")
        try:
            r = run(key, args.rounds, args.per_round, args.warmup, with_torch)
        except Exception as exc:  # noqa: BLE001 - reported in the table, the others still run
            print(f"| {key} {WORKLOADS[key][0]} | jit failed: {type(exc).__name__}: "
                  f"{str(exc)[:120]} | | | | | |", flush=True)
            continue
        t = f"{r['torch_ms']:.3f}" if with_torch else "-"
        tj = f"{r['torch_over_jit']:.2f}" if with_torch else "-"
        print(f"| {key} {r['description']} | {r['eager_ms']:.3f} | {r['jit_ms']:.3f} | {t} | "
              f"{r['eager_over_jit']:.2f} | {tj} | {r['loss_rel_diff']:.1e} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
