"""Reverse-mode differentiation over the recorded graph.

``run_backward`` orders the nodes reachable from the roots (reverse post-order of a
depth-first walk, so a node runs after every node that consumes it), then calls each op's
vjp once with the summed gradient of its outputs. Without ``create_graph`` the vjps run on raw
backend arrays through ``backend.raw`` (no Tensor objects, no recording); with it they run
through ``ember.ops.diff``, so the backward pass is itself recorded and can be differentiated
again. The same vjp code serves both.
"""

from __future__ import annotations

import numpy as np

from ..backend import _BY_TYPE, get_backend
from ..errors import AutogradError
from ..ops.registry import DiffNamespace
from . import node as _node_mod
from .grad_mode import enable_grad, no_grad, state


def _topo_order(root_nodes):
    """Nodes reachable from ``root_nodes``, each after all of its consumers."""
    order = []
    seen = set()
    for root in root_nodes:
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(root.edges))]
        while stack:
            node, it = stack[-1]
            for e in it:
                if type(e) is tuple and e[0] not in seen:
                    seen.add(e[0])
                    stack.append((e[0], iter(e[0].edges)))
                    break
            else:
                stack.pop()
                order.append(node)
    order.reverse()
    return order


def _freed_error(node):
    return AutogradError(
        f"backward through {node.op.name} a second time: its saved values were freed by the "
        "first backward. Pass retain_graph=True to the first backward (or autograd.grad) if "
        "you need to run backward twice"
    )


def _value_needed(node, args, a):
    """Whether the vjp will read argument ``a``'s value, given which arguments need grads."""
    needs = node.op.value_needed_for
    if needs is None:
        return True
    i = next(j for j, b in enumerate(args) if b is a)
    return any(node.edges[j] is not None for j in needs.get(i, range(len(args))))


def _version_error(node, i, tensor, saved):
    return AutogradError(
        f"a tensor needed to compute the gradient of {node.op.name} (argument {i}, "
        f"{tuple(tensor.shape)} {tensor.dtype.name}) was modified in place after it was used: "
        f"it is at version {tensor._version[0]}, the op saw version {saved}. Use an "
        "out-of-place op (e.g. x = x * 2 instead of x *= 2) or .clone() before modifying"
    )


def _call_hooks(hooks, g, Tensor, raw):
    for hook in hooks:
        r = hook(Tensor(g) if raw else g)
        if r is not None:
            g = r.data if raw else r
    return g


