"""GPU benchmarks, ember (CuPy) against PyTorch in one process on one GPU.

    python bench/bench_gpu.py            # all sections; writes bench/results/<gpu>.md
    python bench/bench_gpu.py gemm w1    # some of them: gemm, resnet50, optim, w1, w2, w3

Sections (the acceptance targets of issue 7 in brackets):
- gemm: 8192^3 matmul TFLOP/s in bfloat16 and float16 [ember >= 90% of PyTorch, bf16];
- resnet50: one training step of ResNet-50 (the same builder for both libraries), batch 128,
  224x224, SGD, under autocast [ember >= 0.9x PyTorch eager throughput];
- optim: one Adam step over ResNet-50's 161 parameters (25.6M values), ember's multi-tensor
  kernel and its per-parameter kernels against PyTorch's ``foreach`` and ``fused`` Adam;
- w1, w2, w3: the reference workloads' models on the GPU, ember eager and ember with
  ``ember.jit`` and ``cuda_graph=True`` against PyTorch eager [ember's jit faster than PyTorch
  eager, and (issue 6) at least 1.3x faster than ember eager: the note gives eager/jit].

Each timing is the median of ``--repeat`` runs of a block of steps, GPU-synchronised before
and after, after a warm-up. A section that fails reports its error in the table instead of
stopping the run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import ember  # noqa: E402
from bench.workloads import models  # noqa: E402


def _sync_all():
    ember.cuda.synchronize()
    torch.cuda.synchronize()


def _time(fn, steps: int, repeat: int, warmup: int = 3) -> float:
    """Median seconds per step."""
    for _ in range(warmup):
        fn()
    _sync_all()
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(steps):
            fn()
        _sync_all()
        out.append((time.perf_counter() - t0) / steps)
    return statistics.median(out)


# ----------------------------------------------------------------------------- GEMM
def bench_gemm(repeat: int) -> list[tuple]:
    n = 8192
    flops = 2 * n ** 3
    rows = []
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    for name, t_dt, e_dt in (("bfloat16", torch.bfloat16, ember.bfloat16),
                             ("float16", torch.float16, ember.float16)):
        ta, tb = torch.from_numpy(a).cuda().to(t_dt), torch.from_numpy(b).cuda().to(t_dt)
        t_s = _time(lambda ta=ta, tb=tb: ta @ tb, 10, repeat)
        try:
            ea = ember.from_numpy(a).cuda().to(e_dt)
            eb = ember.from_numpy(b).cuda().to(e_dt)
            e_s = _time(lambda ea=ea, eb=eb: ea @ eb, 10, repeat)
            e_tf = flops / e_s / 1e12
            note = ""
        except Exception as exc:  # noqa: BLE001 - reported in the table
            e_tf, note = float("nan"), f"{type(exc).__name__}: {str(exc)[:120]}"
        t_tf = flops / t_s / 1e12
        rows.append((f"GEMM 8192^3 {name}", f"{e_tf:.1f} TFLOP/s", f"{t_tf:.1f} TFLOP/s",
                     f"{e_tf / t_tf:.2f}", note))
    return rows


# ----------------------------------------------------------------------------- ResNet-50
def resnet50(lib):
    """torchvision's ResNet-50 (v1.5) written against the PyTorch API, for either library."""
    nn = lib.nn
    F = lib.nn.functional

    class Bottleneck(nn.Module):
        def __init__(self, cin, planes, stride):
            super().__init__()
            out = planes * 4
            self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(out)
            self.down = None
            if stride != 1 or cin != out:
                self.down = nn.Sequential(nn.Conv2d(cin, out, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out))

        def forward(self, x):
            idt = x if self.down is None else self.down(x)
            y = F.relu(self.bn1(self.conv1(x)))
            y = F.relu(self.bn2(self.conv2(y)))
            return F.relu(self.bn3(self.conv3(y)) + idt)

    layers = [nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(64),
              nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1)]
    cin = 64
    for planes, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for i in range(blocks):
            layers.append(Bottleneck(cin, planes, stride if i == 0 else 1))
            cin = planes * 4
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, 1000)]
    return nn.Sequential(*layers)


