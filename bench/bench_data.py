"""The data pipeline's two speed claims, measured.

(a) Prefetching: a dataset whose items take 2 ms each to load (``time.sleep``, standing in
    for disk or network latency) feeds a model step that costs about as much as loading a
    batch: an ember MLP forward/backward/update on one BLAS thread (calibrated at start-up),
    and a simulated accelerator step (the CPU waits while the GPU computes). One epoch with
    ``num_workers=2`` (threads) should take at least 1.7x less time than with 0 workers,
    since the workers load the next batches while the model computes.
(b) The in-memory fast path: batches of 128 from a 60,000 x 784 float32 ``ArrayDataset``
    (shuffled), sliced with one fancy-index per batch, against the same dataset collated
    item by item (the fast path switched off), which should be at least 10x slower.

Each configuration runs several times, alternating; the table shows medians. Results go to
``bench/results/bench_data.json``.

    python -m bench.bench_data
    python bench/bench_data.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

import ember
from ember.data import ArrayDataset, DataLoader, Dataset, default_collate

ITEM_SECONDS = 0.002
RESULTS = Path(__file__).resolve().parent / "results"


class SlowDataset(Dataset):
    """Items that take ``ITEM_SECONDS`` each to load: a 784-vector and a label."""

    def __init__(self, n: int) -> None:
        rng = np.random.default_rng(0)
        self.x = rng.standard_normal((n, 784)).astype(np.float32)
        self.y = rng.integers(0, 10, n)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        time.sleep(ITEM_SECONDS)
        return self.x[i], self.y[i]


class Model:
    """An MLP 784-4096-10 trained by plain SGD with ember's autograd; ``repeats`` steps a call.

    Wide layers keep the step's time in BLAS, which releases the GIL, as a real model's
    would; the loader threads then get the interpreter whenever they need it.
    """

    def __init__(self, repeats: int = 1, hidden: int = 4096) -> None:
        g = ember.Generator(seed=0)
        self.w1 = (ember.randn(784, hidden, generator=g) * 0.03).requires_grad_()
        self.w2 = (ember.randn(hidden, 10, generator=g) * 0.03).requires_grad_()
        self.repeats = repeats

    def step(self, x, y) -> float:
        for _ in range(self.repeats):
            logits = (x @ self.w1).relu() @ self.w2
            loss = (logits ** 2).mean()
            loss.backward()
            with ember.no_grad():
                for w in (self.w1, self.w2):
                    w -= 0.01 * w.grad
                    w.grad = None
        return float(loss.item())


class AcceleratorStep:
    """A model step on a GPU as the host sees it: the CPU waits ``seconds`` (idle)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def step(self, x, y) -> None:
        time.sleep(self.seconds)


def _epoch(loader, model) -> float:
    start = time.perf_counter()
    for x, y in loader:
        model.step(x, y)
    return time.perf_counter() - start


def _median_time(fn, n: int) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


CONFIGS = {"num_workers=0": dict(num_workers=0),
           "num_workers=2 (threads)": dict(num_workers=2),
           "num_workers=2 (processes, persistent)": dict(
               num_workers=2, worker_type="process", persistent_workers=True)}


def bench_prefetch(rounds: int, batches: int, batch_size: int) -> dict:
    """Epoch times with 0 and 2 workers, for a model step that costs what loading a batch
    costs: an ember MLP on the CPU (calibrated here), and a simulated accelerator step.

    The speed-up is the median over rounds of the ratio within each round (each round
    runs every configuration once, back to back), which cancels slow drifts in machine load.
    """
    load = batch_size * ITEM_SECONDS
    cpu_model = Model()
    x = ember.randn(batch_size, 784)
    one = _median_time(lambda: cpu_model.step(x, None), 21)
    cpu_model.repeats = max(1, round(load / one))
    models = {"ember MLP on the CPU": cpu_model,
              "accelerator (CPU waits)": AcceleratorStep(load)}
    ds = SlowDataset(batches * batch_size)
    loaders = {k: DataLoader(ds, batch_size=batch_size, shuffle=True, timeout=60, **v)
               for k, v in CONFIGS.items()}
    out = {"batch_load_ms": load * 1e3, "batches": batches, "batch_size": batch_size}
    for name, model in models.items():
        step = _median_time(lambda m=model: m.step(x, None), 5)
        for loader in loaders.values():  # warm-up; starts the persistent process workers
            _epoch(loader, model)
        times: dict = {k: [] for k in CONFIGS}
        for _ in range(rounds):
            for k, loader in loaders.items():
                times[k].append(_epoch(loader, model))
        base = times["num_workers=0"]
        out[name] = {"model_step_ms": step * 1e3, "all_epoch_s": times,
                     "epoch_s": {k: statistics.median(v) for k, v in times.items()},
                     "speedup": {k: statistics.median(b / t for b, t in zip(base, v))
                                 for k, v in times.items()}}
    loaders.clear()
    return out


