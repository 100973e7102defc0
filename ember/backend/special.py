"""Special functions NumPy lacks (erf), using SciPy when it is installed.

SciPy is imported on first use, not at ``import ember`` (it costs a fifth of a second).
"""

from __future__ import annotations

import math

import numpy as np

_vec_erf = np.vectorize(math.erf, otypes=[np.float64])
_scipy_erf = None


def _erf_impl():
    global _scipy_erf
    if _scipy_erf is None:
        try:
            from scipy.special import erf as scipy_erf
        except ImportError:  # pragma: no cover - depends on the environment
            scipy_erf = _vec_erf
        _scipy_erf = scipy_erf
    return _scipy_erf


def erf(xp, x):
    """The error function of a backend array, in x's dtype."""
    if xp is np:
        return np.asarray(_erf_impl()(x), dtype=x.dtype)
    try:  # CuPy arrays: cupyx's elementwise kernel, on the device
        from cupyx.scipy.special import erf as cupy_erf
    except ImportError:  # pragma: no cover - a CuPy without cupyx.scipy: through the host
        return xp.asarray(erf(np, x.get()))
    return cupy_erf(x).astype(x.dtype, copy=False)
