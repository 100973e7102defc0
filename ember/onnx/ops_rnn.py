"""ONNX import: the recurrent ops (LSTM, GRU, RNN) and, beside them, the normalisations
that recurrent and convolutional models export (RMSNormalization, LRN, LpNormalization,
LpPool, MeanVarianceNormalization).

The recurrent ops run step by step over time with ember ops (matmul, sigmoid, tanh, where,
stack), so an imported model differentiates and fine-tunes. They follow the ONNX operator
spec in full: directions, activations with their alpha/beta lists, ``clip``, peepholes,
``input_forget``, ``linear_before_reset``, ``sequence_lens``, initial states and ``layout``.
The reference implementations (``onnx/reference/ops/op_lstm.py``, ``op_gru.py``,
``op_rnn.py``) give the arithmetic; onnxruntime gives the attributes they ignore.
"""

from __future__ import annotations

import numpy as np

from .. import ops as E
from ..nn import functional as F
from ..ops import creation
from ..ops.lstm import lstm as ember_lstm
from ..ops.normalization_more import _channel_window_sum
from .ops import _dtype_of_onnx, _ints, onnx_op

# ----------------------------------------------------------------------------- activations

# lower-case name: (alpha's default, beta's default), None where the function takes none
_ALPHA_BETA = {
    "sigmoid": (None, None), "tanh": (None, None), "relu": (None, None),
    "softsign": (None, None), "softplus": (None, None), "leakyrelu": (0.01, None),
    "thresholdedrelu": (1.0, None), "elu": (1.0, None), "scaledtanh": (1.0, 1.0),
    "hardsigmoid": (0.2, 0.5), "affine": (1.0, 0.0),
}


def _activation(name: str, alpha, beta):
    """One ONNX recurrent activation as a function of a tensor."""
    key = name.lower()
    if key == "sigmoid":
        return E.sigmoid
    if key == "tanh":
        return E.tanh
    if key == "relu":
        return E.relu
    if key == "softsign":
        return lambda x: x / (E.abs(x) + 1.0)
    if key == "softplus":
        return lambda x: E.log(E.exp(x) + 1.0)
    if key == "leakyrelu":
        return lambda x: F.leaky_relu(x, alpha)
    if key == "thresholdedrelu":
        return lambda x: E.where(x > alpha, x, 0.0)
    if key == "elu":
        return lambda x: F.elu(x, alpha)
    if key == "scaledtanh":
        return lambda x: E.tanh(x * beta) * alpha
    if key == "hardsigmoid":
        return lambda x: E.clamp(x * alpha + beta, 0.0, 1.0)
    if key == "affine":
        return lambda x: x * alpha + beta
    raise NotImplementedError(f"ONNX recurrent activation {name!r} is not supported")


def _activations(n, defaults: list[str], directions: int) -> list[list]:
    """The activation functions of each direction. ``activation_alpha``/``beta`` are consumed
    in order by the functions that take them (onnxruntime's rule); a missing value is the
    function's default."""
    names = list(n.attrs.get("activations") or defaults * directions)
    if len(names) == len(defaults) and directions == 2:
        names = names * 2
    if len(names) != len(defaults) * directions:
        raise ValueError(f"{n.op_type}: expected {len(defaults) * directions} activations, "
                         f"got {names}")
    alphas = list(n.attrs.get("activation_alpha") or [])
    betas = list(n.attrs.get("activation_beta") or [])
    fns = []
    for name in names:
        if name.lower() not in _ALPHA_BETA:
            raise NotImplementedError(f"ONNX recurrent activation {name!r} is not supported")
        alpha, beta = _ALPHA_BETA[name.lower()]
        if alpha is not None and alphas:
            alpha = alphas.pop(0)
        if beta is not None and betas:
            beta = betas.pop(0)
        fns.append(_activation(name, alpha, beta))
    k = len(defaults)
    return [fns[d * k:(d + 1) * k] for d in range(directions)]


# ----------------------------------------------------------------------------- the recurrence


def _clip(x, clip):
    return x if clip is None else E.clamp(x, -clip, clip)


def _lstm_step(xw, h, c, rt, rb, p, acts, clip, input_forget):
    f, g, hh = acts
    gates = xw + E.matmul(h, rt)
    if rb is not None:
        gates = gates + rb
    gi, go, gf, gc = E.chunk(gates, 4, dim=-1)
    if p is not None:
        gi = gi + p[0] * c
        gf = gf + p[2] * c
    i = f(_clip(gi, clip))
    forget = 1.0 - i if input_forget else f(_clip(gf, clip))
    c_new = forget * c + i * g(_clip(gc, clip))
    if p is not None:
        go = go + p[1] * c_new
    h_new = f(_clip(go, clip)) * hh(c_new)
    return h_new, c_new


