"""``ember.linalg``: inverses, determinants, solvers, decompositions, norms.

Every decomposition is one primitive whose vjp is written in ``F`` ops (often calling other
decompositions), so second derivatives work wherever the first-order formula is smooth.
All functions take batches of matrices ``(..., m, n)`` like ``torch.linalg``. Gradients of
``svd``/``eigh``/``eig`` need distinct singular values/eigenvalues (the formulas divide by
their differences); those of ``qr`` need the leading square block to be invertible.
"""

from __future__ import annotations

import math

from ..autograd.node import apply
from ..backend import backend_of
from ..errors import AutogradError, DTypeError, LinAlgError, ShapeError, op_error
from ..tensor import Tensor
from .elementwise import _promote
from .elementwise import abs as _abs
from .reduce import amax, amin, normalize_axis, vector_norm
from .reduce import sum as _sum
from .registry import Op, io_bytes, lapack_flops, register
from .shape import permute, unsqueeze

__all__ = [
    "inv", "det", "slogdet", "solve", "cholesky", "qr", "svd", "svdvals", "eigh", "eigvalsh",
    "eig", "norm", "matrix_norm", "pinv", "matrix_power",
]

_ELL = Ellipsis
_ALL = slice(None)

# ----------------------------------------------------------------------------- vjp helpers


def _mT(F, x):
    n = x.ndim
    return F.permute(x, axes=tuple(range(n - 2)) + (n - 1, n - 2))


def _row(F, v):  # (..., n) -> (..., 1, n)
    return F.reshape(v, shape=tuple(v.shape[:-1]) + (1, v.shape[-1]))


def _col(F, v):  # (..., n) -> (..., n, 1)
    return F.reshape(v, shape=tuple(v.shape) + (1,))


def _mat(F, s):  # (...) -> (..., 1, 1)
    return F.reshape(s, shape=tuple(s.shape) + (1, 1))


def _diagonal(F, x):
    return F.sum(F.where(F.eye_mask(n=x.shape[-1]), x, 0.0), axis=(x.ndim - 1,))


def _spectral_inner(F, x, w, gw):
    """``diag(gw) + x / E`` with ``E_ij = w_j - w_i`` (x has a zero diagonal)."""
    eye = F.eye_mask(n=w.shape[-1])
    e = _row(F, w) - _col(F, w)
    return F.where(eye, _row(F, gw), x / F.where(eye, 1.0, e))


def _right_solve_t(F, x, r):
    """``x @ inv(r).T`` as a solve."""
    return _mT(F, F.solve(r, _mT(F, x)))


def _qr_grad(F, q, r, gq, gr):
    """Gradient of a reduced QR with square invertible R (TensorFlow's QrGrad)."""
    qdq = F.matmul(_mT(F, q), gq)
    rdr = F.matmul(r, _mT(F, gr))
    m = qdq - _mT(F, qdq) + rdr - _mT(F, rdr)
    lower = F.where(F.triu_mask(n=r.shape[-1]), 0.0, m)  # diagonal of m is zero
    return F.matmul(q, gr) + _right_solve_t(F, F.matmul(q, lower - qdq) + gq, r)


# ----------------------------------------------------------------------------- primitives


@register
class Inv(Op):
    needs_output = True

    def cost(out_specs, in_specs, attrs):
        """Textbook count: 2·m·n·min(m, n) per matrix (LU and two triangular solves)."""
        return lapack_flops(in_specs, 2), io_bytes(out_specs, in_specs)

    def forward(xp, a):
        return xp.linalg.inv(a)

    def vjp(F, g, out, a):
        t = _mT(F, out)
        return (-F.matmul(t, F.matmul(g, t)),)


