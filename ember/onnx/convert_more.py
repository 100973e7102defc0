"""ember op -> ONNX nodes for the rest of the ops ONNX can express: inverse and hyperbolic
trigonometry, ``atan2``, ``hypot``, ``copysign``, ``logaddexp``, ``floor_divide`` (NumPy's
rounding, also for integers), reductions to bool, sorting and searching, gathers and
scatters, diagonals, ``roll``, ``nonzero``, ``unique``, ``det`` and constant masks.

NumPy defines the edge values (signed zeros, infinities, NaN) of these ops; where one ONNX op
does not, the converter rebuilds them with ``Where``, so the exported model gives ember's
values. onnxruntime's Where (1.32) turns a ``-0.0`` taken from its X input into ``+0.0``:
signs of zero results are set by a product with ±1 instead. Ops that only training runs,
and ops with no exact ONNX form, are listed in ``tests/onnx/test_onnx_export_ops.py``.
"""

from __future__ import annotations

import math

import numpy as np

from ..graph.ir import Value
from .convert import _axes, _conv, _scalar, _simple


def _where(n) -> str:
    return n.scope or "the function body"


def _needs_opset(ctx, n, what: str, opset: int) -> None:
    if ctx.opset < opset:
        raise ValueError(f"onnx.export: {what} has no ONNX form before opset {opset} (export "
                         f"with opset={opset}) (from {_where(n)})")


for _name, _type in {"asin": "Asin", "acos": "Acos", "atan": "Atan", "sinh": "Sinh",
                     "cosh": "Cosh", "asinh": "Asinh", "acosh": "Acosh", "atanh": "Atanh",
                     "to_device": "Identity", "scale_grad": "Identity",
                     "det": "Det", "rrelu_inplace": "Mul", "relu_inplace": "Relu"}.items():
    _simple(_name, _type)


@_conv("nonzero")
def _nonzero(ctx, n):
    """ONNX's NonZero is (ndim, count); ember's, like ``argwhere``, is (count, ndim)."""
    (nz,) = ctx.add("NonZero", [ctx.arg(0)])
    ctx.emit("Transpose", [nz], perm=[1, 0])


def _negative(ctx, x: str, v: Value) -> str:
    """True where ``x``'s sign is negative, ``-0.0`` included (``1 / -0.0`` is ``-inf``); a
    NaN counts as positive (ONNX cannot read a NaN's sign bit)."""
    zero = _scalar(ctx, 0.0, v)
    (lt,) = ctx.add("Less", [x, zero])
    (inv,) = ctx.add("Reciprocal", [x])
    (neg_zero,) = ctx.add("Less", [inv, zero])
    return ctx.add("Or", [lt, neg_zero])[0]


@_conv("isfinite")
def _isfinite(ctx, n):
    x = ctx.arg(0)
    if np.dtype(n.args[0].dtype).kind != "f":
        (shape,) = ctx.add("Shape", [x])
        return ctx.emit("Expand", [ctx.const(np.asarray(True)), shape])
    (nan,) = ctx.add("IsNaN", [x])
    (inf,) = ctx.add("IsInf", [x])
    (bad,) = ctx.add("Or", [nan, inf])
    ctx.emit("Not", [bad])


@_conv("trunc")
def _trunc(ctx, n):
    """Toward zero: ``floor(|x|)`` with x's sign (``-0.5`` becomes ``-0.0``, as in NumPy)."""
    x, v = ctx.arg(0), n.args[0]
    if np.dtype(v.dtype).kind != "f":
        return ctx.emit("Identity", [x])
    (mag,) = ctx.add("Abs", [x])
    (mag,) = ctx.add("Floor", [mag])
    ctx.emit("Mul", [mag, _unit_sign(ctx, x, v)])


def _unit_sign(ctx, x: str, v: Value) -> str:
    """-1 where x is negative (``-0.0`` included), else 1."""
    return ctx.add("Where", [_negative(ctx, x, v), _scalar(ctx, -1.0, v),
                             _scalar(ctx, 1.0, v)])[0]


