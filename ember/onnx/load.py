"""``ember.onnx.load``: an ONNX model as a trainable ``ember.nn.Module``.

The module keeps the ONNX graph's nodes and interprets them with ember ops (the table in
``ember/onnx/ops.py``), so its forward is ordinary ember code: it differentiates, it trains
(floating-point initializers become parameters, the rest buffers), and ``ember.graph.jit``
compiles it into an ember graph. An ONNX file using ops ember does not implement is refused
at load time with the list of all of them, subgraphs included.

Control flow (If, Loop, Scan, SequenceMap: ``ember/onnx/ops_control.py``) holds subgraphs
as ``_Graph`` s; ``OnnxModule.run_graph`` runs one, and its nodes may read any value of the
graphs around it by name (ONNX's lexical scoping). A sequence value is a Python list of
tensors, an optional value ``None`` or its element.
"""

from __future__ import annotations

from collections import ChainMap
from pathlib import Path

import numpy as np

from ..errors import EmberError
from ..nn.module import Module
from ..nn.parameter import Parameter
from ..ops import creation
from ..tensor import Tensor


class UnsupportedOnnxOps(EmberError, NotImplementedError):
    """The model uses ONNX ops ember has no implementation for (all listed at once)."""


def supported_ops() -> list[str]:
    """The ONNX op types ember can import."""
    from .ops import IMPL

    return sorted(IMPL)


class _Graph:
    """A (sub)graph: its nodes, its initializers (ONNX name -> module attribute), the names
    of its inputs and outputs, and each output's declared tensor type: (ONNX element type,
    shape), the shape None unless every dimension is a number."""

    __slots__ = ("nodes", "inits", "input_names", "output_names", "output_types")

    def __init__(self, nodes, inits, input_names, output_names, output_types=()) -> None:
        self.nodes, self.inits = nodes, inits
        self.input_names, self.output_names = input_names, output_names
        self.output_types = list(output_types)


def _tensor_type(value_info) -> tuple:
    t = value_info.type.tensor_type
    dims = t.shape.dim if t.HasField("shape") else None
    static = dims is not None and all(d.HasField("dim_value") for d in dims)
    return t.elem_type, (tuple(d.dim_value for d in dims) if static else None)


class _Node:
    __slots__ = ("op_type", "inputs", "outputs", "attrs", "name")

    def __init__(self, proto, onnx, subgraph) -> None:
        self.op_type = proto.op_type
        self.inputs = list(proto.input)
        self.outputs = list(proto.output)
        self.name = proto.name
        self.attrs = {}
        for a in proto.attribute:
            v = onnx.helper.get_attribute_value(a)
            if isinstance(v, onnx.GraphProto):
                v = subgraph(v)
            elif isinstance(v, list) and v and isinstance(v[0], onnx.GraphProto):
                v = [subgraph(g) for g in v]
            elif isinstance(v, bytes):
                v = v.decode()
            elif isinstance(v, list) and v and isinstance(v[0], bytes):
                v = [x.decode() for x in v]
            elif hasattr(v, "dims") and hasattr(v, "data_type"):
                v = onnx.numpy_helper.to_array(v)
            self.attrs[a.name] = v


def _to_model(model):
    import onnx

    if isinstance(model, (str, Path)):
        return onnx.load(str(model))
    if isinstance(model, bytes):
        return onnx.load_from_string(model)
    return model