@register
class Adjugate(Op):
    """``det(A) inv(A)``, also for singular A (then through the SVD); the gradient of det."""

    def cost(out_specs, in_specs, attrs):
        """Textbook count: 2·m·n·min(m, n) per matrix (inverse and determinant)."""
        return lapack_flops(in_specs, 2), io_bytes(out_specs, in_specs)

    def forward(xp, a):
        d = xp.linalg.det(a)
        if bool(xp.all(d != 0)):
            out = d[..., None, None] * xp.linalg.inv(a)
            if bool(xp.isfinite(out).all()):
                return out
        # adj(U S Vh) = adj(Vh) adj(S) adj(U); adj(Q) = det(Q) Q.T for orthogonal Q
        u, s, vh = xp.linalg.svd(a)
        one = xp.ones(s.shape[:-1] + (1,), dtype=s.dtype)
        left = xp.cumprod(xp.concatenate([one, s[..., :-1]], axis=-1), axis=-1)
        right = xp.flip(xp.cumprod(xp.concatenate([one, xp.flip(s, -1)[..., :-1]], -1), -1), -1)
        sign = xp.linalg.det(u) * xp.linalg.det(vh)
        vs = xp.swapaxes(vh, -1, -2) * (left * right)[..., None, :]
        return sign[..., None, None] * xp.matmul(vs, xp.swapaxes(u, -1, -2))

    def vjp(F, g, out, a):  # for invertible a: d adj = det (tr(A^-1 dA) A^-1 - A^-1 dA A^-1)
        it = _mT(F, F.inv(a))
        inner = F.sum(g * _mT(F, it), axis=(a.ndim - 2, a.ndim - 1), keepdims=True)
        return (_mat(F, F.det(a)) * (inner * it - F.matmul(it, F.matmul(g, it))),)


@register
class Det(Op):
    def cost(out_specs, in_specs, attrs):
        """Textbook count: 2/3·m·n·min(m, n) per matrix (LU)."""
        return lapack_flops(in_specs, 2 / 3), io_bytes(out_specs, in_specs)

    def forward(xp, a):
        return xp.asarray(xp.linalg.det(a))

    def vjp(F, g, out, a):
        return (_mat(F, g) * _mT(F, F.adjugate(a)),)


@register
class Slogdet(Op):
    n_outputs = 2

    def cost(out_specs, in_specs, attrs):
        """Textbook count: 2/3·m·n·min(m, n) per matrix (LU)."""
        return lapack_flops(in_specs, 2 / 3), io_bytes(out_specs, in_specs)

    def forward(xp, a):
        sign, logabs = xp.linalg.slogdet(a)
        return xp.asarray(sign), xp.asarray(logabs)

    def vjp(F, g, out, a):
        return (_mat(F, g[1]) * _mT(F, F.inv(a)),)


@register
class Solve(Op):
    """``A X = B`` for a batch of matrices B ``(..., n, k)``."""

    needs_output = True

    def cost(out_specs, in_specs, attrs):
        """Textbook count: 2/3·m·n·min(m, n) per matrix (LU, then 2·n² per right-hand side)."""
        return lapack_flops(in_specs, 2 / 3), io_bytes(out_specs, in_specs)

    def forward(xp, a, b):
        return xp.linalg.solve(a, b)

    def vjp(F, g, out, a, b):
        gb = F.solve(_mT(F, a), g)
        return -F.matmul(gb, _mT(F, out)), gb


@register
class Cholesky(Op):
    needs_output = True

    def cost(out_specs, in_specs, attrs):
        """Textbook count: 1/3·m·n·min(m, n) per matrix."""
        return lapack_flops(in_specs, 1 / 3), io_bytes(out_specs, in_specs)

    def forward(xp, a):
        return xp.linalg.cholesky(a)

    def vjp(F, g, out, a):  # PyTorch's formula; the result is symmetric
        n = a.shape[-1]
        p = F.where(F.permute(F.triu_mask(n=n), axes=(1, 0)), F.matmul(_mT(F, out), g), 0.0)
        m = (p + _mT(F, F.where(F.eye_mask(n=n), 0.0, p))) * 0.5
        linv = F.inv(out)
        return (F.matmul(_mT(F, linv), F.matmul(m, linv)),)


