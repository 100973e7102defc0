"""Common-subexpression elimination: one node per distinct (op, arguments, attributes).

Example:
    >>> import ember
    >>> from ember.graph import trace
    >>> from ember.graph.passes import cse, dce
    >>> g = trace(lambda x: x.exp() + x.exp(), ember.ones(3))
    >>> cse(g)["merged"], dce(g)["removed"], [n.op.name for n in g.nodes]
    (1, 1, ['exp', 'add'])
"""

from __future__ import annotations

import math

from ..ir import Graph, Value


def _key(obj):
    if isinstance(obj, Value):
        return ("v", obj.id)
    if isinstance(obj, (tuple, list)):
        return (type(obj).__name__,) + tuple(_key(o) for o in obj)
    if isinstance(obj, float):
        return ("f", obj, math.copysign(1.0, obj)) if obj == obj else ("nan",)
    if isinstance(obj, slice):
        return ("slice", _key(obj.start), _key(obj.stop), _key(obj.step))
    if isinstance(obj, dict):
        return ("dict",) + tuple((k, _key(v)) for k, v in sorted(obj.items()))
    if hasattr(obj, "shape"):
        return ("array", id(obj))
    return (type(obj).__name__, obj)


def cse(graph: Graph) -> dict:
    """Merge nodes that compute the same thing; returns ``{"merged": count}``."""
    seen: dict = {}
    mapping: dict = {}
    merged = 0
    for n in graph.nodes:
        if mapping:
            graph_sub_node(n, mapping)
        if getattr(n.op, "random", False):
            continue
        key = (n.op, _key(n.args), _key(n.attrs))
        first = seen.get(key)
        if first is None:
            seen[key] = n
            continue
        for a, b in zip(n.outputs, first.outputs):
            mapping[a] = b
        merged += 1
    graph.substitute(mapping)
    return {"merged": merged}


def graph_sub_node(n, mapping: dict) -> None:
    """Rewrite one node's arguments through ``mapping`` (values replaced by values)."""
    def sub(obj):
        if isinstance(obj, Value):
            return mapping.get(obj, obj)
        if isinstance(obj, tuple):
            return tuple(sub(o) for o in obj)
        if isinstance(obj, list):
            return [sub(o) for o in obj]
        return obj

    n.args = sub(n.args)
    n.attrs = {k: sub(v) for k, v in n.attrs.items()}
