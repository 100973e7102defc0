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


def _pads(padding):
    before = [p[0] if isinstance(p, (tuple, list)) else p for p in padding]
    after = [p[1] if isinstance(p, (tuple, list)) else p for p in padding]
    return [int(p) for p in before + after]


@_conv("conv2d")
def _conv2d(ctx, n):
    ins = [ctx.arg(0), ctx.arg(1)] + ([ctx.arg(2)] if n.args[2] is not None else [])
    ctx.emit("Conv", ins, strides=list(n.attrs["stride"]), pads=_pads(n.attrs["padding"]),
             dilations=list(n.attrs["dilation"]), group=int(n.attrs["groups"]),
             kernel_shape=list(n.args[1].shape[2:]))


@_conv("conv_transpose2d")
def _conv_t(ctx, n):
    ins = [ctx.arg(0), ctx.arg(1)] + ([ctx.arg(2)] if n.args[2] is not None else [])
    ctx.emit("ConvTranspose", ins, strides=list(n.attrs["stride"]),
             pads=_pads(n.attrs["padding"]), dilations=list(n.attrs["dilation"]),
             group=int(n.attrs["groups"]), output_padding=list(n.attrs["output_padding"]),
             kernel_shape=list(n.args[1].shape[2:]))


@_conv("max_pool2d")
def _max_pool(ctx, n):
    a = n.attrs
    ctx.emit("MaxPool", [ctx.arg(0)], kernel_shape=list(a["kernel"]), strides=list(a["stride"]),
             pads=_pads(a["padding"]), dilations=list(a["dilation"]),
             ceil_mode=int(bool(a["ceil_mode"])))


@_conv("avg_pool2d")
def _avg_pool(ctx, n):
    a = n.attrs
    if a.get("divisor"):
        raise ValueError("onnx.export: avg_pool2d with divisor_override has no ONNX form "
                         f"(from {n.scope or 'the function body'})")
    ctx.emit("AveragePool", [ctx.arg(0)], kernel_shape=list(a["kernel"]),
             strides=list(a["stride"]), pads=_pads(a["padding"]),
             ceil_mode=int(bool(a["ceil_mode"])),
             count_include_pad=int(bool(a["count_include_pad"])))


@_conv("layer_norm")
def _layer_norm(ctx, n):
    x, w, b = n.args
    k = int(n.attrs["ndim"])
    shape = x.shape[len(x.shape) - k:]
    scale = ctx.arg(1) if w is not None else ctx.const(np.ones(shape, np.dtype(x.dtype)))
    ins = [ctx.arg(0), scale] + ([ctx.arg(2)] if b is not None else [])
    ctx.emit("LayerNormalization", ins, axis=-k, epsilon=float(n.attrs["eps"]))


@_conv("pad")
def _pad(ctx, n):
    mode = n.attrs.get("mode", "constant")
    onnx_mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}.get(mode)
    if mode == "circular" and ctx.opset >= 19:
        onnx_mode = "wrap"
    if onnx_mode is None:
        hint = " before opset 19 (export with opset=19)" if mode == "circular" else ""
        raise ValueError(f"onnx.export: {mode} padding has no ONNX form{hint} (from "
                         f"{n.scope or 'the function body'})")
    ins = [ctx.arg(0), ctx.ints(_pads(n.attrs["pad_width"]))]
    if mode == "constant":
        ins.append(_scalar(ctx, n.attrs.get("value", 0.0), n.args[0]))
    ctx.emit("Pad", ins, mode=onnx_mode)


def _split4(ctx, gates, parts):
    return ctx.add("Split", [gates], n_out=parts, axis=-1)


