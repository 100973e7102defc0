"""The executor: a graph compiled to one flat Python function over backend arrays.

``compile_graph`` writes the schedule as straight-line Python source -- one line per node,
``v7 = k3(v5, s0)`` for an op (its forward bound to the backend and its attributes), ufunc
calls with ``out=`` into planned buffers for fused elementwise nodes, ``del`` after last uses
-- and compiles it once. Running the graph is then one call of that function: no
interpreter loop, no dictionary of values, a few hundred nanoseconds of Python per node.

The source names only generated identifiers; every op, attribute and constant enters as a
bound default argument, never as text, so a graph loaded from a file cannot inject code.

Example:
    >>> import ember
    >>> from ember.graph import trace
    >>> from ember.graph.executor import compile_graph
    >>> run = compile_graph(trace(lambda x: (x * 2.0).sum(), ember.ones(3)))
    >>> run(ember.tensor([1.0, 2.0, 3.0]))
    tensor(12.)
"""

from __future__ import annotations

import functools
import re

from ..autograd.grad_mode import no_grad
from ..backend import get_backend
from ..tensor import Tensor
from . import blocked
from .ir import FeedError, Graph, Value
from .passes import optimize
from .passes.fuse import Fused, elide_mask_casts, lower
from .passes.memory import plan_memory
from .trace import unflatten


class CompiledGraph:
    """A graph ready to run: ``compiled(*input_tensors)`` returns the traced structure.

    Running writes state updates into the state tensors' arrays (bumping their versions)
    and sets ``.grad`` of states the graph computes gradients for.
    """

    def __init__(self, graph: Graph, fn, source: str, in_place: set, stats: dict) -> None:
        self.graph = graph
        self.fn = fn
        self.source = source
        self.stats = stats
        self._specs = [(tuple(v.shape), v.dtype, v.name) for v in graph.inputs]
        self._updates = [(graph.states.index(s), s in in_place) for s, _ in graph.updates]
        self._grads = [graph.states.index(s) for s, _ in graph.grads]
        # a value that is the gradient of two states (b_ih and b_hh of an LSTM) is copied for
        # the second: each .grad owns its array, as in eager mode
        self._grad_dup = [any(v is not None and v is w for _, w in graph.grads[:k])
                          for k, (_, v) in enumerate(graph.grads)]
        self._grad_reads = {i: p for i, v in enumerate(graph.states)
                            for gv, p in getattr(graph, "grad_reads", ()) if gv is v}
        self._tree = graph.out_tree

    def check_inputs(self, arrays) -> None:
        """Raise ``FeedError`` naming the input when a shape or dtype differs from the graph's."""
        if len(arrays) != len(self._specs):
            raise FeedError(f"graph: expected {len(self._specs)} input tensors, got "
                            f"{len(arrays)}")
        for a, (shape, dtype, name) in zip(arrays, self._specs):
            if tuple(a.shape) != shape or a.dtype.name != dtype:
                raise FeedError(
                    f"graph: input {name!r} expects shape {shape} {dtype}, got "
                    f"{tuple(a.shape)} {a.dtype.name}. A traced graph is specialised on "
                    "its input shapes; trace (or jit-call) again with the new shape")

    def state_arrays(self) -> list:
        out = []
        for i, t in enumerate(self.graph.state_tensors):
            if t is None:  # reads a parameter's .grad at run time
                t = self._grad_reads[i].grad
            out.append(t.data)
        return out

    def run_arrays(self, arrays: list):
        """Run on backend arrays; apply updates and gradients; return the output arrays."""
        states = self.graph.state_tensors
        sarr = self.state_arrays()
        outs, upd, grads = self.fn(*arrays, *sarr)
        for (i, done), arr in zip(self._updates, upd):
            t = states[i]
            if not done:
                t.data[...] = arr
            t._version[0] += 1
        for i, arr, dup in zip(self._grads, grads, self._grad_dup):
            states[i].grad = None if arr is None else Tensor(arr.copy() if dup else arr)
        return outs

    def __call__(self, *inputs):
        arrays = [t.data if isinstance(t, Tensor) else t for t in inputs]
        self.check_inputs(arrays)
        with no_grad():
            outs = self.run_arrays(arrays)
        return unflatten(self._tree, iter(_wrap(o) for o in outs))


def _wrap(o):
    if isinstance(o, (bool, int, float, str)) or o is None:
        return o
    return Tensor(o)


def compile_graph(graph: Graph, *, passes=None, backend=None) -> CompiledGraph:
    """Optimise a copy of ``graph`` and compile it to a ``CompiledGraph``.

    Args:
        graph: the traced graph (left unchanged).
        passes: pass names to run (default: all of ``ember.graph.passes.DEFAULT``).
        backend: the backend whose forwards run the ops (default: the CPU's).
    """
    backend = backend or get_backend("cpu")
    g, stats = optimize(graph, passes)
    if getattr(backend, "fused_kernel", None) is None:  # NumPy: one ufunc call per node
        stats["fuse"] = dict(stats.get("fuse", {}), **elide_mask_casts(g))
    plan = plan_memory(g)
    stats["memory"] = plan.stats
    source, ns, in_place = _codegen(g, plan, backend)
    code = compile(source, "<ember graph>", "exec")
    exec(code, ns)  # noqa: S102 - generated identifiers only; see the module docstring
    return CompiledGraph(g, ns["run"], source, in_place, stats)