@register
class Qr(Op):
    n_outputs = 2
    needs_output = True

    def cost(out_specs, in_specs, attrs):
        """Textbook count: 4/3·m·n·min(m, n) per matrix (Householder)."""
        return lapack_flops(in_specs, 4 / 3), io_bytes(out_specs, in_specs)

    def forward(xp, a, mode="reduced"):
        q, r = xp.linalg.qr(a, mode=mode)
        return q, r

    def vjp(F, g, out, a, mode="reduced"):
        (gq, gr), (q, r) = g, out
        m, n = a.shape[-2:]
        if m > n and mode == "complete":
            raise AutogradError("linalg.qr: the gradient of mode='complete' with more rows "
                                "than columns is not defined; use mode='reduced'")
        if m >= n:
            return (_qr_grad(F, q, r, gq, gr),)
        # wide A = [X | Y] with X square: X = Q U, Y = Q V where R = [U | V]
        left, right = (_ELL, _ALL, slice(0, m)), (_ELL, _ALL, slice(m, n))
        gv = F.get_item(gr, index=right)
        y = F.get_item(a, index=right)
        gx = _qr_grad(F, q, F.get_item(r, index=left), gq + F.matmul(y, _mT(F, gv)),
                      F.get_item(gr, index=left))
        return (F.concat(gx, F.matmul(q, gv), axis=a.ndim - 1),)


@register
class Svd(Op):
    n_outputs = 3
    needs_output = True

    def cost(out_specs, in_specs, attrs):
        """Textbook count: 22·m·n·min(m, n) per matrix (Golub-Van Loan, with vectors)."""
        return lapack_flops(in_specs, 22), io_bytes(out_specs, in_specs)

    def forward(xp, a, full_matrices=True):
        u, s, vh = xp.linalg.svd(a, full_matrices=full_matrices)
        return u, s, vh

    def vjp(F, g, out, a, full_matrices=True):
        (gu, gs, gvh), (u, s, vh) = g, out
        m, n = a.shape[-2:]
        k = min(m, n)
        if full_matrices and m != n:  # the extra columns are an arbitrary basis: ignored
            cols, rows = (_ELL, _ALL, slice(0, k)), (_ELL, slice(0, k), _ALL)
            u, gu = F.get_item(u, index=cols), F.get_item(gu, index=cols)
            vh, gvh = F.get_item(vh, index=rows), F.get_item(gvh, index=rows)
        v = _mT(F, vh)
        utgu = F.matmul(_mT(F, u), gu)
        vtgv = F.matmul(vh, _mT(F, gvh))
        eye = F.eye_mask(n=k)
        s2 = s * s
        e = F.where(eye, 1.0, _row(F, s2) - _col(F, s2))
        inner = ((utgu - _mT(F, utgu)) / e * _row(F, s) + _col(F, s) * ((vtgv - _mT(F, vtgv)) / e)
                 + F.where(eye, _row(F, gs), 0.0))
        ga = F.matmul(inner, vh)
        if n > k:
            ga = ga + (gvh - F.matmul(F.matmul(gvh, v), vh)) / _col(F, s)
        ga = F.matmul(u, ga)
        if m > k:
            ga = ga + F.matmul((gu - F.matmul(u, utgu)) / _row(F, s), vh)
        return (ga,)


@register
class Svdvals(Op):
    def cost(out_specs, in_specs, attrs):
        """Textbook count: 8/3·m·n·min(m, n) per matrix (bidiagonalisation)."""
        return lapack_flops(in_specs, 8 / 3), io_bytes(out_specs, in_specs)

    def forward(xp, a):
        return xp.linalg.svd(a, compute_uv=False)

    def vjp(F, g, out, a):
        u, _, vh = F.svd(a, full_matrices=False)
        return (F.matmul(u * _row(F, g), vh),)


