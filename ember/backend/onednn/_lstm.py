"""LSTM layers (the ``lstm`` op): forward (training keeps a workspace) and backward."""

from __future__ import annotations

import ctypes
import threading

import numpy as np

from ._lib import (
    _BACKWARD,
    _BIAS,
    _DIFF,
    _DST,
    _FORWARD_INFERENCE,
    _FORWARD_TRAINING,
    _Q_DIFF_WEIGHTS,
    _Q_WEIGHTS,
    _Q_WORKSPACE,
    _SRC,
    _WEIGHTS,
    _WORKSPACE,
    OneDNNError,
    _Library,
    _p,
    _usable,
    cached,
    load,
)

_LEFT2RIGHT, _RIGHT2LEFT = 1, 2
_SRC_ITER, _SRC_ITER_C, _DST_ITER, _DST_ITER_C, _WEIGHTS_ITER = 2, 3, 18, 19, 34


class _LstmProblem:
    """One cached LSTM layer (one direction): forward primitive, and the backward one made
    on first use, with their weight layouts and reorders."""

    def __init__(self, lib: _Library, t, n, c, h, axis, reverse, training) -> None:
        self.lock = threading.Lock()
        self.lib, self.training = lib, training
        seq = (lambda k: (n * k, k, 1)) if axis == 0 else (lambda k: (k, t * k, 1))
        self.src = lib.md((t, n, c), seq(c))
        self.dst = lib.md((t, n, h), seq(h))
        it = lib.md((1, 1, n, h), (n * h, n * h, h, 1))
        self.it = it
        # zero initial states are passed as zeros, not left out: oneDNN 3.2's backward got
        # the time-major, left-to-right recurrent weight gradient wrong without them
        self.src_iter = self.src_iter_c = it
        self.wl_user = lib.md((1, 1, c, 4, h), (4 * h * c, 4 * h * c, 1, h * c, c))
        self.wi_user = lib.md((1, 1, h, 4, h), (4 * h * h, 4 * h * h, 1, h * h, h))
        self.wl_any, self.wi_any = lib.md((1, 1, c, 4, h)), lib.md((1, 1, h, 4, h))
        self.bias = lib.md((1, 1, 4, h), (4 * h, 4 * h, h, 1))
        self.direction = _RIGHT2LEFT if reverse else _LEFT2RIGHT
        fwd = _p()
        lib.check(lib.lib.dnnl_lstm_forward_primitive_desc_create(
            ctypes.byref(fwd), lib.engine, _FORWARD_TRAINING if training else _FORWARD_INFERENCE,
            self.direction, self.src, self.src_iter, self.src_iter_c, self.wl_any, self.wi_any,
            None, None, self.bias, self.dst, it, it, 0, None),
            "dnnl_lstm_forward_primitive_desc_create")
        self.fwd_pd = fwd
        self.fwd = lib.primitive(fwd)
        self.ws_md, self.ws_bytes = lib.queried(fwd, _Q_WORKSPACE) if training else (None, 0)
        self.f_weights = self._weights(fwd, _Q_WEIGHTS, to_user=False)
        self.mem = {k: lib.memory(md) for k, md in (("src", self.src), ("dst", self.dst),
                                                    ("it", it), ("it2", it), ("it3", it),
                                                    ("it4", it), ("bias", self.bias))}
        if training:
            self.mem["ws"] = lib.memory(self.ws_md)
        self.bwd = None

    def _weights(self, pd, query, to_user):
        """Buffers, memories and reorders for the layer and iteration weights of ``pd``; the
        reorder is None where ``pd`` takes PyTorch's layout itself (the backward's weights:
        the user's arrays are passed as they are)."""
        lib, out = self.lib, []
        for idx, user in ((0, self.wl_user), (1, self.wi_user)):
            md = _p(lib.lib.dnnl_primitive_desc_query_md(pd, query, idx))
            if not to_user and lib.lib.dnnl_memory_desc_equal(md, user):
                out.append((None, lib.memory(md), None, None))
                continue
            buf = np.empty(max(1, lib.lib.dnnl_memory_desc_get_size(md) // 4), np.float32)
            reorder = lib.reorder(md, user) if to_user else lib.reorder(user, md)
            out.append((buf, lib.memory(md), lib.memory(user), reorder))
        return out

    def weights_in(self, weights, w_ih, w_hh) -> list:
        """The arrays ``weights`` (from ``_weights``) hold for this call: ``w_ih`` and
        ``w_hh`` reordered into their buffers, or the arrays themselves."""
        out = []
        for (buf, mem, umem, reorder), w in zip(weights, (w_ih, w_hh)):
            w = np.ascontiguousarray(w)
            if reorder is None:
                out.append(w)
            else:
                self.lib.execute(reorder, [(_SRC, umem, w), (_DST, mem, buf)])
                out.append(buf)
        return out

    def backward_primitive(self):
        if self.bwd is None:
            lib, it = self.lib, self.it
            pd = _p()
            d_iter = d_iter_c = it
            lib.check(lib.lib.dnnl_lstm_backward_primitive_desc_create(
                ctypes.byref(pd), lib.engine, _BACKWARD, self.direction, self.src,
                self.src_iter, self.src_iter_c, self.wl_any, self.wi_any, None, None, self.bias,
                self.dst, it, it, self.src, d_iter, d_iter_c, self.wl_any, self.wi_any, None,
                None, self.bias, self.dst, it, it, 0, self.fwd_pd, None),
                "dnnl_lstm_backward_primitive_desc_create")
            self.bwd_pd = pd
            self.b_weights = self._weights(pd, _Q_WEIGHTS, to_user=False)
            self.d_weights = self._weights(pd, _Q_DIFF_WEIGHTS, to_user=True)
            self.bmem = {k: self.lib.memory(md) for k, md in (
                ("dsrc", self.src), ("ddst", self.dst), ("dit", it), ("dit2", it),
                ("dit3", it), ("dit4", it), ("dbias", self.bias))}
            self.bwd = lib.primitive(pd)
        return self.bwd


def _lstm_problem(x, hidden, axis, reverse, training):
    if x.ndim != 3 or axis not in (0, 1):
        return None
    t, n = (x.shape[0], x.shape[1]) if axis == 0 else (x.shape[1], x.shape[0])
    key = ("lstm", x.shape, axis, hidden, bool(reverse), bool(training))
    return cached(key, lambda lib: _LstmProblem(lib, t, n, x.shape[2], hidden, axis, reverse,
                                                training))


def lstm_forward(x, w_ih, w_hh, bias, h0, c0, reverse, axis, training):
    """One LSTM layer: ``(out, h_n, c_n, workspace)`` (the workspace a uint8 array, empty
    without ``training``), or None when oneDNN does not run it."""
    if not _usable(x, w_ih, w_hh, bias, h0, c0):
        return None
    hidden = w_hh.shape[1]
    prob = _lstm_problem(x, hidden, axis, reverse, training)
    if prob is None:
        return None
    lib = prob.lib
    x = np.ascontiguousarray(x)  # (T, N, C) or (N, T, C), as oneDNN reads it
    n = x.shape[1 - axis]
    out = np.empty(x.shape[:2] + (hidden,), np.float32)
    h_n, c_n = np.empty((n, hidden), np.float32), np.empty((n, hidden), np.float32)
    ws = np.empty(prob.ws_bytes, np.uint8)
    b = np.zeros(4 * hidden, np.float32) if bias is None else np.ascontiguousarray(bias)
    m = prob.mem
    with prob.lock:
        wl, wi = prob.weights_in(prob.f_weights, w_ih, w_hh)
        args = [(_SRC, m["src"], x), (_WEIGHTS, prob.f_weights[0][1], wl),
                (_WEIGHTS_ITER, prob.f_weights[1][1], wi),
                (_BIAS, m["bias"], b), (_DST, m["dst"], out), (_DST_ITER, m["it"], h_n),
                (_DST_ITER_C, m["it2"], c_n)]
        args += [(_SRC_ITER, m["it3"], _state(h0, n, hidden)),
                 (_SRC_ITER_C, m["it4"], _state(c0, n, hidden))]
        if training:
            args.append((_WORKSPACE, m["ws"], ws))
        lib.execute(prob.fwd, args)
    return out, h_n, c_n, ws


def lstm_backward(g_out, g_hn, g_cn, x, w_ih, w_hh, bias, h0, c0, out, h_n, c_n, ws, reverse,
                  axis):
    """``lstm``'s gradients ``(dx, dw_ih, dw_hh, dbias, dh0, dc0)`` from a oneDNN forward's
    workspace ``ws``."""
    hidden = w_hh.shape[1]
    prob = _lstm_problem(x, hidden, axis, reverse, True)
    if prob is None:  # switched off since the forward: the workspace still needs oneDNN
        from ...backends import onednn as switch

        enabled, switch.enabled = switch.enabled, True
        try:
            prob = _lstm_problem(x, hidden, axis, reverse, True)
        finally:
            switch.enabled = enabled
    if prob is None:
        raise OneDNNError(
            "lstm backward: the forward ran on oneDNN and its workspace needs oneDNN's "
            f"backward, which cannot run here ({load()[1] or 'unsupported problem'}); run "
            "the forward again in this process")
    lib = prob.lib
    bwd = prob.backward_primitive()
    x, out, g_out = (np.ascontiguousarray(a) for a in (x, out, g_out))
    n = x.shape[1 - axis]
    b = np.zeros(4 * hidden, np.float32) if bias is None else np.ascontiguousarray(bias)
    dx = np.empty(x.shape, np.float32)
    db = np.zeros(4 * hidden, np.float32)
    dh0, dc0 = np.empty((n, hidden), np.float32), np.empty((n, hidden), np.float32)
    dw = [np.empty(w_ih.shape, np.float32), np.empty(w_hh.shape, np.float32)]
    m, bm = prob.mem, prob.bmem
    with prob.lock:
        wl, wi = prob.weights_in(prob.b_weights, w_ih, w_hh)
        for buf, *_ in prob.d_weights:
            buf[...] = 0  # oneDNN adds the weight gradients into these
        args = [(_SRC, m["src"], x), (_WEIGHTS, prob.b_weights[0][1], wl),
                (_WEIGHTS_ITER, prob.b_weights[1][1], wi),
                (_BIAS, m["bias"], b), (_DST, m["dst"], out), (_DST_ITER, m["it"], h_n),
                (_DST_ITER_C, m["it2"], c_n), (_WORKSPACE, m["ws"], ws),
                (_DIFF + _SRC, bm["dsrc"], dx),
                (_DIFF + _WEIGHTS, prob.d_weights[0][1], prob.d_weights[0][0]),
                (_DIFF + _WEIGHTS_ITER, prob.d_weights[1][1], prob.d_weights[1][0]),
                (_DIFF + _BIAS, bm["dbias"], db), (_DIFF + _DST, bm["ddst"], g_out),
                (_DIFF + _DST_ITER, bm["dit"], np.ascontiguousarray(g_hn)),
                (_DIFF + _DST_ITER_C, bm["dit2"], np.ascontiguousarray(g_cn))]
        args += [(_SRC_ITER, m["it3"], _state(h0, n, hidden)),
                 (_DIFF + _SRC_ITER, bm["dit3"], dh0),
                 (_SRC_ITER_C, m["it4"], _state(c0, n, hidden)),
                 (_DIFF + _SRC_ITER_C, bm["dit4"], dc0)]
        lib.execute(bwd, args)
        for (buf, mem, umem, reorder), d in zip(prob.d_weights, dw):
            lib.execute(reorder, [(_SRC, mem, buf), (_DST, umem, d)])
    return (dx, dw[0], dw[1], None if bias is None else db, None if h0 is None else dh0,
            None if c0 is None else dc0)


def _state(s, n, hidden):
    """An initial state for oneDNN: ``s`` contiguous, or zeros for None."""
    return np.zeros((n, hidden), np.float32) if s is None else np.ascontiguousarray(s)
