"""ONNX op types implemented with ember ops: reductions, activations, normalisation,
convolution, pooling and losses (see ``ops.py`` for the table and its conventions)."""

from __future__ import annotations

import itertools
import math

import numpy as np

from .. import ops as E
from ..nn import functional as F
from .ops import _ints, _scalar, onnx_op


def _reduce_axes(m, n, x, axes, since: int):
    if m.opset >= since or axes is not None:
        axes = None if axes is None else _ints(axes)
    else:
        axes = n.attrs.get("axes")
    if not axes:
        if n.attrs.get("noop_with_empty_axes", 0):
            return None
        axes = list(range(x.ndim))
    return tuple(sorted(a % x.ndim for a in axes)) if x.ndim else ()


def _reduction(kind: str, since: int):
    def impl(m, n, x, axes=None):
        ax = _reduce_axes(m, n, x, axes, since)
        keep = bool(n.attrs.get("keepdims", 1))
        if ax is None:
            return x
        if x.numel() == 0:  # the reduction of nothing: the operation's identity
            shape = tuple(1 if i in ax else d for i, d in enumerate(x.shape)
                          if keep or i not in ax)
            fill = _EMPTY.get(kind, 0.0)
            if x.dtype.kind == "b":
                fill = kind != "ReduceMax"
            return E.full(shape, fill, dtype=x.dtype)
        if kind == "ReduceSum":
            return E.sum(x, dim=ax, keepdim=keep)
        if kind == "ReduceMean":
            return E.mean(x, dim=ax, keepdim=keep)
        if kind == "ReduceMax":
            return E.amax(x, dim=ax, keepdim=keep)
        if kind == "ReduceMin":
            return E.amin(x, dim=ax, keepdim=keep)
        if kind == "ReduceProd":
            return E.prod(x, dim=ax, keepdim=keep)
        if kind == "ReduceL1":
            return E.sum(E.abs(x), dim=ax, keepdim=keep)
        if kind == "ReduceL2":
            return E.sqrt(E.sum(x * x, dim=ax, keepdim=keep))
        if kind == "ReduceSumSquare":
            return E.sum(x * x, dim=ax, keepdim=keep)
        if kind == "ReduceLogSum":
            return E.log(E.sum(x, dim=ax, keepdim=keep))
        return E.logsumexp(x, dim=ax, keepdim=keep)

    return impl


_EMPTY = {"ReduceMax": -math.inf, "ReduceMin": math.inf, "ReduceProd": 1.0,
          "ReduceLogSum": -math.inf, "ReduceLogSumExp": -math.inf}

for _kind in ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
              "ReduceL2", "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"):
    onnx_op(_kind)(_reduction(_kind, 13 if _kind == "ReduceSum" else 18))


@onnx_op("ArgMax", "ArgMin")
def _argmax(m, n, x):
    axis = n.attrs.get("axis", 0) % x.ndim
    keep = bool(n.attrs.get("keepdims", 1))
    fn = E.argmax if n.op_type == "ArgMax" else E.argmin
    if n.attrs.get("select_last_index", 0):
        idx = fn(E.flip(x, (axis,)), dim=axis, keepdim=keep)
        return (x.shape[axis] - 1) - idx
    return fn(x, dim=axis, keepdim=keep)


# ----------------------------------------------------------------------------- activations


def _act(fn):
    return lambda m, n, x: fn(x, n.attrs)


onnx_op("LeakyRelu")(_act(lambda x, a: F.leaky_relu(x, a.get("alpha", 0.01))))
onnx_op("Elu")(_act(lambda x, a: F.elu(x, a.get("alpha", 1.0))))
onnx_op("Selu")(_act(lambda x, a: a.get("gamma", 1.05070102214813232421875) * E.where(
    x > 0, x, a.get("alpha", 1.67326319217681884765625) * (E.exp(x) - 1.0))))
onnx_op("Celu")(_act(lambda x, a: F.celu(x, a.get("alpha", 1.0))))
onnx_op("HardSigmoid")(_act(lambda x, a: E.clamp(
    x * a.get("alpha", 0.2) + a.get("beta", 0.5), 0.0, 1.0)))
