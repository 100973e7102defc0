"""ember op -> ONNX nodes: one converter per op name, writing through an ``ExportContext``.

A converter gets the context and the ember node; ``ctx.arg(i)`` names argument ``i`` (a
Python scalar becomes a constant of the node's dtype), ``ctx.emit`` writes the node that
produces the ember output, ``ctx.add`` writes intermediate nodes.
"""

from __future__ import annotations

import math

import numpy as np

from ..graph.ir import Value

CONVERTERS: dict = {}


def converter_for(name: str):
    """The converter of an op name (ops registered per size, like ``unstack_20``, share one)."""
    fn = CONVERTERS.get(name)
    if fn is None and name.startswith("unstack_") and name[8:].isdigit():
        fn = _unstack
    return fn


def _unstack(ctx, n):
    axis = int(n.attrs["axis"])
    parts = ctx.add("Split", [ctx.arg(0)], n_out=len(n.outputs), axis=axis)
    for i, p in enumerate(parts):
        ctx.add("Squeeze", [p, ctx.ints([axis])], outputs=[ctx.out(i)])


def _conv(*names):
    def register(fn):
        for n in names:
            CONVERTERS[n] = fn
        return fn

    return register


def _simple(name: str, op_type: str, **attrs):
    CONVERTERS[name] = lambda ctx, n: ctx.emit(
        op_type, [ctx.arg(i) for i in range(len(n.args))], **attrs)


for _name, _type in {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow",
                     "maximum": "Max", "minimum": "Min", "eq": "Equal", "lt": "Less",
                     "le": "LessOrEqual", "gt": "Greater", "ge": "GreaterOrEqual",
                     "logical_and": "And", "logical_or": "Or", "logical_xor": "Xor",
                     "where": "Where", "matmul": "MatMul", "neg": "Neg", "abs": "Abs",
                     "exp": "Exp", "log": "Log", "sqrt": "Sqrt", "reciprocal": "Reciprocal",
                     "sin": "Sin", "cos": "Cos", "tan": "Tan", "tanh": "Tanh",
                     "sigmoid": "Sigmoid", "relu": "Relu", "erf": "Erf", "floor": "Floor",
                     "ceil": "Ceil", "sign": "Sign", "logical_not": "Not", "clone": "Identity",
                     "isnan": "IsNaN", "isinf": "IsInf", "remainder": "Mod"}.items():
    _simple(_name, _type, **({"fmod": 0} if _type == "Mod" else {}))


def _dtype(ctx, v) -> np.dtype:
    return np.dtype(v.dtype if isinstance(v, Value) else ctx.node.outputs[0].dtype)


def _scalar(ctx, value, like: Value) -> str:
    return ctx.const(np.asarray(value, dtype=np.dtype(like.dtype)))


@_conv("ne")
def _ne(ctx, n):
    (eq,) = ctx.add("Equal", [ctx.arg(0), ctx.arg(1)])
    ctx.emit("Not", [eq])


@_conv("square")
def _square(ctx, n):
    x = ctx.arg(0)
    ctx.emit("Mul", [x, x])


@_conv("rsqrt")
def _rsqrt(ctx, n):
    (s,) = ctx.add("Sqrt", [ctx.arg(0)])
    ctx.emit("Reciprocal", [s])


@_conv("expm1", "log1p", "log2", "log10")
def _log_exp(ctx, n):
    x, v = ctx.arg(0), n.args[0]
    one = _scalar(ctx, 1.0, v)
    if n.op.name == "expm1":
        (e,) = ctx.add("Exp", [x])
        ctx.emit("Sub", [e, one])
    elif n.op.name == "log1p":
        (a,) = ctx.add("Add", [x, one])
        ctx.emit("Log", [a])
    else:
        (lg,) = ctx.add("Log", [x])
        base = 2.0 if n.op.name == "log2" else 10.0
        ctx.emit("Div", [lg, _scalar(ctx, math.log(base), v)])


