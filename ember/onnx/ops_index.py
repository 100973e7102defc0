"""ONNX import: index ops (see ops.py for the table and its conventions).

TopK, the scatters (ScatterElements, ScatterND, Scatter), GatherND, NonZero, Compress,
CumProd, Unique, ReverseSequence, MaxUnpool, BitShift and the hyperbolic and inverse
trigonometric ops. Values flow through ember ops, so gradients reach the data inputs;
integer index inputs are read as they are. Unique's indices are computed from the values
with NumPy (no gradient flows through a choice of positions); its values are then gathered
with an ember op.
"""

from __future__ import annotations

import numpy as np

from .. import dtypes as _dt
from .. import ops as E
from .ops import IMPL, _ints, _scalar, onnx_op

for _name, _fn in {"Sinh": E.sinh, "Cosh": E.cosh, "Asin": E.asin, "Acos": E.acos,
                   "Atan": E.atan, "Asinh": E.asinh, "Acosh": E.acosh,
                   "Atanh": E.atanh}.items():
    IMPL[_name] = (lambda f: lambda m, n, x: f(x))(_fn)

_REDUCE = {"add": "sum", "mul": "prod", "max": "amax", "min": "amin"}


def _wrap(idx, size: int):
    """Negative indices (allowed by ONNX) counted from the end."""
    return E.where(idx < 0, idx + size, idx)


@onnx_op("TopK")
def _topk(m, n, x, k=None):
    k = n.attrs["k"] if m.opset < 10 else int(_scalar(k))
    values, indices = E.topk(x, k, dim=n.attrs.get("axis", -1),
                             largest=bool(n.attrs.get("largest", 1)),
                             sorted=bool(n.attrs.get("sorted", 1)))
    return values, indices


@onnx_op("ScatterElements", "Scatter")
def _scatter_elements(m, n, data, idx, updates):
    axis = n.attrs.get("axis", 0) % data.ndim
    idx = _wrap(E.astype(idx, _dt.int64), data.shape[axis])
    reduction = n.attrs.get("reduction", "none")
    if reduction == "none":
        return E.scatter(data, axis, idx, updates)
    return E.scatter_reduce(data, axis, idx, updates, _REDUCE[reduction])


@onnx_op("ScatterND")
def _scatter_nd(m, n, data, idx, updates):
    # the k leading dimensions addressed by the index tuples are flattened into one, so
    # ScatterND is a scatter along dimension 0 of data viewed as (prod(shape[:k]), rest)
    k = idx.shape[-1]
    lead, rest = tuple(data.shape[:k]), tuple(data.shape[k:])
    idx = E.astype(idx, _dt.int64)
    strides = np.cumprod((1,) + lead[::-1])[::-1][1:]
    flat = None
    for i in range(k):
        term = _wrap(idx[..., i], lead[i]) * int(strides[i])
        flat = term if flat is None else flat + term
    count = int(np.prod(idx.shape[:-1], dtype=np.int64))
    flat = E.reshape(flat, (count,) + (1,) * len(rest))
    flat = E.broadcast_to(flat, (count,) + rest)
    table = E.reshape(data, (int(np.prod(lead, dtype=np.int64)),) + rest)
    src = E.reshape(updates, (count,) + rest)
    reduction = n.attrs.get("reduction", "none")
    if reduction == "none":
        out = E.scatter(table, 0, flat, src)
    else:
        out = E.scatter_reduce(table, 0, flat, src, _REDUCE[reduction])
    return E.reshape(out, tuple(data.shape))


@onnx_op("GatherND")
def _gather_nd(m, n, data, idx):
    b = n.attrs.get("batch_dims", 0)
    k = idx.shape[-1]
    batch = tuple(data.shape[:b])
    nb = int(np.prod(batch, dtype=np.int64))
    table = E.reshape(data, (nb,) + tuple(data.shape[b:]))
    idx = E.reshape(E.astype(idx, _dt.int64), (nb,) + tuple(idx.shape[b:]))
    cols = tuple(_wrap(idx[..., i], table.shape[1 + i]) for i in range(k))
    rows = E.arange(nb, dtype=_dt.int64).reshape((nb,) + (1,) * (idx.ndim - 2))
    out = table[(rows,) + cols]
    return E.reshape(out, batch + tuple(out.shape[1:]))


