"""Memory planning: liveness analysis, buffer reuse and in-place updates for fused nodes.

Every value computed inside a fused node gets a destination:

- ``("fresh",)``: allocated at each run, because it (or a view of it) leaves the graph as an
  output or a gradient, which the caller may keep;
- ``("state", s)``: written straight into the array of state ``s`` when it is ``s``'s update
  and nothing reads ``s`` (or a view of it) afterwards -- the optimiser update in place;
- ``("pool", k)``: preallocated buffer ``k``, kept across runs and shared by values whose
  lifetimes do not overlap (an operand that dies at an elementwise node lends its buffer to
  the result: in place).

Lifetimes are those of storage: a view made by a later op (``reshape``) keeps its base's
buffer alive. Values computed by other ops are allocated by the op and freed (``del``) after
their last use.

Example:
    >>> import ember
    >>> from ember.graph import trace
    >>> from ember.graph.passes import fuse_elementwise, plan_memory
    >>> g = trace(lambda x: ((x + 1.0) * 2.0 - 3.0).sum(), ember.ones(1000))
    >>> _ = fuse_elementwise(g)
    >>> plan = plan_memory(g)
    >>> plan.stats["pool_buffers"], plan.stats["naive_buffers"]
    (1, 3)
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Value
from .fuse import Fused, planned

END = 1 << 60
# lowered in steps that read operands after writing the output: it must not alias one
_NOT_IN_PLACE = {"where", "matmul", "linear"}


class MemoryPlan:
    """The planner's result: the flat schedule, destinations, buffers and last uses."""

    def __init__(self) -> None:
        self.seq: list = []  # (node, group index or None)
        self.dest: dict[Value, tuple] = {}
        self.buffers: list[tuple] = []  # (shape, dtype, memory order) of pool buffer k
        self.last_use: dict[Value, int] = {}
        self.last_root: dict[Value, int] = {}  # storage root -> last index reading it
        self.root = None  # value -> the value whose storage it shares (itself if none)
        self.stats: dict = {}


def plan_memory(graph: Graph) -> MemoryPlan:
    """Plan destinations for the values of the graph's fused nodes."""
    plan = MemoryPlan()
    for gi, n in enumerate(graph.nodes):
        if n.op is Fused:
            plan.seq.extend((b, gi) for b in n.attrs["body"])
        else:
            plan.seq.append((n, -1 - gi if planned(n, False) else None))
    producer: dict[Value, tuple] = {}
    for i, (n, gi) in enumerate(plan.seq):
        for v in n.outputs:
            producer[v] = (i, n, gi)

    root_cache: dict[Value, Value] = {}

    def root(v: Value) -> Value:
        r = root_cache.get(v)
        if r is None:
            p = producer.get(v)
            r = v
            # an op writing its arguments in place (``writes``) makes new values there: its
            # outputs do not keep the old ones alive
            if p is not None and p[1].alias is not None and not hasattr(p[1].op, "writes"):
                a = p[1].args[p[1].alias] if p[1].alias < len(p[1].args) else None
                if isinstance(a, Value):
                    r = root(a)
            root_cache[v] = r
        return r

    last_root: dict[Value, int] = {}
    last = plan.last_use
    for i, (n, _) in enumerate(plan.seq):
        for v in n.inputs():
            last[v] = i
            r = root(v)
            last_root[r] = max(last_root.get(r, -1), i)
    for v in graph.roots():
        last[v] = END
        last_root[root(v)] = END
    plan.root, plan.last_root = root, last_root
    escaping = {root(v) for v in graph.outputs if isinstance(v, Value)}
    escaping |= {root(v) for _, v in graph.grads if v is not None}

    in_place = _in_place_updates(graph, producer, root, last_root, escaping)
    free: dict[tuple, list[int]] = {}
    owner: dict[int, Value] = {}
    held: dict[Value, int] = {}
    naive = 0

    def release(v):
        k = held.pop(v, None)
        if k is not None:
            free.setdefault(plan.buffers[k], []).append(k)

    for i, (n, gi) in enumerate(plan.seq):
        if gi is None:
            continue
        v = n.outputs[0]
        if root(v) in escaping:
            plan.dest[v] = ("fresh",)
            continue
        if v in in_place:
            plan.dest[v] = ("state", in_place[v])
            continue
        naive += 1
        spec = (tuple(v.shape), v.dtype, v.order)
        lend = n.op.name not in _NOT_IN_PLACE
        for a in n.inputs():  # an operand dying here lends its buffer: computed in place
            if lend and a in held and last_root.get(a, -1) == i and (
                    tuple(a.shape), a.dtype, a.order) == spec:
                release(a)
        stack = free.get(spec)
        if stack:
            k = stack.pop()
        else:
            k = len(plan.buffers)
            plan.buffers.append(spec)
        plan.dest[v] = ("pool", k)
        held[v] = k
        owner[k] = v
        for a in list(held):
            if a is not v and last_root.get(a, -1) <= i:
                release(a)
        if last_root.get(v, -1) <= i:
            release(v)
    nbytes = sum(int(np.prod(s)) * np.dtype(d).itemsize for s, d, _ in plan.buffers)
    plan.stats = {"pool_buffers": len(plan.buffers), "naive_buffers": naive,
                  "pool_bytes": nbytes, "in_place_updates": len(in_place)}
    return plan


def _in_place_updates(graph, producer, root, last_root, escaping) -> dict:
    """Update values that can be computed straight into their state's array."""
    out = {}
    update_roots = [root(v) for _, v in graph.updates]
    state_ids = {v: i for i, v in enumerate(graph.states)}
    for s, v in graph.updates:
        p = producer.get(v)
        if p is None or s not in state_ids or root(v) is not v or v in escaping:
            continue
        i, node, gi = p
        if gi is None or node.op.name in _NOT_IN_PLACE or v in out:
            continue
        if tuple(v.shape) != tuple(s.shape) or v.dtype != s.dtype:
            continue
        if last_root.get(s, -1) > i or update_roots.count(v) > 1 or s in update_roots:
            continue
        out[v] = s
    return out