class OnnxModule(Module):
    """An imported ONNX graph: call it with the graph inputs (tensors) in order.

    Returns one tensor for a single-output graph, else a tuple. Float initializers are
    ``Parameter`` s (``.parameters()`` trains them), other initializers are buffers.
    """

    def __init__(self, model) -> None:
        super().__init__()
        import onnx

        from .ops import IMPL

        model = _to_model(model)
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                          17)
        unknown: set[str] = set()
        self._n_inits = 0
        self.graph = self._build_graph(model.graph, onnx, IMPL, unknown)
        if unknown:
            raise UnsupportedOnnxOps(
                f"onnx.load: ember does not implement these ONNX ops: "
                f"{', '.join(sorted(unknown))} "
                f"(it implements {len(IMPL)}; see ember.onnx.supported_ops())")
        self.input_names = self.graph.input_names
        self.output_names = self.graph.output_names
        by_name = {i.name: i for i in model.graph.input}
        self._sequence_inputs = [by_name[n].type.HasField("sequence_type")
                                 or by_name[n].type.optional_type.elem_type.HasField(
                                     "sequence_type") for n in self.input_names]
        self._scopes: list = []

    def _build_graph(self, graph, onnx, impl, unknown: set) -> _Graph:
        """Register ``graph``'s initializers (float ones as parameters) under unique attribute
        names, then its nodes, building their subgraphs the same way."""
        inits: dict[str, str] = {}
        for init in graph.initializer:
            arr = onnx.numpy_helper.to_array(init).copy()
            attr = f"init{self._n_inits}"
            self._n_inits += 1
            t = creation.from_numpy(np.array(arr, order="C"))  # (keeps 0-d arrays 0-d)
            if arr.dtype.kind == "f":
                setattr(self, attr, Parameter(t))
            else:
                self.register_buffer(attr, t)
            inits[init.name] = attr
        nodes = [_Node(n, onnx, lambda g: self._build_graph(g, onnx, impl, unknown))
                 for n in graph.node]
        unknown.update(n.op_type for n in nodes if n.op_type not in impl)
        return _Graph(nodes, inits, [i.name for i in graph.input if i.name not in inits],
                      [o.name for o in graph.output],
                      [_tensor_type(o) for o in graph.output])

    def run_graph(self, graph: _Graph, inputs) -> list:
        """Run ``graph`` on ``inputs`` (one value per graph input) and return its outputs.

        Inside a running node (a control-flow op), the graph sees every value of the graphs
        being run around it, as ONNX's scoping rules say.
        """
        from .ops import IMPL

        env = ChainMap({}, self._scopes[-1] if self._scopes else {"": None})
        for name, attr in graph.inits.items():
            env[name] = getattr(self, attr)
        env.update(zip(graph.input_names, inputs))
        self._scopes.append(env)
        try:
            for node in graph.nodes:
                args = [env[i] for i in node.inputs]
                out = IMPL[node.op_type](self, node, *args)
                if not isinstance(out, tuple):
                    out = (out,)  # (a tuple holds several outputs; a list is one sequence)
                for name, o in zip(node.outputs, out):
                    if name:
                        env[name] = o
        finally:
            self._scopes.pop()
        return [env[o] for o in graph.output_names]

    def forward(self, *inputs):
        if len(inputs) != len(self.input_names):
            raise TypeError(f"OnnxModule: expected {len(self.input_names)} inputs "
                            f"({', '.join(self.input_names)}), got {len(inputs)}")
        values = [_as_value(x, seq) for x, seq in zip(inputs, self._sequence_inputs)]
        result = tuple(self.run_graph(self.graph, values))
        return result[0] if len(result) == 1 else result


def _as_value(x, sequence: bool):
    """A graph input as the interpreter holds it: a tensor, a list of tensors or None."""
    if x is None or isinstance(x, Tensor):
        return x
    if sequence:
        return [_as_value(v, False) for v in x]
    return creation.tensor(x)


def load(model) -> OnnxModule:
    """Import an ONNX model (path, bytes or ``ModelProto``) as an ``OnnxModule``.

    Example:
        >>> import ember, ember.onnx
        >>> m = ember.nn.Sequential(ember.nn.Linear(3, 4), ember.nn.Tanh())
        >>> back = ember.onnx.load(ember.onnx.export(m, ember.ones(2, 3)))
        >>> len(list(back.parameters()))
        2
    """
    return OnnxModule(model)
