"""Constant folding: evaluate, once, every node whose inputs are all constants.

Example:
    >>> import ember
    >>> from ember.graph import trace
    >>> from ember.graph.passes import fold_constants
    >>> c = None
    >>> def f(x):
    ...     k = ember.tensor([1.0, 2.0]).exp() * 2.0   # no input involved
    ...     return x + k
    >>> g = trace(f, ember.ones(2))
    >>> fold_constants(g)["folded"], [n.op.name for n in g.nodes]
    (2, ['add'])
"""

from __future__ import annotations

from ..ir import Graph, Value
from .cse import graph_sub_node


def _array(obj, consts):
    if isinstance(obj, Value):
        return consts[obj]
    if isinstance(obj, tuple):
        return tuple(_array(o, consts) for o in obj)
    if isinstance(obj, list):
        return [_array(o, consts) for o in obj]
    return obj


def fold_constants(graph: Graph, backend=None) -> dict:
    """Replace constant-only nodes by constants in place; returns ``{"folded": count}``."""
    if backend is None:  # the backend of the graph's constants (a CUDA graph folds on CUDA)
        from ...backend import _BY_TYPE, get_backend

        backend = next((_BY_TYPE[a.__class__] for a in graph.consts.values()
                        if a.__class__ in _BY_TYPE), None) or get_backend("cpu")
    xp = backend.xp
    mapping: dict = {}
    keep = []
    folded = 0
    for n in graph.nodes:
        if mapping:
            graph_sub_node(n, mapping)
        ins = n.inputs()
        if getattr(n.op, "random", False) or any(v not in graph.consts for v in ins):
            keep.append(n)
            continue
        args = [_array(a, graph.consts) for a in n.args]
        attrs = {k: _array(v, graph.consts) for k, v in n.attrs.items()}
        out = backend.forward(n.op)(xp, *args, **attrs)
        outs = (out,) if n.op.n_outputs == 1 else tuple(out)
        for v, arr in zip(n.outputs, outs):
            c = graph.new_value("const", v.shape, v.dtype, dynamic=False)
            graph.consts[c] = xp.asarray(arr)
            mapping[v] = c
        folded += 1
    graph.nodes = keep
    graph.substitute(mapping)
    return {"folded": folded}
