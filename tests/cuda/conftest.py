"""Devices for device-parametrised tests: ``["cpu"]`` plus ``"cuda"`` where CUDA is available.

On a machine without CUDA every CUDA-only test is skipped with the reason ember gives
(``ember.cuda.why_unavailable()``: no CuPy, no driver or no device).
"""

from __future__ import annotations

import pytest

import ember

CUDA = ember.cuda.is_available()
WHY = ember.cuda.why_unavailable()
DEVICES = ["cpu"] + (["cuda"] if CUDA else [])

requires_cuda = pytest.mark.skipif(not CUDA, reason=f"CUDA unavailable: {WHY}")


@pytest.fixture(params=DEVICES)
def device(request):
    """Each available device in turn: "cpu", and "cuda" on a GPU machine."""
    return request.param
