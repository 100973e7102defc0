"""Tracing: run a Python function once on real tensors and record every op into a ``Graph``.

The tracer is installed in ``ember.autograd.grad_mode.state.tracer`` for the duration of the
call. ``apply`` reports each op (``record``), in-place writes report ``assign`` and reading a
tensor's value in Python (``if``, ``item()``, ``numpy()``) calls ``check_concrete``, which
refuses values that depend on the inputs or on state: that would bake one branch of
data-dependent control flow into the graph. Everything runs eagerly, so the traced call is
also a real call (a traced training step really trains).

Tensors the function reads without computing them are classified once: tensors that existed
before the call are *states*, read live at every run (parameters, optimiser state, captured
data); tensors created during the call by non-op code (``ember.zeros``) are *constants*.

Example:
    >>> import ember
    >>> from ember.graph import trace
    >>> w = ember.ones(2, requires_grad=True)
    >>> g = trace(lambda x: (x * w).sum(), ember.tensor([1.0, 2.0]))
    >>> [v.kind for v in g.inputs + g.states]
    ['input', 'state']
"""

from __future__ import annotations

import gc
import os
import sys
import weakref

from ..autograd.grad_mode import state as _state
from ..tensor import Tensor
from .ir import Graph, TraceError, Value

_EMBER_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def user_frame() -> str:
    """``file:line: source`` of the innermost caller outside the ember package."""
    f = sys._getframe(1)
    inner = None
    while f is not None and f.f_code.co_filename.startswith(_EMBER_DIR):
        code = f.f_code
        skip = (os.path.join(_EMBER_DIR, "graph"), os.path.join(_EMBER_DIR, "tensor.py"))
        if inner is None and not code.co_filename.startswith(skip):
            rel = os.path.relpath(code.co_filename, os.path.dirname(_EMBER_DIR))
            inner = f" (inside ember, {rel}:{f.f_lineno} in {code.co_name})"
        f = f.f_back
    if f is None:
        return "<unknown>"
    import linecache

    src = linecache.getline(f.f_code.co_filename, f.f_lineno).strip()
    return f"{f.f_code.co_filename}:{f.f_lineno}" + (f": {src}" if src else "") + (inner or "")


def memory_order(a) -> tuple | None:
    """The axes of array ``a`` from slowest to fastest varying when it is a dense transpose
    of a C-ordered array other than itself (so a buffer planned for its value can be laid
    out the same way), else None."""
    strides = getattr(a, "strides", None)
    if strides is None or a.ndim < 2 or a.flags.c_contiguous:
        return None
    order = tuple(sorted(range(a.ndim), key=lambda i: -strides[i]))
    if not a.transpose(order).flags.c_contiguous:
        return None
    return order


def flatten(obj, leaves: list):
    """The tree of a returned structure, with tensors and scalars appended to ``leaves``."""
    if isinstance(obj, Tensor):
        leaves.append(obj)
        return "T"
    if isinstance(obj, (tuple, list)):
        return ["tuple" if isinstance(obj, tuple) else "list", [flatten(o, leaves) for o in obj]]
    if isinstance(obj, dict):
        return ["dict", list(obj.keys()), [flatten(o, leaves) for o in obj.values()]]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return ["lit", obj]
    raise TraceError(f"jit: the traced function returned a {type(obj).__name__}; return "
                     "tensors, Python scalars, None, or tuples/lists/dicts of them")


def unflatten(tree, leaves):
    """Rebuild a structure from ``flatten``'s tree and an iterator of leaves."""
    if tree == "T":
        return next(leaves)
    kind = tree[0]
    if kind == "lit":
        return tree[1]
    if kind == "dict":
        return {k: unflatten(t, leaves) for k, t in zip(tree[1], tree[2])}
    items = [unflatten(t, leaves) for t in tree[1]]
    return tuple(items) if kind == "tuple" else items


def _may_share(a, b) -> bool:
    from ..backend import backend_of

    return bool(backend_of(a).xp.may_share_memory(a, b))


def _tensor_types() -> set:
    out, todo = set(), [Tensor]
    while todo:
        c = todo.pop()
        out.add(c)
        todo.extend(c.__subclasses__())
    return out


def _tensors_in(objects) -> dict:
    kinds = _tensor_types()
    return {id(o): o for o in objects if type(o) in kinds}


