"""``ember.jit``: trace a function once per input signature, then run the compiled graph.

The signature is everything the trace specialised on: each tensor argument's shape, dtype,
device and ``requires_grad``; every other argument's value; the training flags of the
modules and the hyper-parameters of the optimisers the function reaches (arguments, closure
variables, globals it names, a bound ``self``). Each cached graph also carries guards on the
states it read (their shapes and dtypes, and whether a parameter's ``.grad`` was set), so a
changed model retraces instead of running a stale graph. Each retrace has a reason, logged
on the ``ember.jit`` logger (printed when ``explain=True``) and kept in ``retrace_reasons``.

Example:
    >>> import ember
    >>> @ember.graph.jit
    ... def f(x):
    ...     return (x * 2.0 + 1.0).sum()
    >>> f(ember.ones(3))
    tensor(9.)
    >>> f(ember.ones(3)).item(), len(f.retrace_reasons)
    (9.0, 1)
    >>> _ = f(ember.ones(4)); f.retrace_reasons[-1]
    'input 0 changed: shape (3,) float32 -> shape (4,) float32'
"""

from __future__ import annotations

import functools
import logging
import types

from ..autograd.grad_mode import state as _state
from ..tensor import Tensor
from .executor import CompiledGraph, compile_graph
from .trace import Tracer, collect_tensors, flatten, trace_with, unflatten

log = logging.getLogger("ember.jit")


class _Entry:
    __slots__ = ("graph", "compiled", "guards")

    def __init__(self, graph, compiled: CompiledGraph) -> None:
        self.graph = graph
        self.compiled = compiled
        self.guards = [(t, shape, dtype, none) for t, shape, dtype, none in graph.guards]

    def failed_guard(self) -> str | None:
        for t, shape, dtype, none in self.guards:
            d = t.data
            if d.shape != shape or d.dtype != dtype:
                return (f"a state tensor changed: {tuple(shape)} {dtype} -> "
                        f"{tuple(d.shape)} {d.dtype}")
            if (t.grad is None) != none:
                return (f"the .grad of a parameter {tuple(shape)} was "
                        f"{'None' if none else 'set'} when traced and is "
                        f"{'set' if none else 'None'} now")
        return None


