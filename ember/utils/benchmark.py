"""What this machine can do: peak matmul GFLOP/s and memory bandwidth, measured.

``benchmark_device()`` times ember's matmul on square matrices (float32, and float16 /
bfloat16 on GPUs, where they have fast paths) and a large copy (bandwidth counts the bytes
read plus the bytes written), on the CPU and on each GPU ember sees. Beside ember's matmul it
times the array library's own (NumPy's ``@`` on the CPU, CuPy's on a GPU) in the same run,
interleaved round by round and best-of, so the two can be compared: the gap is ember's
overhead.
``ember info --bench`` prints the result; the profiler's roofline uses ``device_peaks``.
"""

from __future__ import annotations

import os
import platform
import time

import numpy as np

from ..errors import DeviceError

__all__ = ["benchmark_device", "device_peaks", "format_benchmark"]

_PEAKS: dict = {}  # device -> {"gflops", "gbs"}, measured once per process


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_info() -> str:
    """The BLAS NumPy calls (library, version, threads, kernel architecture)."""
    try:
        from threadpoolctl import threadpool_info

        pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        if pools:
            p = pools[0]
            return (f"{p.get('internal_api')} {p.get('version')} ({p.get('architecture')}, "
                    f"{p.get('num_threads')} threads)")
    except ImportError:
        pass
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # noqa: BLE001 - older NumPy: no dict form
        return "unknown (install threadpoolctl to see it)"


def _best_pair(run_a, run_b, rounds: int) -> tuple:
    """Best time of ``run_a`` and of ``run_b``, interleaved (a b, b a, a b ...: neither
    always runs second, on caches warmed or clocks raised by the other)."""
    best_a = best_b = float("inf")
    for i in range(rounds):
        if i % 2:
            tb = _timed(run_b)
            ta = _timed(run_a)
        else:
            ta = _timed(run_a)
            tb = _timed(run_b)
        best_a, best_b = min(best_a, ta), min(best_b, tb)
    return best_a, best_b