def _train_step(lib, model, opt, x, y, autocast_dtype):
    F = lib.nn.functional
    amp = lib.amp if lib is ember else torch.amp

    def step():
        opt.zero_grad()
        with amp.autocast("cuda", dtype=autocast_dtype):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def bench_resnet50(repeat: int, batch: int = 128) -> list[tuple]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 3, 224, 224), dtype=np.float32)
    y = rng.integers(0, 1000, batch)
    rows = []
    t_model = resnet50(torch).cuda()
    t_opt = torch.optim.SGD(t_model.parameters(), lr=0.01, momentum=0.9)
    tx, ty = torch.from_numpy(x).cuda(), torch.from_numpy(y).cuda()
    for name, t_dt, e_dt in (("bf16", torch.bfloat16, ember.bfloat16),
                             ("fp16", torch.float16, ember.float16)):
        t_s = _time(_train_step(torch, t_model, t_opt, tx, ty, t_dt), 5, repeat)
        try:
            ember.backends.cudnn.benchmark = True
            e_model = resnet50(ember).cuda()
            e_opt = ember.optim.SGD(e_model.parameters(), lr=0.01, momentum=0.9)
            ex, ey = ember.from_numpy(x).cuda(), ember.from_numpy(y).cuda()
            e_s = _time(_train_step(ember, e_model, e_opt, ex, ey, e_dt), 5, repeat)
            note = ""
        except Exception as exc:  # noqa: BLE001 - reported in the table
            e_s, note = float("nan"), f"{type(exc).__name__}: {str(exc)[:120]}"
        rows.append((f"ResNet-50 train step, batch {batch}, autocast {name}",
                     f"{batch / e_s:.0f} img/s", f"{batch / t_s:.0f} img/s (eager)",
                     f"{t_s / e_s:.2f}", note))
    return rows


# ----------------------------------------------------------------------------- optimiser
def bench_optim(repeat: int) -> list[tuple]:
    """One Adam step over ResNet-50's parameters (gradients fixed), per implementation."""
    from ember.backend import get_backend

    shapes = [tuple(p.shape) for p in resnet50(torch).parameters()]
    rng = np.random.default_rng(0)
    host = [rng.standard_normal(s, dtype=np.float32) for s in shapes]
    t_ps = [torch.nn.Parameter(torch.from_numpy(a).cuda()) for a in host]
    for p in t_ps:
        p.grad = torch.randn_like(p) * 1e-3
    t_times = {}
    for kind in ("foreach", "fused"):
        opt = torch.optim.Adam(t_ps, lr=1e-3, **{kind: True})
        t_times[kind] = _time(opt.step, 20, repeat)
    e_ps = [ember.nn.Parameter(ember.from_numpy(a).cuda()) for a in host]
    for p in e_ps:
        p.grad = ember.randn(*p.shape, device="cuda") * 1e-3
    backend = get_backend("cuda")
    rows = []
    for multi in (True, False):
        backend.multi_tensor_optimizers = multi
        try:
            opt = ember.optim.Adam(e_ps, lr=1e-3)
            e_s = _time(opt.step, 20, repeat)
            note = ""
        except Exception as exc:  # noqa: BLE001 - reported in the table
            e_s, note = float("nan"), f"{type(exc).__name__}: {str(exc)[:120]}"
        finally:
            backend.multi_tensor_optimizers = True
        label = "multi-tensor kernel" if multi else "one kernel per parameter"
        rows.append((f"Adam step, ResNet-50 parameters, ember {label}",
                     f"{e_s * 1e3:.3f} ms",
                     f"{t_times['foreach'] * 1e3:.3f} ms (foreach), "
                     f"{t_times['fused'] * 1e3:.3f} ms (fused)",
                     f"{t_times['fused'] / e_s:.2f} (vs fused)", note))
    return rows