class JitFunction:
    """A traced-and-compiled version of a Python function (see ``ember.jit``)."""

    def __init__(self, fn, *, explain: bool = False, passes=None,
                 cuda_graph: bool = False) -> None:
        functools.update_wrapper(self, fn, updated=())
        self.fn = fn
        self.explain = explain
        self.passes = passes
        self.cuda_graph = cuda_graph
        self.retrace_reasons: list[str] = []
        self._cache: dict = {}
        self._watched = None
        self._last: _Entry | None = None
        self._pending: str | None = None
        self._live_lr: set[int] = set()  # optimisers whose compiled step reads lr at run time

    # ------------------------------------------------------------------ calling
    def __call__(self, *args, **kwargs):
        if _state.tracer is not None:  # inside another trace: become part of it
            return self.fn(*args, **kwargs)
        tensors: list = []
        key = tuple(_signature((args, kwargs), tensors, "input")) + self._watch_key()
        entries = self._cache.get(key)
        reason = None
        if entries:
            for e in entries:
                reason = e.failed_guard()
                if reason is None:
                    self._last = e
                    c = e.compiled
                    if self._live_lr:
                        self._sync_lr()
                    outs = c.run_arrays([t.data for t in tensors])
                    return unflatten(c._tree, iter(_wrap(o) for o in outs))
        if reason is None:
            reason = self._pending or self._why(key)
            self._pending = None
        return self._trace(key, args, kwargs, reason)

    def _trace(self, key, args, kwargs, reason: str):
        self.retrace_reasons.append(reason)
        (log.warning if self.explain else log.info)("ember.jit(%s): tracing: %s",
                                                    getattr(self.fn, "__name__", "fn"), reason)
        params = [p for _, m in self._watched[0] for p in m.parameters()]
        params += [p for _, o in self._watched[1] for g in o.param_groups for p in g["params"]]
        leaves = collect_tensors((args, kwargs), [])
        params += [t for t in leaves if t._rg]
        in_leaves = leaves
        names = _state_names(self._watched)
        names.update(_input_names(self.fn, args, kwargs))
        watch = [t for _, m in self._watched[0]
                 for t in list(m.parameters()) + list(m.buffers()) if t is not None]
        tracer = Tracer(params=params, names=names, watch=watch)
        for _, o in self._watched[1]:
            _lr_cells(o)
        graph, result = trace_with(tracer, self.fn, args, kwargs)
        live = {i for i, ok in tracer.lr_live.items() if ok}
        if live - self._live_lr:  # the learning rates now enter at run time: not in the key
            self._live_lr |= live
            key = tuple(_signature((args, kwargs), [], "input")) + self._watch_key()
        leaves: list = []
        flatten(result, leaves)  # compiled calls return no autograd history: neither does this
        result = unflatten(graph.out_tree, iter(t.detach() for t in leaves))
        entry = _Entry(graph, self._compile(graph, in_leaves, params))
        self._last = entry
        tracer = leaves = None  # they hold the call's temporaries: let them go before the check
        if any(r() is not None for r in graph.created_state):
            # the call created state it modified and kept (an optimiser's first step): the
            # graph read it as constants, so trace again next time, when it exists
            self._pending = "the previous call created persistent state (traced again)"
            return result
        self._cache.setdefault(key, []).append(entry)
        return result

    def _compile(self, graph, leaves, params) -> CompiledGraph:
        """Compile for the backend of the tensors the function reads (CPU or CUDA); with
        ``cuda_graph=True``, wrap the compiled function in a CUDA graph replayer."""
        from ..cuda.graphs import GraphedFunction, graph_backend

        backend = graph_backend([t for t in list(leaves) + params if isinstance(t, Tensor)])
        compiled = compile_graph(graph, passes=self.passes, backend=backend)
        if self.cuda_graph:
            compiled.fn = GraphedFunction(compiled.fn, len(graph.inputs), backend, graph)
        return compiled

    def _why(self, key) -> str:
        if not self._cache:
            return "first call"
        best = None
        for old in self._cache:
            changes = _diff(old, key)
            if best is None or len(changes) < len(best):
                best = changes
        return "; ".join(best) if best else "guards failed"

    def _watch_key(self) -> tuple:
        if self._watched is None:
            self._watched = _find_watched(self.fn)
        mods, opts = self._watched
        out = []
        for name, m in mods:
            out.append((f"training flags of {name}", tuple(s.training for s in m.modules())))
        for name, o in opts:
            skip = ("params", "lr") if id(o) in self._live_lr and _lr_cells(o, False) else (
                "params",)
            out.append((f"hyper-parameters of {name}", tuple(
                tuple((k, _freeze(v)) for k, v in g.items() if k not in skip)
                for g in o.param_groups)))
        return tuple(out)

    def _sync_lr(self) -> None:
        """Write each group's learning rate into the cell its compiled step reads."""
        for _, o in self._watched[1]:
            if id(o) in self._live_lr:
                cells = o._jit_lr
                for g in o.param_groups:
                    cell = cells.get(id(g))
                    if cell is not None and isinstance(g["lr"], (int, float)):
                        cell.data[...] = g["lr"]

    # ------------------------------------------------------------------ the graph
    def trace(self, *args, **kwargs):
        """Trace (and run once) with example arguments without calling the compiled graph."""
        tensors: list = []
        key = tuple(_signature((args, kwargs), tensors, "input")) + self._watch_key()
        self._trace(key, args, kwargs, "traced explicitly")
        return self

    @property
    def graph(self):
        """The graph of the most recent call, as traced (before optimisation)."""
        if self._last is None:
            raise RuntimeError("jit: no graph yet; call the function (or .trace(...)) first")
        return self._last.graph

    @property
    def compiled(self) -> CompiledGraph:
        """The compiled graph of the most recent call (optimised; ``.source`` shows it)."""
        self.graph  # noqa: B018 - raises if there is none
        return self._last.compiled

    def save(self, path) -> None:
        """Save the most recent call's graph and its states as JSON + safetensors."""
        from .serialize import save

        save(self.graph, path)


def jit(fn=None, *, explain: bool = False, passes=None, cuda_graph: bool = False):
    """Compile a function of tensors into a static graph, traced once per input signature.

    Works on forward functions, modules and whole training steps (forward, ``backward()``,
    optimiser update). Python control flow is specialised at trace time; control flow that
    depends on tensor values raises ``TraceError`` naming the line.

    Args:
        fn: the function (or module) to compile; omit to use ``@jit(explain=True)``.
        explain: print why each (re)trace happens.
        passes: graph passes to run (default: all; ``()`` for none).
        cuda_graph: on CUDA, capture the compiled function as a CUDA graph after two warm-up
            calls and replay it (one launch per call; see ``ember.cuda.graphs``).

    Example:
        >>> import ember
        >>> lin = ember.nn.Linear(3, 2)
        >>> fast = ember.graph.jit(lin)
        >>> x = ember.randn(4, 3)
        >>> bool(ember.allclose(fast(x), lin(x)))
        True
    """
    if fn is None:
        return functools.partial(jit, explain=explain, passes=passes, cuda_graph=cuda_graph)
    return JitFunction(fn, explain=explain, passes=passes, cuda_graph=cuda_graph)


def _wrap(o):
    if isinstance(o, (bool, int, float, str)) or o is None:
        return o
    return Tensor(o)


def _lr_cells(opt, make: bool = True) -> bool:
    """Give each parameter group of ``opt`` a 0-d float64 tensor holding its learning rate
    (``opt._jit_lr``, by group), made before tracing so the graph reads it as a state: a
    fused optimiser step takes its rate from there, so a scheduler's changes need no
    retrace. With ``make=False``, only say whether every group has one."""
    cells = opt.__dict__.setdefault("_jit_lr", {})
    for g in opt.param_groups:
        lr = g.get("lr")
        if isinstance(lr, bool) or not isinstance(lr, (int, float)):
            return False
        if id(g) not in cells:
            if not make:
                return False
            from ..ops.creation import tensor

            ps = g["params"]  # on the parameters' device, where the step reads it
            cells[id(g)] = tensor(float(lr), dtype="float64",
                                  device=ps[0].device if ps else None)
        elif make:
            cells[id(g)].data[...] = lr
    return True