@_conv("astype")
def _astype(ctx, n):
    ctx.emit("Cast", [ctx.arg(0)], to=ctx.onnx.helper.np_dtype_to_tensor_dtype(
        np.dtype(n.outputs[0].dtype)))


@_conv("clamp", "hardtanh")
def _clip(ctx, n):
    v = n.args[0]
    lo, hi = ((n.attrs.get("min"), n.attrs.get("max")) if n.op.name == "clamp" else
              (n.attrs.get("min_val", -1.0), n.attrs.get("max_val", 1.0)))
    ins = [ctx.arg(0), "" if lo is None else _scalar(ctx, lo, v),
           "" if hi is None else _scalar(ctx, hi, v)]
    while ins[-1] == "":
        ins.pop()
    ctx.emit("Clip", ins)


@_conv("leaky_relu")
def _leaky(ctx, n):
    ctx.emit("LeakyRelu", [ctx.arg(0)], alpha=float(n.attrs.get("negative_slope", 0.01)))


@_conv("elu")
def _elu(ctx, n):
    ctx.emit("Elu", [ctx.arg(0)], alpha=float(n.attrs.get("alpha", 1.0)))


@_conv("silu")
def _silu(ctx, n):
    x = ctx.arg(0)
    (s,) = ctx.add("Sigmoid", [x])
    ctx.emit("Mul", [x, s])


@_conv("gelu")
def _gelu(ctx, n):
    x, v = ctx.arg(0), n.args[0]
    half = _scalar(ctx, 0.5, v)
    if n.attrs.get("approximate", "none") == "tanh":
        (x3,) = ctx.add("Mul", [x, x])
        (x3,) = ctx.add("Mul", [x3, x])
        (t,) = ctx.add("Mul", [x3, _scalar(ctx, 0.044715, v)])
        (t,) = ctx.add("Add", [x, t])
        (t,) = ctx.add("Mul", [t, _scalar(ctx, math.sqrt(2.0 / math.pi), v)])
        (t,) = ctx.add("Tanh", [t])
    else:
        (t,) = ctx.add("Div", [x, _scalar(ctx, math.sqrt(2.0), v)])
        (t,) = ctx.add("Erf", [t])
    (t,) = ctx.add("Add", [t, _scalar(ctx, 1.0, v)])
    (t,) = ctx.add("Mul", [x, t])
    ctx.emit("Mul", [t, half])


@_conv("softplus")
def _softplus(ctx, n):
    x, v = ctx.arg(0), n.args[0]
    beta, threshold = float(n.attrs.get("beta", 1.0)), float(n.attrs.get("threshold", 20.0))
    (bx,) = ctx.add("Mul", [x, _scalar(ctx, beta, v)])
    (sp,) = ctx.add("Softplus", [bx])
    (sp,) = ctx.add("Div", [sp, _scalar(ctx, beta, v)])
    if math.isinf(threshold):
        ctx.add("Identity", [sp], outputs=[ctx.out()])
        return
    (big,) = ctx.add("Greater", [bx, _scalar(ctx, threshold, v)])
    ctx.emit("Where", [big, x, sp])


@_conv("softmax", "log_softmax")
def _softmax(ctx, n):
    ctx.emit("Softmax" if n.op.name == "softmax" else "LogSoftmax", [ctx.arg(0)],
             axis=int(n.attrs["axis"]))


@_conv("linear")
def _linear(ctx, n):
    x, b = n.args[0], n.args[2]
    if len(x.shape) == 2:
        ins = [ctx.arg(0), ctx.arg(1)] + ([ctx.arg(2)] if b is not None else [])
        ctx.emit("Gemm", ins, transB=1)
        return
    (wt,) = ctx.add("Transpose", [ctx.arg(1)], perm=[1, 0])
    if b is None:
        ctx.emit("MatMul", [ctx.arg(0), wt])
        return
    (y,) = ctx.add("MatMul", [ctx.arg(0), wt])
    ctx.emit("Add", [y, ctx.arg(2)])


