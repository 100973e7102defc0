"""The graph IR: values, nodes in topological order, and the graph that holds them.

A ``Value`` is one array in the graph: an input (placeholder), a state (a variable: parameter,
buffer, optimiser state, or a tensor the function read from outside), a constant, or the
output of a node. A ``Node`` names a registered primitive from ``ember/ops``, its arguments
(values or plain Python scalars), its JSON-serialisable attributes and its output values.
Shapes may hold strings for symbolic dimensions (``"batch"``); dtypes are NumPy dtype names.

A graph computes ``outputs`` from ``inputs`` and ``states``; after a run, each pair of
``updates`` writes a value into a state (``p := p - lr * g``), and each pair of ``grads`` sets a
state's ``.grad``. Nothing in this module computes: see ``executor`` for running a graph.

Example:
    >>> import ember
    >>> from ember.graph import trace
    >>> g = trace(lambda x: (x * 2.0).sum(), ember.ones(3))
    >>> [n.op.name for n in g.nodes]
    ['mul', 'sum']
"""

from __future__ import annotations

from ..errors import EmberError


class TraceError(EmberError, RuntimeError):
    """Tracing met something a static graph cannot hold (data-dependent control flow ...)."""


class GraphFormatError(EmberError, ValueError):
    """A saved graph file is truncated, malformed, or from a newer format version."""


class FeedError(EmberError, ValueError):
    """A graph input was fed a wrong shape or dtype, or not fed at all."""


class Value:
    """One array of the graph: its kind, shape (ints or symbolic names) and dtype name."""

    __slots__ = ("id", "kind", "shape", "dtype", "name", "producer", "dynamic", "order")

    def __init__(self, id: int, kind: str, shape: tuple, dtype: str, name: str = "",
                 producer: Node | None = None, dynamic: bool = True) -> None:
        self.id = id
        self.kind = kind  # "input" | "state" | "const" | "node"
        self.shape = tuple(shape)
        self.dtype = dtype
        self.name = name
        self.producer = producer
        self.dynamic = dynamic  # depends on an input or a state (not a compile-time constant)
        # memory order seen when traced: the axes from slowest to fastest varying, or None
        # for C order (a convolution's channels-last output is (0, 2, 3, 1))
        self.order: tuple | None = None

    def __repr__(self) -> str:
        return f"%{self.id}"


class Node:
    """One op application: ``outputs = op(*args, **attrs)``."""

    __slots__ = ("op", "args", "attrs", "outputs", "alias", "scope")

    def __init__(self, op, args: tuple, attrs: dict, outputs: tuple,
                 alias: int | None = None, scope: str = "") -> None:
        self.op = op
        self.args = args
        self.attrs = attrs
        self.outputs = outputs
        self.alias = alias  # index of the argument whose memory the output may share
        self.scope = scope  # the module that ran it ("features.0"), when known

    def inputs(self) -> list:
        """The values among the arguments and attributes, in order."""
        vals = [a for a in self.args if isinstance(a, Value)]
        for v in self.attrs.values():
            vals.extend(_values_in(v))
        return vals

    def __repr__(self) -> str:
        outs = ", ".join(map(repr, self.outputs))
        args = ", ".join(map(_short, self.args))
        attrs = "".join(f", {k}={_short(v)}" for k, v in self.attrs.items())
        return f"{outs} = {self.op.name}({args}{attrs})"


def _values_in(obj):
    if isinstance(obj, Value):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for o in obj:
            yield from _values_in(o)


def _short(obj) -> str:
    if hasattr(obj, "shape") and not isinstance(obj, Value):
        return f"array{tuple(obj.shape)}"
    if isinstance(obj, tuple):
        return "(" + ", ".join(map(_short, obj)) + ("," if len(obj) == 1 else "") + ")"
    return repr(obj)


