"""``python -m bench.bench_jit``: the training step compiled with ``ember.jit`` against eager
ember and eager PyTorch, on W1-W5, in one process, alternating rounds, 2 threads.

Each workload is built three times from bench/workloads.py with the same seed: eager ember,
ember with the whole step (forward, loss, backward, ember.optim.Adam's update) under
``ember.jit``, and PyTorch. While tracing, the optimiser records its update rule as ops with
the step count in a tensor (ember/optim/_traced.py); the bench checks that the jit losses
follow eager ember's.

    python -m bench.bench_jit              # W1-W5
    python -m bench.bench_jit W1 W5 --rounds 3
    python -m bench.bench_jit --cpu        # 1 thread, CPU time: the work done (shared machines)
    python -m bench.bench_jit chain        # a 6-op elementwise chain over 64 MB arrays

``chain`` times ``((x * 2 + y) * 0.5 - x).relu() * y`` on (64, 64, 64, 64) float32 arrays:
eagerly (one pass over memory per op, each result a new array), and compiled, where the
fused group runs block by block (the inputs read once, the result written once, the
intermediates in cache-sized scratch).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from .workloads import WORKLOADS

THREADS = 2


def _chain(lib):
    rng = np.random.default_rng(0)
    x, y = (lib.from_numpy(rng.standard_normal((64, 64, 64, 64), dtype=np.float32))
            for _ in range(2))

    def step():
        return ((x * 2.0 + y) * 0.5 - x).relu() * y

    return step


CHAIN = ("fused elementwise chain, 6 ops on 64 MB arrays", _chain)


def build(key: str, with_torch: bool, threads: int = THREADS):
    import ember
    from ember.graph import jit

    _, builder = CHAIN if key == "chain" else WORKLOADS[key]
    steps = {"eager": builder(ember), "jit": jit(builder(ember))}
    if with_torch:
        import torch

        torch.set_num_threads(threads)
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


def run(key: str, rounds: int, per_round: int, warmup: int, with_torch: bool,
        clock=time.perf_counter, threads: int = THREADS, settle: float = 0.3) -> dict:
    steps = build(key, with_torch, threads)
    for step in steps.values():
        for _ in range(warmup):
            step()
    samples = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            time.sleep(settle)  # the other library's idle threads stop spinning (bench/__main__)
            step()
            for _ in range(per_round):
                t0 = clock()
                step()
                samples[name].append(clock() - t0)
    row = {"workload": key, "description": (CHAIN if key == "chain" else WORKLOADS[key])[0]}
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
    parser.add_argument("--cpu", action="store_true",
                        help="one thread everywhere and CPU time instead of wall time: "
                             "steadier ratios on a machine other jobs share")
    args = parser.parse_args(argv)
    threads = 1 if args.cpu else THREADS
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
    except ImportError:
        pass
    import ember.optim

    ember.optim.set_num_threads(threads)
    clock = time.process_time if args.cpu else time.perf_counter
    with_torch = not args.no_torch
    print("| workload | eager ms | jit ms | PyTorch ms | eager/jit | PyTorch/jit | loss diff |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for key in args.workloads:
        if (key not in WORKLOADS or key == "W6") and key != "chain":
            parser.error(f"unknown workload {key!r}; choose from W1-W5 or chain")
        try:
            r = run(key, args.rounds, args.per_round, args.warmup, with_torch, clock, threads)
        except Exception as exc:  # noqa: BLE001 - reported in the table, the others still run
            print(f"| {key} {WORKLOADS[key][0]} | jit failed: {type(exc).__name__}: "
                  f"{str(exc)[:120]} | | | | | |", flush=True)
            continue
        t = f"{r['torch_ms']:.3f}" if with_torch else "-"
        tj = f"{r['torch_over_jit']:.2f}" if with_torch else "-"
        desc = r["description"]
        print(f"| {key} {desc} | {r['eager_ms']:.3f} | {r['jit_ms']:.3f} | {t} | "
              f"{r['eager_over_jit']:.2f} | {tj} | {r['loss_rel_diff']:.1e} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
