"""Static graphs: trace Python functions into a graph IR, optimise, run, save, draw.

``jit`` traces and compiles functions (forward passes and whole training steps); ``trace``
returns the graph of one call; ``load`` reads a saved graph back as a callable; ``draw``
renders a graph (DOT always, SVG/PNG through Graphviz when installed).

Example:
    >>> import ember
    >>> g = ember.graph.trace(lambda x: x.exp() * 2.0, ember.zeros(2))
    >>> print(g)  # doctest: +NORMALIZE_WHITESPACE
    graph(%0: input0 float32[2]) {
      %1 = exp(%0)
      %2 = mul(%1, 2.0)
      return %2
    }
"""

from __future__ import annotations

from .executor import CompiledGraph, compile_graph
from .ir import FeedError, Graph, GraphFormatError, Node, TraceError, Value
from .jit import JitFunction, jit
from .trace import trace

__all__ = ["jit", "JitFunction", "trace", "compile_graph", "CompiledGraph", "Graph", "Node",
           "Value", "TraceError", "GraphFormatError", "FeedError", "load", "save", "draw"]


def load(path):
    """Load a graph saved by ``JitFunction.save`` / ``ember.graph.save``: a callable graph."""
    from .serialize import load as _load

    return _load(path)


def save(graph, path) -> None:
    """Save a graph (JSON + safetensors next to it)."""
    from .serialize import save as _save

    _save(graph, path)


def draw(graph_or_tensor, path=None, **kwargs):
    """Render a graph (DOT, or SVG/PNG through Graphviz); see ``ember.graph.drawing.draw``."""
    from .drawing import draw as _draw

    return _draw(graph_or_tensor, path, **kwargs)