@_conv("reshape")
def _reshape(ctx, n):
    src, dst = n.args[0].shape, n.outputs[0].shape
    target = list(dst)
    if src and dst and src[0] == dst[0] and 0 not in dst:
        target[0] = 0  # keep the leading (batch) dimension of the input: dynamic batches
    ctx.emit("Reshape", [ctx.arg(0), ctx.ints(target)])


@_conv("permute")
def _permute(ctx, n):
    ctx.emit("Transpose", [ctx.arg(0)], perm=[int(a) for a in n.attrs["axes"]])


@_conv("broadcast_to")
def _expand(ctx, n):
    ctx.emit("Expand", [ctx.arg(0), ctx.ints(n.attrs["shape"])])


@_conv("concat")
def _concat(ctx, n):
    ctx.emit("Concat", [ctx.arg(i) for i in range(len(n.args))], axis=int(n.attrs["axis"]))


@_conv("tile")
def _tile(ctx, n):
    reps = list(n.attrs["reps"])
    nd = len(n.args[0].shape)
    reps = [1] * (nd - len(reps)) + reps
    ctx.emit("Tile", [ctx.arg(0), ctx.ints(reps)])


def _axes(n):
    axis = n.attrs.get("axis")
    nd = len(n.args[0].shape)
    if axis is None:
        return list(range(nd))
    return [a % nd for a in (axis if isinstance(axis, (tuple, list)) else (axis,))]


@_conv("sum", "mean", "amax", "amin", "prod", "logsumexp", "vector_norm")
def _reduce(ctx, n):
    axes = _axes(n)
    keep = int(bool(n.attrs.get("keepdims", False)))
    kind = {"sum": "ReduceSum", "mean": "ReduceMean", "amax": "ReduceMax", "amin": "ReduceMin",
            "prod": "ReduceProd", "logsumexp": "ReduceLogSumExp"}.get(n.op.name)
    if n.op.name == "vector_norm":
        order = float(n.attrs.get("ord", 2.0))
        if order not in (1.0, 2.0):
            raise ValueError(f"onnx.export: vector_norm of order {order} has no ONNX form "
                             f"(from {n.scope or 'the function body'})")
        kind = "ReduceL2" if order == 2.0 else "ReduceL1"
    if not axes:
        ctx.emit("Identity", [ctx.arg(0)])
    elif kind == "ReduceSum" or ctx.opset >= 18:
        ctx.emit(kind, [ctx.arg(0), ctx.ints(axes)], keepdims=keep)
    else:
        ctx.emit(kind, [ctx.arg(0)], axes=axes, keepdims=keep)


@_conv("argmax", "argmin")
def _argmax(ctx, n):
    kind = "ArgMax" if n.op.name == "argmax" else "ArgMin"
    axis = n.attrs.get("axis")
    keep = int(bool(n.attrs.get("keepdims", False)))
    x = ctx.arg(0)
    if axis is None:
        (x,) = ctx.add("Reshape", [x, ctx.ints([-1])])
        axis = 0
    ctx.emit(kind, [x], axis=int(axis), keepdims=keep)


@_conv("cumsum")
def _cumsum(ctx, n):
    ctx.emit("CumSum", [ctx.arg(0), ctx.const(np.asarray(int(n.attrs["axis"])))])