@_conv("atan2")
def _atan2(ctx, n):
    """``atan(a / b)``, moved by ±pi (the sign of ``a``) where ``b`` is negative; where
    ``a / b`` is 0/0 or inf/inf NumPy's values are put back: ±0 or ±pi for two zeros,
    ±pi/4 or ±3pi/4 for two infinities."""
    a, b, v = ctx.arg(0), ctx.arg(1), n.outputs[0]

    def c(value):
        return _scalar(ctx, value, v)

    (q,) = ctx.add("Div", [a, b])
    (r,) = ctx.add("Atan", [q])
    a_neg, b_neg = _negative(ctx, a, v), _negative(ctx, b, v)
    (sign_a,) = ctx.add("Where", [a_neg, c(-1.0), c(1.0)])
    (turn,) = ctx.add("Mul", [sign_a, c(math.pi)])
    (turned,) = ctx.add("Add", [r, turn])
    (y,) = ctx.add("Where", [b_neg, turned, r])
    (zero_a,) = ctx.add("Equal", [a, c(0.0)])
    (zero_b,) = ctx.add("Equal", [b, c(0.0)])
    (zeros,) = ctx.add("And", [zero_a, zero_b])
    (at_zero,) = ctx.add("Where", [b_neg, c(math.pi), c(0.0)])
    (at_zero,) = ctx.add("Mul", [sign_a, at_zero])  # -1 * 0.0 is -0.0
    (inf_a,) = ctx.add("IsInf", [a])
    (inf_b,) = ctx.add("IsInf", [b])
    (infs,) = ctx.add("And", [inf_a, inf_b])
    (at_inf,) = ctx.add("Where", [b_neg, c(3 * math.pi / 4), c(math.pi / 4)])
    (at_inf,) = ctx.add("Mul", [sign_a, at_inf])
    (y,) = ctx.add("Where", [zeros, at_zero, y])
    (y,) = ctx.add("Where", [infs, at_inf, y])
    (y,) = ctx.add("Abs", [y])  # every non-NaN result has a's sign: set it by a product
    ctx.emit("Mul", [y, sign_a])


@_conv("hypot")
def _hypot(ctx, n):
    """``big * sqrt(1 + (small / big)**2)``, which neither overflows nor underflows; 0 for two
    zeros, inf where either is infinite (even with a NaN), else NaN where either is NaN."""
    v = n.outputs[0]
    (abs_a,) = ctx.add("Abs", [ctx.arg(0)])
    (abs_b,) = ctx.add("Abs", [ctx.arg(1)])
    (big,) = ctx.add("Max", [abs_a, abs_b])
    (small,) = ctx.add("Min", [abs_a, abs_b])
    (is_zero,) = ctx.add("Equal", [big, _scalar(ctx, 0.0, v)])
    (safe,) = ctx.add("Where", [is_zero, _scalar(ctx, 1.0, v), big])
    (ratio,) = ctx.add("Div", [small, safe])
    (sq,) = ctx.add("Mul", [ratio, ratio])
    (sq,) = ctx.add("Add", [sq, _scalar(ctx, 1.0, v)])
    (root,) = ctx.add("Sqrt", [sq])
    (y,) = ctx.add("Mul", [big, root])
    (nan_a,) = ctx.add("IsNaN", [abs_a])
    (nan_b,) = ctx.add("IsNaN", [abs_b])
    (nan,) = ctx.add("Or", [nan_a, nan_b])
    (y,) = ctx.add("Where", [nan, _scalar(ctx, np.nan, v), y])
    (inf_a,) = ctx.add("IsInf", [abs_a])
    (inf_b,) = ctx.add("IsInf", [abs_b])
    (inf,) = ctx.add("Or", [inf_a, inf_b])
    ctx.emit("Where", [inf, _scalar(ctx, np.inf, v), y])


@_conv("copysign")
def _copysign(ctx, n):
    """``|a|`` negated where ``b`` is negative (``-0.0`` too). ONNX cannot read a NaN's sign
    bit: a NaN ``b`` gives ``|a|``, where NumPy follows the NaN's sign bit."""
    (mag,) = ctx.add("Abs", [ctx.arg(0)])
    ctx.emit("Mul", [mag, _unit_sign(ctx, ctx.arg(1), n.outputs[0])])