class _Age:
    """Tells tensors made during the trace from older ones.

    At the start every object the garbage collector tracks is frozen (``gc.freeze``), so
    the generations hold only objects made since: a tensor found there is young. Where the
    program froze objects itself, every live tensor is listed at the start instead.
    """

    def __init__(self) -> None:
        self.frozen = gc.get_freeze_count() == 0
        self.old = None
        if self.frozen:
            gc.freeze()
        else:
            self.old = _tensors_in(gc.get_objects())
        self.young: dict = {}

    def is_young(self, t: Tensor) -> bool:
        if self.old is not None:
            return self.old.get(id(t)) is not t
        if self.young.get(id(t)) is t:
            return True
        self.young = _tensors_in(o for g in range(3) for o in gc.get_objects(generation=g))
        return self.young.get(id(t)) is t

    def close(self) -> None:
        if self.frozen:
            gc.unfreeze()
            self.frozen = False


class Tracer:
    """Records ops into a graph while installed as ``state.tracer``."""

    def __init__(self, graph: Graph | None = None, params=(), names=None, watch=()) -> None:
        self.graph = graph if graph is not None else Graph()
        self.vals: dict[int, tuple[Tensor, Value]] = {}  # id(tensor) -> (tensor, value)
        self.arrays: dict[int, tuple[object, Value]] = {}  # id(array) -> (array, value)
        self.age: _Age | None = None  # set while tracing
        self.names: dict[int, str] = names or {}  # id(tensor) -> name for states and inputs
        # the .grad of the parameters we know of when the call starts (the engine sets .grad
        # directly, so a later zero_grad() is invisible; others are read when first seen)
        self.grad_at_start = {id(p): p.grad for p in params}
        self.state_of: dict[Value, Tensor] = {}  # state value -> the tensor it reads
        self.grad_owner: dict[int, Tensor] = {}  # id(p.grad at capture) -> p
        self.grad_reads: dict[Value, Tensor] = {}  # value reading p.grad at run time -> p
        self.updates: dict[int, tuple[Tensor, Value]] = {}  # id(target) -> (target, value)
        self.guards: list = []  # (tensor, shape, dtype, grad_is_none)
        self.keep: list = []
        self.input_ids: set[int] = set()
        self.versions: dict[int, list] = {}  # id(state) -> [tensor, expected version]
        self.scope: list[str] = []  # names of the modules running now (see module_scopes)
        # tensors known to hold state (module parameters and buffers): their versions at the
        # start, to catch changes made to their arrays behind the ops' backs
        self.watch = [(t, t._version[0]) for t in watch]
        # id(optimiser) -> whether each of its steps took the learning rate from its cell
        # (``opt._jit_lr``) rather than baking it in (see ember/optim/_traced.py)
        self.lr_live: dict[int, bool] = {}

    # ------------------------------------------------------------------ values
    def bind(self, t: Tensor, v: Value) -> None:
        self.vals[id(t)] = (t, v)
        self.arrays[id(t.data)] = (t.data, v)

    def add_input(self, t: Tensor, name: str) -> Value:
        v = self.graph.new_value("input", t.data.shape, t.data.dtype.name, name)
        self.graph.inputs.append(v)
        self.input_ids.add(id(t))
        self.bind(t, v)
        return v

    def value(self, t: Tensor) -> Value:
        entry = self.vals.get(id(t))
        if entry is not None and entry[0] is t:
            return entry[1]
        return self._capture(t)

    def _capture(self, t: Tensor) -> Value:
        g = self.graph
        if t._node is not None:  # a snapshot taken by an in-place op: same history
            for other, v in list(self.vals.values()):
                if other._node is t._node and other._idx == t._idx:
                    self.bind(t, v)
                    self.keep.append(t)
                    return v
        entry = self.arrays.get(id(t.data))
        if entry is not None and entry[0] is t.data:  # t.detach(), Tensor(x.data): same array
            self.bind(t, entry[1])
            self.keep.append(t)
            return entry[1]
        base = getattr(t.data, "base", None)
        entry = self.arrays.get(id(base)) if base is not None else None
        if (entry is not None and entry[0] is base and base.size == t.data.size
                and base.flags.c_contiguous and t.data.flags.c_contiguous):
            from ..ops.shape import Reshape  # Tensor(x.data.reshape(...)): a reshape

            node = g.add_node(Reshape, (entry[1],), {"shape": tuple(t.data.shape)},
                              [(t.data.shape, t.data.dtype.name)], alias=0)
            self.bind(t, node.outputs[0])
            self.keep.append(t)
            return node.outputs[0]
        owner = self.grad_owner.get(id(t))
        if owner is not None and self.grad_at_start.get(id(owner)) is t:
            v = g.new_value("state", t.data.shape, t.data.dtype.name, f"grad{len(g.states)}")
            g.states.append(v)
            g.state_tensors.append(None)
            self.grad_reads[v] = owner
        elif not self.age.is_young(t):
            name = self.names.get(id(t)) or f"state{len(g.states)}"
            v = g.new_value("state", t.data.shape, t.data.dtype.name, name)
            g.states.append(v)
            g.state_tensors.append(t)
            self.state_of[v] = t
            grad = self.grad_at_start.setdefault(id(t), t.grad) if t._rg else None
            self.guards.append((t, t.data.shape, t.data.dtype, grad is None))
            self.versions[id(t)] = [t, t._version[0]]
            if grad is not None:
                self.grad_owner[id(grad)] = t
        else:  # created during the call by code outside the ops: a constant
            v = g.new_value("const", t.data.shape, t.data.dtype.name, dynamic=False)
            g.consts[v] = t.data.copy()
        self.bind(t, v)
        self.keep.append(t)
        return v

    def _attr(self, obj):
        if isinstance(obj, tuple):
            return tuple(self._attr(o) for o in obj)
        if isinstance(obj, list):
            return [self._attr(o) for o in obj]
        if hasattr(obj, "shape") and hasattr(obj, "dtype") and not isinstance(obj, Tensor):
            if getattr(obj, "ndim", 0) == 0 and not hasattr(obj, "__array_interface__"):
                return obj.item()  # a NumPy scalar
            entry = self.arrays.get(id(obj))
            if entry is not None and entry[0] is obj:
                return entry[1]
            v = self.graph.new_value("const", obj.shape, obj.dtype.name, dynamic=False)
            self.graph.consts[v] = obj.copy()
            self.keep.append(obj)
            self.arrays[id(obj)] = (obj, v)
            return v
        if isinstance(obj, Tensor):
            return self.value(obj)
        return obj

    # ------------------------------------------------------------------ hooks
    def record(self, op, args, attrs, outputs) -> None:
        """Called by ``apply`` after each op."""
        vargs = tuple(self.value(a) if isinstance(a, Tensor) else self._attr(a) for a in args)
        vattrs = {k: self._attr(v) for k, v in attrs.items()}
        specs = [(o.data.shape, o.data.dtype.name) for o in outputs]
        alias = None
        first = outputs[0].data
        for i, a in enumerate(args):
            if isinstance(a, Tensor) and _may_share(first, a.data):
                alias = i
                break
        node = self.graph.add_node(op, vargs, vattrs, specs, alias)
        if self.scope:
            node.scope = self.scope[-1]
        for o, v in zip(outputs, node.outputs):
            v.order = memory_order(o.data)
            self.bind(o, v)
            self.keep.append(o)

    def assign(self, target: Tensor, value: Tensor) -> None:
        """Called after an in-place write: ``target``'s buffer now holds ``value``."""
        if id(target) not in self.vals:
            self._capture(target)
        v = self.value(value)
        entry = self.versions.get(id(target))
        if entry is not None:
            entry[1] = target._version[0]
        self.updates[id(target)] = (target, v)
        self.bind(target, v)

    def check_concrete(self, t: Tensor, what: str) -> None:
        """Refuse to read, in Python, a value that depends on the inputs or on state."""
        entry = self.vals.get(id(t))
        if entry is not None and entry[0] is t:
            dynamic = entry[1].dynamic
        else:
            dynamic = t._rg and not self.age.is_young(t)
        if not dynamic:
            return
        raise TraceError(
            f"jit: {what} reads the value of a traced tensor {tuple(t.shape)} at "
            f"{user_frame()}. A static graph cannot hold Python control flow that depends on "
            "tensor values (it would bake in one branch). Use tensor ops instead (ember.where, "
            "masks, clamp), return the tensor and inspect it outside the jit function, or "
            "run this function eagerly"
        )