# ----------------------------------------------------------------------------- W1-W3
def _w_models(lib, which: str):
    return models(lib, which.upper())


def bench_w(which: str, repeat: int) -> list[tuple]:
    labels = {"w1": "W1 MLP, Adam, batch 128", "w2": "W2 seed CNN, Adam, batch 64",
              "w3": "W3 Embedding+LSTM, Adam, batch 32"}
    t_model, x, y = _w_models(torch, which)
    t_model = t_model.cuda()
    t_opt = torch.optim.Adam(t_model.parameters(), lr=1e-3)
    tx, ty = torch.from_numpy(x).cuda(), torch.from_numpy(y).cuda()

    def t_step():
        t_opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(t_model(tx), ty)
        loss.backward()
        t_opt.step()

    t_s = _time(t_step, 50, repeat)
    try:
        e_model, x, y = _w_models(ember, which)
        e_model = e_model.cuda()
        e_opt = ember.optim.Adam(e_model.parameters(), lr=1e-3)
        ex, ey = ember.from_numpy(x).cuda(), ember.from_numpy(y).cuda()

        def e_step(inp):
            e_opt.zero_grad()
            loss = ember.nn.functional.cross_entropy(e_model(inp), ey)
            loss.backward()
            e_opt.step()
            return loss

        eager_s = _time(lambda: e_step(ex), 50, repeat, warmup=5)
        fast = ember.jit(e_step, cuda_graph=True)
        e_s = _time(lambda: fast(ex), 50, repeat, warmup=5)
        note = "; ".join([f"jit speed-up over ember eager: {eager_s / e_s:.2f}x",
                          *fast.retrace_reasons[:3]])
    except Exception as exc:  # noqa: BLE001 - reported in the table
        e_s = eager_s = float("nan")
        note = f"{type(exc).__name__}: {str(exc)[:120]}"
    return [(labels[which] + " (ember eager)", f"{eager_s * 1e3:.3f} ms",
             f"{t_s * 1e3:.3f} ms (eager)", f"{t_s / eager_s:.2f}", ""),
            (labels[which] + " (ember: jit + CUDA graph)", f"{e_s * 1e3:.3f} ms",
             f"{t_s * 1e3:.3f} ms (eager)", f"{t_s / e_s:.2f}", note)]


SECTIONS = {"gemm": bench_gemm, "resnet50": bench_resnet50, "optim": bench_optim,
            "w1": lambda r: bench_w("w1", r), "w2": lambda r: bench_w("w2", r),
            "w3": lambda r: bench_w("w3", r)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sections", nargs="*", choices=[[], *SECTIONS], default=[])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", default=None, help="the results file (default bench/results/"
                    "<gpu name>.md)")
    args = ap.parse_args(argv)
    if not ember.cuda.is_available():
        print(f"bench_gpu: CUDA is not available: {ember.cuda.why_unavailable()}",
              file=sys.stderr)
        return 2
    rows = []
    for name in args.sections or list(SECTIONS):
        try:
            rows += SECTIONS[name](args.repeat)
        except Exception as exc:  # noqa: BLE001 - keep the other sections
            traceback.print_exc()
            rows.append((name, "error", "", "", f"{type(exc).__name__}: {str(exc)[:160]}"))
        print(rows[-1], flush=True)
    gpu = ember.cuda.get_device_name()
    lines = [f"# GPU benchmarks on {gpu}", "",
             f"ember {ember.__version__}, torch {torch.__version__}; "
             + "; ".join(ember.cuda.info_lines()[:1]), "",
             "| benchmark | ember | PyTorch | speed ratio (ember/PyTorch) | note |",
             "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    text = "\n".join(lines) + "\n"
    out = Path(args.out) if args.out else ROOT / "bench" / "results" / (
        "".join(c if c.isalnum() else "_" for c in gpu) + ".md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
