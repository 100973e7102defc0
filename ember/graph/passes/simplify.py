"""Algebraic simplification: ``x*1``, ``x/1``, ``x+0``, ``x-0``, ``x**1``, ``-(-x)``, casts to
the same dtype, reshapes to the same shape, reshape chains and transpose chains.

A rewrite applies only when the result has exactly the shape and dtype of the value that
replaces it (``int_tensor * 1.0`` is a cast, not a no-op), and never makes a graph output an
alias of an input or a state.

Example:
    >>> import ember
    >>> from ember.graph import trace
    >>> from ember.graph.passes import simplify, dce
    >>> g = trace(lambda x: (x * 1.0 + 0.0).reshape(6).reshape(2, 3).T.T.exp(), ember.ones(2, 3))
    >>> simplify(g)["rewritten"] > 0, [n.op.name for n in (dce(g), g.nodes)[1]]
    (True, ['exp'])
"""

from __future__ import annotations

from ..ir import Graph, Value
from .cse import graph_sub_node

_IDENTITY_RIGHT = {"mul": 1, "div": 1, "add": 0, "sub": 0, "pow": 1}
_IDENTITY_LEFT = {"mul": 1, "add": 0}

def _is_scalar(obj, value, consts) -> bool:
    if isinstance(obj, bool):
        return False
    if isinstance(obj, (int, float)):
        return obj == value
    if isinstance(obj, Value) and obj in consts and obj.shape == ():
        return bool(consts[obj] == value)
    return False

def _same_spec(a: Value, b) -> bool:
    return isinstance(b, Value) and a.shape == b.shape and a.dtype == b.dtype

def simplify(graph: Graph) -> dict:
    """Apply the rewrites in place; returns ``{"rewritten": count}``."""
    roots = {v for v in graph.roots()}
    producer = {}
    mapping: dict = {}
    count = 0
    for n in graph.nodes:
        if mapping:
            graph_sub_node(n, mapping)
        out = n.outputs[0] if len(n.outputs) == 1 else None
        repl = _rewrite(n, out, producer, graph.consts) if out is not None else None
        if isinstance(repl, Value) and _same_spec(out, repl) and not (
                out in roots and repl.kind != "node"):
            mapping[out] = repl
            count += 1
            continue
        if repl == "changed":
            count += 1
        for v in n.outputs:
            producer[v] = n
    graph.substitute(mapping)
    return {"rewritten": count}

def _rewrite(n, out, producer, consts):
    name = n.op.name
    args = n.args
    if name in _IDENTITY_RIGHT and len(args) == 2 and _is_scalar(args[1], _IDENTITY_RIGHT[name],
                                                                 consts):
        return args[0]
    if name in _IDENTITY_LEFT and len(args) == 2 and _is_scalar(args[0], _IDENTITY_LEFT[name],
                                                                consts):
        return args[1]
    x = args[0] if args else None
    inner = producer.get(x) if isinstance(x, Value) else None
    if name == "neg" and inner is not None and inner.op.name == "neg":
        return inner.args[0]
    if name in ("astype", "reshape", "broadcast_to") and _same_spec(out, x):
        return x
    if name == "reshape" and inner is not None and inner.op.name == "reshape":
        if _same_spec(out, inner.args[0]):
            return inner.args[0]
        n.args = (inner.args[0],) + args[1:]
        return "changed"
    if name == "permute":
        axes = tuple(n.attrs["axes"])
        if axes == tuple(range(len(axes))):
            return x
        if inner is not None and inner.op.name == "permute":
            composed = tuple(inner.attrs["axes"][a] for a in axes)
            if composed == tuple(range(len(composed))):
                return inner.args[0]
            n.args = (inner.args[0],) + args[1:]
            n.attrs = dict(n.attrs, axes=composed)
            return "changed"
    return None
