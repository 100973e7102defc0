"""ember op -> ONNX nodes for sliding windows and sampling grids: ``unfold`` as a grouped
convolution with one-hot kernels, ``fold`` as Col2Im (opset 18), ``grid_gather`` (the taps of
``grid_sample``) as GatherElements; the bitwise ops, ``fmod`` and ``round`` that
``grid_sample``'s masks, reflections and nearest taps use."""

from __future__ import annotations

import numpy as np

from .convert import CONVERTERS, _conv


@_conv("unfold")
def _unfold(ctx, n):
    """Each output channel ``c·kh·kw + i·kw + j`` is input channel ``c`` convolved with a
    kernel that is 1 at (i, j) and 0 elsewhere (an infinite input becomes NaN there, as
    0·inf)."""
    a, x = n.attrs, n.args[0]
    c = x.shape[1]
    (kh, kw), (ph, pw) = a["kernel"], a["padding"]
    taps = kh * kw
    w = np.zeros((c * taps, 1, kh, kw), dtype=np.dtype(x.dtype))
    for k in range(c * taps):
        w[k, 0, (k % taps) // kw, k % kw] = 1
    (y,) = ctx.add("Conv", [ctx.arg(0), ctx.const(w, "one_hot")], group=c,
                   kernel_shape=[kh, kw], strides=list(a["stride"]),
                   dilations=list(a["dilation"]), pads=[ph, pw, ph, pw])
    ctx.emit("Reshape", [y, ctx.ints([0, c * taps, -1])])


@_conv("fold")
def _fold(ctx, n):
    a = n.attrs
    if ctx.opset < 18:
        raise ValueError("onnx.export: fold (Col2Im) has no ONNX form before opset 18 (export "
                         f"with opset=18) (from {n.scope or 'the function body'})")
    (ph, pw) = a["padding"]
    ctx.emit("Col2Im", [ctx.arg(0), ctx.ints(list(a["output_size"])),
                        ctx.ints(list(a["kernel"]))],
             dilations=list(a["dilation"]), pads=[ph, pw, ph, pw], strides=list(a["stride"]))


@_conv("grid_gather")
def _grid_gather(ctx, n):
    """``out[n, c, k] = x[n, c, index[n, k]]``: the index broadcast over channels."""
    x, index = n.args
    (idx,) = ctx.add("Unsqueeze", [ctx.arg(1), ctx.ints([1])])
    (idx,) = ctx.add("Expand", [idx, ctx.ints([x.shape[0], x.shape[1], index.shape[1]])])
    ctx.emit("GatherElements", [ctx.arg(0), idx], axis=2)


@_conv("fmod")
def _fmod(ctx, n):
    ctx.emit("Mod", [ctx.arg(0), ctx.arg(1)], fmod=1)


@_conv("round")
def _round(ctx, n):
    """ONNX's Round, like NumPy's, rounds halves to even; ``decimals`` scales around it."""
    d = n.attrs.get("decimals", 0)
    if not d:
        return ctx.emit("Round", [ctx.arg(0)])
    scale = ctx.const(np.asarray(10.0 ** d, dtype=np.dtype(n.args[0].dtype)), "scale")
    (y,) = ctx.add("Mul", [ctx.arg(0), scale])
    (y,) = ctx.add("Round", [y])
    ctx.emit("Div", [y, scale])


def _bitwise(logical: str, bitwise: str):
    def convert(ctx, n):
        ins = [ctx.arg(i) for i in range(len(n.args))]
        if np.dtype(n.outputs[0].dtype) == np.bool_:
            return ctx.emit(logical, ins)
        if ctx.opset < 18:
            raise ValueError(f"onnx.export: {n.op.name} of integers has no ONNX form before "
                             "opset 18 (export with opset=18) (from "
                             f"{n.scope or 'the function body'})")
        return ctx.emit(bitwise, ins)

    return convert


for _name, _ops in {"bitwise_and": ("And", "BitwiseAnd"), "bitwise_or": ("Or", "BitwiseOr"),
                    "bitwise_xor": ("Xor", "BitwiseXor")}.items():
    CONVERTERS.setdefault(_name, _bitwise(*_ops))
