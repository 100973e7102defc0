"""The define-then-run model of TensorFlow 1: graphs of symbolic tensors, run by a session.

Building a graph records *what* to compute: each symbolic ``Tensor`` holds the ember function
that computes it and the symbolic tensors it reads. ``Session.run(fetches, feed_dict)``
turns the part of the graph the fetches need into one Python function of the fed values and
compiles it with ``ember.graph.jit`` -- traced once per fetch list and feed signature, then run
as a static graph (optimised, fused, updates in place). Variables are ember tensors that
live with the graph; ``assign`` and the optimisers' ``minimize`` write them.
"""

from __future__ import annotations

import numpy as np

from .. import dtypes as _dt
from ..errors import EmberError
from ..graph.ir import FeedError
from ..ops import creation
from ..tensor import Tensor as _ETensor


class FailedPreconditionError(EmberError, RuntimeError):
    """A variable was read before ``global_variables_initializer()`` ran."""


class Graph:
    """A container of symbolic tensors and variables (``tf.Graph``).

    Example:
        >>> import ember.static as tf
        >>> g = tf.Graph()
        >>> with g.as_default():
        ...     c = tf.constant(2.0)
        >>> c.graph is g
        True
    """

    def __init__(self) -> None:
        self.variables: list[Variable] = []
        self._count: dict[str, int] = {}

    def unique_name(self, base: str) -> str:
        n = self._count.get(base, 0)
        self._count[base] = n + 1
        return base if n == 0 else f"{base}_{n}"

    def as_default(self):
        """Context manager making this graph the default for new tensors."""
        return _DefaultGraph(self)

    def get_collection(self, name: str) -> list:
        if name in ("variables", "trainable_variables"):
            return [v for v in self.variables if name == "variables" or v.trainable]
        return []


_STACK: list[Graph] = [Graph()]


class _DefaultGraph:
    def __init__(self, g: Graph) -> None:
        self.g = g

    def __enter__(self):
        _STACK.append(self.g)
        return self.g

    def __exit__(self, *exc):
        _STACK.pop()
        return False


def get_default_graph() -> Graph:
    """The graph new tensors go into."""
    return _STACK[-1]


def reset_default_graph() -> None:
    """Replace the default graph by an empty one."""
    _STACK[0] = Graph()
    del _STACK[1:]


class Tensor:
    """A symbolic tensor: computed by ``fn(*inputs)`` when a session runs it.

    Args:
        fn: an ember function of the inputs' values (ember tensors), or None for leaves.
        inputs: the symbolic tensors ``fn`` reads.
        shape: the static shape, ``None`` for unknown dimensions (or None if unknown).
        dtype: the ember dtype.
        name: a readable name.
    """

    def __init__(self, fn, inputs=(), shape=None, dtype=None, name: str = "Tensor") -> None:
        self.graph = get_default_graph()
        self.fn = fn
        self.inputs = tuple(inputs)
        self.shape = None if shape is None else tuple(shape)
        self.dtype = dtype
        self.name = self.graph.unique_name(name)

    def get_shape(self):
        return self.shape

    def evaluate(self, env: dict):
        """This tensor's value in one run (``env`` memoises values by tensor)."""
        v = env.get(self)
        if v is None:
            v = self.fn(*(i.evaluate(env) for i in self.inputs))
            env[self] = v
        return v

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other):  # identity, as dictionary keys (feed_dict) need
        return self is other

    def __repr__(self) -> str:
        shape = "unknown" if self.shape is None else "(" + ", ".join(
            "?" if d is None else str(d) for d in self.shape) + ")"
        dt = self.dtype.name if self.dtype is not None else "?"
        return f"<ember.static.Tensor '{self.name}' shape={shape} dtype={dt}>"

    # operators build new symbolic tensors
    def __add__(self, o):
        return _binary(lambda a, b: a + b, self, o, "add")

    def __radd__(self, o):
        return _binary(lambda a, b: a + b, o, self, "add")

    def __sub__(self, o):
        return _binary(lambda a, b: a - b, self, o, "sub")

    def __rsub__(self, o):
        return _binary(lambda a, b: a - b, o, self, "sub")

    def __mul__(self, o):
        return _binary(lambda a, b: a * b, self, o, "mul")

    def __rmul__(self, o):
        return _binary(lambda a, b: a * b, o, self, "mul")

    def __truediv__(self, o):
        return _binary(lambda a, b: a / b, self, o, "truediv")

    def __rtruediv__(self, o):
        return _binary(lambda a, b: a / b, o, self, "truediv")

    def __pow__(self, o):
        return _binary(lambda a, b: a ** b, self, o, "pow")

    def __rpow__(self, o):
        return _binary(lambda a, b: a ** b, o, self, "pow")

    def __neg__(self):
        return Tensor(lambda a: -a, (self,), self.shape, self.dtype, "neg")

    def __matmul__(self, o):
        from .ops import matmul

        return matmul(self, o)

    def __getitem__(self, index):
        return Tensor(lambda a: a[index], (self,), None, self.dtype, "strided_slice")


def as_tensor(x, dtype=None) -> Tensor:
    """A symbolic tensor for ``x``: itself, or a constant."""
    if isinstance(x, Tensor):
        return x
    from .ops import constant

    return constant(x, dtype=dtype)


def broadcast_shape(a, b):
    """The static broadcast shape of two static shapes (None where unknown)."""
    if a is None or b is None:
        return None
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        out.append(y if x == 1 else x if y == 1 else (x if x == y else (x or y)))
    return tuple(reversed(out))


