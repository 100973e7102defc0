"""ONNX op types implemented with ember ops: math, comparison, shape and reduction ops.

``IMPL[op_type](module, node, *inputs)`` returns the node's output tensor(s); ``node.attrs``
holds the attributes, ``module.opset`` the model's opset (a few ops changed form across
opsets). Inputs that ONNX passes as tensors but ember takes as Python values (shapes, axes,
pads) are read with ``_ints``; in a traced graph they must be constants (initializers).
The neural-network ops live in ``ops_nn.py``.
"""

from __future__ import annotations

import numpy as np

from .. import dtypes as _dt
from .. import ops as E
from ..ops import diff

IMPL: dict = {}


def onnx_op(*names):
    def register(fn):
        for n in names:
            IMPL[n] = fn
        return fn

    return register


def _ints(t) -> list[int]:
    arr = t.detach().numpy() if hasattr(t, "detach") else t
    return [int(v) for v in np.asarray(arr).reshape(-1)]


def _scalar(t):
    return np.asarray(t.detach().numpy()).reshape(()).item()


def _dtype_of_onnx(code: int):
    from onnx import helper

    try:
        return _dt.from_numpy_dtype(helper.tensor_dtype_to_np_dtype(code))
    except (TypeError, ValueError, KeyError) as exc:
        raise NotImplementedError(f"ONNX data type {code} has no ember dtype") from exc


def _binary(fn):
    return lambda m, n, a, b: fn(a, b)


for _name, _fn in {"Add": E.add, "Sub": E.sub, "Mul": E.mul, "Equal": E.eq,
                   "Greater": E.gt, "GreaterOrEqual": E.ge, "Less": E.lt, "LessOrEqual": E.le,
                   "And": E.logical_and, "Or": E.logical_or, "Xor": E.logical_xor,
                   "BitwiseAnd": E.bitwise_and, "BitwiseOr": E.bitwise_or,
                   "BitwiseXor": E.bitwise_xor, "MatMul": E.matmul}.items():
    IMPL[_name] = _binary(_fn)

for _name, _fn in {"Abs": E.abs, "Neg": E.neg, "Exp": E.exp, "Log": E.log, "Sqrt": E.sqrt,
                   "Reciprocal": E.reciprocal, "Sin": E.sin, "Cos": E.cos, "Tan": E.tan,
                   "Tanh": E.tanh, "Sigmoid": E.sigmoid, "Relu": E.relu, "Erf": E.erf,
                   "Floor": E.floor, "Ceil": E.ceil, "Sign": E.sign, "Round": E.round,
                   "Not": E.logical_not, "IsNaN": E.isnan, "BitwiseNot": E.bitwise_not}.items():
    IMPL[_name] = (lambda f: lambda m, n, x: f(x))(_fn)


@onnx_op("Identity")
def _identity(m, n, x):
    return x


@onnx_op("Div")
def _div(m, n, a, b):
    if a.dtype.is_floating_point:
        return E.div(a, b)
    q = E.trunc(E.div(a.double(), b.double()))  # C integer division truncates
    return E.astype(q, a.dtype)


@onnx_op("Pow")
def _pow(m, n, a, b):
    if not b.dtype.is_floating_point and a.dtype.is_floating_point:
        b = b.to(a.dtype)
    out = E.pow(a, b)
    return out if out.dtype == a.dtype else E.astype(out, a.dtype)


@onnx_op("Mod")
def _mod(m, n, a, b):
    if n.attrs.get("fmod", 0):
        return diff.fmod(a, b)
    return E.remainder(a, b)


@onnx_op("Max", "Min", "Sum", "Mean")
def _variadic(m, n, *xs):
    fn = {"Max": E.maximum, "Min": E.minimum, "Sum": E.add, "Mean": E.add}[n.op_type]
    out = xs[0]
    for x in xs[1:]:
        out = fn(out, x)
    if n.op_type == "Mean":
        out = out / float(len(xs))
    return out


@onnx_op("Where")
def _where(m, n, c, a, b):
    return E.where(c, a, b)


@onnx_op("IsInf")
def _isinf(m, n, x):
    pos, neg = n.attrs.get("detect_positive", 1), n.attrs.get("detect_negative", 1)
    inf = E.isinf(x)
    if pos and neg:
        return inf
    return E.logical_and(inf, x > 0 if pos else x < 0)


@onnx_op("Cast")
def _cast(m, n, x):
    return E.astype(x, _dtype_of_onnx(n.attrs["to"]))


@onnx_op("CastLike")
def _cast_like(m, n, x, like):
    return E.astype(x, like.dtype)


@onnx_op("Clip")
def _clip(m, n, x, lo=None, hi=None):
    if m.opset < 11:
        lo, hi = n.attrs.get("min"), n.attrs.get("max")
    else:
        lo = None if lo is None else _scalar(lo)
        hi = None if hi is None else _scalar(hi)
    if lo is None and hi is None:
        return x
    return E.clamp(x, lo, hi)


