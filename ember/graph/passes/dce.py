"""Dead-code elimination: drop nodes whose outputs reach no output, update or gradient.

Example:
    >>> import ember
    >>> from ember.graph import trace
    >>> from ember.graph.passes import dce
    >>> def f(x):
    ...     unused = x.exp()
    ...     return x * 2.0
    >>> g = trace(f, ember.ones(3))
    >>> dce(g)["removed"], [n.op.name for n in g.nodes]
    (1, ['mul'])
"""

from __future__ import annotations

from ..ir import Graph


def dce(graph: Graph) -> dict:
    """Remove unused nodes, constants and states in place; returns ``{"removed": count}``."""
    needed = set(graph.roots())
    keep = []
    for n in reversed(graph.nodes):
        if any(v in needed for v in n.outputs) or getattr(n.op, "random", False):
            keep.append(n)
            needed.update(n.inputs())
    removed = len(graph.nodes) - len(keep)
    graph.nodes = keep[::-1]
    graph.consts = {v: a for v, a in graph.consts.items() if v in needed}
    updated = {s for s, _ in graph.updates} | {s for s, _ in graph.grads}
    pairs = [(v, t) for v, t in zip(graph.states, graph.state_tensors)
             if v in needed or v in updated]
    graph.states = [v for v, _ in pairs]
    graph.state_tensors = [t for _, t in pairs]
    return {"removed": removed}
