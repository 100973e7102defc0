"""Matrix products: matmul (batched, broadcasting), dot, outer, add_n.

Decompositions and solvers live in ``ember/ops/decomp.py`` (exposed as ``ember.linalg``).
"""

from __future__ import annotations

from ..autograd.node import apply
from ..errors import ShapeError
from ..tensor import Tensor
from .registry import Op, io_bytes, numel, register


def _mT(F, x):
    n = x.ndim
    return F.permute(x, axes=tuple(range(n - 2)) + (n - 1, n - 2))


@register
class Matmul(Op):
    blas = True

    def cost(out_specs, in_specs, attrs):
        """2·k FLOPs (multiply and add) per output element, k the contracted length."""
        return 2 * numel(out_specs[0][0]) * in_specs[0][0][-1], io_bytes(out_specs, in_specs)

    def forward(xp, a, b):
        # NumPy multiplies bfloat16 (ml_dtypes) in float32 and returns float32
        return xp.matmul(a, b).astype(a.dtype, copy=False)

    def vjp(F, g, out, a, b):
        if a.ndim == 1 and b.ndim == 1:
            return g * b, g * a
        if a.ndim == 1:  # (k,) @ (..., k, n) -> (..., n)
            g2 = F.reshape(g, shape=tuple(g.shape[:-1]) + (1, g.shape[-1]))
            ga = F.matmul(g2, _mT(F, b))
            ga = F.reshape(ga, shape=tuple(ga.shape[:-2]) + (ga.shape[-1],))
            gb = F.reshape(a, shape=(a.shape[0], 1)) * g2
            return ga, gb
        if b.ndim == 1:  # (..., m, k) @ (k,) -> (..., m)
            g2 = F.reshape(g, shape=tuple(g.shape) + (1,))
            ga = g2 * b
            gb = F.matmul(_mT(F, a), g2)
            return ga, F.reshape(gb, shape=tuple(gb.shape[:-2]) + (gb.shape[-2],))
        return F.matmul(g, _mT(F, b)), F.matmul(_mT(F, a), g)


def matmul(a, b) -> Tensor:
    """Matrix product with NumPy's rules: batched and broadcasting; 1-d operands are vectors.

    Example:
        >>> import ember
        >>> (ember.ones(2, 3) @ ember.ones(3, 4)).shape
        (2, 4)
    """
    from .elementwise import _promote

    if not isinstance(a, Tensor) or not isinstance(b, Tensor) or a.data.dtype != b.data.dtype:
        a, b = _promote(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(
            f"matmul: both operands need at least 1 dimension, got {tuple(a.shape)} and "
            f"{tuple(b.shape)}; use * for scalars"
        )
    ka = a.shape[-1]
    kb = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if ka != kb:
        raise ShapeError(
            f"matmul: inner dimensions differ: {tuple(a.shape)} @ {tuple(b.shape)} "
            f"({ka} != {kb}). The last dimension of the first operand must equal the "
            f"{'second-to-last' if b.ndim > 1 else 'only'} dimension of the second; "
            "transpose one of them?"
        )
    return apply(Matmul, a, b)


def dot(a, b) -> Tensor:
    """Inner product of two 1-d tensors."""
    if a.ndim != 1 or b.ndim != 1:
        raise ShapeError(
            f"dot: expects two 1-d tensors, got {tuple(a.shape)} and {tuple(b.shape)}; "
            "use matmul for matrices"
        )
    return matmul(a, b)


vdot = dot


def outer(a, b) -> Tensor:
    """Outer product of two 1-d tensors: ``out[i, j] = a[i] * b[j]``."""
    if a.ndim != 1 or b.ndim != 1:
        raise ShapeError(
            f"outer: expects two 1-d tensors, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    return a.reshape(-1, 1) * b.reshape(1, -1)


def add_n(inputs) -> Tensor:
    """Sum a list of same-shape tensors (TensorFlow's ``add_n``)."""
    inputs = list(inputs)
    if not inputs:
        raise ValueError("add_n: needs at least one tensor")
    shapes = {tuple(t.shape) for t in inputs}
    if len(shapes) > 1:
        raise ShapeError(f"add_n: all tensors must have the same shape, got {sorted(shapes)}")
    out = inputs[0]
    for t in inputs[1:]:
        out = out + t
    return out