@register
class Eigh(Op):
    n_outputs = 2
    needs_output = True

    def cost(out_specs, in_specs, attrs):
        """Textbook count: 9·m·n·min(m, n) per matrix (with vectors)."""
        return lapack_flops(in_specs, 9), io_bytes(out_specs, in_specs)

    def forward(xp, a):
        w, v = xp.linalg.eigh(a)
        return w, v

    def vjp(F, g, out, a):  # PyTorch's formula: the skew part of V^T gV, a symmetric result
        (gw, gv), (w, v) = g, out
        x = F.matmul(_mT(F, v), gv)
        inner = _spectral_inner(F, (x - _mT(F, x)) * 0.5, w, gw)
        return (F.matmul(v, F.matmul(inner, _mT(F, v))),)


@register
class Eigvalsh(Op):
    def cost(out_specs, in_specs, attrs):
        """Textbook count: 4/3·m·n·min(m, n) per matrix (tridiagonalisation)."""
        return lapack_flops(in_specs, 4 / 3), io_bytes(out_specs, in_specs)

    def forward(xp, a):
        return xp.linalg.eigvalsh(a)

    def vjp(F, g, out, a):
        _, v = F.eigh(a)
        return (F.matmul(v * _row(F, g), _mT(F, v)),)


@register
class Eig(Op):
    n_outputs = 2
    needs_output = True

    def cost(out_specs, in_specs, attrs):
        """Textbook count: 25·m·n·min(m, n) per matrix (Hessenberg QR with vectors)."""
        return lapack_flops(in_specs, 25), io_bytes(out_specs, in_specs)

    def forward(xp, a):
        w, v = xp.linalg.eig(a)
        if w.dtype.kind == "c":
            raise DTypeError(
                "the matrix has complex eigenvalues and ember has no complex dtypes; for a "
                "symmetric matrix use ember.linalg.eigh (always real), or ember.linalg.svd")
        return w, v

    def vjp(F, g, out, a):  # PyTorch's formula for unit-norm eigenvectors
        (gw, gv), (w, v) = g, out
        vt = _mT(F, v)
        x = F.matmul(vt, gv)
        x = x - F.matmul(vt, v * _row(F, _diagonal(F, x)))
        x = F.where(F.eye_mask(n=w.shape[-1]), 0.0, x)
        return (F.solve(vt, F.matmul(_spectral_inner(F, x, w, gw), vt)),)


@register
class Pinv(Op):
    needs_output = True

    def cost(out_specs, in_specs, attrs):
        """Textbook count: 24·m·n·min(m, n) per matrix (an SVD and two products)."""
        return lapack_flops(in_specs, 24), io_bytes(out_specs, in_specs)

    def forward(xp, a, atol=0.0, rtol=0.0, hermitian=False):
        if hermitian:
            s, u = xp.linalg.eigh(a)
            vt = xp.swapaxes(u, -1, -2)
            big = xp.abs(s)
        else:
            u, s, vt = xp.linalg.svd(a, full_matrices=False)
            big = s
        if s.shape[-1] == 0:
            return xp.zeros(a.shape[:-2] + (a.shape[-1], a.shape[-2]), dtype=a.dtype)
        cutoff = xp.maximum(atol, rtol * big.max(axis=-1, keepdims=True))
        keep = big > cutoff
        sinv = xp.where(keep, 1.0 / xp.where(keep, s, 1.0), 0.0).astype(a.dtype)
        return xp.matmul(xp.swapaxes(vt, -1, -2) * sinv[..., None, :], xp.swapaxes(u, -1, -2))

    def vjp(F, g, out, a, atol=0.0, rtol=0.0, hermitian=False):  # Golub and Pereyra (1973)
        x, xt, gt = out, _mT(F, out), _mT(F, g)
        h = F.matmul(gt, F.matmul(x, xt))
        k = F.matmul(F.matmul(xt, x), gt)
        return (-F.matmul(xt, F.matmul(g, xt)) + h - F.matmul(a, F.matmul(x, h))
                + k - F.matmul(F.matmul(k, x), a),)


