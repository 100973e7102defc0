"""``ember.onnx.load``: an ONNX model as a trainable ``ember.nn.Module``.

The module keeps the ONNX graph's nodes and interprets them with ember ops (the table in
``ember/onnx/ops.py``), so its forward is ordinary ember code: it differentiates, it trains
(floating-point initializers become parameters, the rest buffers), and ``ember.graph.jit``
compiles it into an ember graph. An ONNX file using ops ember does not implement is refused
at load time with the list of all of them.
"""

from __future__ import annotations

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


class _Node:
    __slots__ = ("op_type", "inputs", "outputs", "attrs", "name")

    def __init__(self, proto, onnx) -> None:
        self.op_type = proto.op_type
        self.inputs = list(proto.input)
        self.outputs = list(proto.output)
        self.name = proto.name
        self.attrs = {}
        for a in proto.attribute:
            v = onnx.helper.get_attribute_value(a)
            if isinstance(v, bytes):
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
        graph = model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                          17)
        self._nodes = [_Node(n, onnx) for n in graph.node]
        unknown = sorted({n.op_type for n in self._nodes if n.op_type not in IMPL})
        if unknown:
            raise UnsupportedOnnxOps(
                f"onnx.load: ember does not implement these ONNX ops: {', '.join(unknown)} "
                f"(it implements {len(IMPL)}; see ember.onnx.supported_ops())")
        self._init_names: dict[str, str] = {}
        for i, init in enumerate(graph.initializer):
            arr = onnx.numpy_helper.to_array(init).copy()
            attr = f"init{i}"
            t = creation.from_numpy(np.array(arr, order="C"))  # (keeps 0-d arrays 0-d)
            if arr.dtype.kind == "f":
                setattr(self, attr, Parameter(t))
            else:
                self.register_buffer(attr, t)
            self._init_names[init.name] = attr
        inits = {i.name for i in graph.initializer}
        self.input_names = [i.name for i in graph.input if i.name not in inits]
        self.output_names = [o.name for o in graph.output]

    def forward(self, *inputs):
        from .ops import IMPL

        if len(inputs) != len(self.input_names):
            raise TypeError(f"OnnxModule: expected {len(self.input_names)} inputs "
                            f"({', '.join(self.input_names)}), got {len(inputs)}")
        env: dict[str, Tensor | None] = {"": None}
        for name, attr in self._init_names.items():
            env[name] = getattr(self, attr)
        for name, x in zip(self.input_names, inputs):
            env[name] = x if isinstance(x, Tensor) or x is None else creation.tensor(x)
        for node in self._nodes:
            args = [env[i] for i in node.inputs]
            out = IMPL[node.op_type](self, node, *args)
            outs = out if isinstance(out, (tuple, list)) else (out,)
            for name, o in zip(node.outputs, outs):
                if name:
                    env[name] = o
        result = tuple(env[o] for o in self.output_names)
        return result[0] if len(result) == 1 else result


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
