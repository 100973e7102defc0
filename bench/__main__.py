"""``python -m bench``: ember against PyTorch on the reference workloads, in one process.

Each workload's step runs alternately in ember and PyTorch (2 threads each) after a warm-up,
with a pause before each round (``--settle``) so that neither library's idle, still-spinning
threads (OpenBLAS's and OpenMP's) slow the other's round. The table shows median
milliseconds per step, the ratio ember/PyTorch (lower is better), and ember's peak traced
memory for one step. W6 reports GFLOP/s against NumPy's own matmul.
Run with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (see bench/README.md).

    python -m bench                 # all workloads
    python -m bench W1 W5 --plot    # some, and draw bench/results/bench.png
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

from .workloads import W6_FLOPS, WORKLOADS

THREADS = 2


def _limit_threads():
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(THREADS)
    except ImportError:
        pass


def _timed(step, n):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return times


def _peak_mb(step) -> float:
    gc.collect()
    tracemalloc.start()
    step()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def run_workload(key, libs, rounds, per_round, warmup, settle=0.3):
    _, build = WORKLOADS[key]
    steps = {name: build(lib) for name, lib in libs.items()}
    if key == "W6":  # NumPy's own matmul is the machine's limit: measure it alongside
        steps["numpy"] = build(np)
    for step in steps.values():
        for _ in range(warmup):
            step()
    samples = {name: [] for name in steps}
    for _ in range(rounds):  # alternate so drift in machine speed hits both alike
        for name, step in steps.items():
            # let the other library's idle threads stop spinning first: OpenBLAS's spin for
            # about 0.1 s after a call, and would take a core from the next library's round
            time.sleep(settle)
            step()
            samples[name] += _timed(step, per_round)
    row = {"workload": key, "description": WORKLOADS[key][0]}
    for name, times in samples.items():
        row[f"{name}_ms"] = statistics.median(times) * 1e3
    row["ember_peak_mb"] = _peak_mb(steps["ember"])
    if "torch" in samples:
        row["ratio"] = row["ember_ms"] / row["torch_ms"]
    if key == "W6":
        for name in samples:
            row[f"{name}_gflops"] = W6_FLOPS / (row[f"{name}_ms"] * 1e-3) / 1e9
        row["ember_vs_numpy"] = row["ember_gflops"] / row["numpy_gflops"]
    return row


def format_table(rows) -> str:
    lines = ["| workload | ember ms | PyTorch ms | ember/PyTorch | ember peak MB |",
             "|---|---:|---:|---:|---:|"]
    for r in rows:
        torch_ms = f"{r['torch_ms']:.3f}" if "torch_ms" in r else "-"
        ratio = f"{r['ratio']:.2f}" if "ratio" in r else "-"
        lines.append(f"| {r['workload']} {r['description']} | {r['ember_ms']:.3f} | {torch_ms} | "
                     f"{ratio} | {r['ember_peak_mb']:.1f} |")
        if "numpy_gflops" in r:
            lines.append(f"| W6 GFLOP/s: ember {r['ember_gflops']:.0f}, NumPy "
                         f"{r['numpy_gflops']:.0f}"
                         + (f", PyTorch {r['torch_gflops']:.0f}" if "torch_gflops" in r else "")
                         + f" (ember/NumPy {r['ember_vs_numpy']:.2f}) | | | | |")
    return "\n".join(lines)


def plot(rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [r["workload"] for r in rows if "ratio" in r]
    ratios = [r["ratio"] for r in rows if "ratio" in r]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(keys, ratios, color=["tab:green" if v <= 1 else "tab:red" for v in ratios])
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_ylabel("ember / PyTorch step time")
    ax.set_title("ember vs PyTorch (lower is better)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workloads", nargs="*", default=list(WORKLOADS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--settle", type=float, default=0.3,
                        help="seconds of idle before each library's round (default 0.3)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--plot", action="store_true")
    parser.add_argument("--no-torch", action="store_true")
    args = parser.parse_args(argv)
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if var in os.environ:
            print(f"note: {var} is set; unset it for representative BLAS speed", file=sys.stderr)
    _limit_threads()
    import ember

    libs = {"ember": ember}
    if not args.no_torch:
        try:
            import torch

            torch.set_num_threads(THREADS)
            libs["torch"] = torch
        except ImportError:
            print("PyTorch is not installed: ember's column only", file=sys.stderr)
    rows = []
    for key in args.workloads:
        if key not in WORKLOADS:
            parser.error(f"unknown workload {key!r}; choose from {', '.join(WORKLOADS)}")
        rows.append(run_workload(key, libs, args.rounds, args.per_round, args.warmup,
                                 args.settle))
        print(format_table(rows[-1:]).splitlines()[-1], file=sys.stderr)
    table = format_table(rows)
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "bench.json.tmp"
    tmp.write_text(json.dumps({"threads": THREADS, "rows": rows}, indent=2))
    os.replace(tmp, out / "bench.json")
    if args.plot:
        plot(rows, out / "bench.png")
        print(f"plot: {out / 'bench.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
