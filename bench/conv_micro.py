"""Micro-benchmark: conv2d forward + backward in ember against PyTorch at W2's and W4's shapes.

ember's convolutions run through oneDNN when it is installed; ``EMBER_ONEDNN=0`` measures
ember's own im2col + BLAS kernels instead.

Run ``python -m bench.conv_micro [threads]`` (2 by default; NumPy's BLAS takes its thread
count from ``OPENBLAS_NUM_THREADS``, so set that to the same number), with
``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` unset as for ``python -m bench``: pinned to
the Haswell kernels, NumPy's matmul runs these shapes 1.4-1.7x slower. On a machine shared
with other jobs, ``OPENBLAS_NUM_THREADS=1 python -m bench.conv_micro 1`` gives the steadier
comparison (two-thread timings swing by 2-10x when the cores are oversubscribed). Each row times one
forward + backward (input, weight and bias gradients; no input gradient for a first layer),
alternating the libraries, and shows the fastest and the median round: on a shared machine
the fastest is the better estimate of the uncontended time.
"""

from __future__ import annotations

import time

import numpy as np

import ember

SHAPES = [  # (name, N, C, H, O, stride, padding, input needs grad)
    ("W2 conv1", 64, 1, 28, 32, 1, 0, False),
    ("W2 conv2", 64, 32, 13, 64, 1, 0, True),
    ("W2 conv3", 64, 64, 5, 64, 1, 0, True),
    ("W4 3->32", 32, 3, 32, 32, 1, 1, False),
    ("W4 32->32", 32, 32, 32, 32, 1, 1, True),
    ("W4 32->64 s2", 32, 32, 32, 64, 2, 1, True),
    ("W4 64->64", 32, 64, 16, 64, 1, 1, True),
    ("W4 64->128 s2", 32, 64, 16, 128, 2, 1, True),
    ("W4 128->128", 32, 128, 8, 128, 1, 1, True),
]


def _case(lib, n, c, h, o, stride, padding, input_grad, channels_last):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, h, h), dtype=np.float32)
    if channels_last and c > 3:  # activations inside an ember net are stored channels-last
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    w = rng.standard_normal((o, c, 3, 3), dtype=np.float32) * 0.1
    b = np.zeros(o, dtype=np.float32)
    xt = lib.from_numpy(x) if lib is ember else lib.from_numpy(np.ascontiguousarray(x))
    xt.requires_grad_(input_grad)
    wt = lib.from_numpy(w).requires_grad_()
    bt = lib.from_numpy(b).requires_grad_()
    conv = lib.nn.functional.conv2d

    ho = (h + 2 * padding - 3) // stride + 1
    g = rng.standard_normal((n, o, ho, ho), dtype=np.float32)
    if lib is ember:  # the gradient a following ember layer passes back is channels-last too
        g = np.ascontiguousarray(g.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    gt = lib.from_numpy(g)

    def step():
        y = conv(xt, wt, bt, stride=stride, padding=padding)
        y.backward(gt)
        wt.grad = bt.grad = xt.grad = None

    return step


def _median_ms(fn, reps):
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * sorted(times)[len(times) // 2]


def main(reps: int = 40, threads: int = 2) -> None:
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        torch = None
    print(f"{'shape':16s} {'ember min':>9s} {'torch min':>9s} {'ratio':>6s}   "
          f"{'ember med':>9s} {'torch med':>9s} {'ratio':>6s}")
    for name, *args in SHAPES:
        fe = _case(ember, *args, channels_last=True)
        ft = _case(torch, *args, channels_last=False) if torch else None
        for _ in range(3):
            fe()
            if ft:
                ft()
        te, tt = [], []
        for _ in range(reps):  # alternate so both see the same machine load
            te.append(_median_ms(fe, 1))
            if ft:
                tt.append(_median_ms(ft, 1))
        be, bt = min(te), (min(tt) if tt else float("nan"))
        me, mt = float(np.median(te)), (float(np.median(tt)) if tt else float("nan"))
        print(f"{name:16s} {be:9.3f} {bt:9.3f} {be / bt:6.2f}   {me:9.3f} {mt:9.3f} "
              f"{me / mt:6.2f}")


if __name__ == "__main__":
    import sys

    main(threads=int(sys.argv[1]) if len(sys.argv) > 1 else 2)