class Graph:
    """A static graph: inputs, states, constants, nodes in topological order, outputs.

    Attributes:
        inputs: placeholder values, in call order.
        states: variable values; ``state_tensors`` holds the tensor bound to each.
        consts: constant value -> backend array.
        nodes: the schedule, each node after the producers of its arguments.
        outputs: output values (or Python scalars) in flat order; ``out_tree`` rebuilds the
            structure the traced function returned.
        updates: ``(state value, new value)`` pairs written after a run.
        grads: ``(state value, gradient value)`` pairs stored in ``state.grad`` after a run.
    """

    def __init__(self) -> None:
        self.inputs: list[Value] = []
        self.states: list[Value] = []
        self.state_tensors: list = []
        self.consts: dict[Value, object] = {}
        self.nodes: list[Node] = []
        self.outputs: list = []
        self.out_tree = None
        self.updates: list[tuple[Value, Value]] = []
        self.grads: list[tuple[Value, Value]] = []
        self._next = 0

    def new_value(self, kind: str, shape: tuple, dtype: str, name: str = "",
                  producer: Node | None = None, dynamic: bool = True) -> Value:
        """A fresh value of this graph."""
        v = Value(self._next, kind, shape, dtype, name, producer, dynamic)
        self._next += 1
        return v

    def add_node(self, op, args: tuple, attrs: dict, specs, alias: int | None = None) -> Node:
        """Append ``op(*args, **attrs)``; ``specs`` gives each output's (shape, dtype)."""
        node = Node(op, tuple(args), dict(attrs), (), alias)
        dyn = any(v.dynamic for v in node.inputs())
        node.outputs = tuple(self.new_value("node", s, d, producer=node, dynamic=dyn)
                             for s, d in specs)
        self.nodes.append(node)
        return node

    def roots(self) -> list[Value]:
        """Every value the graph must produce: outputs, update values and gradients."""
        out = [v for v in self.outputs if isinstance(v, Value)]
        out += [v for _, v in self.updates] + [v for _, v in self.grads]
        return out

    def consumers(self) -> dict[Value, list[Node]]:
        """For each value, the nodes that read it."""
        uses: dict[Value, list[Node]] = {}
        for n in self.nodes:
            for v in n.inputs():
                uses.setdefault(v, []).append(n)
        return uses

    def substitute(self, mapping: dict) -> None:
        """Replace every use of value ``a`` by ``mapping[a]`` (a value or a Python scalar)."""
        if not mapping:
            return

        def sub(obj):
            if isinstance(obj, Value):
                while obj in mapping:
                    obj = mapping[obj]
                return obj
            if isinstance(obj, tuple):
                return tuple(sub(o) for o in obj)
            if isinstance(obj, list):
                return [sub(o) for o in obj]
            return obj

        for n in self.nodes:
            n.args = sub(n.args)
            n.attrs = {k: sub(v) for k, v in n.attrs.items()}
        self.outputs = [sub(v) for v in self.outputs]
        self.updates = [(s, sub(v)) for s, v in self.updates]
        self.grads = [(s, sub(v)) for s, v in self.grads]

    def copy(self) -> Graph:
        """A copy that passes may rewrite: new nodes and lists, the same values and arrays."""
        g = Graph()
        g.__dict__.update({k: (list(v) if isinstance(v, list) else
                               dict(v) if isinstance(v, dict) else v)
                           for k, v in self.__dict__.items()})
        g.nodes = [Node(n.op, n.args, dict(n.attrs), n.outputs, n.alias, n.scope)
                   for n in self.nodes]
        return g

    def __repr__(self) -> str:
        lines = ["graph(" + ", ".join(f"{v!r}: {v.name or 'input'} {_spec(v)}"
                                      for v in self.inputs) + ") {"]
        for v in self.states:
            lines.append(f"  {v!r} = state {v.name} {_spec(v)}")
        for v in self.consts:
            lines.append(f"  {v!r} = const {_spec(v)}")
        lines += [f"  {n!r}" for n in self.nodes]
        for s, v in self.updates:
            lines.append(f"  {s.name} := {v!r}")
        for s, v in self.grads:
            lines.append(f"  {s.name}.grad := {v!r}")
        lines.append("  return " + ", ".join(map(_short, self.outputs)))
        lines.append("}")
        return "\n".join(lines)


def _spec(v: Value) -> str:
    return f"{v.dtype}{list(v.shape)}"