class module_scopes:  # noqa: N801
    """While tracing ``module``, tag each node with the name of the submodule that ran it."""

    def __init__(self, tracer: Tracer, module) -> None:
        self.tracer, self.module, self.handles = tracer, module, []

    def __enter__(self):
        stack = self.tracer.scope
        for name, m in self.module.named_modules():
            label = name or type(m).__name__
            label = f"{label} ({type(m).__name__})" if name else label
            self.handles.append(m.register_forward_pre_hook(
                lambda mod, inp, label=label: stack.append(label) and None))
            self.handles.append(m.register_forward_hook(
                lambda mod, inp, out: stack.pop() and None))
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()
        return False


def trace(fn, *args, **kwargs) -> Graph:
    """Trace ``fn(*args, **kwargs)`` into a graph whose inputs are the tensor arguments.

    Args:
        fn: a Python function of tensors (and other values, which are specialised on).
        *args, **kwargs: example arguments; tensors among them (in lists, tuples and dicts
            too) become the graph's inputs in order.

    Example:
        >>> import ember
        >>> from ember.graph import trace
        >>> g = trace(lambda a, b: a @ b + 1.0, ember.ones(2, 3), ember.ones(3, 4))
        >>> [n.op.name for n in g.nodes], g.outputs[0].shape
        (['matmul', 'add'], (2, 4))
    """
    return trace_with(Tracer(), fn, args, kwargs)[0]


