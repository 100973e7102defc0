"""The CPU backend: NumPy arrays, NumPy's BLAS."""

from __future__ import annotations

import numpy as np

from ..device import cpu
from . import Backend, register_backend

backend = Backend("numpy", np, np.ndarray)
backend.device = cpu
register_backend(backend, "cpu")
