"""Array kernels of the recurrent primitives: LSTM and GRU cell steps and whole LSTM layers.

Sigmoids are computed as ``0.5 * tanh(a / 2) + 0.5``, which never overflows, so the four
LSTM gates take one ``tanh`` call. The whole-layer LSTM backward recomputes the gates of
every step with one matmul from the saved hidden states, then walks back through time with
one small matmul per step and accumulates the recurrent weight's gradient in one matmul.
"""

from __future__ import annotations


def lstm_gates(xp, xg, hg):
    """Activated gates (a new array): sigmoid i, f, o and tanh g, with one tanh call, as
    sigmoid(a) = 0.5 * tanh(a / 2) + 0.5 (which never overflows)."""
    gates = xg + hg if hg is not None else xg.copy()
    hs = gates.shape[-1] // 4
    sig = (gates[..., :2 * hs], gates[..., 3 * hs:])
    for s in sig:
        s *= 0.5
    xp.tanh(gates, out=gates)
    for s in sig:
        s *= 0.5
        s += 0.5
    return gates, hs


def lstm_cell(xp, xg, hg, c):
    gates, hs = lstm_gates(xp, xg, hg)
    i, f, g, o = (gates[..., k * hs:(k + 1) * hs] for k in range(4))
    c_new = i * g
    if c is not None:
        c_new += f * c
    h_new = xp.tanh(c_new)
    h_new *= o
    return h_new, c_new


def lstm_cell_grad(xp, gh, gc, xg, hg, c, c_new):
    gates, hs = lstm_gates(xp, xg, hg)
    i, f, g, o = (gates[..., k * hs:(k + 1) * hs] for k in range(4))
    tc = xp.tanh(c_new)
    do = gh * tc
    dc = tc * tc
    xp.subtract(1.0, dc, out=dc)
    dc *= gh
    dc *= o
    dc += gc
    dgates = xp.empty_like(gates)
    di, df, dg, dout = (dgates[..., k * hs:(k + 1) * hs] for k in range(4))
    one_minus = xp.subtract(1.0, gates)  # 1 - i, 1 - f, ., 1 - o
    xp.multiply(dc, g, out=di)
    di *= i
    di *= one_minus[..., :hs]
    if c is None:
        df[...] = 0
    else:
        xp.multiply(dc, c, out=df)
        df *= f
        df *= one_minus[..., hs:2 * hs]
    xp.multiply(g, g, out=dg)
    xp.subtract(1.0, dg, out=dg)
    dg *= dc
    dg *= i
    xp.multiply(do, o, out=dout)
    dout *= one_minus[..., 3 * hs:]
    return dgates, (dc * f if c is not None else None)


def gru_parts(xp, xg, hg, h):
    """r, z (as one (.., 2H) array) and n of a GRU step."""
    hs = h.shape[-1]
    rz = xg[..., :2 * hs] + hg[..., :2 * hs]
    rz *= 0.5  # sigmoid via tanh, as in the LSTM
    xp.tanh(rz, out=rz)
    rz *= 0.5
    rz += 0.5
    n = rz[..., :hs] * hg[..., 2 * hs:]
    n += xg[..., 2 * hs:]
    xp.tanh(n, out=n)
    return rz, n, hs


def gru_cell_grad(xp, g, xg, hg, h):
    rz, n, hs = gru_parts(xp, xg, hg, h)
    r, z = rz[..., :hs], rz[..., hs:]
    dxg = xp.empty(xg.shape, dtype=g.dtype)
    dr, dz, dn = (dxg[..., k * hs:(k + 1) * hs] for k in range(3))
    xp.multiply(n, n, out=dn)  # dn = g (1 - z)(1 - n^2)
    xp.subtract(1.0, dn, out=dn)
    dn *= g
    dn -= dn * z
    xp.multiply(dn, hg[..., 2 * hs:], out=dr)  # dr = dn * hn * r (1 - r)
    dr *= r
    dr -= dr * r
    xp.subtract(h, n, out=dz)  # dz = g (h - n) z (1 - z)
    dz *= g
    dz *= z
    dz -= dz * z
    dhg = dxg.copy()
    dhg[..., 2 * hs:] *= r
    return dxg, dhg, g * z


def gru_cell(xp, xg, hg, h):
    rz, n, hs = gru_parts(xp, xg, hg, h)
    out = h - n
    out *= rz[..., hs:]
    out += n
    return out


def _gate_affine(xp, hs, dtype):
    """(scale, shift) turning tanh(scale * a) into the gates: sigmoid(a) = 0.5 tanh(a/2) + 0.5
    for i, f, o; tanh(a) for g."""
    scale = xp.full(4 * hs, 0.5, dtype=dtype)
    scale[2 * hs:3 * hs] = 1
    shift = xp.full(4 * hs, 0.5, dtype=dtype)
    shift[2 * hs:3 * hs] = 0
    return scale, shift


def _activate(xp, gates, scale, shift):
    """LSTM gate activations in place: sigmoid on i, f, o and tanh on g, in four passes."""
    gates *= scale
    xp.tanh(gates, out=gates)
    gates *= scale
    gates += shift


def _step(axis, t):
    return (slice(None),) * axis + (t,)


def _order(n, reverse):
    return range(n - 1, -1, -1) if reverse else range(n)