def _gru_step(xw, h, c, rt, rb, p, acts, clip, linear_before_reset):
    f, g = acts
    hidden = h.shape[-1]
    xz, xr, xh = E.chunk(xw, 3, dim=-1)
    rt_zr, rt_h = rt[:, :2 * hidden], rt[:, 2 * hidden:]
    zr = E.matmul(h, rt_zr)
    if rb is not None:
        zr = zr + rb[:2 * hidden]
    hz, hr = E.chunk(zr, 2, dim=-1)
    z = f(_clip(xz + hz, clip))
    r = f(_clip(xr + hr, clip))
    if linear_before_reset:
        hh = E.matmul(h, rt_h)
        if rb is not None:
            hh = hh + rb[2 * hidden:]
        pre = xh + r * hh
    else:
        pre = xh + E.matmul(r * h, rt_h)
        if rb is not None:
            pre = pre + rb[2 * hidden:]
    cand = g(_clip(pre, clip))
    return (1.0 - z) * cand + z * h, None


def _rnn_step(xw, h, c, rt, rb, p, acts, clip, _unused):
    pre = xw + E.matmul(h, rt)
    if rb is not None:
        pre = pre + rb
    return acts[0](_clip(pre, clip)), None


def _reverse_index(lens: np.ndarray, steps: int) -> np.ndarray:
    """Flat (step * batch + b) indices reversing each sequence within its length."""
    batch = len(lens)
    t = np.arange(steps)[:, None]
    src = np.where(t < lens[None, :], lens[None, :] - 1 - t, t)
    return (src * batch + np.arange(batch)[None, :]).reshape(-1)


def _reverse(x, lens, index):
    if lens is None:
        return E.flip(x, dims=(0,))
    steps, batch = x.shape[0], x.shape[1]
    flat = E.reshape(x, (steps * batch,) + tuple(x.shape[2:]))
    return E.reshape(E.index_select(flat, 0, index), tuple(x.shape))


def _direction(step, x, w, r, b, p, h, c, acts, clip, masks, option):
    """One direction over time: (Y (T, B, H), last h, last c)."""
    gates = w.shape[0]
    xw = E.matmul(x, E.transpose(w, 0, 1))
    rb = None
    if b is not None:
        xw = xw + b[:gates]
        rb = b[gates:]
    rt = E.transpose(r, 0, 1)
    ys = []
    for t, xw_t in enumerate(E.unbind(xw, 0)):
        h_new, c_new = step(xw_t, h, c, rt, rb, p, acts, clip, option)
        if masks is None:
            h, c = h_new, c_new
            ys.append(h)
            continue
        valid = masks[t]
        h = E.where(valid, h_new, h)
        if c is not None:
            c = E.where(valid, c_new, c)
        ys.append(E.where(valid, h_new, 0.0))
    return E.stack(ys, 0), h, c


def _fused_lstm_fits(n, p) -> bool:
    """The common LSTM node: what ``ember.ops.lstm.lstm`` (nn.LSTM's fused op) computes."""
    a = n.attrs
    names = [s.lower() for s in a.get("activations") or []]
    return (p is None and a.get("clip") is None and not a.get("input_forget", 0)
            and all(s == d for s, d in zip(names, ["sigmoid", "tanh", "tanh"] * 2)))


# ONNX's gate blocks (i, o, f, c) in PyTorch's order (i, f, g, o)
_TORCH_GATES = (0, 2, 3, 1)


def _fused_lstm_direction(x, w, r, b, h0, c0, reverse):
    """One direction as nn.LSTM's fused op, the gate blocks reordered (differentiably)."""
    hidden = r.shape[-1]
    order = creation.from_numpy(np.concatenate(
        [np.arange(k * hidden, (k + 1) * hidden) for k in _TORCH_GATES]))
    bias = None if b is None else E.index_select(b[:4 * hidden] + b[4 * hidden:], 0, order)
    y, h, c = ember_lstm(x, E.index_select(w, 0, order), E.index_select(r, 0, order), bias,
                         h0, c0, reverse=reverse)
    return y, h, c


