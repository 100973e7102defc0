"""Elementwise fusion: runs of elementwise nodes become one ``fused`` node.

On NumPy a fused node runs its body as a chain of ufunc calls writing into preallocated
buffers (``out=``), chosen by the memory planner: no allocation per step, results written in
place where the planner proves it safe. (numexpr was measured as the alternative and lost:
see docs/static_graphs.md.) The lowering table maps each elementwise op to the ufunc calls
that compute exactly what its forward computes, bit for bit; tests check every entry.

Example:
    >>> import ember
    >>> from ember.graph import trace
    >>> from ember.graph.passes import fuse_elementwise
    >>> g = trace(lambda x: (x * 2.0 + 1.0).exp() @ x.T, ember.ones(2, 2))
    >>> fuse_elementwise(g)["fused_nodes"], [n.op.name for n in g.nodes]
    (3, ['fused', 'permute', 'matmul'])
"""

from __future__ import annotations

from ..ir import Graph, Node, Value

_BINARY = {"add": "add", "sub": "subtract", "mul": "multiply", "div": "divide",
           "maximum": "maximum", "minimum": "minimum", "remainder": "remainder",
           "floor_divide": "floor_divide", "eq": "equal", "ne": "not_equal", "lt": "less",
           "le": "less_equal", "gt": "greater", "ge": "greater_equal",
           "logical_and": "logical_and", "logical_or": "logical_or",
           "logical_xor": "logical_xor"}
_UNARY = {"neg": "negative", "abs": "absolute", "exp": "exp", "expm1": "expm1", "log": "log",
          "log1p": "log1p", "log2": "log2", "log10": "log10", "sqrt": "sqrt",
          "reciprocal": "reciprocal", "sin": "sin", "cos": "cos", "tan": "tan", "tanh": "tanh",
          "sign": "sign", "floor": "floor", "ceil": "ceil", "trunc": "trunc",
          "logical_not": "logical_not", "isnan": "isnan", "isinf": "isinf",
          "isfinite": "isfinite"}
_POW_FAST = {2: "square", 0.5: "sqrt", 1: "positive", -1: "reciprocal"}


class Fused:
    """The pseudo-op of a fused node: ``attrs["body"]`` holds the elementwise nodes it runs."""

    name = "fused"
    n_outputs = 0
    differentiable = False


def lower(n: Node, a: list, out: str, const) -> list[str] | None:
    """Source lines computing elementwise node ``n`` into ``out`` from argument expressions
    ``a``; the names ``u_<ufunc>`` are the backend's ufuncs and ``const(obj)`` names a
    constant. None if ``n`` has no lowering."""
    name = n.op.name
    if name in _BINARY and len(a) == 2:
        return [f"u_{_BINARY[name]}({a[0]}, {a[1]}, out={out})"]
    if name in _UNARY and len(a) == 1:
        return [f"u_{_UNARY[name]}({a[0]}, out={out})"]
    if name == "square":
        return [f"u_multiply({a[0]}, {a[0]}, out={out})"]
    if name == "relu":  # the backend's relu_into (oneDNN on the CPU for large float32)
        return [f"k_relu({a[0]}, {out})"]
    if name == "relu_backward":
        return [f"k_relu_backward({a[0]}, {a[1]}, {out})"]
    if name == "rsqrt":
        return [f"u_sqrt({a[0]}, out={out})", f"u_reciprocal({out}, out={out})"]
    if name == "where":  # the backend's where_into (branch-free on the CPU)
        return [f"k_where({a[0]}, {a[1]}, {a[2]}, {out})"]
    if name == "astype":
        return [f"u_copyto({out}, {a[0]}, casting='unsafe')"]
    if name == "clamp" and n.outputs[0].dtype == _dtype(n.args[0]):
        lo, hi = n.attrs.get("min"), n.attrs.get("max")
        if isinstance(lo, (int, float, type(None))) and isinstance(hi, (int, float, type(None))):
            return [f"u_clip({a[0]}, {const(lo)}, {const(hi)}, out={out})"]
    if name in _OUT_OPS and _same_float(n):  # the backend's matmul_into / linear_into
        if name == "matmul":
            return [f"k_matmul({a[0]}, {a[1]}, {out})"]
        if len(n.args[0].shape) == 2:  # linear: x @ weight.T + bias, as its forward
            bias = a[2] if n.args[2] is not None else "None"
            return [f"k_linear({a[0]}, {a[1]}, {bias}, {out})"]
    if name == "pow" and isinstance(n.args[1], (int, float)) and not isinstance(n.args[1], bool):
        fast = _POW_FAST.get(n.args[1])
        if fast is not None:
            return [f"u_{fast}({a[0]}, out={out})"]
        return [f"u_power({a[0]}, {a[1]}, out={out})"]
    return None