# ----------------------------------------------------------------------------- shapes


@onnx_op("Reshape")
def _reshape(m, n, x, shape):
    dims = _ints(shape)
    if not n.attrs.get("allowzero", 0):
        dims = [x.shape[i] if d == 0 else d for i, d in enumerate(dims)]
    return E.reshape(x, tuple(dims))


@onnx_op("Flatten")
def _flatten(m, n, x):
    axis = n.attrs.get("axis", 1)
    axis = axis + x.ndim if axis < 0 else axis
    lead = int(np.prod(x.shape[:axis], dtype=np.int64))
    return E.reshape(x, (lead, -1) if x.numel() else (lead, int(np.prod(x.shape[axis:]))))


@onnx_op("Transpose")
def _transpose(m, n, x):
    perm = n.attrs.get("perm") or list(reversed(range(x.ndim)))
    return E.permute(x, tuple(perm))


def _axes_input(m, n, given, since: int):
    if m.opset >= since:
        return None if given is None else _ints(given)
    return n.attrs.get("axes")


@onnx_op("Squeeze")
def _squeeze(m, n, x, axes=None):
    axes = _axes_input(m, n, axes, 13)
    if axes is None:
        axes = [i for i, d in enumerate(x.shape) if d == 1]
    shape = [d for i, d in enumerate(x.shape) if i not in {a % x.ndim for a in axes}]
    return E.reshape(x, tuple(shape))


@onnx_op("Unsqueeze")
def _unsqueeze(m, n, x, axes=None):
    axes = _axes_input(m, n, axes, 13)
    rank = x.ndim + len(axes)
    shape = list(x.shape)
    for a in sorted(a % rank for a in axes):
        shape.insert(a, 1)
    return E.reshape(x, tuple(shape))


@onnx_op("Concat")
def _concat(m, n, *xs):
    return E.concat([x for x in xs if x is not None], dim=n.attrs["axis"])


