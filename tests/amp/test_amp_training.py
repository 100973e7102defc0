"""Training under autocast reaches float32's accuracy: bfloat16 on the CPU here; float16 with a
GradScaler, and bfloat16, on CUDA (the issue's W4 check) where a GPU is present."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

import ember
import ember.nn.functional as F


def _data():
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(x))
    return x[idx[:1400]], y[idx[:1400]], x[idx[1400:]], y[idx[1400:]]


def _train(device, dtype, scaler_cls=None, epochs=12):
    xtr, ytr, xte, yte = _data()
    ember.manual_seed(0)
    if device == "cuda":  # W4's architecture (conv, batch norm, ReLU) on 8x8 digits
        nn = ember.nn
        model = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(64),
            nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))
        xtr, xte = xtr.reshape(-1, 1, 8, 8), xte.reshape(-1, 1, 8, 8)
    else:
        model = ember.nn.Sequential(ember.nn.Linear(64, 64), ember.nn.ReLU(),
                                    ember.nn.Linear(64, 10))
    model = model.to(device)
    opt = ember.optim.Adam(model.parameters(), lr=3e-3)
    scaler = scaler_cls(device) if scaler_cls else None
    x, y = ember.from_numpy(xtr).to(device), ember.from_numpy(ytr).to(device)
    for _ in range(epochs):
        for i in range(0, len(xtr), 100):
            xb, yb = x[i:i + 100], y[i:i + 100]
            opt.zero_grad()
            with ember.amp.autocast(device, dtype=dtype, enabled=dtype is not None):
                loss = F.cross_entropy(model(xb), yb)
            assert loss.dtype is ember.float32
            if scaler is None:
                loss.backward()
                opt.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
    model.eval()
    with ember.no_grad():
        pred = model(ember.from_numpy(xte).to(device)).argmax(dim=1).cpu().numpy()
    return float((pred == yte).mean())


def test_bfloat16_autocast_on_cpu_trains_like_float32():
    ref = _train("cpu", None)
    got = _train("cpu", ember.bfloat16)
    assert ref > 0.9
    assert abs(got - ref) < 0.03, (got, ref)


@pytest.mark.skipif(not ember.cuda.is_available(),
                    reason=f"CUDA unavailable: {ember.cuda.why_unavailable()}")
def test_float16_autocast_with_grad_scaler_on_cuda_trains_like_float32():
    ref = _train("cuda", None)
    got = _train("cuda", ember.float16, ember.amp.GradScaler)
    assert ref > 0.9
    assert abs(got - ref) < 0.03, (got, ref)


@pytest.mark.skipif(not ember.cuda.is_available(),
                    reason=f"CUDA unavailable: {ember.cuda.why_unavailable()}")
def test_bfloat16_autocast_on_cuda_trains_like_float32():
    from ember.backend import get_backend

    if not get_backend("cuda").bf16:
        pytest.skip(f"no bfloat16 on this CUDA: {get_backend('cuda').bf16_why}")
    ref = _train("cuda", None)
    got = _train("cuda", ember.bfloat16)
    assert ref > 0.9
    assert abs(got - ref) < 0.03, (got, ref)


def test_bfloat16_autocast_on_cuda_is_refused_when_cupy_lacks_it():
    from ember.backend import _BY_DEVICE_TYPE

    b = _BY_DEVICE_TYPE.get("cuda")
    if b is None or b.bf16:
        pytest.skip("needs a CUDA backend whose CuPy has no bfloat16")
    with pytest.raises(ember.errors.DTypeError, match="bfloat16 is not supported on CUDA"):
        with ember.amp.autocast("cuda", dtype=ember.bfloat16):
            pass
