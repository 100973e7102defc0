"""``python -m bench.bench_dist``: ember.distributed on MPI against plain mpi4py, and DDP scaling.

Two measurements, each in ``mpirun`` subprocesses started by this driver:

1. all-reduce (sum, float64, in place) of 1 KB to 64 MB buffers: ember's
   ``dist.all_reduce`` on a tensor (communication thread, timeout, cross-rank shape check)
   against ``comm.Allreduce(MPI.IN_PLACE, buf)`` of mpi4py on the same buffer, alternating
   rounds; median milliseconds and ember's algorithm bandwidth (bytes / time).
2. training steps of W2 (seed CNN, batch 64 per rank) and W4 (CIFAR convnet with BatchNorm,
   batch 32 per rank) from bench/workloads.py, the model wrapped in DistributedDataParallel:
   1 rank against 2 ranks, with the bucketed all-reduce overlapping backward or not. Ranks
   share the machine's cores (each rank gets cores / ranks BLAS threads); the time of a step
   is the slowest rank's median.

    python -m bench.bench_dist                   # both tables, bench/results/dist.json
    python -m bench.bench_dist --skip-steps      # bandwidth only
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIZES = [2**10 * 4**i for i in range(9)]  # 1 KB ... 64 MB


# ---------------------------------------------------------------------- workers (under MPI)
def _allreduce_worker(out: str, budget: float) -> None:
    from mpi4py import MPI

    import ember
    import ember.distributed as dist

    dist.init_process_group("mpi", timeout=300)
    comm = MPI.COMM_WORLD
    rows = []
    for size in SIZES:
        t = ember.from_numpy(np.ones(size // 8))
        fns = {"mpi4py": lambda buf=t.data: comm.Allreduce(MPI.IN_PLACE, buf),  # same memory
               "ember": lambda t=t: dist.all_reduce(t)}
        for fn in fns.values():
            fn()
        comm.Barrier()
        t0 = time.perf_counter()
        fns["mpi4py"]()
        once = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
        reps = int(min(200, max(5, budget / max(once, 1e-6) / 2 / 4)))
        times = {k: [] for k in fns}
        for _ in range(4):  # alternate so load changes hit both alike
            for name, fn in fns.items():
                comm.Barrier()
                for _ in range(reps):
                    t0 = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - t0)
        med = {k: comm.allreduce(statistics.median(v), op=MPI.MAX) for k, v in times.items()}
        rows.append({"bytes": size, "mpi4py_ms": med["mpi4py"] * 1e3,
                     "ember_ms": med["ember"] * 1e3, "reps": reps * 4})
    if comm.rank == 0:
        Path(out).write_text(json.dumps(rows))
    dist.destroy_process_group()


class _Namespace:
    """``ember`` (or ``ember.nn``) with ``Sequential`` wrapped in DistributedDataParallel."""

    def __init__(self, inner, overlap: bool) -> None:
        self._inner, self._overlap = inner, overlap

    def __getattr__(self, name):
        import ember

        if name == "nn":
            return _Namespace(ember.nn, self._overlap)
        if name == "Sequential" and self._inner is ember.nn:
            from ember.distributed import DistributedDataParallel

            return lambda *mods: DistributedDataParallel(ember.nn.Sequential(*mods),
                                                         overlap=self._overlap)
        return getattr(self._inner, name)


def _step_worker(out: str, workload: str, overlap: bool, steps: int) -> None:
    from mpi4py import MPI

    import ember
    import ember.distributed as dist

    from .workloads import WORKLOADS

    dist.init_process_group("mpi", timeout=300)
    comm = MPI.COMM_WORLD
    step = WORKLOADS[workload][1](_Namespace(ember, overlap))
    for _ in range(3):
        step()
    comm.Barrier()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    med = comm.allreduce(statistics.median(times), op=MPI.MAX)
    if comm.rank == 0:
        Path(out).write_text(json.dumps({"ms": med * 1e3}))
    dist.destroy_process_group()


# ---------------------------------------------------------------------- driver
def _mpirun() -> str:
    exe = shutil.which("mpirun") or str(Path(sys.executable).parent / "mpirun")
    if not Path(exe).exists() and shutil.which(exe) is None:
        raise SystemExit("bench_dist: mpirun not found; pip install mpi4py mpich")
    return exe


def _launch(n: int, args: list, timeout: float, threads: int | None = None):
    env = dict(os.environ)
    if threads:  # BLAS threads per rank (default: ember shares the cores among the ranks)
        env.update(OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
                   MKL_NUM_THREADS=str(threads))
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.json")
        cmd = [_mpirun(), "-n", str(n), sys.executable, "-m", "bench.bench_dist", "--worker",
               *args, "--out", out]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              cwd=Path(__file__).resolve().parents[1], env=env)
        if proc.returncode != 0:
            raise SystemExit(f"bench_dist: {' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
        return json.loads(Path(out).read_text())


BATCH = {"W2": 64, "W4": 32}


def bandwidth_table(rows) -> str:
    lines = ["| size | mpi4py Allreduce ms | ember all_reduce ms | ember/mpi4py | ember GB/s |",
             "|---:|---:|---:|---:|---:|"]
    for r in rows:
        size = r["bytes"]
        label = f"{size // 2**20} MB" if size >= 2**20 else f"{size // 2**10} KB"
        lines.append(f"| {label} | {r['mpi4py_ms']:.3f} | {r['ember_ms']:.3f} | "
                     f"{r['ember_ms'] / r['mpi4py_ms']:.2f} | "
                     f"{size / (r['ember_ms'] * 1e-3) / 1e9:.2f} |")
    return "\n".join(lines)


def step_table(rows) -> str:
    lines = ["| workload | ranks | overlap | ms/step | samples/s | vs 1 rank |",
             "|---|---:|---|---:|---:|---:|"]
    base = {r["workload"]: r["samples_s"] for r in rows if r["ranks"] == 1}
    for r in rows:
        lines.append(f"| {r['workload']} | {r['ranks']} | {r['overlap']} | {r['ms']:.1f} | "
                     f"{r['samples_s']:.0f} | {r['samples_s'] / base[r['workload']]:.2f}x |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_dist", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    p.add_argument("--out", default=str(Path(__file__).parent / "results"))
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--budget", type=float, default=1.0, help="seconds per size (all-reduce)")
    p.add_argument("--skip-steps", action="store_true")
    p.add_argument("--workloads", nargs="*", default=["W2", "W4"])
    p.add_argument("--threads", type=int, help="BLAS threads per rank (default: cores/ranks, "
                   "so 1 rank uses every core)")
    args = p.parse_args(argv)
    if args.worker:
        kind, *rest = args.worker
        if kind == "allreduce":
            _allreduce_worker(args.out, float(rest[0]))
        else:
            _step_worker(args.out, rest[0], rest[1] == "on", int(rest[2]))
        return 0
    result = {"ranks": args.ranks, "cpus": os.cpu_count(), "load": os.getloadavg()[0],
              "threads_per_rank": args.threads or "cores/ranks"}
    rows = _launch(args.ranks, ["allreduce", str(args.budget)], timeout=900)
    result["allreduce"] = rows
    print(f"all-reduce, {args.ranks} ranks (load average {result['load']:.1f} on "
          f"{result['cpus']} CPUs)\n")
    print(bandwidth_table(rows) + "\n", flush=True)
    if not args.skip_steps:
        steps = []
        for w in args.workloads:
            for ranks, overlap in [(1, "on"), (args.ranks, "on"), (args.ranks, "off")]:
                r = _launch(ranks, ["step", w, overlap, str(args.steps)], timeout=900,
                            threads=args.threads)
                steps.append({"workload": w, "ranks": ranks, "overlap": overlap if ranks > 1
                              else "-", "ms": r["ms"],
                              "samples_s": ranks * BATCH[w] / (r["ms"] * 1e-3)})
                print(f"  {w} ranks={ranks} overlap={overlap}: {r['ms']:.1f} ms/step",
                      file=sys.stderr, flush=True)
        result["steps"] = steps
        print(f"training steps, batch per rank as in bench/README.md, BLAS threads per rank: "
              f"{args.threads or 'cores/ranks'}\n\n{step_table(steps)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "dist.json.tmp"
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, out / "dist.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