def _bench_backend(backend, xp, device, dtypes, n, copy_mib, rounds, sync) -> dict:
    import ember

    rows = {}
    for name in dtypes:
        rng = np.random.default_rng(0)
        try:
            host = rng.standard_normal((n, n), dtype=np.float32)
            a = ember.from_numpy(host).to(device).to(getattr(ember, name))
            b = ember.from_numpy(host.T.copy()).to(device).to(getattr(ember, name))
        except Exception as exc:  # noqa: BLE001 - a dtype this device cannot hold
            rows[name] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        ra, rb = a.data, b.data

        def ember_mm(a=a, b=b):
            ember.matmul(a, b)
            sync()

        def lib_mm(ra=ra, rb=rb):
            xp.matmul(ra, rb)
            sync()

        ember_mm(), lib_mm()  # warm up (BLAS threads, GPU kernels, caches)
        t_e, t_l = _best_pair(ember_mm, lib_mm, rounds)
        flops = 2 * n ** 3
        rows[name] = {"gflops": flops / t_e / 1e9, "library_gflops": flops / t_l / 1e9,
                      "n": n}
    count = copy_mib * 2**20 // 4
    src = xp.ones(count, dtype=xp.float32)
    dst = xp.empty_like(src)

    def copy():
        xp.copyto(dst, src)
        sync()

    copy()
    best = min(_timed(copy) for _ in range(rounds))
    return {"matmul": rows, "bandwidth_gbs": 2 * src.nbytes / best / 1e9, "copy_mib": copy_mib}


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def benchmark_device(device: str | None = None, *, n: int = 1024, copy_mib: int = 256,
                     rounds: int = 5) -> dict:
    """Measure peak matmul GFLOP/s and copy bandwidth on the CPU and on each GPU.

    Args:
        device: "cpu", "cuda" or "cuda:N" to measure one device; None measures the CPU and
            every GPU ember can use.
        n: matmul size (n x n by n x n; 2·n³ FLOPs).
        copy_mib: size of the copied array in MiB (bandwidth counts it read and written).
        rounds: best-of rounds, ember's matmul and the library's interleaved.

    Returns:
        ``{device name: {"name", "library", "matmul": {dtype: {"gflops", "library_gflops",
        "n"}}, "bandwidth_gbs", "copy_mib"}}``.

    Example:
        >>> import ember
        >>> r = ember.utils.benchmark_device("cpu", n=128, copy_mib=4, rounds=2)
        >>> sorted(r["cpu"]["matmul"]), r["cpu"]["bandwidth_gbs"] > 0
        (['float32', 'float64'], True)
    """
    from ..backend import get_backend, try_backend

    if n < 1 or copy_mib < 1 or rounds < 1:
        raise ValueError(f"benchmark_device: n, copy_mib and rounds must be positive, got "
                         f"n={n}, copy_mib={copy_mib}, rounds={rounds}")
    out = {}
    if device is None or device == "cpu":
        cpu = get_backend("cpu")
        res = _bench_backend(cpu, np, "cpu", ("float32", "float64"), n, copy_mib, rounds,
                             lambda: None)
        res["name"] = f"{_cpu_name()}, {os.cpu_count()} logical cores"
        res["library"] = "BLAS: " + blas_info()
        from ..backend import onednn

        if onednn.active():
            v = ".".join(map(str, onednn.load()[0].version))
            res["library"] += f"; float32 convolutions: oneDNN {v}"
        out["cpu"] = res
    if device is None or str(device).startswith("cuda"):
        gpu, why = try_backend("cuda")
        if gpu is None:
            if device is not None:
                raise DeviceError(f"benchmark_device: {device} is not available: {why}")
            return out
        cp = gpu.xp
        count = gpu.device_count()
        ids = range(count)
        if device is not None and ":" in str(device):
            i = int(str(device).split(":")[1])
            if not 0 <= i < count:
                raise DeviceError(f"benchmark_device: {device} does not exist; this machine "
                                  f"has {count} GPU(s) (cuda:0 .. cuda:{count - 1})")
            ids = [i]
        for i in ids:
            with cp.cuda.Device(i):
                res = _bench_backend(gpu, cp, f"cuda:{i}", ("float32", "float16", "bfloat16"),
                                     max(n, 4096), copy_mib * 4, rounds,
                                     lambda i=i: gpu.synchronize(f"cuda:{i}"))
                props = cp.cuda.runtime.getDeviceProperties(i)
                name = props["name"]
                res["name"] = name.decode() if isinstance(name, bytes) else str(name)
                rt = cp.cuda.runtime.runtimeGetVersion()
                res["library"] = (f"CUDA runtime {rt // 1000}.{rt % 1000 // 10}, cuBLAS via "
                                  f"CuPy {cp.__version__}")
            out[f"cuda:{i}"] = res
    return out


def device_peaks(device: str = "cpu") -> dict:
    """``{"gflops", "gbs"}``: float32 matmul and copy peaks of ``device`` (measured once
    per process, in a shorter run than ``benchmark_device``'s defaults)."""
    key = "cuda:0" if device == "cuda" else device
    if key not in _PEAKS:
        r = benchmark_device(key, n=1024, copy_mib=64, rounds=3)[key]
        _PEAKS[key] = {"gflops": r["matmul"]["float32"]["gflops"], "gbs": r["bandwidth_gbs"]}
    return dict(_PEAKS[key])


def format_benchmark(result: dict) -> str:
    """``benchmark_device``'s result as the lines ``ember info --bench`` prints."""
    lines = []
    for dev, r in result.items():
        lines.append(f"{dev}: {r['name']}")
        lines.append(f"  {r['library']}")
        for dt, m in r["matmul"].items():
            if "error" in m:
                lines.append(f"  matmul {dt}: not available ({m['error']})")
                continue
            lib = "NumPy" if dev == "cpu" else "CuPy"
            lines.append(f"  matmul {dt} {m['n']}x{m['n']}: {m['gflops']:.1f} GFLOP/s "
                         f"(ember; {lib}'s own matmul in the same run: "
                         f"{m['library_gflops']:.1f} GFLOP/s)")
        if dev == "cpu":
            lines.append("  matmul float16/bfloat16: not measured (NumPy has no BLAS kernels "
                         "for them on the CPU)")
        lines.append(f"  memory bandwidth: {r['bandwidth_gbs']:.1f} GB/s (copy of "
                     f"{r['copy_mib']} MiB, bytes read + written)")
    return "\n".join(lines)