onnx_op("HardSwish")(_act(lambda x, a: x * E.clamp(x * (1.0 / 6.0) + 0.5, 0.0, 1.0)))
onnx_op("Softplus")(_act(lambda x, a: E.log(E.exp(x) + 1.0)))
onnx_op("Softsign")(_act(lambda x, a: x / (E.abs(x) + 1.0)))
onnx_op("ThresholdedRelu")(_act(lambda x, a: E.where(x > a.get("alpha", 1.0), x, 0.0)))
onnx_op("Mish")(_act(lambda x, a: x * E.tanh(E.log(E.exp(x) + 1.0))))
onnx_op("Shrink")(_act(lambda x, a: E.where(
    x < -a.get("lambd", 0.5), x + a.get("bias", 0.0),
    E.where(x > a.get("lambd", 0.5), x - a.get("bias", 0.0), 0.0))))
onnx_op("Gelu")(_act(lambda x, a: F.gelu(x, approximate=a.get("approximate", "none"))))


@onnx_op("PRelu")
def _prelu(m, n, x, slope):
    return E.where(x < 0, x * slope, x)


def _coerced(m, n, x, fn):
    if m.opset >= 13:
        return fn(x, n.attrs.get("axis", -1))
    axis = n.attrs.get("axis", 1) % x.ndim
    lead = int(math.prod(x.shape[:axis]))
    y = fn(E.reshape(x, (lead, -1)), 1)
    return E.reshape(y, tuple(x.shape))


@onnx_op("Softmax")
def _softmax(m, n, x):
    return _coerced(m, n, x, lambda t, a: F.softmax(t, dim=a))


@onnx_op("LogSoftmax")
def _log_softmax(m, n, x):
    return _coerced(m, n, x, lambda t, a: F.log_softmax(t, dim=a))


@onnx_op("Hardmax")
def _hardmax(m, n, x):
    def hard(t, a):
        idx = E.argmax(t, dim=a, keepdim=True)
        pos = E.arange(t.shape[a]).reshape((-1,) + (1,) * (t.ndim - 1 - a % t.ndim))
        return E.astype(idx == pos, t.dtype)

    return _coerced(m, n, x, hard)


# ----------------------------------------------------------------------------- linear


@onnx_op("Gemm")
def _gemm(m, n, a, b, c=None):
    if n.attrs.get("transA", 0):
        a = a.T
    if n.attrs.get("transB", 0):
        b = b.T
    y = E.matmul(a, b)
    alpha, beta = n.attrs.get("alpha", 1.0), n.attrs.get("beta", 1.0)
    if alpha != 1.0:
        y = y * alpha
    if c is not None:
        y = y + (c * beta if beta != 1.0 else c)
    return y


# ----------------------------------------------------------------------------- conv, pool


def _spatial_pads(m, n, x, kernel, strides, dilations):
    nd = len(kernel)
    auto = n.attrs.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads_b, pads_e = [], []
        for i in range(nd):
            size = x.shape[2 + i]
            out = -(-size // strides[i])
            total = max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - size)
            small, big = total // 2, total - total // 2
            pads_b.append(small if auto == "SAME_UPPER" else big)
            pads_e.append(big if auto == "SAME_UPPER" else small)
        return pads_b, pads_e
    if auto == "VALID":
        return [0] * nd, [0] * nd
    pads = n.attrs.get("pads", [0] * (2 * nd))
    return list(pads[:nd]), list(pads[nd:])


def _padded(x, before, after, value=0.0, kernel=None):
    if before == after and (kernel is None or all(2 * p <= k for p, k in zip(before, kernel))):
        return x, before
    width = []
    for b, a in reversed(list(zip(before, after))):
        width += [b, a]
    return E.pad(x, tuple(width), value=value), [0] * len(before)


@onnx_op("Conv")
def _conv(m, n, x, w, b=None):
    nd = x.ndim - 2
    kernel = n.attrs.get("kernel_shape", list(w.shape[2:]))
    strides = n.attrs.get("strides", [1] * nd)
    dil = n.attrs.get("dilations", [1] * nd)
    before, after = _spatial_pads(m, n, x, kernel, strides, dil)
    x, pads = _padded(x, before, after)
    group = n.attrs.get("group", 1)
    if nd == 1:
        return F.conv1d(x, w, b, strides[0], pads[0], dil[0], group)
    if nd not in (2, 3):
        raise NotImplementedError(f"Conv over {nd} spatial dimensions")
    fn = F.conv2d if nd == 2 else F.conv3d
    return fn(x, w, b, tuple(strides), tuple(pads), tuple(dil), group)