def trace_with(tracer: Tracer, fn, args, kwargs):
    """Trace with a given tracer; returns ``(graph, eager result)``."""
    leaves: list = []
    collect_tensors((args, kwargs), leaves)
    for i, t in enumerate(leaves):
        tracer.add_input(t, tracer.names.get(id(t)) or f"input{i}")
    prev = _state.tracer
    tracer.age = _Age()
    _state.tracer = tracer
    try:
        result = fn(*args, **kwargs)
        finish(tracer, result)
    finally:
        _state.tracer = prev
        tracer.age.close()
    return tracer.graph, result


def collect_tensors(obj, out: list) -> list:
    """The tensors in ``obj`` (nested tuples, lists and dicts), in order."""
    if isinstance(obj, Tensor):
        out.append(obj)
    elif isinstance(obj, (tuple, list)):
        for o in obj:
            collect_tensors(o, out)
    elif isinstance(obj, dict):
        for o in obj.values():
            collect_tensors(o, out)
    return out


def finish(tracer: Tracer, result) -> None:
    """Record the outputs, state updates and gradients after the traced call returned."""
    g = tracer.graph
    leaves: list = []
    g.out_tree = flatten(result, leaves)
    g.outputs = [tracer.value(t) for t in leaves]
    state_value = {id(t): v for v, t in tracer.state_of.items()}
    returned = {id(t) for t in leaves}
    g.created_state = []  # weak references: tensors made and modified here that may persist
    for target, v in tracer.updates.values():
        sv = state_value.get(id(target))
        if sv is None:
            if id(target) in tracer.input_ids:
                raise TraceError(
                    "jit: the traced function modified one of its input tensors in place "
                    f"({tuple(target.shape)}); return the new value instead, or pass the "
                    "tensor as captured state (a closure variable)")
            if id(target) not in returned:
                g.created_state.append(weakref.ref(target))
            continue  # a temporary created during the call: nothing to write back
        if v is not sv:
            g.updates.append((sv, v))
    for sv, p in tracer.state_of.items():
        if not p._rg:
            continue
        grad = p.grad
        if grad is None:
            if _had_grad(tracer, p):
                g.grads.append((sv, None))
            continue
        entry = tracer.vals.get(id(grad))
        if entry is not None and entry[0] is grad and entry[1].kind != "state":
            g.grads.append((sv, entry[1]))
    for t, v0 in tracer.watch:
        if t._version[0] != v0 and id(t) not in tracer.updates and id(t) not in tracer.versions:
            raise TraceError(
                f"jit: the state tensor {tracer.names.get(id(t), tuple(t.shape))!r} was modified "
                "without going through ember's ops (its array was written directly), so the "
                "graph would not repeat the change. Update it with tensor in-place ops "
                "(t.add_(1) under ember.no_grad()) or run this step eagerly")
    for t, expected in tracer.versions.values():
        if t._version[0] != expected:
            raise TraceError(
                f"jit: a tensor {tuple(t.shape)} {t.dtype.name} that the traced function reads "
                "was modified without going through ember's ops (its array was written "
                "directly, e.g. by an optimiser updating raw arrays or a random fill_), so the "
                "graph would not repeat the change. Use tensor in-place ops (p -= lr * p.grad "
                "under ember.no_grad()) or run this step eagerly")
    g.guards = tracer.guards
    g.grad_reads = [(v, p) for v, p in tracer.grad_reads.items()]


def _had_grad(tracer: Tracer, p: Tensor) -> bool:
    for t, _shape, _dt, none in tracer.guards:
        if t is p:
            return not none
    return False