_OUT_OPS = ("matmul", "linear")  # not elementwise, but they can write into a planned buffer


def _same_float(n: Node) -> bool:
    vals = [a for a in n.args if a is not None]
    dt = n.outputs[0].dtype
    return dt in ("float32", "float64") and all(getattr(a, "dtype", None) == dt for a in vals)


def planned(n: Node, in_group: bool) -> bool:
    """Whether the executor runs ``n`` through its lowering into a planned buffer: every
    fused elementwise node, and matmul/linear nodes that have a lowering."""
    if in_group:
        return True
    return n.op.name in _OUT_OPS and lower(n, ["a"] * len(n.args), "o", repr) is not None


def _dtype(x) -> str | None:
    return getattr(x, "dtype", None)


def fusible(n: Node) -> bool:
    """Whether ``n`` is an elementwise node the fused executor can run."""
    if len(n.outputs) != 1 or n.op is Fused or n.op.name in _OUT_OPS:
        return False
    shape = n.outputs[0].shape
    if any(not isinstance(d, int) for d in shape):
        return False
    names = [f"a{i}" for i in range(len(n.args))]
    return lower(n, names, "o", repr) is not None


def fuse_elementwise(graph: Graph) -> dict:
    """Group maximal runs of consecutive elementwise nodes into fused nodes, in place.

    Returns ``{"fused_nodes": elementwise nodes absorbed, "groups": fused nodes made}``.
    """
    out: list[Node] = []
    run: list[Node] = []
    absorbed = groups = 0

    def close():
        nonlocal absorbed, groups
        if run:
            out.append(_make_group(list(run)))
            absorbed += len(run)
            groups += 1
            run.clear()

    for n in graph.nodes:
        if fusible(n):
            run.append(n)
        else:
            close()
            out.append(n)
    close()
    graph.nodes = out
    return {"fused_nodes": absorbed, "groups": groups}


def _make_group(body: list[Node]) -> Node:
    made = {v for n in body for v in n.outputs}
    ins = []
    for n in body:
        for v in n.inputs():
            if v not in made and v not in ins:
                ins.append(v)
    outs = tuple(v for n in body for v in n.outputs)
    return Node(Fused, tuple(ins), {"body": body}, outs)


def elide_mask_casts(graph: Graph) -> dict:
    """In each fused group, drop the casts of a boolean mask to float that only
    multiplications by an array of that float dtype read (``g * (x > 0).float()``, a ReLU's
    backward): NumPy multiplies by the mask directly with the same result, and a pass over
    memory is saved. For the NumPy executor (a CUDA kernel computes casts in registers).

    Returns ``{"elided": casts removed}``.
    """
    roots = set(graph.roots())
    uses: dict = {}
    for n in graph.nodes:
        for b in (n.attrs["body"] if n.op is Fused else (n,)):
            for v in b.inputs():
                uses.setdefault(v, []).append((b, n))
    elided = 0
    for g in graph.nodes:
        if g.op is not Fused:
            continue
        body = g.attrs["body"]
        drop = {}
        for n in body:
            v = n.outputs[0]
            src = n.args[0] if n.args else None
            if (n.op.name != "astype" or getattr(src, "dtype", None) != "bool" or v in roots
                    or v.dtype not in ("float32", "float64")):
                continue
            users = uses.get(v, [])
            if users and all(grp is g and u.op.name == "mul" and len(u.args) == 2 and
                             u.outputs[0].dtype == v.dtype and
                             all(a is v or getattr(a, "dtype", None) == v.dtype
                                 for a in u.args) for u, grp in users):
                drop[v] = src
        if not drop:
            continue
        new = []
        for n in body:
            if n.outputs[0] in drop:
                continue
            if any(a in drop for a in n.args if isinstance(a, Value)):
                args = tuple(drop.get(a, a) if isinstance(a, Value) else a for a in n.args)
                n = Node(n.op, args, n.attrs, n.outputs, n.alias, n.scope)
            new.append(n)
        g.attrs = dict(g.attrs, body=new)
        g.outputs = tuple(v for b in new for v in b.outputs)
        elided += len(drop)
    return {"elided": elided}