def _recurrent(n, kind, x, w, r, b, seq_lens, h0, c0=None, p=None):
    a = n.attrs
    op = n.op_type
    layout = a.get("layout", 0)
    direction = a.get("direction", "forward")
    if direction not in ("forward", "reverse", "bidirectional"):
        raise ValueError(f"{op}: unknown direction {direction!r}")
    directions = 2 if direction == "bidirectional" else 1
    if w.shape[0] != directions:
        raise ValueError(f"{op}: direction={direction!r} needs {directions} weight sets, "
                         f"got W of shape {tuple(w.shape)}")
    if layout:
        x = E.swapaxes(x, 0, 1)
        h0 = None if h0 is None else E.swapaxes(h0, 0, 1)
        c0 = None if c0 is None else E.swapaxes(c0, 0, 1)
    steps, batch, hidden = x.shape[0], x.shape[1], r.shape[-1]
    step, defaults, option = {
        "LSTM": (_lstm_step, ["Sigmoid", "Tanh", "Tanh"], bool(a.get("input_forget", 0))),
        "GRU": (_gru_step, ["Sigmoid", "Tanh"], bool(a.get("linear_before_reset", 0))),
        "RNN": (_rnn_step, ["Tanh"], None)}[kind]
    acts = _activations(n, defaults, directions)
    clip = a.get("clip")

    lens = masks = index = None
    if seq_lens is not None:
        lens = np.asarray(_ints(seq_lens), dtype=np.int64)
        if lens.shape != (batch,) or (lens < 0).any() or (lens > steps).any():
            raise ValueError(f"{op}: sequence_lens {lens.tolist()} must give one length in "
                             f"[0, {steps}] per batch entry ({batch})")
        if (lens == steps).all():
            lens = None
        else:
            valid = np.arange(steps)[:, None, None] < lens[None, :, None]
            masks = E.unbind(creation.from_numpy(valid), 0)
            index = creation.from_numpy(_reverse_index(lens, steps))

    if kind == "LSTM" and lens is None and _fused_lstm_fits(n, p):
        run = _fused_lstm_direction
    else:
        run = _direction
    zeros = E.zeros((batch, hidden), dtype=x.dtype, device=x.device)
    ys, hs, cs = [], [], []
    for d in range(directions):
        reverse = direction == "reverse" or d == 1
        bd = None if b is None else b[d]
        if run is _fused_lstm_direction:
            y, h, c = run(x, w[d], r[d], bd, None if h0 is None else h0[d],
                          None if c0 is None else c0[d], reverse)
            ys.append(y)
            hs.append(h)
            cs.append(c)
            continue
        xd = _reverse(x, lens, index) if reverse else x
        pd = None if p is None else E.chunk(p[d], 3, dim=0)
        h = zeros if h0 is None else h0[d]
        c = None if kind != "LSTM" else zeros if c0 is None else c0[d]
        y, h, c = _direction(step, xd, w[d], r[d], bd, pd, h, c, acts[d], clip, masks, option)
        ys.append(_reverse(y, lens, index) if reverse else y)
        hs.append(h)
        cs.append(c)
    y = E.stack(ys, 1)
    y_h = E.stack(hs, 0)
    y_c = E.stack(cs, 0) if kind == "LSTM" else None
    if layout:
        y = E.permute(y, (2, 0, 1, 3))
        y_h = E.swapaxes(y_h, 0, 1)
        y_c = None if y_c is None else E.swapaxes(y_c, 0, 1)
    return (y, y_h, y_c) if kind == "LSTM" else (y, y_h)


@onnx_op("LSTM")
def _lstm(m, n, x, w, r, b=None, seq_lens=None, h0=None, c0=None, p=None):
    return _recurrent(n, "LSTM", x, w, r, b, seq_lens, h0, c0, p)


@onnx_op("GRU")
def _gru(m, n, x, w, r, b=None, seq_lens=None, h0=None):
    return _recurrent(n, "GRU", x, w, r, b, seq_lens, h0)


@onnx_op("RNN")
def _rnn(m, n, x, w, r, b=None, seq_lens=None, h0=None):
    return _recurrent(n, "RNN", x, w, r, b, seq_lens, h0)


# ----------------------------------------------------------------------------- normalisations


@onnx_op("RMSNormalization")
def _rms_normalization(m, n, x, scale):
    """``x / sqrt(mean(x²) + epsilon) * scale`` over dims ``axis..`` (opset 23), computed in
    ``stash_type`` (float32 by default) as the op's function body does."""
    axis = n.attrs.get("axis", -1)
    axis = axis + x.ndim if axis < 0 else axis
    if not 0 <= axis < x.ndim:
        raise ValueError(f"RMSNormalization: axis {n.attrs.get('axis')} is out of range for a "
                         f"{x.ndim}-d input")
    stash = _dtype_of_onnx(n.attrs.get("stash_type", 1))
    xs = x if x.dtype == stash else E.astype(x, stash)
    dims = tuple(range(axis, x.ndim))
    rms = E.sqrt(E.mean(xs * xs, dim=dims, keepdim=True) + n.attrs.get("epsilon", 1e-5))
    y = xs * E.reciprocal(rms)
    if y.dtype != x.dtype:
        y = E.astype(y, x.dtype)
    return y * scale