class _Names:
    def __init__(self) -> None:
        self.bound: dict[str, object] = {}
        self._ids: dict[int, str] = {}

    def const(self, obj, prefix: str = "c") -> str:
        key = id(obj)
        name = self._ids.get(key)
        if name is None or self.bound[name] is not obj:
            name = f"{prefix}{len(self.bound)}"
            self.bound[name] = obj
            self._ids[key] = name
        return name


def _codegen(g: Graph, plan, backend):
    xp = backend.xp
    names = _Names()
    ref: dict[Value, str] = {}
    params = []
    for i, v in enumerate(g.inputs):
        ref[v] = f"i{i}"
        params.append(ref[v])
    for i, v in enumerate(g.states):
        ref[v] = f"s{i}"
        params.append(ref[v])
    for v, arr in g.consts.items():
        ref[v] = names.const(arr)

    def expr(obj) -> str:
        if isinstance(obj, Value):
            return ref[obj]
        if isinstance(obj, tuple):
            return "(" + "".join(expr(o) + ", " for o in obj) + ")"
        if isinstance(obj, list):
            return "[" + ", ".join(expr(o) for o in obj) + "]"
        return names.const(obj)

    body = []
    in_place = set()
    ufuncs = set()

    def dest(v) -> str:
        """The expression of the array ``v`` is computed into (allocating it if fresh)."""
        d = plan.dest[v]
        if d[0] == "pool":
            return f"b{d[1]}"
        if d[0] == "state":
            in_place.add(d[1])
            return ref[d[1]]
        out = f"v{v.id}"
        if v.order is None:
            body.append(f"{out} = empty({names.const(tuple(v.shape))}, "
                        f"{names.const(v.dtype)})")
        else:  # laid out as the op's own result was when traced
            shape = tuple(v.shape[a] for a in v.order)
            inverse = tuple(sorted(range(len(shape)), key=v.order.__getitem__))
            body.append(f"{out} = empty({names.const(shape)}, {names.const(v.dtype)})"
                        f".transpose({names.const(inverse)})")
        return out

    kernels = _group_kernels(plan, backend)  # CUDA: one kernel per fused group
    blocks = {} if kernels else {gi: (m, spec) for gi, m in blocked.groups_of(plan).items()
                                 if (spec := blocked.blockable(plan, m)) is not None}
    for i, (n, gi) in enumerate(plan.seq):
        if gi in blocks:  # large arrays: the whole group one block of rows at a time
            members, spec = blocks[gi]
            if n is members[0][1]:
                lines, whole = blocked.emit(plan, members, spec, dest, expr, names.const, xp)
                body += lines
                ufuncs.update(line.strip().split("(", 1)[0] for line in lines
                              if line.strip().startswith(("u_", "k_")))
                ref.update(whole)
            for v in n.outputs:
                ref.setdefault(v, "_in_block")  # lived in a scratch block only
        elif gi in kernels:
            group, kernel, first = kernels[gi]
            if n is first:
                outs = [dest(v) for v in group.outputs]
                ins = [expr(a) for a in group.inputs]
                body.append(f"{names.const(kernel, 'g')}({', '.join(ins + outs)})")
                for v, o in zip(group.outputs, outs):
                    ref[v] = o
            for v in n.outputs:
                ref.setdefault(v, "_in_kernel")  # computed in registers: no array
        elif gi is not None:
            v = n.outputs[0]
            out = dest(v)
            lines = lower(n, [expr(a) for a in n.args], out, names.const)
            body += lines
            for line in lines:
                ufuncs.add(line.split("(", 1)[0])
            ref[v] = out
        else:
            args = [expr(a) for a in n.args]
            if getattr(n.op, "writes", None) is not None:
                _guard_writes(n, i, plan, g, args, body, in_place)
            _emit_op(n, body, ref, names, expr, args, backend)
        for a in dict.fromkeys(n.inputs()):
            if plan.last_use.get(a) == i and ref[a].startswith("v") and a.kind == "node":
                body.append(f"del {ref[a]}")
    outs = ", ".join(_out_expr(v, ref, names) for v in g.outputs)
    upd = ", ".join(ref[v] for _, v in g.updates)
    grads = ", ".join("None" if v is None else ref[v] for _, v in g.grads)
    body.append(f"return ({outs}{',' if outs else ''}), ({upd}{',' if upd else ''}), "
                f"({grads}{',' if grads else ''})")
    used = set(re.findall(r"\bb(\d+)\b", "\n".join(body)))  # blocked groups leave some unused
    allocated = 0
    for k, (shape, dtype, order) in enumerate(plan.buffers):
        if str(k) in used:
            names.bound[f"b{k}"] = _empty(xp, shape, dtype, order)
            allocated += names.bound[f"b{k}"].nbytes
    plan.stats["pool_bytes_allocated"] = allocated
    plan.stats["blocked_groups"] = len(blocks)
    ns = dict(names.bound)
    ns["empty"] = xp.empty
    ns["asarray"] = xp.asarray
    ns["copy"] = xp.array
    for u in ufuncs:  # u_name: the array module's ufunc; k_name: the backend's name_into
        ns[u] = getattr(backend, u[2:] + "_into") if u.startswith("k_") else getattr(xp, u[2:])
    defaults = ", ".join(f"{k}={k}" for k in names.bound)
    sig = ", ".join(params) + (", *, " + defaults if defaults else "")
    src = f"def run({sig}):\n" + "".join(f"    {line}\n" for line in body)
    return src, ns, in_place