def _freeze(v):
    if isinstance(v, (list, tuple)):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, dict):
        return tuple((k, _freeze(x)) for k, x in v.items())
    if isinstance(v, Tensor):
        return ("tensor", id(v))
    try:
        hash(v)
    except TypeError:
        return ("object", id(v))
    return v


def _signature(obj, tensors: list, label: str):
    """Yield ``(label, spec)`` pairs describing ``obj``; tensors are appended to ``tensors``."""
    if isinstance(obj, Tensor):
        tensors.append(obj)
        d = obj.data
        spec = f"shape {tuple(d.shape)} {d.dtype}"
        if obj._rg:
            spec += " requires_grad"
        if d.__class__.__module__ != "numpy":
            spec += f" on {obj.device}"
        yield (f"input {len(tensors) - 1}", spec)
    elif isinstance(obj, (tuple, list)):
        if label == "input" and len(obj) == 2 and isinstance(obj[1], dict):  # (args, kwargs)
            for i, a in enumerate(obj[0]):
                yield from _signature(a, tensors, f"argument {i}")
            for k, a in obj[1].items():
                yield from _signature(a, tensors, f"argument {k!r}")
            return
        yield (label, f"{type(obj).__name__} of {len(obj)}")
        for i, a in enumerate(obj):
            yield from _signature(a, tensors, f"{label}[{i}]")
    elif isinstance(obj, dict):
        yield (label, ("dict", tuple(obj.keys())))
        for k, a in obj.items():
            yield from _signature(a, tensors, f"{label}[{k!r}]")
    elif _is_module(obj):
        yield (label, ("module", id(obj), tuple(m.training for m in obj.modules())))
    else:
        yield (label, _freeze(obj))


def _diff(old, new) -> list[str]:
    a, b = dict(old), dict(new)
    out = []
    for k in list(a) + [k for k in b if k not in a]:
        if a.get(k) != b.get(k):
            out.append(f"{k} changed: {_show(a.get(k))} -> {_show(b.get(k))}")
    return out


def _show(v) -> str:
    return "absent" if v is None else str(v)


def _is_module(obj) -> bool:
    return hasattr(obj, "modules") and hasattr(obj, "training") and callable(obj.modules)


def _is_optimizer(obj) -> bool:
    return hasattr(obj, "param_groups") and hasattr(obj, "step")


def _find_watched(fn):
    """Modules and optimisers a function reaches: closure, bound self, named globals."""
    found: dict[int, tuple] = {}

    def look(name, obj):
        if _is_module(obj) or _is_optimizer(obj):
            found.setdefault(id(obj), (name, obj))

    target = fn
    if _is_module(fn):
        look("the module", fn)
        target = type(fn).forward
    self_obj = getattr(target, "__self__", None)
    if self_obj is not None:
        look("self", self_obj)
    code_fn = getattr(target, "__func__", target)
    if isinstance(code_fn, types.FunctionType):
        cells = code_fn.__closure__ or ()
        for name, cell in zip(code_fn.__code__.co_freevars, cells):
            try:
                look(name, cell.cell_contents)
            except ValueError:
                continue
        for name in _names(code_fn.__code__):
            if name in code_fn.__globals__:
                look(name, code_fn.__globals__[name])
    mods = [v for v in found.values() if _is_module(v[1])]
    opts = [v for v in found.values() if _is_optimizer(v[1])]
    return mods, opts


def _state_names(watched) -> dict:
    """id(tensor) -> a readable name: module parameters and buffers, optimiser state."""
    names: dict[int, str] = {}
    mods, opts = watched
    for mname, m in mods:
        prefix = "" if mname == "the module" else mname + "."
        for n, t in list(m.named_parameters()) + list(m.named_buffers()):
            names.setdefault(id(t), prefix + n)
    for oname, o in opts:
        for gi, g in enumerate(o.param_groups):
            for pi, p in enumerate(g["params"]):
                pname = names.get(id(p), f"group{gi}.param{pi}")
                for key, val in o.state.get(p, {}).items():
                    if isinstance(val, Tensor):
                        names.setdefault(id(val), f"{oname}.{pname}.{key}")
    return names


def _input_names(fn, args, kwargs) -> dict:
    import inspect

    target = type(fn).forward if _is_module(fn) else fn
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return {}
    params = [n for n, p in sig.parameters.items()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if target is not fn and params:
        params = params[1:]  # self
    out = {id(a): params[i] for i, a in enumerate(args)
           if isinstance(a, Tensor) and i < len(params)}
    out.update({id(a): k for k, a in kwargs.items() if isinstance(a, Tensor)})
    return out


def _names(code) -> set:
    out = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            out |= _names(c)
    return out
