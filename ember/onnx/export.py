"""``ember.onnx.export``: an inference graph of ember ops written as an ONNX model (opset 17).

The model (or function) is traced on example inputs without gradients, the graph is
simplified, folded and pruned, and each node is written by the converter registered for its
op in ``CONVERTERS`` (``ember/onnx/convert.py``). States become initializers; Python scalars
become constants of the dtype they combine with. An op without a converter raises a
``ValueError`` naming it and the layer (module) it came from.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..graph.ir import Graph, Value
from ..graph.module_trace import trace_module
from ..graph.passes import optimize

OPSET = 17


def _onnx():
    try:
        import onnx
    except ImportError as exc:  # pragma: no cover - onnx is an optional extra
        raise ImportError("ember.onnx needs the onnx package: pip install onnx") from exc
    return onnx


def trace_for_export(model, example_inputs) -> Graph:
    """Trace ``model(*example_inputs)`` without gradients into a graph (states named)."""
    graph = trace_module(model, example_inputs)
    if graph.updates:
        raise ValueError("onnx.export: the model changes state while running (e.g. batch "
                         "norm in training mode updates its running statistics); call "
                         "model.eval() before exporting")
    return graph


class ExportContext:
    """What a converter writes into: nodes, initializers, and names for values."""

    def __init__(self, graph: Graph) -> None:
        self.onnx = _onnx()
        self.graph = graph
        self.nodes: list = []
        self.initializers: list = []
        self.names: dict[Value, str] = {}
        self._count = 0
        self.node = None  # the ember node being converted
        self.opset = OPSET

    def fresh(self, hint: str = "t") -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def name(self, v, like: Value | None = None) -> str:
        """The ONNX name of a value; a Python scalar becomes a constant of ``like``'s dtype."""
        if isinstance(v, Value):
            return self.names[v]
        dtype = np.dtype(like.dtype) if like is not None else np.asarray(v).dtype
        return self.const(np.asarray(v, dtype=dtype))

    def const(self, array, hint: str = "const") -> str:
        name = self.fresh(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.asarray(array), name))
        return name

    def ints(self, values, hint: str = "shape") -> str:
        return self.const(np.asarray(list(values), dtype=np.int64), hint)

    def add(self, op_type: str, inputs, n_out: int = 1, outputs=None, **attrs) -> list[str]:
        outputs = list(outputs) if outputs is not None else [self.fresh(op_type.lower())
                                                             for _ in range(n_out)]
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), outputs,
                                                     **{k: v for k, v in attrs.items()
                                                        if v is not None}))
        return outputs

    def out(self, i: int = 0) -> str:
        """The ONNX name to give the current node's output ``i``."""
        v = self.node.outputs[i]
        if v not in self.names:
            self.names[v] = self.fresh(self.node.op.name)
        return self.names[v]

    def emit(self, op_type: str, inputs, **attrs) -> None:
        """Write one ONNX node computing the current node's single output."""
        self.add(op_type, inputs, outputs=[self.out()], **attrs)

    def arg(self, i: int) -> str:
        """The ONNX name of argument ``i``; a Python scalar takes the dtype it combines with
        (the output's, or for comparisons the other operand's)."""
        n = self.node
        like = n.outputs[0]
        if like.dtype == "bool" and n.op.name != "where":
            like = next((a for a in n.args if isinstance(a, Value)), None)
        return self.name(n.args[i], like)


