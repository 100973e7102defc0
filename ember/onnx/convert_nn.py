"""ember op -> ONNX nodes for layer ops: convolution, pooling, normalisation, padding,
recurrent cells and layers (unrolled), and ops only training uses (refused)."""

from __future__ import annotations

import numpy as np

from .convert import CONVERTERS, _conv, _scalar


def _pads(padding):
    before = [p[0] if isinstance(p, (tuple, list)) else p for p in padding]
    after = [p[1] if isinstance(p, (tuple, list)) else p for p in padding]
    return [int(p) for p in before + after]


@_conv("conv2d", "conv3d")
def _conv2d(ctx, n):
    ins = [ctx.arg(0), ctx.arg(1)] + ([ctx.arg(2)] if n.args[2] is not None else [])
    ctx.emit("Conv", ins, strides=list(n.attrs["stride"]), pads=_pads(n.attrs["padding"]),
             dilations=list(n.attrs["dilation"]), group=int(n.attrs["groups"]),
             kernel_shape=list(n.args[1].shape[2:]))


@_conv("conv_transpose2d", "conv_transpose3d")
def _conv_t(ctx, n):
    ins = [ctx.arg(0), ctx.arg(1)] + ([ctx.arg(2)] if n.args[2] is not None else [])
    ctx.emit("ConvTranspose", ins, strides=list(n.attrs["stride"]),
             pads=_pads(n.attrs["padding"]), dilations=list(n.attrs["dilation"]),
             group=int(n.attrs["groups"]), output_padding=list(n.attrs["output_padding"]),
             kernel_shape=list(n.args[1].shape[2:]))


@_conv("max_pool2d", "max_pool3d")
def _max_pool(ctx, n):
    a = n.attrs
    ctx.emit("MaxPool", [ctx.arg(0)], kernel_shape=list(a["kernel"]), strides=list(a["stride"]),
             pads=_pads(a["padding"]), dilations=list(a["dilation"]),
             ceil_mode=int(bool(a["ceil_mode"])))


@_conv("avg_pool2d", "avg_pool3d")
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


def _symmetric_pad(ctx, n):
    """Symmetric padding (the edge repeated, as NumPy's ``symmetric``) has no Pad mode: per
    padded axis, the reversed first and last slices concatenated around the input."""
    x, shape = ctx.arg(0), n.args[0].shape
    last = len(n.attrs["pad_width"]) - 1
    for axis, (before, after) in enumerate(n.attrs["pad_width"]):
        if not (before or after):
            continue
        size = int(shape[axis])
        parts = []
        if before:  # x[before - 1], ..., x[0]
            parts += ctx.add("Slice", [x, ctx.ints([before - 1]), ctx.ints([-(2 ** 62)]),
                                       ctx.ints([axis]), ctx.ints([-1])])
        parts.append(x)
        if after:  # x[size - 1], ..., x[size - after]
            end = size - after - 1
            parts += ctx.add("Slice", [x, ctx.ints([size - 1]),
                                       ctx.ints([end if end >= 0 else -(2 ** 62)]),
                                       ctx.ints([axis]), ctx.ints([-1])])
        if axis == last or not any(b or a for b, a in n.attrs["pad_width"][axis + 1:]):
            return ctx.emit("Concat", parts, axis=axis)
        (x,) = ctx.add("Concat", parts, axis=axis)
        shape = tuple(shape[:axis]) + (size + before + after,) + tuple(shape[axis + 1:])
    return ctx.emit("Identity", [x])


@_conv("pad")
def _pad(ctx, n):
    mode = n.attrs.get("mode", "constant")
    if mode == "symmetric":
        return _symmetric_pad(ctx, n)
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
    _unrolled_lstm(ctx, n, ctx.arg(0), xg.shape[int(n.attrs["axis"])], 1, h0, c0)


@_conv("lstm")
def _lstm(ctx, n):
    """The projection of every step (one MatMul, plus the bias), then ``lstm_layer``'s
    unrolled steps; the saved-state output is the projections."""
    x, w_ih, w_hh, bias, h0, c0 = n.args
    (wt,) = ctx.add("Transpose", [ctx.arg(1)], perm=[1, 0])
    (xg,) = ctx.add("MatMul", [ctx.arg(0), wt])
    if bias is not None:
        (xg,) = ctx.add("Add", [xg, ctx.arg(3)])
    _unrolled_lstm(ctx, n, xg, x.shape[int(n.attrs["axis"])], 2, h0, c0, first_state=4)
    ctx.add("Identity", [xg], outputs=[ctx.out(3)])


def _unrolled_lstm(ctx, n, xg, steps, w_arg, h0, c0, first_state=2):
    axis = int(n.attrs["axis"])
    order = range(steps - 1, -1, -1) if n.attrs["reverse"] else range(steps)
    (wt,) = ctx.add("Transpose", [ctx.arg(w_arg)], perm=[1, 0])
    h = None if h0 is None else ctx.arg(first_state)
    c = None if c0 is None else ctx.arg(first_state + 1)
    outs = {}
    for t in order:
        (x_t,) = ctx.add("Gather", [xg, ctx.const(np.asarray(t, dtype=np.int64))], axis=axis)
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


def _class_loss(op_type: str):
    def convert(ctx, n):
        a = n.attrs
        if a.get("probs") or a.get("smoothing"):
            raise ValueError(f"onnx.export: {n.op.name} with probability targets or label "
                             f"smoothing has no ONNX form (from {n.scope or 'the function body'})")
        ins = [ctx.arg(0), ctx.arg(1)] + ([ctx.arg(2)] if n.args[2] is not None else [])
        ctx.add(op_type, ins, outputs=[ctx.out(0)], reduction=a["reduction"],
                ignore_index=int(a["ignore_index"]))

    return convert


CONVERTERS["cross_entropy"] = _class_loss("SoftmaxCrossEntropyLoss")
CONVERTERS["nll_loss"] = _class_loss("NegativeLogLikelihoodLoss")


@_conv("binary_cross_entropy")
def _binary_cross_entropy(ctx, n):
    """``-w (y max(log p, -100) + (1 - y) max(log(1 - p), -100))``, elementwise (the
    reduction is its own op); the [0, 1] check of the input has no ONNX form and is left out."""
    p, y = ctx.arg(0), ctx.arg(1)
    like = n.args[0]
    one, floor = _scalar(ctx, 1.0, like), _scalar(ctx, -100.0, like)
    (log_p,) = ctx.add("Log", [p])
    (log_p,) = ctx.add("Max", [log_p, floor])
    (q,) = ctx.add("Sub", [one, p])
    (log_q,) = ctx.add("Log", [q])
    (log_q,) = ctx.add("Max", [log_q, floor])
    (y_q,) = ctx.add("Sub", [one, y])
    (a,) = ctx.add("Mul", [y, log_p])
    (b,) = ctx.add("Mul", [y_q, log_q])
    (s,) = ctx.add("Add", [a, b])
    if n.args[2] is None:
        return ctx.emit("Neg", [s])
    (s,) = ctx.add("Mul", [s, ctx.arg(2)])
    ctx.emit("Neg", [s])
