"""Graph passes: each rewrites a graph in place and returns counts of what it did.

``optimize`` runs them on a copy in the order that lets each feed the next: algebraic
simplification, moving ReLUs after their max pooling, constant folding, common-subexpression
elimination, dead-code elimination, then elementwise fusion (memory planning runs inside the
executor's compilation).

Example:
    >>> import ember
    >>> from ember.graph import trace
    >>> from ember.graph.passes import optimize
    >>> g, stats = optimize(trace(lambda x: x * 1.0 + x * 1.0, ember.ones(3)))
    >>> stats["simplify"]["rewritten"], stats["cse"]["merged"], [n.op.name for n in g.nodes]
    (2, 1, ['fused'])
"""

from __future__ import annotations

from ..ir import Graph
from .commute import commute_relu_pool
from .cse import cse
from .dce import dce
from .fold import fold_constants
from .fuse import fuse_elementwise
from .memory import plan_memory
from .simplify import simplify

PASSES = {
    "simplify": simplify,
    "commute": commute_relu_pool,
    "fold": fold_constants,
    "cse": cse,
    "dce": dce,
    "fuse": fuse_elementwise,
}
DEFAULT = ("simplify", "commute", "fold", "cse", "dce", "fuse")

__all__ = ["PASSES", "DEFAULT", "optimize", "simplify", "commute_relu_pool", "fold_constants",
           "cse", "dce", "fuse_elementwise", "plan_memory"]


def optimize(graph: Graph, passes=None) -> tuple[Graph, dict]:
    """Run ``passes`` (names; default ``DEFAULT``) on a copy of ``graph``.

    Returns the optimised copy and ``{pass name: its counts}``.
    """
    g = graph.copy()
    stats = {}
    for name in DEFAULT if passes is None else passes:
        if name not in PASSES:
            raise ValueError(f"optimize: unknown pass {name!r}; choose from {', '.join(PASSES)}")
        stats[name] = PASSES[name](g)
    return g, stats