def _binary(fn, a, b, name):
    scalar = None
    if not isinstance(a, Tensor) and isinstance(b, Tensor) and isinstance(a, (int, float)):
        scalar, other, first = a, b, True
    elif not isinstance(b, Tensor) and isinstance(a, Tensor) and isinstance(b, (int, float)):
        scalar, other, first = b, a, False
    if scalar is not None:  # Python scalars stay scalars (weak types, as in eager ember)
        f = (lambda t: fn(scalar, t)) if first else (lambda t: fn(t, scalar))
        return Tensor(f, (other,), other.shape, other.dtype, name)
    a, b = as_tensor(a), as_tensor(b)
    return Tensor(fn, (a, b), broadcast_shape(a.shape, b.shape), a.dtype or b.dtype, name)


class Placeholder(Tensor):
    """An input fed at run time through ``feed_dict`` (``tf.placeholder``)."""

    def __init__(self, dtype, shape=None, name: str = "Placeholder") -> None:
        super().__init__(None, (), shape, _dt.to_dtype(dtype), name)

    def evaluate(self, env: dict):
        v = env.get(self)
        if v is None:
            raise FeedError(f"You must feed a value for placeholder tensor '{self.name}' "
                            f"with dtype {self.dtype.name} and shape {_show(self.shape)}")
        return v

    def check(self, value) -> np.ndarray:
        """The fed value as an array of this placeholder's dtype; raises on a wrong shape."""
        arr = np.asarray(value.numpy() if isinstance(value, _ETensor) else value)
        if arr.dtype.kind not in "biuf" or (arr.dtype.kind == "f" and self.dtype.kind != "f"):
            raise FeedError(f"placeholder '{self.name}' expects {self.dtype.name}, was fed "
                            f"{arr.dtype}")
        if self.shape is not None and (arr.ndim != len(self.shape) or any(
                d is not None and d != s for d, s in zip(self.shape, arr.shape))):
            raise FeedError(f"placeholder '{self.name}' expects shape {_show(self.shape)}, was "
                            f"fed shape {tuple(arr.shape)}")
        return np.array(arr, dtype=self.dtype.np, order="C")  # (0-d stays 0-d)


def _show(shape) -> str:
    if shape is None:
        return "<unknown>"
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


class Variable(Tensor):
    """State that lives with the graph: weights and optimiser slots (``tf.Variable``).

    Args:
        initial_value: a symbolic tensor (evaluated now), an ember tensor, an array or a
            number; ``global_variables_initializer()`` copies it in.
        trainable: whether optimisers update it by default.
        name: a readable name.
    """

    def __init__(self, initial_value, trainable: bool = True, name: str = "Variable",
                 dtype=None) -> None:
        init = _constant_value(initial_value, dtype)
        super().__init__(None, (), init.shape, init.dtype, name)
        self.initial = init
        self.value = creation.zeros(*init.shape, dtype=init.dtype)
        if trainable and init.dtype.is_floating_point:
            self.value.requires_grad_()
        self.trainable = trainable
        self.initialized = False
        self.graph.variables.append(self)

    def evaluate(self, env: dict):
        if not self.initialized:
            raise FailedPreconditionError(
                f"Attempting to use uninitialized value {self.name}: run "
                "global_variables_initializer() (or this variable's initializer) first")
        return self.value

    def assign(self, value) -> Assign:
        """An op writing ``value`` into this variable; its value is the new value."""
        return Assign(self, as_tensor(value))

    def assign_add(self, value) -> Assign:
        return Assign(self, self + value)

    def assign_sub(self, value) -> Assign:
        return Assign(self, self - value)

    @property
    def initializer(self) -> Operation:
        return Operation(name="init_" + self.name, eager=(self,))

    def eval_numpy(self) -> np.ndarray:
        return self.value.detach().numpy().copy()


def _constant_value(x, dtype=None) -> _ETensor:
    if isinstance(x, Tensor):
        x = x.evaluate({})
    if isinstance(x, _ETensor):
        x = x.detach()
        return x.to(dtype) if dtype is not None else x.clone()
    return creation.tensor(x, dtype=dtype if dtype is not None else (
        _dt.float32 if isinstance(x, float) else None))


class Assign(Tensor):
    """``variable := value`` when run (``tf.assign``)."""

    def __init__(self, var: Variable, value: Tensor) -> None:
        super().__init__(None, (value,), var.shape, var.dtype, "Assign")
        self.var = var

    def evaluate(self, env: dict):
        v = env.get(self)
        if v is None:
            new = self.inputs[0].evaluate(env)
            target = self.var.evaluate(env)
            from ..autograd.grad_mode import no_grad

            with no_grad():
                target.copy_(new)
            env[self] = v = target
        return v


class Operation(Tensor):
    """An op run for its effects, fetched as None (``tf.group``, initializers)."""

    def __init__(self, deps=(), name: str = "NoOp", eager=()) -> None:
        super().__init__(None, tuple(deps), (), None, name)
        self.eager = tuple(eager)  # variables this op initialises (run outside the jit)

    def evaluate(self, env: dict):
        if self not in env:
            for d in self.inputs:
                d.evaluate(env)
            env[self] = None
        return None


def global_variables_initializer() -> Operation:
    """An op that sets every variable of the default graph to its initial value."""
    g = get_default_graph()
    return Operation(name="init", eager=tuple(g.variables))


def group(*ops) -> Operation:
    """One op running all of ``ops`` (``tf.group``)."""
    flat = []
    for o in ops:
        flat.extend(o if isinstance(o, (list, tuple)) else [o])
    return Operation(flat, name="group_deps")