def run_backward(roots, grads, *, retain_graph=False, create_graph=False, capture=None):
    """Backpropagate ``grads`` from ``roots``.

    Without ``capture`` gradients accumulate into the ``.grad`` of leaf tensors. With
    ``capture`` (a dict keyed by a leaf tensor's id or by ``(node, index)``), gradients
    reaching those keys are stored in the dict instead and no ``.grad`` is touched.
    """
    Tensor = _node_mod.Tensor
    # while tracing (ember.graph), vjps run through recorded ops so the graph sees them
    tracing = state.tracer is not None
    raw = not create_graph and not tracing
    if not raw:
        grads = [g if isinstance(g, Tensor) else Tensor(g) for g in grads]
    buffers = {}
    root_nodes = []
    for t, g in zip(roots, grads):
        if t._node is None:  # a leaf root: its gradient is the seed itself
            _deliver_leaf(t, g, capture, raw, Tensor, None, None)
            continue
        buf = buffers.setdefault(t._node, [None] * t._node.op.n_outputs)
        buf[t._idx] = g if buf[t._idx] is None else buf[t._idx] + g
        root_nodes.append(t._node)
    if not root_nodes:
        return
    from ..ops import diff

    default_raw = _raw_namespace(roots[0].data)
    anomaly = state.anomaly
    prof = state.profiler  # ember.profiler: times each vjp (one check per node below)
    seen_leaf_arrays = set()
    order = _topo_order(root_nodes)
    # leaves with post-accumulate hooks: how many gradients will reach each (fire on the last)
    pending = _count_leaf_edges(order) if _POST_HOOKS[0] and capture is None else None
    # NaN/Inf in gradients is the user's business (detect_anomaly reports it), as in PyTorch
    with (enable_grad() if create_graph else no_grad()), np.errstate(all="ignore"):
        for node in order:
            gs = buffers.pop(node, None)
            if gs is None:
                continue
            if node.freed:
                raise _freed_error(node)
            op = node.op
            if node.hooks:
                for idx, hooks in node.hooks.items():
                    if gs[idx] is not None:
                        gs[idx] = _call_hooks(hooks, gs[idx], Tensor, raw)
            if capture is not None:
                for idx in range(len(gs)):
                    key = (node, idx)
                    if key in capture and gs[idx] is not None:
                        capture[key] = gs[idx] if capture[key] is None else capture[key] + gs[idx]
            args = node.args
            vals = []
            check = op.uses_input_values
            for a, ver in zip(args, node.versions):
                if isinstance(a, Tensor):
                    if check and a._version[0] != ver and _value_needed(node, args, a):
                        raise _version_error(node, args.index(a), a, ver)
                    vals.append(a.data if raw else a)
                else:
                    vals.append(a)
            if op.needs_output:
                outs = []
                needed = op.output_values_needed
                for i, (arr, cell, ver) in enumerate(node.out):
                    if cell[0] != ver and (needed is None or i in needed):
                        raise AutogradError(
                            f"the output of {op.name} ({tuple(arr.shape)}) was modified in place "
                            "after it was used, but its gradient needs it. Use an out-of-place op "
                            "or .clone() the output before modifying it"
                        )
                    if raw:
                        outs.append(arr)
                    else:  # the output as a tensor produced by this node, for higher orders
                        o = Tensor(arr, True)
                        o._node, o._idx, o._version = node, i, cell
                        outs.append(o)
                out = outs[0] if op.n_outputs == 1 else tuple(outs)
            else:
                out = None
            if op.n_outputs == 1:
                g = like = gs[0]
            else:
                like = next(gi for gi in gs if gi is not None)  # zeros on the same device
                k = op.grad_outputs or len(gs)
                g = tuple(
                    gi if gi is not None or i >= k else _zeros(spec, raw, Tensor, like)
                    for i, (gi, spec) in enumerate(zip(gs, node.specs))
                )
            if raw:
                F = _RAW_BY_TYPE[like.__class__] or default_raw
            else:
                F = diff
            if prof is not None:
                in_grads = prof.run_vjp(node, F, g, out, vals)
            elif op.wants_needs:
                in_grads = op.vjp(F, g, out, *vals, needs=tuple(e is not None for e in node.edges),
                                  **node.attrs)
            else:
                in_grads = op.vjp(F, g, out, *vals, **node.attrs)
            if anomaly:
                _check_anomaly(node, in_grads, raw)
            for e, gi, v in zip(node.edges, in_grads, vals):
                if e is None or gi is None:
                    continue
                shape = v.shape
                if gi.shape != shape:
                    gi = F.sum_to(gi, shape=tuple(shape))
                vd = v.dtype
                if gi.dtype is not vd:
                    if raw:
                        if gi.dtype != vd:
                            gi = gi.astype(vd)
                    else:
                        gi = gi.to(vd)
                if type(e) is tuple:
                    n, idx = e
                    buf = buffers.get(n)
                    if buf is None:
                        buf = buffers[n] = [None] * n.op.n_outputs
                    buf[idx] = gi if buf[idx] is None else buf[idx] + gi
                else:
                    _deliver_leaf(e, gi, capture, raw, Tensor, seen_leaf_arrays, pending)
            if not retain_graph:
                node.args = None
                node.out = None
                node.freed = True
    if pending:  # leaves some of whose expected gradients never came (a branch gave None)
        for entry in list(pending.values()):
            if entry[2]:
                _fire_post_hooks(entry[1])


_POST_HOOKS = [0]  # live post-accumulate-grad hook registrations (Tensor adds/removes)


