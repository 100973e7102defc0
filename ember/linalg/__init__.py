"""``ember.linalg``: norms now; decompositions and solvers join in ``ember/ops/decomp.py``."""

from __future__ import annotations

from ..ops.linalg import matmul, outer
from ..ops.reduce import vector_norm

__all__ = ["matmul", "outer", "vector_norm", "norm"]


def norm(x, ord=None, dim=None, keepdim: bool = False):
    """Vector 2-norm by default (flattened); ``ord`` as in ``vector_norm``."""
    return vector_norm(x, 2 if ord is None else ord, dim, keepdim)