def lstm_layer(xp, xg, w, h0, c0, reverse, axis, save):
    """One LSTM layer over all steps of ``xg`` (input projections, time along ``axis``).

    Returns the hidden states (``xg``'s layout with H features), ``h_n`` and ``c_n``. With
    ``save`` the hidden states are the first H columns of a (.., 6H) array whose other
    columns keep each step's activated gates and cell state for the backward
    (``saved_gates`` finds them through the view's base), which then needs no recomputation.
    """
    steps, batch = xg.shape[axis], xg.shape[1 - axis]
    hs = w.shape[1]
    store = xp.empty(xg.shape[:2] + ((6 if save else 1) * hs,), dtype=xg.dtype)
    out = store[..., :hs]
    w_t = xp.ascontiguousarray(w.T)  # (H, 4H): the fast operand layout for a small matmul
    scale, shift = _gate_affine(xp, hs, xg.dtype)
    gates = xp.empty((batch, 4 * hs), dtype=xg.dtype)  # contiguous work buffers: faster
    i, f, g, o = (gates[:, k * hs:(k + 1) * hs] for k in range(4))
    cells = [xp.empty((batch, hs), dtype=xg.dtype) for _ in range(2)]
    tmp = xp.empty((batch, hs), dtype=xg.dtype)
    h, c = h0, c0
    for n, t in enumerate(_order(steps, reverse)):
        at = _step(axis, t)
        if h is None:
            gates[...] = xg[at]
        else:
            xp.matmul(h, w_t, out=gates)
            gates += xg[at]
        _activate(xp, gates, scale, shift)
        c_new = cells[n % 2]
        xp.multiply(i, g, out=c_new)
        if c is not None:
            xp.multiply(f, c, out=tmp)
            c_new += tmp
        h = out[at]
        xp.tanh(c_new, out=h)
        h *= o
        c = c_new
        if save:
            kept = store[at]
            kept[:, hs:5 * hs] = gates
            kept[:, 5 * hs:] = c_new
    return out, h.copy(), c.copy()


def saved_gates(out, xg):
    """The (gates, cell states) that ``lstm_layer(save=True)`` kept beside ``out``, or None."""
    store = out.base
    hs = out.shape[-1]
    if store is None or store.shape != xg.shape[:2] + (6 * hs,) or out.strides != store.strides:
        return None
    return store[..., hs:5 * hs], store[..., 5 * hs:]


def lstm_layer_grad(xp, g_out, g_hn, g_cn, xg, w, h0, c0, out, reverse, axis):
    """Gradients (xg, w, h0, c0) of ``lstm_layer`` given its outputs' gradients."""
    steps, batch = xg.shape[axis], xg.shape[1 - axis]
    hs = w.shape[1]
    order = list(_order(steps, reverse))
    lead = (slice(None),) * axis
    h_prev = xp.empty(out.shape, dtype=out.dtype)  # the state each step started from
    if reverse:
        h_prev[lead + (slice(None, -1),)] = out[lead + (slice(1, None),)]
    else:
        h_prev[lead + (slice(1, None),)] = out[lead + (slice(None, -1),)]
    h_prev[lead + (order[0],)] = 0 if h0 is None else h0
    saved = saved_gates(out, xg)
    if saved is None:  # recompute every step's gates with one matmul
        gates = xp.matmul(h_prev.reshape(-1, hs), w.T).reshape(xg.shape)
        gates += xg
        _activate(xp, gates, *_gate_affine(xp, hs, xg.dtype))
    else:
        gates = saved[0]
    i, f, g, o = (gates[..., k * hs:(k + 1) * hs] for k in range(4))
    c_prev = xp.empty(out.shape, dtype=out.dtype)
    if saved is None:
        c_all = xp.empty(out.shape, dtype=out.dtype)
        c = c0
        for t in order:
            at = lead + (t,)
            c_prev[at] = 0 if c is None else c
            xp.multiply(i[at], g[at], out=c_all[at])
            if c is not None:
                c_all[at] += f[at] * c
            c = c_all[at]
    else:
        c_all = saved[1]
        if reverse:
            c_prev[lead + (slice(None, -1),)] = c_all[lead + (slice(1, None),)]
        else:
            c_prev[lead + (slice(1, None),)] = c_all[lead + (slice(None, -1),)]
        c_prev[lead + (order[0],)] = 0 if c0 is None else c0
    # d(gate pre-activation) = (dc for i, f, g; dh for o) * coef, for all steps at once
    coef = 1 - gates  # s (1 - s) for the sigmoids
    coef *= gates
    tc = xp.tanh(c_all)
    coef[..., :hs] *= g
    coef[..., hs:2 * hs] *= c_prev
    coef[..., 3 * hs:] *= tc
    cg = coef[..., 2 * hs:3 * hs]
    xp.multiply(g, g, out=cg)
    xp.subtract(1, cg, out=cg)
    cg *= i
    tc *= tc  # d c / d h = o (1 - tanh(c)^2)
    xp.subtract(1, tc, out=tc)
    tc *= o
    dx = xp.empty(xg.shape, dtype=xg.dtype)
    dh, dc = g_hn.copy(), g_cn.copy()
    tmp = xp.empty_like(dc)
    for t in reversed(order):
        at = lead + (t,)
        dh += g_out[at]
        xp.multiply(dh, tc[at], out=tmp)
        dc += tmp
        d = dx[at]
        xp.multiply(dc[:, None, :], coef[at][:, :3 * hs].reshape(batch, 3, hs),
                    out=d[:, :3 * hs].reshape(batch, 3, hs))
        xp.multiply(dh, coef[at][:, 3 * hs:], out=d[:, 3 * hs:])
        dc *= f[at]
        xp.matmul(d, w, out=dh)
    dw = xp.matmul(dx.reshape(-1, 4 * hs).T, h_prev.reshape(-1, hs))
    return dx, dw, (dh if h0 is not None else None), (dc if c0 is not None else None)