class NumpyItems(Dataset):
    """The same arrays as a plain map-style dataset returning ``(row, label)`` NumPy items."""

    def __init__(self, x, y) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.x[i], self.y[i]


def _item_collate(batch):
    """default_collate under another name: the loader then collates item by item."""
    return default_collate(batch)


class _BareGather:
    """A shuffled epoch of ``x[idx], y[idx]`` with no loader at all: the cost of the memory
    traffic that any loader serving these batches must pay."""

    def __init__(self, x, y, batch_size: int) -> None:
        self.x, self.y, self.batch_size = x, y, batch_size
        self.rng = np.random.default_rng(0)

    def __iter__(self):
        order = self.rng.permutation(len(self.y))
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            yield self.x[idx], self.y[idx]


def _serve(loader) -> float:
    start = time.perf_counter()
    n = 0
    for _ in loader:
        n += 1
    return (time.perf_counter() - start) / n


def bench_fast_path(rounds: int, n: int = 60_000) -> dict:
    """Per-batch time of the fast path against item-by-item collation of the same data;
    ratios are medians of per-round ratios."""
    rng = np.random.default_rng(0)
    x = rng.random((n, 784), dtype=np.float32)
    y = rng.integers(0, 10, n)
    ds = ArrayDataset(x, y)
    gen = ember.Generator(seed=0)
    loaders = {
        "fast path (ArrayDataset)": DataLoader(ds, batch_size=128, shuffle=True, generator=gen),
        "item by item (same dataset)": DataLoader(ds, batch_size=128, shuffle=True,
                                                  generator=gen, collate_fn=_item_collate),
        "item by item (NumPy rows)": DataLoader(NumpyItems(x, y), batch_size=128,
                                                shuffle=True, generator=gen),
        "fast path, no shuffle": DataLoader(ds, batch_size=128),
        "bare NumPy x[idx], y[idx] (the memory floor)": _BareGather(x, y, 128),
    }
    for loader in loaders.values():
        _serve(loader)
    times: dict = {k: [] for k in loaders}
    for _ in range(rounds):
        for k, loader in loaders.items():
            times[k].append(_serve(loader))
    med = {k: statistics.median(v) * 1e6 for k, v in times.items()}
    fast = times["fast path (ArrayDataset)"]
    ratio = {k: statistics.median(t / f for t, f in zip(v, fast)) for k, v in times.items()}
    return {"batch_us": med, "speedup_vs_fast": ratio, "all_batch_s": times,
            "shape": [n, 784], "batch_size": 128}


def _one_blas_thread() -> None:
    """The model step runs on one BLAS thread, so its cost does not depend on what the
    (sleeping) loader threads leave free on a 2-core machine."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(1)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args(argv)
    _one_blas_thread()
    rounds = 2 if args.quick else 5
    pre = bench_prefetch(rounds, batches=12 if args.quick else 24, batch_size=16)
    fast = bench_fast_path(rounds)
    print(f"(a) prefetching: batches of {pre['batch_size']} items x 2 ms = "
          f"{pre['batch_load_ms']:.0f} ms to load, {pre['batches']} batches per epoch")
    print("| model step | loader | epoch (s) | speed-up |\n|---|---|---|---|")
    for name in ("ember MLP on the CPU", "accelerator (CPU waits)"):
        r = pre[name]
        for k, v in r["epoch_s"].items():
            print(f"| {name}, {r['model_step_ms']:.1f} ms | {k} | {v:.3f} | "
                  f"{r['speedup'][k]:.2f}x |")
    print("\n(b) batches of 128 from 60,000 x 784 float32, shuffled")
    print("| loader | per batch (us) | time / fast path |\n|---|---|---|")
    for k, v in fast["batch_us"].items():
        print(f"| {k} | {v:.1f} | {fast['speedup_vs_fast'][k]:.1f}x |")
    result = {"prefetch": pre, "fast_path": fast, "machine": platform.processor() or
              platform.machine(), "cpus": os.cpu_count(),
              "when": time.strftime("%Y-%m-%d %H:%M:%S")}
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "bench_data.json"
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2))
    os.replace(tmp, out)
    print(f"\nwrote {out}")
    return result


if __name__ == "__main__":
    main()