@onnx_op("LRN")
def _lrn(m, n, x):
    """Each channel over the squares of its ``size`` neighbours: ONNX's window starts
    ``floor((size - 1) / 2)`` channels before (PyTorch's ``size // 2``: they differ for even
    sizes)."""
    a = n.attrs
    size = a["size"]
    window = _channel_window_sum(x * x, (size - 1) // 2, size // 2)
    return x / E.pow(window * (a.get("alpha", 1e-4) / size) + a.get("bias", 1.0),
                     a.get("beta", 0.75))


@onnx_op("LpNormalization")
def _lp_normalization(m, n, x):
    p = n.attrs.get("p", 2)
    if p not in (1, 2):
        raise ValueError(f"LpNormalization: p must be 1 or 2, got {p}")
    axis = n.attrs.get("axis", -1)
    norm = E.sum(E.abs(x), dim=axis, keepdim=True) if p == 1 else \
        E.sqrt(E.sum(x * x, dim=axis, keepdim=True))
    zero = norm == 0  # an all-zero slice stays zero (the reference's 0 / 0 = 0)
    return x / E.where(zero, 1.0, norm)


@onnx_op("MeanVarianceNormalization")
def _mean_variance_normalization(m, n, x):
    """``(x - mean) / (std + 1e-9)`` over ``axes`` (default N, H, W), as the function body."""
    axes = tuple(a + x.ndim if a < 0 else a for a in n.attrs.get("axes", [0, 2, 3]))
    centred = x - E.mean(x, dim=axes, keepdim=True)
    std = E.sqrt(E.mean(centred * centred, dim=axes, keepdim=True))
    return centred / (std + 1e-9)


def _lp_pool_geometry(n, spatial):
    """(kernel, strides, dilations, pads before, pads after, output sizes) of an LpPool."""
    a = n.attrs
    nd = len(spatial)
    kernel = list(a["kernel_shape"])
    strides = list(a.get("strides") or [1] * nd)
    dilations = list(a.get("dilations") or [1] * nd)
    pads = list(a.get("pads") or [0] * (2 * nd))
    auto_pad = a.get("auto_pad", "NOTSET")
    span = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    before, after, out = pads[:nd], pads[nd:], []
    for i, size in enumerate(spatial):
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            o = -(-size // strides[i])
            total = max((o - 1) * strides[i] + span[i] - size, 0)
            small, big = total // 2, total - total // 2
            before[i], after[i] = (small, big) if auto_pad == "SAME_UPPER" else (big, small)
        elif auto_pad == "VALID":
            before[i] = after[i] = 0
            o = (size - span[i]) // strides[i] + 1
        else:
            room = size + before[i] + after[i] - span[i]
            o = (-(-room // strides[i]) if a.get("ceil_mode", 0) else room // strides[i]) + 1
            if a.get("ceil_mode", 0) and (o - 1) * strides[i] >= size + before[i]:
                o -= 1  # a last window starting in the end padding is dropped
        out.append(o)
    return kernel, strides, dilations, before, after, out


@onnx_op("LpPool")
def _lp_pool(m, n, x):
    """``(sum of |x|^p over each window) ** (1 / p)``, any number of spatial dimensions, by
    summing strided slices of the zero-padded input (padding adds nothing to a sum)."""
    p = n.attrs.get("p", 2)
    spatial = tuple(x.shape[2:])
    kernel, strides, dilations, before, after, out = _lp_pool_geometry(n, spatial)
    # pad so that every window of the output fits (ceil_mode may need more at the end)
    extra = [max((o - 1) * s + (k - 1) * d + 1 - (size + b + e), 0) for o, s, k, d, size, b, e
             in zip(out, strides, kernel, dilations, spatial, before, after)]
    powered = E.pow(E.abs(x), p)
    pads = []
    for b, e, x_extra in zip(reversed(before), reversed(after), reversed(extra)):
        pads += [b, e + x_extra]
    padded = E.pad(powered, tuple(pads)) if any(pads) else powered
    total = None
    for offsets in np.ndindex(*kernel):
        index = (slice(None), slice(None)) + tuple(
            slice(k * d, k * d + (o - 1) * s + 1, s)
            for k, d, o, s in zip(offsets, dilations, out, strides))
        window = padded[index]
        total = window if total is None else total + window
    return E.pow(total, 1.0 / p)
