"""Fused elementwise groups run block by block on the CPU, so each byte moves once.

A fused group lowered node by node is one ufunc pass over whole arrays per node: a chain of
five ops over a 4 MB activation streams 20 MB or more through memory. When the group's
arrays are larger than the cache, the executor instead runs the whole chain on one block of
rows at a time (about ``BLOCK_ELEMENTS`` elements): the group's inputs are read once, the
values used after the group are written once, and the values that live only inside the
group stay in small cache-resident scratch buffers. The ufunc calls are the same as the
unblocked lowering's, on slices, so the results are bit for bit the same.

Example:
    >>> import ember
    >>> from ember.graph import compile_graph, trace
    >>> g = trace(lambda x: ((x * 2.0 + 1.0).exp() * 0.5).sum(), ember.ones(1024, 2048))
    >>> "for sl" in compile_graph(g).source
    True
"""

from __future__ import annotations

import math

import numpy as np

from .ir import Value
from .passes.fuse import lower

BLOCK_ELEMENTS = 1 << 17  # per array per block: 512 KB of float32; a few fit in L2
MIN_BYTES = 1 << 22  # smaller groups: the per-block calls cost more than they save
_NOT_IN_PLACE = {"where"}  # lowered in steps that read operands after writing the output


def groups_of(plan) -> dict:
    """``{group index: [(schedule index, node), ...]}`` for the fused groups of a plan."""
    out: dict = {}
    for i, (n, gi) in enumerate(plan.seq):
        if gi is not None and gi >= 0:
            out.setdefault(gi, []).append((i, n))
    return out


END = 1 << 60


def blockable(plan, members) -> tuple | None:
    """``(shape, rows per block)`` when the group can run block by block, else None."""
    vals = [v for _, n in members for v in n.outputs]
    shape = tuple(vals[0].shape)
    if not shape or any(not isinstance(d, int) for d in shape):
        return None
    size = math.prod(shape)
    width = max(np.dtype(v.dtype).itemsize for v in vals)
    row = size // shape[0] if shape[0] else 0
    if size * width < MIN_BYTES or row == 0 or row * width > MIN_BYTES // 4:
        return None
    rows = max(1, BLOCK_ELEMENTS // row)
    if rows >= shape[0]:
        return None
    for v in vals:
        if tuple(v.shape) != shape or (v.order is not None and v.order[0] != 0):
            return None
    made = set(vals)
    for _, n in members:
        for a in n.inputs():
            if a in made:
                continue
            s = tuple(a.shape)
            if s != shape and not (len(s) < len(shape) or s[0] == 1):
                return None  # broadcasts along the blocked axis
            if a.kind == "node" and plan.root(a) is not a and plan.root(a) in plan.dest:
                return None  # a view of a planned buffer the group may write
    return shape, rows


def emit(plan, members, spec, dest, expr, const, xp) -> tuple[list, dict]:
    """Source lines running the group block by block, and ``{value: expression}`` of the
    values it leaves in whole arrays (those used after the group)."""
    shape, rows = spec
    end = members[-1][0]
    made = {v for _, n in members for v in n.outputs}
    last_in: dict = {}
    for i, n in members:
        for a in n.inputs():
            last_in[a] = i
    lines: list = []
    whole: dict = {}
    local: dict = {}  # value -> name of its block in the loop
    head: list = []  # per-block slicing at the top of the loop
    for _, n in members:
        for a in n.inputs():
            if a in made or a in local:
                continue
            if tuple(a.shape) == shape:
                local[a] = f"x{len(local)}"
                head.append(f"{local[a]} = {expr(a)}[sl]")
            else:
                local[a] = expr(a)
    scratch: list = []  # (dtype, order) per scratch buffer
    free: dict = {}
    held: dict = {}
    body: list = []
    for i, n in members:
        v = n.outputs[0]
        for a in n.inputs():  # an operand dying here lends its scratch: in place
            if a in held and last_in.get(a) == i and n.op.name not in _NOT_IN_PLACE and \
                    (a.dtype, a.order) == (v.dtype, v.order):
                free.setdefault((a.dtype, a.order), []).append(held.pop(a))
        if plan.last_use.get(v, END) > end:
            whole[v] = dest(v)
            local[v] = f"y{v.id}"
            head.append(f"{local[v]} = {whole[v]}[sl]")
        else:
            stack = free.get((v.dtype, v.order))
            k = stack.pop() if stack else None
            if k is None:
                k = len(scratch)
                scratch.append((v.dtype, v.order))
            held[v] = k
            local[v] = f"t{k}"
        args = [local[a] if isinstance(a, Value) else const(a) for a in n.args]
        body += lower(n, args, local[v], const)
        for a in list(held):
            if last_in.get(a, -1) <= i and a is not v:
                free.setdefault((a.dtype, a.order), []).append(held.pop(a))
    block = (rows,) + shape[1:]
    bufs = [_empty(xp, block, dt, order) for dt, order in scratch]
    table = []
    for lo in range(0, shape[0], rows):
        m = min(rows, shape[0] - lo)
        table.append((slice(lo, lo + m),) + tuple(b[:m] for b in bufs))
    loop = "sl" + "".join(f", t{k}" for k in range(len(bufs)))
    lines.append(f"for {loop} in {const(tuple(table))}:")
    lines += ["    " + line for line in head + body]
    return lines, whole


def _empty(xp, shape, dtype, order):
    if order is None:
        return xp.empty(shape, dtype=dtype)
    inverse = tuple(sorted(range(len(shape)), key=order.__getitem__))
    return xp.empty(tuple(shape[a] for a in order), dtype=dtype).transpose(inverse)