@_conv("logaddexp")
def _logaddexp(ctx, n):
    """NumPy's form: ``max + softplus(-|a - b|)``, and ``a + log(2)`` where ``a == b`` (two
    equal infinities, whose difference is NaN)."""
    a, b, v = ctx.arg(0), ctx.arg(1), n.outputs[0]
    (d,) = ctx.add("Sub", [a, b])
    (d,) = ctx.add("Abs", [d])
    (d,) = ctx.add("Neg", [d])
    (sp,) = ctx.add("Softplus", [d])
    (big,) = ctx.add("Max", [a, b])
    (y,) = ctx.add("Add", [big, sp])
    (same,) = ctx.add("Equal", [a, b])
    (twice,) = ctx.add("Add", [a, _scalar(ctx, math.log(2.0), v)])
    ctx.emit("Where", [same, twice, y])


@_conv("floor_divide")
def _floor_divide(ctx, n):
    """NumPy's rounding. Floats: ``(a - fmod(a, b)) / b``, one less where the remainder's
    sign differs from ``b``'s, then floored (rounded to nearest past .5): ``1 // 0.1`` is 9,
    not ``floor(1 / 0.1) = 10``; ``a / b`` where ``b`` is 0. Integers: ONNX's Div truncates,
    so one less where the remainder is nonzero and its sign differs from ``b``'s; 0 where
    ``b`` is 0 and ``-a`` where ``b`` is -1 (Div would trap on both)."""
    a, b, v = ctx.arg(0), ctx.arg(1), n.outputs[0]
    dtype = np.dtype(v.dtype)

    def c(value):
        return _scalar(ctx, value, v)

    if dtype.kind in "iu":
        signed = dtype.kind == "i"
        (zero_b,) = ctx.add("Equal", [b, c(0)])
        trap = zero_b
        if signed:
            (minus_one,) = ctx.add("Equal", [b, c(-1)])
            (trap,) = ctx.add("Or", [zero_b, minus_one])
        (safe,) = ctx.add("Where", [trap, c(1), b])
        (q,) = ctx.add("Div", [a, safe])
        if signed:
            (back,) = ctx.add("Mul", [q, safe])
            (r,) = ctx.add("Sub", [a, back])
            (r_neg,) = ctx.add("Less", [r, c(0)])
            (b_neg,) = ctx.add("Less", [safe, c(0)])
            (differ,) = ctx.add("Xor", [r_neg, b_neg])
            (r_zero,) = ctx.add("Equal", [r, c(0)])
            (r_nonzero,) = ctx.add("Not", [r_zero])
            (fix,) = ctx.add("And", [differ, r_nonzero])
            (fix,) = ctx.add("Cast", [fix], to=ctx.onnx.helper.np_dtype_to_tensor_dtype(dtype))
            (q,) = ctx.add("Sub", [q, fix])
            (neg_a,) = ctx.add("Neg", [a])
            (q,) = ctx.add("Where", [minus_one, neg_a, q])
        ctx.emit("Where", [zero_b, c(0), q])
        return
    zero = c(0.0)
    (mod,) = ctx.add("Mod", [a, b], fmod=1)
    (diff,) = ctx.add("Sub", [a, mod])
    (div,) = ctx.add("Div", [diff, b])
    (b_neg,) = ctx.add("Less", [b, zero])
    (mod_neg,) = ctx.add("Less", [mod, zero])
    (differ,) = ctx.add("Xor", [b_neg, mod_neg])
    (mod_zero,) = ctx.add("Equal", [mod, zero])
    (mod_nonzero,) = ctx.add("Not", [mod_zero])
    (fix,) = ctx.add("And", [differ, mod_nonzero])
    (less,) = ctx.add("Sub", [div, c(1.0)])
    (div,) = ctx.add("Where", [fix, less, div])
    (fl,) = ctx.add("Floor", [div])
    (frac,) = ctx.add("Sub", [div, fl])
    (up,) = ctx.add("Greater", [frac, c(0.5)])
    (fl_up,) = ctx.add("Add", [fl, c(1.0)])
    (fl,) = ctx.add("Where", [up, fl_up, fl])
    (quot,) = ctx.add("Div", [a, b])  # the result where b == 0; signs a zero result
    (b_zero,) = ctx.add("Equal", [b, zero])
    (y,) = ctx.add("Where", [b_zero, quot, fl])
    (y,) = ctx.add("Add", [y, zero])  # -0.0 + 0.0 is 0.0: a zero result is now +0.0
    (y_zero,) = ctx.add("Equal", [y, zero])
    (flip,) = ctx.add("And", [y_zero, _negative(ctx, quot, v)])
    (sign,) = ctx.add("Where", [flip, c(-1.0), c(1.0)])
    ctx.emit("Mul", [y, sign])


