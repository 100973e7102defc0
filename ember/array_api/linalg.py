"""The array API's ``linalg`` extension over ``ember.linalg`` (every function differentiable
where the maths is, except ``matrix_rank``).

Example:
    >>> import ember.array_api as xp
    >>> xp.linalg.det(xp.asarray([[2.0, 0.0], [0.0, 3.0]]))
    tensor(6.)
"""

from __future__ import annotations

from typing import NamedTuple

from ..errors import ShapeError, op_error
from ..ops import decomp as _dc
from ..ops import elementwise as _ew
from ..ops import linalg as _la
from ..ops import matrix as _mx
from ..ops import reduce as _rd
from ..ops import shape as _sh
from ..ops.decomp import _EPS
from ..tensor import Tensor
from ._elementwise import _promoted
from ._functions import _accumulate, _sum_dtype, matmul, matrix_transpose, tensordot, vecdot

__all__ = ["cholesky", "cross", "det", "diagonal", "eigh", "eigvalsh", "inv", "matmul",
           "matrix_norm", "matrix_power", "matrix_rank", "matrix_transpose", "outer", "pinv",
           "qr", "slogdet", "solve", "svd", "svdvals", "tensordot", "trace", "vecdot",
           "vector_norm"]


class EighResult(NamedTuple):
    eigenvalues: Tensor
    eigenvectors: Tensor


class QRResult(NamedTuple):
    Q: Tensor
    R: Tensor


class SlogdetResult(NamedTuple):
    sign: Tensor
    logabsdet: Tensor


class SVDResult(NamedTuple):
    U: Tensor
    S: Tensor
    Vh: Tensor


def cholesky(x: Tensor, /, *, upper: bool = False) -> Tensor:
    """The Cholesky factor of symmetric positive-definite matrices (lower unless ``upper``)."""
    return _dc.cholesky(x, upper=upper)


def cross(x1: Tensor, x2: Tensor, /, *, axis: int = -1) -> Tensor:
    """The cross product of 3-vectors along ``axis`` (the other axes broadcast)."""
    x1, x2 = _promoted(x1, x2)
    ndim = max(x1.ndim, x2.ndim)
    if not -ndim <= axis < ndim:
        raise op_error(IndexError, "linalg.cross", f"axis {axis} is out of range", args=[x1, x2])
    ax = axis - ndim if axis >= 0 else axis
    if x1.shape[ax] != 3 or x2.shape[ax] != 3:
        raise op_error(ShapeError, "linalg.cross", "both inputs need size 3 along axis "
                       f"{axis}", args=[x1, x2], hint="pass the axis that holds the vectors")
    a, b = _sh.unbind(x1, ax), _sh.unbind(x2, ax)
    comps = [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
    return _sh.stack(_sh.broadcast_tensors(*comps), ax)


def det(x: Tensor, /) -> Tensor:
    """The determinant of each square matrix."""
    return _dc.det(x)


def diagonal(x: Tensor, /, *, offset: int = 0) -> Tensor:
    """The ``offset``-th diagonal of each matrix (the last two axes)."""
    return _mx.diagonal(x, offset)


def eigh(x: Tensor, /) -> EighResult:
    """Eigenvalues (ascending) and eigenvectors of symmetric matrices."""
    return EighResult(*_dc.eigh(x))


def eigvalsh(x: Tensor, /) -> Tensor:
    """Eigenvalues (ascending) of symmetric matrices."""
    return _dc.eigvalsh(x)


def inv(x: Tensor, /) -> Tensor:
    """The inverse of each square matrix."""
    return _dc.inv(x)


def matrix_norm(x: Tensor, /, *, keepdims: bool = False, ord="fro") -> Tensor:
    """A matrix norm ("fro", "nuc", 1, -1, 2, -2, inf, -inf) of each matrix."""
    return _dc.matrix_norm(x, ord=ord, keepdim=keepdims)


def matrix_power(x: Tensor, n: int, /) -> Tensor:
    """``x`` multiplied by itself ``n`` times (the inverse's powers for ``n < 0``)."""
    return _dc.matrix_power(x, n)


def matrix_rank(x: Tensor, /, *, rtol=None) -> Tensor:
    """The number of singular values above ``rtol`` times the largest (default
    ``max(M, N) * eps``)."""
    s = _dc.svdvals(x)
    if rtol is None:
        rtol = max(x.shape[-2:]) * _EPS[x.dtype.name]
    elif isinstance(rtol, Tensor):
        rtol = _sh.unsqueeze(rtol, -1)
    tol = _rd.amax(s, axis=-1, keepdims=True) * rtol
    return _rd.sum(_ew.astype(_ew.gt(s, tol), "int64"), axis=-1)


def outer(x1: Tensor, x2: Tensor, /) -> Tensor:
    """The outer product of two vectors."""
    return _la.outer(*_promoted(x1, x2))


def pinv(x: Tensor, /, *, rtol=None) -> Tensor:
    """The pseudo-inverse; singular values below ``rtol`` times the largest count as zero."""
    return _dc.pinv(x, rtol=rtol)


def qr(x: Tensor, /, *, mode: str = "reduced") -> QRResult:
    """The QR decomposition (``mode`` "reduced" or "complete")."""
    return QRResult(*_dc.qr(x, mode=mode))


def slogdet(x: Tensor, /) -> SlogdetResult:
    """The sign and the log of the absolute value of the determinant."""
    return SlogdetResult(*_dc.slogdet(x))


def solve(x1: Tensor, x2: Tensor, /) -> Tensor:
    """The solution of ``x1 @ out = x2``; ``x2`` is a vector only when 1-d."""
    x1, x2 = _promoted(x1, x2)
    if x2.ndim == 1:
        return _dc.solve(x1, _sh.unsqueeze(x2, -1))[..., 0]
    return _dc.solve(x1, x2)


def svd(x: Tensor, /, *, full_matrices: bool = True) -> SVDResult:
    """``U, S, Vh`` with ``x = U @ diag(S) @ Vh``."""
    return SVDResult(*_dc.svd(x, full_matrices=full_matrices))


def svdvals(x: Tensor, /) -> Tensor:
    """The singular values, descending."""
    return _dc.svdvals(x)


def trace(x: Tensor, /, *, offset: int = 0, dtype=None) -> Tensor:
    """The sum of the ``offset``-th diagonal of each matrix (integers sum in int64)."""
    d = _mx.diagonal(x, offset)
    return _accumulate(_rd.sum, d, _sum_dtype(d, dtype), axis=-1)


def vector_norm(x: Tensor, /, *, axis=None, keepdims: bool = False, ord=2) -> Tensor:
    """The ``ord``-norm of the vectors along ``axis`` (all elements when None)."""
    return _rd.vector_norm(x, ord, tuple(axis) if isinstance(axis, list) else axis, keepdims)