# ----------------------------------------------------------------------------- public API


def _matrix(name: str, a, square: bool = True) -> None:
    if not isinstance(a, Tensor):
        raise TypeError(f"{name}: expected an ember.Tensor, got {type(a).__name__}")
    if a.ndim < 2:
        raise op_error(ShapeError, name, "expected a matrix or a batch of matrices (..., m, n)",
                       args=[a], hint="Reshape a vector to (n, 1) or (1, n)")
    if square and a.shape[-1] != a.shape[-2]:
        raise op_error(ShapeError, name, "expected square matrices (..., n, n), got "
                       f"{a.shape[-2]}x{a.shape[-1]}", args=[a],
                       hint="Use ember.linalg.pinv or svd for rectangular matrices")
    if a.dtype.name not in ("float32", "float64"):
        raise op_error(DTypeError, name, f"expected float32 or float64, got {a.dtype.name}",
                       args=[a], hint="Convert with .float() or .double()")


def _run(name: str, op, args, problem: str, hint: str, shown=None):
    """apply, turning NumPy's LinAlgError (and non-finite results) into a clear error."""
    try:
        out = apply(op, *args)
    except LinAlgError as exc:
        raise op_error(LinAlgError, name, problem, args=shown or args, hint=hint) from exc
    xp = backend_of(out.data).xp
    if not bool(xp.isfinite(out.data).all()) and all(
            bool(xp.isfinite(a.data).all()) for a in args):
        raise op_error(LinAlgError, name, problem + " (to working precision)",
                       args=shown or args, hint=hint)
    return out


_SINGULAR_HINT = ("Use ember.linalg.pinv (pinv(A) @ B is the least-squares, lstsq, solution) "
                  "or check the rank of A")


def inv(A: Tensor) -> Tensor:
    """Inverse of a square matrix (or a batch of them).

    Args:
        A: ``(..., n, n)`` float tensor; a singular matrix raises ``LinAlgError``.

    Example:
        >>> import ember
        >>> ember.linalg.inv(ember.tensor([[2.0, 0.0], [0.0, 4.0]]))
        tensor([[0.5 , 0.  ],
                [0.  , 0.25]])
    """
    _matrix("linalg.inv", A)
    return _run("linalg.inv", Inv, (A,), "the matrix is singular", _SINGULAR_HINT)


def det(A: Tensor) -> Tensor:
    """Determinant of square matrices ``(..., n, n)`` -> ``(...)``.

    The gradient (the cofactor matrix) is defined for singular matrices too; second
    derivatives need an invertible matrix.

    Example:
        >>> import ember
        >>> ember.linalg.det(ember.tensor([[1.0, 2.0], [3.0, 4.0]]))
        tensor(-2.)
    """
    _matrix("linalg.det", A)
    return apply(Det, A)


def slogdet(A: Tensor) -> tuple[Tensor, Tensor]:
    """``(sign, log|det A|)`` of square matrices; the gradient flows through ``logabsdet``.

    Example:
        >>> import ember
        >>> sign, logabsdet = ember.linalg.slogdet(ember.tensor([[-2.0, 0.0], [0.0, 1.0]]))
        >>> sign, round(logabsdet.item(), 4)
        (tensor(-1.), 0.6931)
    """
    _matrix("linalg.slogdet", A)
    return apply(Slogdet, A)