@_conv("all", "any")
def _all_any(ctx, n):
    """Cast to bool (nonzero, NaN included, is true), then to int32, then the min (all) or max
    (any): opset 17's reductions take no bools."""
    onnx = ctx.onnx
    (x,) = ctx.add("Cast", [ctx.arg(0)], to=onnx.TensorProto.BOOL)
    axes = _axes(n)
    if not axes:
        return ctx.emit("Identity", [x])
    (x,) = ctx.add("Cast", [x], to=onnx.TensorProto.INT32)
    kind = "ReduceMin" if n.op.name == "all" else "ReduceMax"
    keep = int(bool(n.attrs.get("keepdims", False)))
    if ctx.opset >= 18:
        (y,) = ctx.add(kind, [x, ctx.ints(axes)], keepdims=keep)
    else:
        (y,) = ctx.add(kind, [x], axes=axes, keepdims=keep)
    ctx.emit("Cast", [y], to=onnx.TensorProto.BOOL)


@_conv("sort", "argsort")
def _sort(ctx, n):
    """TopK of the whole axis: ONNX puts equal values lower index first, in both directions,
    as ember's stable sort does."""
    axis = int(n.attrs.get("axis", -1))
    size = n.args[0].shape[axis]
    largest = int(bool(n.attrs.get("descending", False)))
    outs = ([ctx.out(0), ctx.out(1)] if n.op.name == "sort" else
            [ctx.fresh("values"), ctx.out(0)])
    ctx.add("TopK", [ctx.arg(0), ctx.ints([size])], outputs=outs, axis=axis, largest=largest,
            sorted=1)


@_conv("searchsorted")
def _searchsorted(ctx, n):
    """The count of ``seq`` entries before each value (``<`` for left, ``<=`` for right),
    NaN ordered last as NumPy sorts it."""
    seq, values = n.args
    s, x = ctx.arg(0), ctx.arg(1)
    right = bool(n.attrs.get("right", False))
    if len(seq.shape) > 1:
        (s,) = ctx.add("Unsqueeze", [s, ctx.ints([-2])])
    (x,) = ctx.add("Unsqueeze", [x, ctx.ints([-1])])
    (before,) = ctx.add("LessOrEqual" if right else "Less", [s, x])
    if np.dtype(seq.dtype).kind == "f":
        (x_nan,) = ctx.add("IsNaN", [x])
        if right:  # every entry, NaN too, is <= a NaN
            (before,) = ctx.add("Or", [before, x_nan])
        else:  # every number is < a NaN
            (s_nan,) = ctx.add("IsNaN", [s])
            (s_num,) = ctx.add("Not", [s_nan])
            (num_before_nan,) = ctx.add("And", [x_nan, s_num])
            (before,) = ctx.add("Or", [before, num_before_nan])
    (count,) = ctx.add("Cast", [before], to=ctx.onnx.TensorProto.INT64)
    ctx.emit("ReduceSum", [count, ctx.ints([-1])], keepdims=0)


@_conv("cumprod")
def _cumprod(ctx, n):
    _needs_opset(ctx, n, "cumprod (CumProd)", 26)
    ctx.emit("CumProd", [ctx.arg(0), ctx.const(np.asarray(int(n.attrs["axis"])))])


@_conv("bitwise_not")
def _bitwise_not(ctx, n):
    if np.dtype(n.outputs[0].dtype) == np.bool_:
        return ctx.emit("Not", [ctx.arg(0)])
    _needs_opset(ctx, n, "bitwise_not of integers (BitwiseNot)", 18)
    ctx.emit("BitwiseNot", [ctx.arg(0)])