@_conv("lstm_cell")
def _lstm(ctx, n):
    xg, hg, c = n.args
    gates = ctx.arg(0)
    if hg is not None:
        (gates,) = ctx.add("Add", [gates, ctx.arg(1)])
    i, f, g, o = _split4(ctx, gates, 4)
    (i,) = ctx.add("Sigmoid", [i])
    (g,) = ctx.add("Tanh", [g])
    (o,) = ctx.add("Sigmoid", [o])
    (c_new,) = ctx.add("Mul", [i, g])
    if c is not None:
        (f,) = ctx.add("Sigmoid", [f])
        (fc,) = ctx.add("Mul", [f, ctx.arg(2)])
        (c_new,) = ctx.add("Add", [c_new, fc])
    ctx.add("Identity", [c_new], outputs=[ctx.out(1)])
    (t,) = ctx.add("Tanh", [c_new])
    ctx.add("Mul", [t, o], outputs=[ctx.out(0)])


def _lstm_step(ctx, gates, c):
    i, f, g, o = _split4(ctx, gates, 4)
    (i,) = ctx.add("Sigmoid", [i])
    (g,) = ctx.add("Tanh", [g])
    (o,) = ctx.add("Sigmoid", [o])
    (c_new,) = ctx.add("Mul", [i, g])
    if c is not None:
        (f,) = ctx.add("Sigmoid", [f])
        (fc,) = ctx.add("Mul", [f, c])
        (c_new,) = ctx.add("Add", [c_new, fc])
    (t,) = ctx.add("Tanh", [c_new])
    (h,) = ctx.add("Mul", [t, o])
    return h, c_new


@_conv("lstm_layer")
def _lstm_layer(ctx, n):
    """Unrolled over the (static) time axis: one cell per step."""
    xg, w, h0, c0 = n.args
    axis = int(n.attrs["axis"])
    steps = xg.shape[axis]
    order = range(steps - 1, -1, -1) if n.attrs["reverse"] else range(steps)
    (wt,) = ctx.add("Transpose", [ctx.arg(1)], perm=[1, 0])
    h = None if h0 is None else ctx.arg(2)
    c = None if c0 is None else ctx.arg(3)
    outs = {}
    for t in order:
        (x_t,) = ctx.add("Gather", [ctx.arg(0), ctx.const(np.asarray(t, dtype=np.int64))],
                         axis=axis)
        gates = x_t
        if h is not None:
            (hg,) = ctx.add("MatMul", [h, wt])
            (gates,) = ctx.add("Add", [x_t, hg])
        h, c = _lstm_step(ctx, gates, c)
        (outs[t],) = ctx.add("Unsqueeze", [h, ctx.ints([axis])])
    ctx.add("Concat", [outs[t] for t in range(steps)], outputs=[ctx.out(0)], axis=axis)
    ctx.add("Identity", [h], outputs=[ctx.out(1)])
    ctx.add("Identity", [c], outputs=[ctx.out(2)])


@_conv("gru_cell")
def _gru(ctx, n):
    x_r, x_z, x_n = _split4(ctx, ctx.arg(0), 3)
    h_r, h_z, h_n = _split4(ctx, ctx.arg(1), 3)
    (r,) = ctx.add("Add", [x_r, h_r])
    (r,) = ctx.add("Sigmoid", [r])
    (z,) = ctx.add("Add", [x_z, h_z])
    (z,) = ctx.add("Sigmoid", [z])
    (rn,) = ctx.add("Mul", [r, h_n])
    (nn,) = ctx.add("Add", [x_n, rn])
    (nn,) = ctx.add("Tanh", [nn])
    (d,) = ctx.add("Sub", [ctx.arg(2), nn])
    (d,) = ctx.add("Mul", [d, z])
    ctx.emit("Add", [d, nn])


@_conv("one_hot")
def _one_hot(ctx, n):
    depth = ctx.const(np.asarray(int(n.attrs["num_classes"]), dtype=np.int64))
    values = ctx.const(np.asarray([0, 1], dtype=np.int64))
    ctx.emit("OneHot", [ctx.arg(0), depth, values], axis=-1)


@_conv("einsum")
def _einsum(ctx, n):
    ctx.emit("Einsum", [ctx.arg(i) for i in range(len(n.args))], equation=n.attrs["equation"])


@_conv("dropout", "batch_norm")
def _training_only(ctx, n):
    raise ValueError(f"onnx.export: {n.op.name} in training mode (from "
                     f"{n.scope or 'the function body'}) has no inference form; call "
                     "model.eval() before exporting")