def solve(A: Tensor, B: Tensor) -> Tensor:
    """Solve ``A X = B`` for X.

    Args:
        A: ``(..., n, n)`` invertible matrices.
        B: ``(..., n, k)`` matrices, or vectors ``(n,)`` / ``(..., n)`` (when B's shape is
            A's without its last dimension, as in PyTorch). Batch dimensions broadcast.

    Example:
        >>> import ember
        >>> ember.linalg.solve(ember.tensor([[2.0, 0.0], [0.0, 4.0]]), ember.tensor([2.0, 2.0]))
        tensor([1. , 0.5])
    """
    _matrix("linalg.solve", A)
    if not isinstance(B, Tensor) or B.dtype != A.dtype:
        A, B = _promote(A, B)
    vector = B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))
    n = A.shape[-1]
    if B.ndim == 0 or B.shape[-1 if vector else -2] != n:
        raise op_error(ShapeError, "linalg.solve", f"B must have {n} rows to match A "
                       "(B: (..., n, k) matrices or (..., n) vectors)", args=[A, B],
                       hint="Check which operand is A; transpose B if its columns are rows")
    batch_a, batch_b = A.shape[:-2], B.shape[:-1 if vector else -2]
    for p, q in zip(reversed(batch_a), reversed(batch_b)):
        if p != q and 1 not in (p, q):
            raise op_error(ShapeError, "linalg.solve", f"the batch dimensions {batch_a} of A "
                           f"and {batch_b} of B do not broadcast", args=[A, B],
                           hint="Make the leading dimensions equal or 1")
    b = unsqueeze(B, -1) if vector else B
    x = _run("linalg.solve", Solve, (A, b), "the matrix A is singular", _SINGULAR_HINT,
             shown=(A, B))
    return x.squeeze(-1) if vector else x


def cholesky(A: Tensor, *, upper: bool = False) -> Tensor:
    """Cholesky factor L (lower, ``A = L L^T``) of symmetric positive-definite matrices.

    Only the lower triangle of A is read. With ``upper=True`` returns ``U = L^T``
    (``A = U^T U``).

    Example:
        >>> import ember
        >>> ember.linalg.cholesky(ember.tensor([[4.0, 2.0], [2.0, 2.0]]))
        tensor([[2., 0.],
                [1., 1.]])
    """
    _matrix("linalg.cholesky", A)
    lower = _run("linalg.cholesky", Cholesky, (A,), "the matrix is not positive-definite",
                 "It must be symmetric with positive eigenvalues; add a small multiple of "
                 "the identity (A + eps * I) or use ember.linalg.eigh")
    return lower.mT if upper else lower


def qr(A: Tensor, mode: str = "reduced") -> tuple[Tensor, Tensor]:
    """QR decomposition ``A = Q R``: Q orthonormal columns, R upper triangular.

    Args:
        A: ``(..., m, n)``.
        mode: ``"reduced"`` (Q ``(..., m, k)``, R ``(..., k, n)``, k = min(m, n)) or
            ``"complete"`` (Q ``(..., m, m)``).

    Example:
        >>> import ember
        >>> q, r = ember.linalg.qr(ember.randn(4, 3))
        >>> q.shape, r.shape
        ((4, 3), (3, 3))
    """
    _matrix("linalg.qr", A, square=False)
    if mode not in ("reduced", "complete"):
        raise ValueError(f"linalg.qr: mode must be 'reduced' or 'complete', got {mode!r}")
    return apply(Qr, A, mode=mode)