@_conv("gather")
def _gather(ctx, n):
    """GatherElements; ``take_along_axis`` broadcasts the index over x's other axes, which
    GatherElements does not: the index is expanded to the output's shape first."""
    idx = ctx.arg(1)
    out_shape = list(n.outputs[0].shape)
    if list(n.args[1].shape) != out_shape:
        (idx,) = ctx.add("Expand", [idx, ctx.ints(out_shape)])
    ctx.emit("GatherElements", [ctx.arg(0), idx], axis=int(n.attrs["axis"]))


@_conv("scatter_add")
def _scatter_add(ctx, n):
    """ScatterElements adding; ``src`` is read only where ``index`` reaches (its leading
    corner of index's shape)."""
    index, src = n.args[1], n.args[2]
    updates = ctx.arg(2)
    if list(src.shape) != list(index.shape):
        k = len(index.shape)
        (updates,) = ctx.add("Slice", [updates, ctx.ints([0] * k), ctx.ints(index.shape),
                                       ctx.ints(range(k))])
    ctx.emit("ScatterElements", [ctx.arg(0), ctx.arg(1), updates],
             axis=int(n.attrs["axis"]), reduction="add")


@_conv("index_put")
def _index_put(ctx, n):
    """With an index known when exporting (ints, slices, constant arrays): the flat
    positions it selects are computed here, and ScatterElements writes ``v`` there."""
    x = n.args[0]
    index = n.attrs["index"]
    parts = index if isinstance(index, tuple) else (index,)
    if any(isinstance(p, Value) for p in parts):
        raise ValueError("onnx.export: index_put with a tensor index has no ONNX form here "
                         f"(only constant indices) (from {_where(n)})")
    pos = np.arange(math.prod(x.shape), dtype=np.int64).reshape(x.shape)[index]
    flat = np.asarray(pos).reshape(-1)
    if len(np.unique(flat)) != flat.size:
        raise ValueError("onnx.export: index_put writing one position twice has no ONNX "
                         f"form (ScatterElements leaves the order open) (from {_where(n)})")
    v = ctx.arg(1)
    v_val = n.args[1]
    if isinstance(v_val, Value) and np.dtype(v_val.dtype) != np.dtype(x.dtype):
        (v,) = ctx.add("Cast", [v], to=ctx.onnx.helper.np_dtype_to_tensor_dtype(
            np.dtype(x.dtype)))
    (v,) = ctx.add("Expand", [v, ctx.ints(np.shape(pos))])
    (v,) = ctx.add("Reshape", [v, ctx.ints([-1])])
    (xf,) = ctx.add("Reshape", [ctx.arg(0), ctx.ints([-1])])
    (y,) = ctx.add("ScatterElements", [xf, ctx.const(flat, "positions"), v], axis=0)
    ctx.emit("Reshape", [y, ctx.ints(x.shape)])


