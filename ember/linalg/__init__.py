"""``ember.linalg``: products, norms, decompositions and solvers (``ember/ops/decomp.py``).

Example:
    >>> import ember
    >>> a = ember.tensor([[2.0, 0.0], [0.0, 4.0]])
    >>> ember.linalg.inv(a)
    tensor([[0.5 , 0.  ],
            [0.  , 0.25]])
"""

from __future__ import annotations

from ..ops.decomp import *  # noqa: F403
from ..ops.decomp import __all__ as _decomp_all
from ..ops.linalg import matmul, outer
from ..ops.reduce import vector_norm

__all__ = ["matmul", "outer", "vector_norm", *_decomp_all]
