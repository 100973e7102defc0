"""Drawing computational graphs: Graphviz DOT text always, SVG/PNG when Graphviz is installed.

``draw`` takes a traced ``Graph`` (ops as boxes, inputs/states/constants as ovals, edges
labelled with shapes, fused nodes as clusters, state updates as dashed edges) or a tensor
(its recorded autograd graph -- the picture the lecture draws -- and, with
``backward=True``, the backward pass that ``backward()`` would run, traced into a graph).

Example:
    >>> import ember
    >>> from ember.graph import draw, trace
    >>> dot = draw(trace(lambda x: (x * 2.0).relu(), ember.ones(3)))
    >>> dot.splitlines()[0], "relu" in dot
    ('digraph ember {', True)
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ..tensor import Tensor
from .ir import Graph, Value
from .passes.fuse import Fused

_STYLE = {"input": 'shape=oval, style=filled, fillcolor="#d6eaff"',
          "state": 'shape=oval, style=filled, fillcolor="#ffe9c7"',
          "const": 'shape=oval, style=filled, fillcolor="#eeeeee"'}


def _q(text: str) -> str:
    """A DOT string literal (quotes and backslashes escaped, newlines as \\n)."""
    s = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + s + '"'


def _shape(v: Value) -> str:
    return f"{v.dtype}[{', '.join(map(str, v.shape))}]"


def _attrs(attrs: dict) -> str:
    parts = []
    for k, v in attrs.items():
        if k == "body":
            continue
        s = repr(v)
        parts.append(f"{k}={s if len(s) <= 24 else s[:21] + '...'}")
    return "\n".join(parts)


def graph_dot(graph: Graph, title: str = "ember") -> str:
    """DOT text for a graph IR."""
    lines = [f"digraph {title} {{", "  rankdir=TB;", '  node [fontname="Helvetica"];',
             '  edge [fontname="Helvetica", fontsize=9];']
    source: dict[Value, str] = {}
    for v in graph.inputs:
        source[v] = f"v{v.id}"
        lines.append(f"  v{v.id} [label={_q((v.name or 'input') + chr(10) + _shape(v))}, "
                     f"{_STYLE['input']}];")
    for v in graph.states:
        source[v] = f"v{v.id}"
        lines.append(f"  v{v.id} [label={_q((v.name or 'state') + chr(10) + _shape(v))}, "
                     f"{_STYLE['state']}];")
    for v in graph.consts:
        source[v] = f"v{v.id}"
        lines.append(f"  v{v.id} [label={_q('const ' + _shape(v))}, {_STYLE['const']}];")

    def node(n, ident: str, indent: str = "  "):
        label = n.op.name + ("\n" + _attrs(n.attrs) if _attrs(n.attrs) else "")
        lines.append(f"{indent}{ident} [label={_q(label)}, shape=box, style=rounded];")
        for v in n.outputs:
            source[v] = ident

    count = 0
    edges = []
    for n in graph.nodes:
        if n.op is Fused:
            lines.append(f"  subgraph cluster_{count} {{")
            lines.append('    label="fused"; style=dashed; color="#888888";')
            for b in n.attrs["body"]:
                count += 1
                node(b, f"n{count}", "    ")
                edges.append((b, f"n{count}"))
            lines.append("  }")
        else:
            count += 1
            node(n, f"n{count}")
            edges.append((n, f"n{count}"))
    for n, ident in edges:
        for v in n.inputs():
            if v in source:
                lines.append(f"  {source[v]} -> {ident} [label={_q(_shape(v))}];")
    for i, v in enumerate(graph.outputs):
        if isinstance(v, Value) and v in source:
            lines.append(f'  out{i} [label="output {i}", shape=plaintext];')
            lines.append(f"  {source[v]} -> out{i};")
    for s, v in graph.updates:
        if v in source:
            lines.append(f"  {source[v]} -> v{s.id} [style=dashed, label=\"update\"];")
    for s, v in graph.grads:
        if v is not None and v in source:
            lines.append(f'  g{s.id} [label={_q((s.name or "state") + ".grad")}, '
                         'shape=plaintext];')
            lines.append(f"  {source[v]} -> g{s.id} [style=dotted];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def autograd_dot(t: Tensor) -> str:
    """DOT text for the recorded autograd graph that produced ``t`` (its ``grad_fn`` chain)."""
    lines = ["digraph ember {", "  rankdir=TB;", '  node [fontname="Helvetica"];']
    ids: dict[int, str] = {}
    todo = [t._node] if t._node is not None else []
    lines.append(f"  out [label={_q('output ' + str(tuple(t.shape)))}, shape=plaintext];")
    if todo:
        ids[id(todo[0])] = "n0"
        lines.append("  n0 -> out;")
    else:
        lines.append(f"  leaf [label={_q('leaf ' + str(tuple(t.shape)))}, "
                     f"{_STYLE['state']}];\n  leaf -> out;")
    seen = set()
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        me = ids.setdefault(id(node), f"n{len(ids)}")
        lines.append(f"  {me} [label={_q(node.op.name)}, shape=box, style=rounded];")
        for e in node.edges:
            if e is None:
                continue
            if type(e) is tuple:
                other = e[0]
                oid = ids.setdefault(id(other), f"n{len(ids)}")
                todo.append(other)
            else:
                oid = ids.setdefault(id(e), f"n{len(ids)}")
                lines.append(f"  {oid} [label={_q('leaf ' + str(tuple(e.shape)))}, "
                             f"{_STYLE['state']}];")
            lines.append(f"  {oid} -> {me};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _backward_graph(t: Tensor) -> Graph:
    from ..autograd import grad
    from .trace import Tracer, trace_with

    leaves = []
    seen, todo = set(), [t._node] if t._node is not None else []
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        for e in node.edges:
            if type(e) is tuple:
                todo.append(e[0])
            elif e is not None and all(e is not x for x in leaves):
                leaves.append(e)
    if not leaves:
        raise ValueError("draw(backward=True): the tensor has no recorded history to "
                         "differentiate (it needs inputs with requires_grad=True)")
    target = t if t.numel() == 1 else t.sum()
    g, _ = trace_with(Tracer(), lambda: grad(target, leaves, retain_graph=True,
                                             create_graph=True), (), {})
    return g


def draw(graph_or_tensor, path=None, *, backward: bool = False, title: str = "ember") -> str:
    """Render a computational graph; returns the DOT text.

    Args:
        graph_or_tensor: a ``Graph`` (e.g. ``jit_fn.graph``) or a tensor with autograd history.
        path: where to write: ``.dot`` (text), ``.svg`` or ``.png`` (through Graphviz's
            ``dot`` program, which must be installed; the DOT text is written beside it too).
        backward: for a tensor, draw the backward pass (traced) instead of the forward.
        title: the graph's name in DOT.
    """
    if isinstance(graph_or_tensor, Graph):
        dot = graph_dot(graph_or_tensor, title)
    elif isinstance(graph_or_tensor, Tensor):
        dot = (graph_dot(_backward_graph(graph_or_tensor), title) if backward
               else autograd_dot(graph_or_tensor))
    elif hasattr(graph_or_tensor, "graph") and isinstance(graph_or_tensor.graph, Graph):
        dot = graph_dot(graph_or_tensor.graph, title)  # a JitFunction or a LoadedGraph
    else:
        raise TypeError(f"draw: expected a Graph, a jit function or a tensor, got "
                        f"{type(graph_or_tensor).__name__}")
    if path is None:
        return dot
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt in ("dot", "gv", ""):
        path.write_text(dot)
        return dot
    if fmt not in ("svg", "png", "pdf"):
        raise ValueError(f"draw: unknown format {path.suffix!r}; use .dot, .svg, .png or .pdf")
    path.with_suffix(".dot").write_text(dot)
    exe = shutil.which("dot")
    if exe is None:
        raise RuntimeError(f"draw: rendering {fmt.upper()} needs Graphviz's `dot` program "
                           "(apt-get install graphviz, brew install graphviz); the DOT text "
                           f"was written to {path.with_suffix('.dot')}")
    subprocess.run([exe, f"-T{fmt}", "-o", str(path)], input=dot.encode(), check=True,
                   timeout=120)
    return dot