def _flat_diagonal(offset: int, n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    k = max(0, min(n + min(offset, 0), m - max(offset, 0)))
    rows = np.arange(k) + max(-offset, 0)
    cols = np.arange(k) + max(offset, 0)
    return rows, cols


@_conv("diagonal")
def _diagonal(ctx, n):
    """The last two axes flattened, and the diagonal's flat positions gathered."""
    shape = n.args[0].shape
    rows, cols = _flat_diagonal(int(n.attrs.get("offset", 0)), shape[-2], shape[-1])
    lead = len(shape) - 2
    (flat,) = ctx.add("Reshape", [ctx.arg(0), ctx.ints([0] * lead + [shape[-2] * shape[-1]])])
    ctx.emit("Gather", [flat, ctx.const((rows * shape[-1] + cols).astype(np.int64))],
             axis=lead)


@_conv("diag_embed")
def _diag_embed(ctx, n):
    """x padded with one zero, then each flat output position gathers its diagonal entry or
    that zero (a copy, so an infinite entry does not spread NaN as ``x * eye`` would)."""
    shape, out = n.args[0].shape, n.outputs[0].shape
    rows, cols = _flat_diagonal(int(n.attrs.get("offset", 0)), out[-2], out[-1])
    k = shape[-1]
    source = np.full(out[-2] * out[-1], k, dtype=np.int64)
    source[rows * out[-1] + cols] = np.arange(len(rows))
    nd = len(shape)
    (padded,) = ctx.add("Pad", [ctx.arg(0), ctx.ints([0] * nd + [0] * (nd - 1) + [1])])
    (flat,) = ctx.add("Gather", [padded, ctx.const(source)], axis=nd - 1)
    ctx.emit("Reshape", [flat, ctx.ints(list(out))])


@_conv("roll")
def _roll(ctx, n):
    """Per axis, the last ``shift`` entries moved to the front: two slices concatenated."""
    shift, axis = n.attrs["shift"], n.attrs["axis"]
    shifts = shift if isinstance(shift, (tuple, list)) else (shift,)
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    if len(shifts) == 1 and len(axes) > 1:
        shifts = shifts * len(axes)
    total: dict[int, int] = {}
    nd = len(n.args[0].shape)
    for s, a in zip(shifts, axes):
        total[a % nd] = total.get(a % nd, 0) + int(s)
    x = ctx.arg(0)
    for a, s in total.items():
        size = n.args[0].shape[a]
        s = s % size if size else 0
        if not s:
            continue
        (tail,) = ctx.add("Slice", [x, ctx.ints([size - s]), ctx.ints([size]), ctx.ints([a])])
        (head,) = ctx.add("Slice", [x, ctx.ints([0]), ctx.ints([size - s]), ctx.ints([a])])
        (x,) = ctx.add("Concat", [tail, head], axis=a)
    ctx.emit("Identity", [x])


@_conv("unique")
def _unique(ctx, n):
    """ONNX's Unique, sorted, on the flattened input; the inverse takes x's shape."""
    (flat,) = ctx.add("Reshape", [ctx.arg(0), ctx.ints([-1])])
    inverse = ctx.fresh("inverse")
    ctx.add("Unique", [flat], outputs=[ctx.out(0), ctx.out(1), inverse, ctx.out(3)], sorted=1)
    ctx.add("Reshape", [inverse, ctx.ints(n.args[0].shape)], outputs=[ctx.out(2)])


@_conv("sum_to")
def _sum_to(ctx, n):
    x, shape = n.args[0].shape, tuple(n.attrs["shape"])
    lead = len(x) - len(shape)
    axes = list(range(lead)) + [i + lead for i, s in enumerate(shape)
                                if s == 1 and x[i + lead] != 1]
    y = ctx.arg(0)
    if axes:
        (y,) = ctx.add("ReduceSum", [y, ctx.ints(axes)], keepdims=1)
    ctx.emit("Reshape", [y, ctx.ints(shape)])


@_conv("zeros_of")
def _zeros_of(ctx, n):
    (shape,) = ctx.add("Shape", [ctx.arg(0)])
    zero = ctx.onnx.numpy_helper.from_array(np.zeros(1, np.dtype(n.outputs[0].dtype)))
    ctx.emit("ConstantOfShape", [shape], value=zero)


@_conv("eye_mask", "triu_mask", "tri_mask")
def _mask(ctx, n):
    """Masks depend on their attributes only: the forward's array, as a constant."""
    ctx.emit("Identity", [ctx.const(np.asarray(n.op.forward(np, **n.attrs)), n.op.name)])


@_conv("elu_inplace")
def _elu_inplace(ctx, n):
    """``scale * x`` above zero, ``scale * alpha * (exp(x * input_scale) - 1)`` elsewhere
    (elu, celu and selu with ``inplace=True``)."""
    a, v = n.attrs, n.args[0]
    x = ctx.arg(0)
    (pos,) = ctx.add("Greater", [x, _scalar(ctx, 0.0, v)])
    (xs,) = ctx.add("Mul", [x, _scalar(ctx, float(a.get("input_scale", 1.0)), v)])
    (e,) = ctx.add("Elu", [xs], alpha=float(a.get("alpha", 1.0)))
    (y,) = ctx.add("Where", [pos, x, e])
    ctx.emit("Mul", [y, _scalar(ctx, float(a.get("scale", 1.0)), v)])


@_conv("leaky_relu_inplace")
def _leaky_relu_inplace(ctx, n):
    ctx.emit("LeakyRelu", [ctx.arg(0)], alpha=float(n.attrs.get("negative_slope", 0.01)))
