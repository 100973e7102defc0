"""ember as a Python array API standard namespace (version 2024.12).

``x.__array_namespace__()`` returns this module for every ember tensor, so array-API code
(SciPy, scikit-learn with ``array_api_dispatch=True``, array-api-compat users) runs on ember
tensors. The functions are thin layers over ember's ops, so results keep autograd history.
What is not supported (complex dtypes, uint16/32/64, ``imag``, the ``fft`` extension) is listed
with reasons in ``ember.array_api._unsupported`` and docs/array_api.md.

Example:
    >>> import ember
    >>> x = ember.tensor([3.0, 1.0, 2.0])
    >>> xp = x.__array_namespace__()
    >>> xp.sort(x, descending=True)
    tensor([3., 2., 1.])
    >>> xp.__array_api_version__
    '2024.12'
"""

from __future__ import annotations

import math

from ..device import device as _device
from . import linalg
from ._additions import count_nonzero, cumulative_prod, diff, take_along_axis
from ._creation import (
    arange,
    asarray,
    empty,
    empty_like,
    eye,
    from_dlpack,
    full,
    full_like,
    linspace,
    meshgrid,
    ones,
    ones_like,
    tril,
    triu,
    zeros,
    zeros_like,
)
from ._dtypes import (
    DTYPES,
    astype,
    bool,
    can_cast,
    finfo,
    float32,
    float64,
    iinfo,
    int8,
    int16,
    int32,
    int64,
    isdtype,
    result_type,
    uint8,
)
from ._elementwise import *  # noqa: F403 - every element-wise function of the standard
from ._functions import (
    all,
    any,
    argmax,
    argmin,
    argsort,
    broadcast_arrays,
    broadcast_to,
    concat,
    cumulative_sum,
    expand_dims,
    flip,
    matmul,
    matrix_transpose,
    max,
    mean,
    min,
    moveaxis,
    nonzero,
    permute_dims,
    prod,
    repeat,
    reshape,
    roll,
    searchsorted,
    sort,
    squeeze,
    stack,
    std,
    sum,
    take,
    tensordot,
    tile,
    unique_all,
    unique_counts,
    unique_inverse,
    unique_values,
    unstack,
    var,
    vecdot,
    where,
)

__array_api_version__ = "2024.12"

e = math.e
inf = math.inf
nan = math.nan
pi = math.pi
newaxis = None


class _Info:
    """What ``__array_namespace_info__()`` returns: the namespace's capabilities, devices
    and dtypes."""

    def capabilities(self) -> dict:
        return {"boolean indexing": True, "data-dependent shapes": True, "max dimensions": 64}

    def default_device(self):
        return _device("cpu")

    def devices(self) -> list:
        return [_device("cpu")]

    def default_dtypes(self, *, device=None) -> dict:
        return {"real floating": float32, "complex floating": None, "integral": int64,
                "indexing": int64}

    def dtypes(self, *, device=None, kind=None) -> dict:
        if kind is None:
            return dict(DTYPES)
        return {n: d for n, d in DTYPES.items() if isdtype(d, kind)}


def __array_namespace_info__() -> _Info:
    """The inspection object of the standard (devices, default dtypes, capabilities)."""
    return _Info()


__all__ = sorted(
    n for n in globals()
    if not n.startswith("_") and n not in ("annotations", "math", "DTYPES", "Tensor")
) + ["__array_api_version__", "__array_namespace_info__"]