def _count_leaf_edges(order):
    """id(leaf) -> [gradients expected, leaf, delivered yet] for leaves with post hooks."""
    pending = {}
    for node in order:
        for e in node.edges:
            if e is not None and type(e) is not tuple and e._post_hooks is not None:
                entry = pending.get(id(e))
                if entry is None:
                    pending[id(e)] = [1, e, False]
                else:
                    entry[0] += 1
    return pending


def _fire_post_hooks(t):
    for hook in tuple(t._post_hooks or ()):
        hook(t)


def _post_accumulate(t, pending):
    """Fire ``t``'s post-accumulate hooks once its last expected gradient has arrived."""
    entry = None if pending is None else pending.get(id(t))
    if entry is None:
        _fire_post_hooks(t)
        return
    entry[0] -= 1
    entry[2] = True
    if entry[0] <= 0:
        del pending[id(t)]
        _fire_post_hooks(t)


class _RawByType(dict):
    """Backend array type -> that backend's raw namespace (filled on first use)."""

    def __missing__(self, cls):
        b = _BY_TYPE.get(cls)
        if b is None:
            return None
        self[cls] = b.raw
        return b.raw


_RAW_BY_TYPE = _RawByType()
_TRACE = DiffNamespace()  # recorded ops for tracing without create_graph


def _raw_namespace(array):
    return _RAW_BY_TYPE[array.__class__] or get_backend("cpu").raw


def _zeros(spec, raw, Tensor, like):
    """Zeros for an output that got no gradient, on the device of ``like`` (another one's)."""
    shape, dtype = spec
    arr = like if raw else like.data
    b = _BY_TYPE.get(arr.__class__)
    xp = np if b is None else b.xp
    z = xp.zeros(shape, dtype=dtype)
    return z if raw else Tensor(z)


def _deliver_leaf(t, g, capture, raw, Tensor, seen, pending):
    """Accumulate ``g`` into leaf ``t``'s ``.grad`` (or into ``capture``)."""
    if t._hooks:
        g = _call_hooks(t._hooks, g, Tensor, raw)
    if capture is not None:
        key = id(t)
        if key in capture:
            capture[key] = g if capture[key] is None else capture[key] + g
        return
    if raw:
        if not isinstance(g, np.ndarray) and g.__class__ is not t.data.__class__:
            g = np.asarray(g)
        if t.grad is None:
            if seen is None or not g.flags.writeable or g.base is not None or id(g) in seen:
                g = g.copy()
            if seen is not None:
                seen.add(id(g))
            t.grad = Tensor(g)
        else:
            t.grad = Tensor(t.grad.data + g)
    else:
        t.grad = g if t.grad is None else t.grad + g
    if t._post_hooks is not None:
        _post_accumulate(t, pending)


def _check_anomaly(node, in_grads, raw):
    for i, gi in enumerate(in_grads):
        if gi is None:
            continue
        arr = gi if raw else gi.data
        if not np.all(np.isfinite(arr)):
            where = "".join(node.trace or ["(no forward trace recorded)\n"])
            raise AutogradError(
                f"detect_anomaly: the backward of {node.op.name} returned NaN/Inf in the "
                f"gradient of its argument {i}. The forward call that created it:\n{where}"
            )


class detect_anomaly:  # noqa: N801
    """Record a traceback per op and raise, naming the forward op, when backward makes NaN/Inf.

    Example:
        >>> import ember
        >>> x = ember.tensor([0.0], requires_grad=True)
        >>> with ember.autograd.detect_anomaly():
        ...     y = ember.sqrt(x) * 0.0
        ...     try:
        ...         y.sum().backward()
        ...     except RuntimeError as e:
        ...         print("sqrt" in str(e))
        True
    """

    def __init__(self, mode: bool = True) -> None:
        self.mode = mode

    def __enter__(self):
        self._prev = state.anomaly
        state.anomaly = self.mode
        return self

    def __exit__(self, *exc):
        state.anomaly = self._prev
        return False