@onnx_op("NonZero")
def _nonzero(m, n, x):
    if x.ndim == 0:
        x = E.reshape(x, (1,))
    return E.permute(E.nonzero(x), (1, 0))


@onnx_op("Compress")
def _compress(m, n, x, condition):
    axis = n.attrs.get("axis")
    if axis is None:
        x, axis = E.reshape(x, (-1,)), 0
    keep = E.nonzero(E.astype(condition, _dt.bool_))[:, 0]
    return E.index_select(x, axis % x.ndim, keep)


@onnx_op("CumProd")
def _cumprod(m, n, x, axis):
    a = int(_scalar(axis)) % x.ndim
    reverse, exclusive = n.attrs.get("reverse", 0), n.attrs.get("exclusive", 0)
    if reverse:
        x = E.flip(x, (a,))
    if exclusive:  # shift by one: a leading 1, the last element dropped
        ones = E.ones(*[1 if i == a else s for i, s in enumerate(x.shape)], dtype=x.dtype)
        x = E.concat([ones, x[(slice(None),) * a + (slice(0, x.shape[a] - 1),)]], dim=a)
    out = E.cumprod(x, a)
    if out.dtype != x.dtype:  # ember multiplies integers in int64, as PyTorch
        out = E.astype(out, x.dtype)
    return E.flip(out, (a,)) if reverse else out


@onnx_op("Unique")
def _unique(m, n, x):
    axis = n.attrs.get("axis")
    values = x.detach().numpy()
    if axis is None:
        flat, rows = E.reshape(x, (-1,)), values.reshape(-1, 1)
    else:
        axis %= x.ndim
        flat = x
        rows = np.moveaxis(values, axis, 0).reshape(values.shape[axis], -1)
    _, first, inverse, counts = np.unique(rows, axis=0, return_index=True,
                                          return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    if not n.attrs.get("sorted", 1):  # the order of first occurrence
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        first, counts, inverse = first[order], counts[order], rank[inverse]
    first_t = E.from_numpy(first.astype(np.int64))
    y = E.index_select(flat, 0 if axis is None else axis, first_t)
    return (y, first_t, E.from_numpy(inverse.astype(np.int64)),
            E.from_numpy(counts.astype(np.int64)))


@onnx_op("ReverseSequence")
def _reverse_sequence(m, n, x, lens):
    t_axis, b_axis = n.attrs.get("time_axis", 0), n.attrs.get("batch_axis", 1)
    lengths = np.asarray(_ints(lens))
    steps = np.arange(x.shape[t_axis])[:, None]
    src = np.where(steps < lengths[None, :], lengths[None, :] - 1 - steps, steps)  # (T, B)
    if t_axis > b_axis:
        src = src.T
    shape = [1] * x.ndim
    shape[t_axis], shape[b_axis] = x.shape[t_axis], x.shape[b_axis]
    index = np.broadcast_to(src.reshape(shape), tuple(x.shape))
    return E.gather(x, t_axis, E.from_numpy(np.ascontiguousarray(index, dtype=np.int64)))


@onnx_op("MaxUnpool")
def _max_unpool(m, n, x, idx, output_shape=None):
    kernel = n.attrs["kernel_shape"]
    k = len(kernel)
    strides = n.attrs.get("strides") or [1] * k
    pads = n.attrs.get("pads") or [0] * (2 * k)
    inferred = list(x.shape[:2]) + [(x.shape[2 + d] - 1) * strides[d] - pads[d] - pads[k + d]
                                    + kernel[d] for d in range(k)]
    total = int(np.prod(inferred, dtype=np.int64))
    flat = E.zeros(total, dtype=x.dtype)
    y = E.scatter(flat, 0, E.reshape(E.astype(idx, _dt.int64), (-1,)), E.reshape(x, (-1,)))
    y = E.reshape(y, tuple(inferred))
    if output_shape is None:
        return y
    shape = _ints(output_shape)
    width = []
    for d in reversed(range(len(shape))):
        width += [0, shape[d] - inferred[d]]
    return E.pad(y, tuple(width))


@onnx_op("BitShift")
def _bit_shift(m, n, x, y):
    if n.attrs["direction"] == "LEFT":
        return E.bitwise_left_shift(x, y)
    return E.bitwise_right_shift(x, y)