def _group_kernels(plan, backend) -> dict:
    """``{group index: (FusedGroup, kernel, first node)}`` for the fused groups the backend
    compiles into one kernel each (CUDA); empty on backends without ``fused_kernel``."""
    make = getattr(backend, "fused_kernel", None)
    if make is None:
        return {}
    from ..backend.cuda_fusion import FusedGroup

    groups: dict = {}
    for i, (n, gi) in enumerate(plan.seq):
        if gi is not None and gi >= 0:
            groups.setdefault(gi, []).append((i, n))
    out = {}
    for gi, members in groups.items():
        end = members[-1][0]
        nodes = [n for _, n in members]
        used_after = [v for n in nodes for v in n.outputs if plan.last_use.get(v, -1) > end]
        group = FusedGroup(nodes, used_after)
        kernel = make(group)
        if kernel is not None:
            out[gi] = (group, kernel, nodes[0])
    return out


def _empty(xp, shape: tuple, dtype: str, order: tuple | None):
    """An uninitialised array of ``shape`` whose axes lie in memory in ``order`` (None: C)."""
    if order is None:
        return xp.empty(shape, dtype=dtype)
    inverse = tuple(sorted(range(len(shape)), key=order.__getitem__))
    return xp.empty(tuple(shape[a] for a in order), dtype=dtype).transpose(inverse)


def _out_expr(v, ref, names) -> str:
    if not isinstance(v, Value):
        return names.const(v)
    if v.kind == "const":
        return f"copy({ref[v]})"  # the caller may modify what it gets
    return ref[v]


def _guard_writes(n, i: int, plan, g: Graph, args: list, body: list, in_place: set) -> None:
    """Let an op that writes its arguments in place (``op.writes``: an optimiser step) work
    on them only where that is invisible: a state or an op-allocated value that nothing reads
    afterwards. Any other argument is copied first (``args`` is edited), so the op leaves
    inputs, constants, pool buffers and still-needed values as they were."""
    final = dict(g.updates)
    seen = set()
    for k, j in enumerate(n.op.writes(n.attrs)):
        a = n.args[j]
        own = (isinstance(a, Value) and a.kind in ("state", "node") and a not in plan.dest
               and plan.root(a) is a and plan.last_root.get(a, -1) <= i and a not in seen)
        if isinstance(a, Value):
            seen.add(a)
        if not own:
            body.append(f"w{i}_{j} = copy({args[j]})")
            args[j] = f"w{i}_{j}"
        elif a.kind == "state" and final.get(a) is n.outputs[k]:
            in_place.add(a)  # the state's array holds its new value: nothing to write back


def _emit_op(n, body, ref, names, expr, args: list, backend):
    fwd = backend.forward(n.op)
    dynamic_attrs = any(True for a in n.attrs.values() for _ in _vals(a))
    args = ", ".join(args)
    if dynamic_attrs or n.op is Fused:
        kw = "".join(f", {k}={expr(v)}" for k, v in n.attrs.items())
        call = f"{names.const(fwd, 'f')}(xp, {args}{kw})"
        names.bound.setdefault("xp", backend.xp)
    else:
        kernel = functools.partial(fwd, backend.xp, **n.attrs)
        call = f"{names.const(kernel, 'k')}({args})"
    outs = [f"v{v.id}" for v in n.outputs]
    for v, o in zip(n.outputs, outs):
        ref[v] = o
    if len(outs) == 1:
        if n.outputs[0].shape == ():
            call = f"asarray({call})"  # NumPy returns scalars for 0-d results
        body.append(f"{outs[0]} = {call}")
    else:
        body.append(f"{', '.join(outs)}, = {call}")
        for v, o in zip(n.outputs, outs):
            if v.shape == ():
                body.append(f"{o} = asarray({o})")


def _vals(obj):
    if isinstance(obj, Value):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for o in obj:
            yield from _vals(o)
