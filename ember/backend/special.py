"""Special functions NumPy lacks (erf), using SciPy when it is installed."""

from __future__ import annotations

import math

import numpy as np

try:
    from scipy.special import erf as _scipy_erf
except ImportError:  # pragma: no cover - depends on the environment
    _scipy_erf = None

_vec_erf = np.vectorize(math.erf, otypes=[np.float64])


def erf(xp, x):
    """The error function of a backend array, in x's dtype."""
    if xp is np:
        y = _scipy_erf(x) if _scipy_erf is not None else _vec_erf(x)
        return np.asarray(y, dtype=x.dtype)
    return xp.asarray(erf(np, x.get()))  # CuPy arrays: the GPU backend overrides this op
