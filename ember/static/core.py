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
from ..graph import jit
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


# ----------------------------------------------------------------------------- Session


class Session:
    """Runs parts of a graph (``tf.Session``); a context manager.

    ``run(fetches, feed_dict)`` evaluates ``fetches`` -- one tensor or op, a list/tuple, or a
    dict of them -- with placeholders fed from ``feed_dict`` (arrays, numbers or ember
    tensors) and returns NumPy values in the same structure (None for ops). Each distinct
    fetch list is compiled once per feed signature into an ember static graph.

    Example:
        >>> import ember.static as tf
        >>> x = tf.placeholder(tf.float32, shape=(None, 2))
        >>> y = tf.reduce_sum(x * 2.0)
        >>> with tf.Session() as sess:
        ...     print(sess.run(y, feed_dict={x: [[1.0, 2.0]]}))
        6.0
    """

    def __init__(self, graph: Graph | None = None) -> None:
        self.graph = graph or get_default_graph()
        self._compiled: dict = {}
        self.closed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self) -> None:
        self.closed = True
        self._compiled.clear()

    def run(self, fetches, feed_dict=None):
        """Evaluate ``fetches`` with ``feed_dict``; returns NumPy values (None for ops)."""
        if self.closed:
            raise RuntimeError("Session.run: the session is closed")
        flat, rebuild = _flatten_fetches(fetches)
        feed_dict = feed_dict or {}
        placeholders = []
        arrays = []
        for ph, value in feed_dict.items():
            if not isinstance(ph, Placeholder):
                raise TypeError(f"feed_dict keys must be placeholders, got {ph!r}")
            placeholders.append(ph)
            arrays.append(ph.check(value))
        missing = sorted({p.name for p in _needed_placeholders(flat)} -
                         {p.name for p in placeholders})
        if missing:
            raise FeedError("You must feed a value for placeholder tensor(s) " +
                            ", ".join(f"'{m}'" for m in missing))
        eager = [v for f in flat if isinstance(f, Operation) for v in f.eager]
        if eager:  # initialisers copy initial values in: run eagerly, outside the jit
            from ..autograd.grad_mode import no_grad

            with no_grad():
                for v in eager:
                    v.value.copy_(v.initial)
                    v.initialized = True
        key = (tuple(flat), tuple(placeholders))
        fn = self._compiled.get(key)
        if fn is None:
            fn = self._compiled[key] = jit(_Runner(flat, placeholders))
        values = fn(*(_ETensor(a) for a in arrays))
        return rebuild([None if v is None else np.asarray(v.numpy()) for v in values])


class _Runner:
    """The Python function a session compiles: the fetches as a function of the feeds."""

    def __init__(self, fetches, placeholders) -> None:
        self.fetches = fetches
        self.placeholders = placeholders

    def __call__(self, *feeds):
        env = dict(zip(self.placeholders, feeds))
        return [f.evaluate(env) for f in self.fetches]


def _flatten_fetches(fetches):
    if isinstance(fetches, dict):
        keys = list(fetches)
        return [as_tensor(fetches[k]) for k in keys], lambda v: dict(zip(keys, v))
    if isinstance(fetches, (list, tuple)):
        kind = type(fetches)
        return [as_tensor(f) for f in fetches], lambda v: kind(v)
    return [as_tensor(fetches)], lambda v: v[0]


def _needed_placeholders(fetches) -> set:
    seen, out, todo = set(), set(), list(fetches)
    while todo:
        t = todo.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        if isinstance(t, Placeholder):
            out.add(t)
        todo.extend(t.inputs)
    return out