@_conv("get_item")
def _get_item(ctx, n):
    index = n.attrs["index"]
    if not isinstance(index, tuple):
        index = (index,)
    nd = len(n.args[0].shape)
    n_real = sum(1 for i in index if i is not None and i is not Ellipsis)
    expanded = []
    for i in index:
        if i is Ellipsis:
            expanded += [slice(None)] * (nd - n_real)
        else:
            expanded.append(i)
    expanded += [slice(None)] * (nd - sum(1 for i in expanded if i is not None))
    starts, ends, axes, steps, squeeze, unsqueeze = [], [], [], [], [], []
    axis = 0
    out_pos = 0
    for item in expanded:
        if item is None:
            unsqueeze.append(out_pos)
            out_pos += 1
            continue
        size = n.args[0].shape[axis]
        if isinstance(item, int):
            k = item % size
            starts.append(k)
            ends.append(k + 1)
            axes.append(axis)
            steps.append(1)
            squeeze.append(axis)
        elif isinstance(item, slice):
            start, stop, step = item.indices(size)
            if (start, stop, step) != (0, size, 1):
                if step < 0 and stop < 0:
                    stop = -(2 ** 62)
                starts.append(start)
                ends.append(stop)
                axes.append(axis)
                steps.append(step)
            out_pos += 1
        else:
            raise ValueError(f"onnx.export: index {item!r} has no ONNX form (from "
                             f"{n.scope or 'the function body'})")
        axis += 1
    x = ctx.arg(0)
    if starts:
        (x,) = ctx.add("Slice", [x, ctx.ints(starts), ctx.ints(ends), ctx.ints(axes),
                                 ctx.ints(steps)])
    if squeeze:
        (x,) = ctx.add("Squeeze", [x, ctx.ints(squeeze)])
    if unsqueeze:
        (x,) = ctx.add("Unsqueeze", [x, ctx.ints(unsqueeze)])
    ctx.add("Identity", [x], outputs=[ctx.out()])


@_conv("flip")
def _flip(ctx, n):
    axes = n.attrs["axis"]
    axes = list(axes) if isinstance(axes, (tuple, list)) else [axes]
    k = len(axes)
    ctx.emit("Slice", [ctx.arg(0), ctx.ints([-1] * k), ctx.ints([-(2 ** 62)] * k),
                       ctx.ints(axes), ctx.ints([-1] * k)])


@_conv("embedding")
def _embedding(ctx, n):
    ctx.emit("Gather", [ctx.arg(0), ctx.arg(1)], axis=0)


@_conv("index")
def _index(ctx, n):
    index = n.attrs["index"]
    index = index if isinstance(index, tuple) else (index,)
    arrays = [k for k, i in enumerate(index) if not isinstance(i, slice)]
    if len(arrays) != 1 or any(i != slice(None) for i in index if isinstance(i, slice)):
        raise ValueError("onnx.export: only indexing with one integer array (x[:, idx]) has "
                         f"an ONNX form here (from {n.scope or 'the function body'})")
    idx = index[arrays[0]]
    name = ctx.name(idx) if isinstance(idx, Value) else ctx.const(np.asarray(idx))
    if isinstance(idx, Value) and np.dtype(idx.dtype) == np.bool_:
        raise ValueError("onnx.export: boolean-mask indexing has data-dependent shapes")
    ctx.emit("Gather", [ctx.arg(0), name], axis=arrays[0])


from . import convert_nn  # noqa: E402,F401  (registers the layer converters)


@_conv("topk")
def _topk(ctx, n):
    a = n.attrs
    ctx.add("TopK", [ctx.arg(0), ctx.ints([a["k"]])], outputs=[ctx.out(0), ctx.out(1)],
            axis=int(a["axis"]), largest=int(a["largest"]), sorted=int(a["sorted"]))


_SCATTER_REDUCTIONS = {"sum": "add", "prod": "mul", "amax": "max", "amin": "min"}


@_conv("scatter", "scatter_reduce")
def _scatter(ctx, n):
    reduction = None
    if n.op.name == "scatter_reduce":
        reduction = _SCATTER_REDUCTIONS.get(n.attrs["reduce"])
        if reduction is None or not n.attrs["include_self"]:
            raise ValueError(f"onnx.export: scatter_reduce with reduce={n.attrs['reduce']!r}, "
                             f"include_self={n.attrs['include_self']} has no ONNX form "
                             "(ScatterElements reduces with add, mul, max, min and the input)")
    ctx.emit("ScatterElements", [ctx.arg(0), ctx.arg(1), ctx.arg(2)],
             axis=int(n.attrs["axis"]), reduction=reduction)


from . import (  # noqa: E402,F401  (each registers its converters)
    convert_more,
    convert_resample,
    convert_sampling,
)
