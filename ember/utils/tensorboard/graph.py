"""A traced ember model as a TensorBoard ``GraphDef``.

The model runs once under ``ember.graph``'s tracer (no gradients). Every recorded op becomes
a ``NodeDef`` named ``<module path>/<op>_<index>`` (``Net/fc1/linear_0``), so TensorBoard's
graph view groups nodes by the submodule that ran them; parameters and buffers become
``VariableV2`` nodes under their own names (``Net/fc1/weight``), inputs ``Placeholder``
nodes, constants ``Const`` nodes and each output an ``Identity`` node. Each node carries its
output shapes (``_output_shapes``), dtype and the op's attributes as strings.

Example:
    >>> import ember
    >>> from ember.utils.tensorboard.graph import model_graph_nodes
    >>> names = [n for n, op, _ in model_graph_nodes(ember.nn.Linear(3, 2), ember.ones(1, 3))]
    >>> names
    ['input/input', 'Linear/weight', 'Linear/bias', 'Linear/linear_0', 'output/output0']
"""

from __future__ import annotations

from ...graph.ir import Graph, Value
from ...graph.module_trace import trace_module
from . import proto

trace_model = trace_module  # the graph TensorBoard shows is the one ONNX exports


def _attrs(v: Value) -> dict:
    return {"dtype": proto.attr_value(dtype=proto.DTYPES.get(v.dtype, proto.DT_FLOAT)),
            "_output_shapes": proto.attr_value(shapes=[v.shape])}


def model_graph_nodes(model, inputs) -> list[tuple[str, str, list[str]]]:
    """``(name, op, input names)`` of every node, in the order written."""
    nodes = _nodes(trace_model(model, inputs), _root(model))
    return [(name, op, ins) for name, op, ins, _ in nodes]


def _root(model) -> str:
    return type(model).__name__ if hasattr(model, "named_modules") else ""


def _nodes(graph: Graph, root: str) -> list:
    prefix = f"{root}/" if root else ""
    out = []
    name_of: dict[Value, str] = {}
    for v in graph.inputs:
        name_of[v] = f"input/{v.name or v.id}"
        out.append((name_of[v], "Placeholder", [], _attrs(v)))
    for v in graph.states:
        name_of[v] = prefix + (v.name or f"state{v.id}").replace(".", "/")
        out.append((name_of[v], "VariableV2", [], _attrs(v)))
    for v in graph.consts:
        name_of[v] = f"const/{v.id}"
        out.append((name_of[v], "Const", [], _attrs(v)))
    for i, node in enumerate(graph.nodes):
        scope = node.scope.split(" (")[0].replace(".", "/")
        if scope and scope != root:
            scope = prefix + scope
        name = f"{scope}/{node.op.name}_{i}" if scope else f"{node.op.name}_{i}"
        for k, v in enumerate(node.outputs):
            name_of[v] = name if k == 0 else f"{name}:{k}"
        attrs = {"_output_shapes": proto.attr_value(shapes=[v.shape for v in node.outputs])}
        if node.outputs:
            attrs["dtype"] = proto.attr_value(
                dtype=proto.DTYPES.get(node.outputs[0].dtype, proto.DT_FLOAT))
        for key, val in node.attrs.items():
            attrs[key] = proto.attr_value(s=repr(val))
        out.append((name, node.op.name, [name_of[v] for v in node.inputs()], attrs))
    for i, v in enumerate(graph.outputs):
        if isinstance(v, Value):
            out.append((f"output/output{i}", "Identity", [name_of[v]], _attrs(v)))
    return out


def model_graph_def(model, inputs) -> bytes:
    """The serialized ``GraphDef`` of ``model(*inputs)``."""
    nodes = _nodes(trace_model(model, inputs), _root(model))
    return proto.graph_def(proto.node_def(name, op, ins, attrs)
                           for name, op, ins, attrs in nodes)