def export(model, example_inputs, path=None, *, dynamic_axes=None, input_names=None,
           output_names=None, opset: int = OPSET):
    """Export a model (or a traced ``Graph``) to ONNX; returns the ``onnx.ModelProto``.

    Args:
        model: an ``ember.nn.Module``, a function of tensors, or a ``Graph``.
        example_inputs: a tensor or tuple of tensors the model is traced with.
        path: where to write the ``.onnx`` file (None: only return the model).
        dynamic_axes: ``{name: {axis: "label"}}`` (or a list of axes) for inputs/outputs whose
            size may vary, e.g. ``{"input": {0: "batch"}}``.
        input_names, output_names: names for the graph's inputs and outputs.
        opset: the ONNX opset (17 or newer).

    Example:
        >>> import ember, ember.onnx
        >>> m = ember.nn.Sequential(ember.nn.Linear(4, 3), ember.nn.ReLU())
        >>> proto = ember.onnx.export(m, ember.randn(2, 4))
        >>> [n.op_type for n in proto.graph.node]
        ['Gemm', 'Relu']
    """
    from .convert import converter_for

    onnx = _onnx()
    if opset < OPSET:
        raise ValueError(f"onnx.export: opset {opset} is too old; ember writes opset >= {OPSET}")
    graph = model if isinstance(model, Graph) else trace_for_export(model, example_inputs)
    g, _ = optimize(_frozen(graph), ("simplify", "fold", "cse", "dce"))
    missing = [n for n in g.nodes if converter_for(n.op.name) is None]
    if missing:
        where = "; ".join(dict.fromkeys(  # each op and layer once, in graph order
            f"{n.op.name} (from {n.scope or 'the function body'})" for n in missing))
        raise ValueError(f"onnx.export: no ONNX conversion for: {where}. Replace these ops or "
                         "layers, or export a submodule without them")
    ctx = ExportContext(g)
    ctx.opset = opset
    input_names = list(input_names or [v.name or f"input{i}" for i, v in enumerate(g.inputs)])
    for v, name in zip(g.inputs, input_names):
        ctx.names[v] = name
    for v, t in zip(g.states, g.state_tensors):
        ctx.names[v] = v.name or ctx.fresh("state")
        ctx.initializers.append(onnx.numpy_helper.from_array(np.asarray(t.data), ctx.names[v]))
    for v, arr in g.consts.items():
        if v.name and v.name not in input_names:
            ctx.names[v] = v.name
            ctx.initializers.append(onnx.numpy_helper.from_array(np.asarray(arr), v.name))
        else:
            ctx.names[v] = ctx.const(np.asarray(arr))
    for n in g.nodes:
        ctx.node = n
        converter_for(n.op.name)(ctx, n)
    outs = [v for v in g.outputs if isinstance(v, Value)]
    output_names = list(output_names or [f"output{i}" if len(outs) > 1 else "output"
                                         for i in range(len(outs))])
    for v, name in zip(outs, output_names):
        if v in g.inputs or v.kind != "node" or ctx.names[v] in output_names:
            ctx.add("Identity", [ctx.names[v]], outputs=[name])
        else:
            _rename(ctx, ctx.names[v], name)
            ctx.names[v] = name
    dyn = _dynamic(dynamic_axes)
    graph_proto = onnx.helper.make_graph(
        ctx.nodes, "ember",
        [_info(onnx, name, v, dyn.get(name, {})) for v, name in zip(g.inputs, input_names)],
        [_info(onnx, name, v, dyn.get(name, {})) for v, name in zip(outs, output_names)],
        ctx.initializers)
    proto = onnx.helper.make_model(graph_proto, producer_name="ember",
                                   opset_imports=[onnx.helper.make_opsetid("", opset)])
    proto.ir_version = min(proto.ir_version, 10)
    onnx.checker.check_model(proto)
    if path is not None:
        Path(path).write_bytes(proto.SerializeToString())
    return proto


def _frozen(graph: Graph) -> Graph:
    """A copy whose states are constants (inference): what depends only on weights folds,
    e.g. batch norm's scale and shift."""
    g = graph.copy()
    mapping = {}
    for v, t in zip(g.states, g.state_tensors):
        c = g.new_value("const", v.shape, v.dtype, v.name, dynamic=False)
        g.consts[c] = np.asarray(t.data)
        mapping[v] = c
    g.substitute(mapping)  # once: one pass over the nodes, however many weights
    g.states, g.state_tensors = [], []
    return g


def _rename(ctx: ExportContext, old: str, new: str) -> None:
    for node in ctx.nodes:
        for i, o in enumerate(node.output):
            if o == old:
                node.output[i] = new
        for i, o in enumerate(node.input):
            if o == old:
                node.input[i] = new


def _dynamic(dynamic_axes) -> dict:
    out = {}
    for name, axes in (dynamic_axes or {}).items():
        if isinstance(axes, dict):
            out[name] = {int(a): str(label) for a, label in axes.items()}
        else:
            out[name] = {int(a): f"{name}_dim{a}" for a in axes}
    return out


def _info(onnx, name: str, v: Value, dyn: dict):
    elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(v.dtype))
    shape = [dyn.get(i, d) for i, d in enumerate(v.shape)]
    return onnx.helper.make_tensor_value_info(name, elem, shape)