def _transpose_pads(n, x, kernel, strides, dil, out_pad):
    """ConvTranspose's (pads before, pads after) per spatial axis, as the ONNX spec derives
    them from ``pads``, ``auto_pad`` or ``output_shape``. A negative pad extends the output
    (with zeros, then the bias)."""
    nd = len(kernel)
    auto = n.attrs.get("auto_pad", "NOTSET")
    shape = n.attrs.get("output_shape")
    if shape is None and auto not in ("SAME_UPPER", "SAME_LOWER"):
        pads = n.attrs.get("pads", [0] * (2 * nd)) if auto == "NOTSET" else [0] * (2 * nd)
        return list(pads[:nd]), list(pads[nd:])
    if shape is None:
        shape = [x.shape[2 + i] * strides[i] for i in range(nd)]
    shape = list(shape)[-nd:]  # (some exporters include N and C)
    before, after = [], []
    for i in range(nd):
        full = strides[i] * (x.shape[2 + i] - 1) + out_pad[i] + (kernel[i] - 1) * dil[i] + 1
        total = full - shape[i]
        if auto == "SAME_UPPER":
            b = total // 2
        elif auto == "SAME_LOWER" or total >= 0:
            b = total - total // 2
        else:  # an output_shape larger than the full output: the extra goes at the end
            b = 0
        before.append(b)
        after.append(total - b)
    return before, after


def _window(y, starts, sizes):
    """``y``'s spatial window ``[start, start + size)`` per axis, zero outside ``y``."""
    index, width = [slice(None)] * 2, []
    for i, (s, size) in enumerate(zip(starts, sizes)):
        full = y.shape[2 + i]
        index.append(slice(min(max(s, 0), full), max(min(s + size, full), 0)))
        width = [max(0, -s), max(0, s + size - full)] + width
    y = y[tuple(index)]
    return E.pad(y, tuple(width)) if any(width) else y


@onnx_op("ConvTranspose")
def _conv_transpose(m, n, x, w, b=None):
    nd = x.ndim - 2
    if nd not in (1, 2, 3):
        raise NotImplementedError(f"ConvTranspose over {nd} spatial dimensions (ember has "
                                  "1-d, 2-d and 3-d transposed convolutions)")
    kernel = list(n.attrs.get("kernel_shape", w.shape[2:]))
    if kernel != list(w.shape[2:]):
        raise ValueError(f"ConvTranspose: kernel_shape {kernel} does not match the weight's "
                         f"spatial shape {tuple(w.shape[2:])}")
    strides = list(n.attrs.get("strides", [1] * nd))
    dil = list(n.attrs.get("dilations", [1] * nd))
    out_pad = list(n.attrs.get("output_padding", [0] * nd))[-nd:]
    group = n.attrs.get("group", 1)
    before, after = _transpose_pads(n, x, kernel, strides, dil, out_pad)
    fn = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[nd]
    if before == after and min(before) >= 0 and all(
            0 <= p < max(s, d) for p, s, d in zip(out_pad, strides, dil)):
        return fn(x, w, b, tuple(strides), tuple(before), tuple(out_pad), group, tuple(dil))
    # Otherwise: the full (unpadded) output, then the window the pads select, then the bias.
    y = fn(x, w, None, tuple(strides), 0, 0, group, tuple(dil))
    sizes = [y.shape[2 + i] + out_pad[i] - before[i] - after[i] for i in range(nd)]
    y = _window(y, before, sizes)
    if b is not None:
        y = y + E.reshape(b, (1, -1) + (1,) * nd)
    return y


def _pool_size(size, k, s, d, before, after, ceil):
    """A pooled axis' length, ONNX's rule: with ``ceil_mode`` the last window must start
    inside the input or its leading pad."""
    span = size + before + after - (k - 1) * d - 1
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= size + before:
        out -= 1
    return out