@onnx_op("Split")
def _split(m, n, x, split=None):
    axis = n.attrs.get("axis", 0)
    sizes = _ints(split) if split is not None else n.attrs.get("split")
    if sizes is None:
        k = n.attrs.get("num_outputs", len(n.outputs))
        size = x.shape[axis]
        chunk = -(-size // k)
        sizes = [min(chunk, size - i * chunk) for i in range(k)]
    return tuple(E.split(x, list(sizes), dim=axis))


@onnx_op("Slice")
def _slice(m, n, x, starts=None, ends=None, axes=None, steps=None):
    if m.opset < 10:
        starts, ends, axes = n.attrs["starts"], n.attrs["ends"], n.attrs.get("axes")
        steps = None
    else:
        starts, ends = _ints(starts), _ints(ends)
        axes = None if axes is None else _ints(axes)
        steps = None if steps is None else _ints(steps)
    axes = axes if axes is not None else list(range(len(starts)))
    steps = steps if steps is not None else [1] * len(starts)
    index = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        size = x.shape[a]
        s = max(-size - 1, min(size, s))
        e = max(-size - 1, min(size, e))
        if st < 0 and e < -size:
            e = None
        elif st > 0 and s < -size:
            s = 0
        index[a % x.ndim] = slice(s, e, st)
    return x[tuple(index)]


@onnx_op("Gather")
def _gather(m, n, x, idx):
    axis = n.attrs.get("axis", 0) % x.ndim
    idx = E.where(idx < 0, idx + x.shape[axis], idx) if idx.ndim else idx
    return x[(slice(None),) * axis + (idx,)]


@onnx_op("GatherElements")
def _gather_elements(m, n, x, idx):
    axis = n.attrs.get("axis", 0) % x.ndim
    idx = E.where(idx < 0, idx + x.shape[axis], idx)
    return E.gather(x, axis, idx)


@onnx_op("Expand")
def _expand(m, n, x, shape):
    target = np.broadcast_shapes(tuple(x.shape), tuple(_ints(shape)))
    return E.broadcast_to(x, target)


@onnx_op("Tile")
def _tile(m, n, x, repeats):
    return E.tile(x, tuple(_ints(repeats)))


@onnx_op("Shape")
def _shape(m, n, x):
    dims = list(x.shape)[n.attrs.get("start", 0):n.attrs.get("end", x.ndim)]
    return E.tensor(dims, dtype=_dt.int64)


@onnx_op("Size")
def _size(m, n, x):
    return E.tensor(x.numel(), dtype=_dt.int64)


@onnx_op("Constant")
def _constant(m, n):
    a = n.attrs
    for key, dt in (("value_float", np.float32), ("value_floats", np.float32),
                    ("value_int", np.int64), ("value_ints", np.int64)):
        if key in a:
            return E.from_numpy(np.asarray(a[key], dtype=dt))
    if "value" in a:
        return E.from_numpy(np.array(a["value"]))
    raise NotImplementedError(f"Constant with attributes {sorted(a)}")


@onnx_op("ConstantOfShape")
def _constant_of_shape(m, n, shape):
    value = n.attrs.get("value")
    arr = np.asarray(value).reshape(-1) if value is not None else np.zeros(1, np.float32)
    return E.from_numpy(np.full(tuple(_ints(shape)), arr[0], dtype=arr.dtype))


@onnx_op("Range")
def _range(m, n, start, limit, delta):
    return E.arange(_scalar(start), _scalar(limit), _scalar(delta), dtype=start.dtype)


@onnx_op("EyeLike")
def _eye_like(m, n, x):
    dt = _dtype_of_onnx(n.attrs["dtype"]) if "dtype" in n.attrs else x.dtype
    rows, cols = x.shape
    return E.from_numpy(np.eye(rows, cols, n.attrs.get("k", 0), dtype=dt.np))


@onnx_op("Trilu")
def _trilu(m, n, x, k=None):
    k = 0 if k is None else int(_scalar(k))
    return E.triu(x, k) if n.attrs.get("upper", 1) else E.tril(x, k)


@onnx_op("OneHot")
def _one_hot(m, n, idx, depth, values):
    d = int(_scalar(depth))
    idx = E.astype(idx, _dt.int64)
    idx = E.where(idx < 0, idx + d, idx)
    valid = E.logical_and(idx >= 0, idx < d)  # out-of-range indices give all-off rows
    hot = E.logical_and(E.one_hot(E.where(valid, idx, 0), d) > 0, E.unsqueeze(valid, -1))
    axis = n.attrs.get("axis", -1)
    if axis != -1 and axis != hot.ndim - 1:
        hot = E.moveaxis(hot, -1, axis % hot.ndim)
    return E.where(hot, values[1], values[0])


@onnx_op("CumSum")
def _cumsum(m, n, x, axis):
    a = int(_scalar(axis))
    if n.attrs.get("reverse", 0):
        x = E.flip(x, (a,))
    out = E.cumsum(x, a)
    if out.dtype != x.dtype:  # ember sums integers in int64, as PyTorch
        out = E.astype(out, x.dtype)
    if n.attrs.get("exclusive", 0):
        out = out - x
    return E.flip(out, (a,)) if n.attrs.get("reverse", 0) else out


@onnx_op("Einsum")
def _einsum(m, n, *xs):
    return E.einsum(n.attrs["equation"], *xs)


@onnx_op("DepthToSpace", "SpaceToDepth")
def _depth_space(m, n, x):
    b = n.attrs["blocksize"]
    N, C, H, W = x.shape
    if n.op_type == "SpaceToDepth":
        y = E.reshape(x, (N, C, H // b, b, W // b, b))
        perm = (0, 3, 5, 1, 2, 4) if n.attrs.get("mode", "DCR") == "DCR" else (0, 1, 3, 5, 2, 4)
        return E.reshape(E.permute(y, perm), (N, C * b * b, H // b, W // b))
    if n.attrs.get("mode", "DCR") == "DCR":
        y = E.reshape(x, (N, b, b, C // (b * b), H, W))
        y = E.permute(y, (0, 3, 4, 1, 5, 2))
    else:
        y = E.reshape(x, (N, C // (b * b), b, b, H, W))
        y = E.permute(y, (0, 1, 4, 2, 5, 3))
    return E.reshape(y, (N, C // (b * b), H * b, W * b))


@onnx_op("Pad")
def _pad(m, n, x, pads=None, value=None, axes=None):
    mode = {"constant": "constant", "reflect": "reflect", "edge": "replicate",
            "wrap": "circular"}[n.attrs.get("mode", "constant")]
    if m.opset < 11:
        pads, value = n.attrs["pads"], n.attrs.get("value", 0.0)
    else:
        pads = _ints(pads)
        value = 0.0 if value is None else _scalar(value)
    axes = list(range(x.ndim)) if axes is None else [a % x.ndim for a in _ints(axes)]
    k = len(axes)
    before = dict(zip(axes, pads[:k]))
    after = dict(zip(axes, pads[k:]))
    if any(p < 0 for p in pads):  # negative pads crop, before the positive ones pad
        crop = [slice(max(0, -before.get(a, 0)), x.shape[a] - max(0, -after.get(a, 0)))
                for a in range(x.ndim)]
        x = x[tuple(crop)]
    width = []
    for a in reversed(range(x.ndim)):
        width += [max(0, before.get(a, 0)), max(0, after.get(a, 0))]
    return E.pad(x, tuple(width), mode=mode, value=value)


@onnx_op("Det")
def _det(m, n, x):
    from ..linalg import det

    return det(x)


from . import ops_nn  # noqa: E402,F401  (registers the neural-network ops)