def svd(A: Tensor, full_matrices: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """Singular value decomposition ``A = U diag(S) Vh``, S descending.

    The gradient needs distinct non-zero singular values; with ``full_matrices=True`` the
    gradients of the extra columns of U (rows of Vh) are ignored, as in PyTorch.

    Shape:
        A ``(..., m, n)`` -> U ``(..., m, m)`` (``(..., m, k)`` when not full), S ``(..., k)``,
        Vh ``(..., n, n)`` (``(..., k, n)``), k = min(m, n).

    Example:
        >>> import ember
        >>> u, s, vh = ember.linalg.svd(ember.tensor([[3.0, 0.0], [0.0, -2.0]]))
        >>> s
        tensor([3., 2.])
    """
    _matrix("linalg.svd", A, square=False)
    return apply(Svd, A, full_matrices=bool(full_matrices))


def svdvals(A: Tensor) -> Tensor:
    """Singular values ``(..., min(m, n))`` of ``(..., m, n)``, descending.

    Example:
        >>> import ember
        >>> ember.linalg.svdvals(ember.tensor([[0.0, 2.0], [1.0, 0.0]]))
        tensor([2., 1.])
    """
    _matrix("linalg.svdvals", A, square=False)
    return apply(Svdvals, A)


def eigh(A: Tensor) -> tuple[Tensor, Tensor]:
    """Eigenvalues (ascending) and orthonormal eigenvectors (columns) of symmetric matrices.

    Only the lower triangle is read. The gradient needs distinct eigenvalues.

    Example:
        >>> import ember
        >>> w, v = ember.linalg.eigh(ember.tensor([[2.0, 1.0], [1.0, 2.0]]))
        >>> w
        tensor([1., 3.])
    """
    _matrix("linalg.eigh", A)
    return apply(Eigh, A)


def eigvalsh(A: Tensor) -> Tensor:
    """Eigenvalues (ascending) of symmetric matrices ``(..., n, n)`` -> ``(..., n)``.

    Example:
        >>> import ember
        >>> ember.linalg.eigvalsh(ember.tensor([[2.0, 1.0], [1.0, 2.0]]))
        tensor([1., 3.])
    """
    _matrix("linalg.eigvalsh", A)
    return apply(Eigvalsh, A)


def eig(A: Tensor) -> tuple[Tensor, Tensor]:
    """Eigenvalues and unit-norm eigenvectors of general square matrices with real spectrum.

    ember has no complex dtypes: a matrix with complex eigenvalues raises ``DTypeError``
    (use ``eigh`` for symmetric matrices). The gradient needs distinct eigenvalues.

    Example:
        >>> import ember
        >>> w, v = ember.linalg.eig(ember.tensor([[2.0, 1.0], [0.0, 3.0]]))
        >>> w
        tensor([2., 3.])
    """
    _matrix("linalg.eig", A)
    return apply(Eig, A)


def pinv(A: Tensor, *, atol: float | None = None, rtol: float | None = None,
         hermitian: bool = False) -> Tensor:
    """Moore-Penrose pseudo-inverse ``(..., m, n)`` -> ``(..., n, m)``, through the SVD.

    Singular values below ``max(atol, rtol * largest)`` count as zero; by default
    ``rtol = eps * max(m, n)`` (PyTorch's rule). ``hermitian=True`` uses ``eigh`` instead.

    Example:
        >>> import ember
        >>> ember.linalg.pinv(ember.tensor([[1.0, 0.0], [0.0, 0.0]]))
        tensor([[1., 0.],
                [0., 0.]])
    """
    _matrix("linalg.pinv", A, square=hermitian)
    if rtol is None:
        rtol = float(_EPS[A.dtype.name]) * max(A.shape[-2:]) if not atol else 0.0
    return apply(Pinv, A, atol=float(atol or 0.0), rtol=float(rtol), hermitian=bool(hermitian))


_EPS = {"float32": 2.0**-23, "float64": 2.0**-52}


def matrix_power(A: Tensor, n: int) -> Tensor:
    """``A`` multiplied by itself ``n`` times (``n < 0``: powers of the inverse; 0: identity).

    Example:
        >>> import ember
        >>> ember.linalg.matrix_power(ember.tensor([[1.0, 1.0], [0.0, 1.0]]), 3)
        tensor([[1., 3.],
                [0., 1.]])
    """
    _matrix("linalg.matrix_power", A)
    if n == 0:
        from .creation import eye, zeros_like

        return zeros_like(A) + eye(A.shape[-1], dtype=A.dtype, device=A.device)
    if n < 0:
        A, n = inv(A), -n
    result = None
    while n:  # binary exponentiation
        if n & 1:
            result = A if result is None else result @ A
        n >>= 1
        if n:
            A = A @ A
    return result


def matrix_norm(A: Tensor, ord="fro", dim=(-2, -1), keepdim: bool = False) -> Tensor:
    """Matrix norm over the two dimensions ``dim``.

    Args:
        ord: ``"fro"``, ``"nuc"``, ``2``/``-2`` (largest/smallest singular value),
            ``1``/``-1`` (max/min column abs-sum), ``inf``/``-inf`` (max/min row abs-sum).

    Example:
        >>> import ember
        >>> ember.linalg.matrix_norm(ember.tensor([[1.0, -2.0], [3.0, 4.0]]), ord=1)
        tensor(6.)
    """
    _matrix("linalg.matrix_norm", A, square=False)
    dims = normalize_axis(dim, A.ndim, "linalg.matrix_norm")
    if not isinstance(dim, (tuple, list)) or len(dim) != 2 or len(dims) != 2:
        raise op_error(ShapeError, "linalg.matrix_norm", f"dim must be two distinct dims, got "
                       f"{dim!r}", args=[A], hint="Pass dim=(-2, -1)")
    d0, d1 = (int(d) % A.ndim for d in dim)
    if ord == "fro":
        return vector_norm(A, 2, (d0, d1), keepdim)
    if ord in (1, -1, math.inf, -math.inf):
        summed, over = (d0, d1) if abs(ord) == 1 else (d1, d0)
        pick = amax if ord > 0 else amin
        out = pick(_sum(_abs(A), summed, keepdim=True), over, keepdim=True)
        return out if keepdim else out.squeeze(max(d0, d1)).squeeze(min(d0, d1))
    if ord not in ("nuc", 2, -2):
        raise ValueError(f"linalg.matrix_norm: unsupported ord {ord!r}; use 'fro', 'nuc', "
                         "2, -2, 1, -1, inf or -inf")
    rest = tuple(i for i in range(A.ndim) if i not in (d0, d1))
    s = svdvals(permute(A, rest + (d0, d1)))
    out = _sum(s, -1) if ord == "nuc" else (amax if ord == 2 else amin)(s, -1)
    if keepdim:
        for d in sorted((d0, d1)):
            out = unsqueeze(out, d)
    return out


def norm(x: Tensor, ord=None, dim=None, keepdim: bool = False) -> Tensor:
    """Vector or matrix norm, following ``torch.linalg.norm``.

    With ``dim`` an int (or one-element tuple) a vector norm, with two dims a matrix norm.
    With ``dim=None``: ``ord=None`` gives the 2-norm of the flattened tensor; otherwise x
    must be 1-D (vector norm) or 2-D (matrix norm).

    Example:
        >>> import ember
        >>> ember.linalg.norm(ember.tensor([3.0, 4.0]))
        tensor(5.)
    """
    if dim is not None:
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        if len(dims) == 2:
            return matrix_norm(x, "fro" if ord is None else ord, dims, keepdim)
        if len(dims) != 1:
            raise op_error(ShapeError, "linalg.norm", f"dim must have 1 or 2 entries, got "
                           f"{dim!r}", args=[x])
        return _vector("linalg.norm", x, 2 if ord is None else ord, dims, keepdim)
    if ord is None:
        return _vector("linalg.norm", x, 2, None, keepdim)
    if x.ndim == 1:
        return _vector("linalg.norm", x, ord, None, keepdim)
    if x.ndim == 2:
        return matrix_norm(x, ord, (-2, -1), keepdim)
    raise op_error(ShapeError, "linalg.norm", "with ord given and dim=None the input must be "
                   "1-D or 2-D", args=[x], hint="Pass dim (an int for vectors, a pair for "
                   "matrices)")


def _vector(name, x, ord, dim, keepdim):
    if isinstance(ord, str):
        raise ValueError(f"{name}: ord {ord!r} is a matrix norm; use a number for vectors "
                         "or pass two dims")
    return vector_norm(x, ord, dim, keepdim)