def _max_pool(n, x, kernel, strides, dil, before, after, ceil):
    nd = len(kernel)
    outs = [_pool_size(x.shape[2 + i], kernel[i], strides[i], dil[i], before[i], after[i],
                       ceil) for i in range(nd)]
    xp, pads = _padded(x, before, after, value=-math.inf, kernel=kernel)
    fn = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[nd]
    one = (lambda v: v[0]) if nd == 1 else tuple
    want = len(n.outputs) > 1 and bool(n.outputs[1])
    res = fn(xp, one(kernel), one(strides), one(pads), one(dil), ceil, return_indices=want)
    y, idx = res if want else (res, None)
    if list(y.shape[2:]) != outs:  # ember's ceil rule counts a trailing pad as input
        crop = (slice(None),) * 2 + tuple(slice(0, o) for o in outs)
        y, idx = y[crop], None if idx is None else idx[crop]
    if idx is None:
        return y
    return y, _onnx_indices(n, x, xp, idx, [b if xp is not x else 0 for b in before])


def _onnx_indices(n, x, xp, idx, offset):
    """ember's per-plane argmax positions (in ``xp``, ``x`` padded by ``offset`` in front)
    as ONNX's: flat offsets into the whole (N, C, ...) input, row-major, or with
    ``storage_order`` 1 column-major within each plane."""
    N, C = x.shape[:2]
    dims = list(x.shape[2:])
    coords, rest = [], idx  # unravel over the padded plane, then shift by the pads
    for i in reversed(range(len(dims))):
        size = xp.shape[2 + i]
        coords.insert(0, (rest % size if i else rest) - offset[i])
        rest = rest // size
    order = range(len(dims))
    if n.attrs.get("storage_order", 0):  # column-major: the first axis varies fastest
        order = reversed(order)
    flat = None
    for i in order:
        flat = coords[i] if flat is None else flat * dims[i] + coords[i]
    plane = math.prod(dims)
    base = E.reshape(E.arange(N * C, dtype=idx.dtype) * plane, (N, C) + (1,) * len(dims))
    return flat + base


def _avg_pool(x, kernel, strides, dil, before, after, ceil, include):
    """Average pooling for any pads and dilations: the sum of the windows' strided slices of
    the zero-padded input, over the count of input elements (with ``count_include_pad``,
    also of pad elements) in each window."""
    nd = len(kernel)
    sizes = list(x.shape[2:])
    outs = [_pool_size(sizes[i], kernel[i], strides[i], dil[i], before[i], after[i], ceil)
            for i in range(nd)]
    ends = [(o - 1) * s + (k - 1) * d + 1 for o, s, k, d in zip(outs, strides, kernel, dil)]
    width = []
    for i in range(nd):  # the pads, then room for the ceil-mode windows past them
        width = [before[i], max(after[i], ends[i] - sizes[i] - before[i])] + width
    xp = E.pad(x, tuple(width)) if any(width) else x
    total = None
    for offs in itertools.product(*[range(k) for k in kernel]):
        index = (slice(None),) * 2 + tuple(
            slice(j * d, j * d + (o - 1) * s + 1, s) for j, d, o, s in
            zip(offs, dil, outs, strides))
        total = xp[index] if total is None else total + xp[index]
    count = np.ones((), dtype=np.float64)
    for i in range(nd):  # the count is separable: a product of per-axis counts
        pos = np.arange(width[-2 - 2 * i] + sizes[i] + width[-1 - 2 * i])
        lo, hi = (0, before[i] + sizes[i] + after[i]) if include else (
            before[i], before[i] + sizes[i])
        inside = ((pos >= lo) & (pos < hi)).astype(np.float64)
        taps = np.arange(outs[i])[:, None] * strides[i] + np.arange(kernel[i]) * dil[i]
        count = np.multiply.outer(count, inside[taps].sum(axis=1))
    return total / E.from_numpy(count.astype(x.dtype.np))


@onnx_op("MaxPool", "AveragePool")
def _pool(m, n, x):
    nd = x.ndim - 2
    if nd not in (1, 2, 3):
        raise NotImplementedError(f"{n.op_type} over {nd} spatial dimensions (ember has 1-d, "
                                  "2-d and 3-d pooling)")
    kernel = list(n.attrs["kernel_shape"])
    strides = list(n.attrs.get("strides", [1] * nd))
    dil = list(n.attrs.get("dilations", [1] * nd))
    before, after = _spatial_pads(m, n, x, kernel, strides, dil)
    ceil = bool(n.attrs.get("ceil_mode", 0))
    if n.op_type == "MaxPool":
        return _max_pool(n, x, kernel, strides, dil, before, after, ceil)
    include = bool(n.attrs.get("count_include_pad", 0))
    if dil != [1] * nd or before != after or any(2 * p > k for p, k in zip(before, kernel)):
        return _avg_pool(x, kernel, strides, dil, before, after, ceil, include)
    if nd == 1:
        return F.avg_pool1d(x, kernel[0], strides[0], before[0], ceil, include)
    fn = F.avg_pool2d if nd == 2 else F.avg_pool3d
    return fn(x, tuple(kernel), tuple(strides), tuple(before), ceil, include)


@onnx_op("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(m, n, x):
    axes = tuple(range(2, x.ndim))
    if n.op_type == "GlobalMaxPool":
        return E.amax(x, dim=axes, keepdim=True)
    return E.mean(x, dim=axes, keepdim=True)


# ----------------------------------------------------------------------------- normalisation


@onnx_op("BatchNormalization")
def _batch_norm(m, n, x, scale, bias, mean, var):
    if n.attrs.get("training_mode", 0):
        return _batch_norm_train(n, x, scale, bias, mean, var)
    return F.batch_norm(x, mean, var, scale, bias, training=False,
                        eps=n.attrs.get("epsilon", 1e-5))


def _batch_norm_train(n, x, scale, bias, mean, var):
    """Training mode (opset 14+): normalise with the batch's mean and biased variance; also
    return the running mean and variance, ``running * momentum + batch * (1 - momentum)``."""
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    batch_mean = E.mean(x, dim=axes, keepdim=True)
    d = x - batch_mean
    batch_var = E.mean(d * d, dim=axes, keepdim=True)
    inv = E.rsqrt(batch_var + n.attrs.get("epsilon", 1e-5))
    y = d * inv * E.reshape(scale, shape) + E.reshape(bias, shape)
    momentum = n.attrs.get("momentum", 0.9)
    running_mean = mean * momentum + E.reshape(batch_mean, (-1,)) * (1.0 - momentum)
    running_var = var * momentum + E.reshape(batch_var, (-1,)) * (1.0 - momentum)
    return y, running_mean, running_var


@onnx_op("LayerNormalization")
def _layer_norm(m, n, x, scale, bias=None):
    axis = n.attrs.get("axis", -1) % x.ndim
    axes = tuple(range(axis, x.ndim))
    mean = E.mean(x, dim=axes, keepdim=True)
    d = x - mean
    inv = E.rsqrt(E.mean(d * d, dim=axes, keepdim=True) + n.attrs.get("epsilon", 1e-5))
    y = d * inv * scale
    if bias is not None:
        y = y + bias
    return y, mean, inv


@onnx_op("InstanceNormalization")
def _instance_norm(m, n, x, scale, bias):
    axes = tuple(range(2, x.ndim))
    mean = E.mean(x, dim=axes, keepdim=True)
    d = x - mean
    inv = E.rsqrt(E.mean(d * d, dim=axes, keepdim=True) + n.attrs.get("epsilon", 1e-5))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return d * inv * E.reshape(scale, shape) + E.reshape(bias, shape)


@onnx_op("Dropout")
def _dropout(m, n, x, ratio=None, training=None):
    train = training is not None and bool(_scalar(training))
    p = float(_scalar(ratio)) if ratio is not None else n.attrs.get("ratio", 0.5)
    y = F.dropout(x, p, training=train) if train else x
    if len(n.outputs) > 1:
        return y, (y != 0) if train else E.ones(*x.shape, dtype="bool")
    return y


# ----------------------------------------------------------------------------- losses


def _loss(m, n, logp, target, weight):
    reduction = n.attrs.get("reduction", "mean")
    ignore = n.attrs.get("ignore_index")
    kw = {"ignore_index": int(ignore)} if ignore is not None else {"ignore_index": -(2 ** 62)}
    return F.nll_loss(logp, target, weight, reduction=reduction, **kw)


@onnx_op("NegativeLogLikelihoodLoss")
def _nll(m, n, x, target, weight=None):
    return _loss(m, n, x, target, weight)


@onnx_op("SoftmaxCrossEntropyLoss")
def _sce(m, n, scores, labels, weight=None):
    logp = F.log_softmax(scores, dim=1)
    loss = _loss(m, n, logp, labels, weight)
    return (loss, logp) if len(n.outputs) > 1 else loss


from . import (  # noqa: E402,F401  (each registers its ops)
    ops_control,
    ops_extra,
    ops_grid,
    ops_index,
    ops_more,
    ops_quant,
    ops_resample,
    ops_rnn,
    ops_signal,
    ops_vision,
)
