"""Recurrent-cell primitives: the fused LSTM and GRU cell steps, and ``unstack``.

A recurrent layer computes its input projection for every time step in one matmul, splits it
into steps with ``unstack`` (one op, not one slice op per step), and then runs one fused cell
op per step: the gate nonlinearities and the state update happen in a single forward on
arrays. The vjp recomputes the gate activations from the pre-activations it is given instead
of storing them. A plain backward runs it as one fused op on arrays (``lstm_cell_grad``,
``gru_cell_grad``); under ``create_graph`` the same formulas run as recorded ``F`` ops, so
double backward works. Gate order and
formulas are PyTorch's: LSTM ``i, f, g, o``; GRU ``r, z, n`` with
``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))`` and ``h' = (1 - z) * n + z * h``.
"""

from __future__ import annotations

from ..autograd.node import apply
from ..errors import ShapeError
from ..tensor import Tensor
from .registry import Op, diff, register

__all__ = ["gru_cell", "lstm_cell", "unstack"]


class Unstack(Op):
    """The ``n`` slices of ``x`` along ``axis``, as views, from one op (its vjp stacks).

    An op's number of outputs is fixed per class, so ``unstack_op(n)`` registers one
    subclass per slice count (``unstack_20`` for 20 time steps) the first time it is needed.
    """

    def forward(xp, x, axis):
        return tuple(x[(slice(None),) * axis + (i,)] for i in range(x.shape[axis]))

    def vjp(F, g, out, x, axis):
        shape = tuple(x.shape[:axis]) + (1,) + tuple(x.shape[axis + 1:])
        return (F.concat(*[F.reshape(gi, shape=shape) for gi in g], axis=axis),)


_UNSTACK: dict[int, type] = {}


def unstack_op(n: int) -> type:
    """The registered ``Unstack`` op with ``n`` outputs."""
    op = _UNSTACK.get(n)
    if op is None:
        op = _UNSTACK[n] = register(type(f"Unstack{n}", (Unstack,),
                                         {"name": f"unstack_{n}", "n_outputs": n}))
    return op


def _lstm_gates(xp, xg, hg):
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


def _lstm_forward(xp, xg, hg, c):
    gates, hs = _lstm_gates(xp, xg, hg)
    i, f, g, o = (gates[..., k * hs:(k + 1) * hs] for k in range(4))
    c_new = i * g
    if c is not None:
        c_new += f * c
    h_new = xp.tanh(c_new)
    h_new *= o
    return h_new, c_new


def _lstm_backward(xp, gh, gc, xg, hg, c, c_new):
    gates, hs = _lstm_gates(xp, xg, hg)
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


@register
class LstmCell(Op):
    """One LSTM step from gate pre-activations: ``(xg, hg, c) -> (h', c')``.

    ``xg`` is ``W_ih x + b_ih + b_hh``, ``hg`` is ``W_hh h`` (None for a zero state), ``c``
    the cell state (None for zero); all gates in PyTorch's order ``i, f, g, o``.
    """

    name = "lstm_cell"
    n_outputs = 2
    needs_output = True

    def forward(xp, xg, hg, c):
        return _lstm_forward(xp, xg, hg, c)

    def vjp(F, g, out, xg, hg, c):
        gh, gc = g
        _, c_new = out
        if F is not diff:  # a plain backward on arrays: one fused op
            dgates, dc = F.lstm_cell_grad(gh, gc, xg, hg, c, c_new)
            return dgates, (dgates if hg is not None else None), dc
        gates = xg + hg if hg is not None else xg
        hs = gates.shape[-1] // 4
        last = gates.ndim - 1
        lead = (slice(None),) * last
        i = F.sigmoid(F.get_item(gates, index=lead + (slice(0, hs),)))
        f = F.sigmoid(F.get_item(gates, index=lead + (slice(hs, 2 * hs),)))
        gg = F.tanh(F.get_item(gates, index=lead + (slice(2 * hs, 3 * hs),)))
        o = F.sigmoid(F.get_item(gates, index=lead + (slice(3 * hs, 4 * hs),)))
        tc = F.tanh(c_new)
        dc = gc + gh * o * (1.0 - tc * tc)
        di = dc * gg * i * (1.0 - i)
        df = dc * c * f * (1.0 - f) if c is not None else di * 0.0
        dg = dc * i * (1.0 - gg * gg)
        do = gh * tc * o * (1.0 - o)
        dgates = F.concat(di, df, dg, do, axis=last)
        return dgates, (dgates if hg is not None else None), (dc * f if c is not None else None)


@register
class LstmCellGrad(Op):
    """The LSTM cell's vjp on arrays: ``(dgates, dc_prev)`` (a plain backward only)."""

    name = "lstm_cell_grad"
    n_outputs = 2
    differentiable = False

    def forward(xp, gh, gc, xg, hg, c, c_new):
        return _lstm_backward(xp, gh, gc, xg, hg, c, c_new)


def _gru_parts(xp, xg, hg, h):
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


def _gru_backward(xp, g, xg, hg, h):
    rz, n, hs = _gru_parts(xp, xg, hg, h)
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


@register
class GruCellGrad(Op):
    """The GRU cell's vjp on arrays: ``(dxg, dhg, dh)`` (a plain backward only)."""

    name = "gru_cell_grad"
    n_outputs = 3
    differentiable = False

    def forward(xp, g, xg, hg, h):
        return _gru_backward(xp, g, xg, hg, h)


@register
class GruCell(Op):
    """One GRU step: ``(xg, hg, h) -> h'`` with ``xg = W_ih x + b_ih``, ``hg = W_hh h + b_hh``."""

    name = "gru_cell"

    def forward(xp, xg, hg, h):
        rz, n, hs = _gru_parts(xp, xg, hg, h)
        out = h - n
        out *= rz[..., hs:]
        out += n
        return out

    def vjp(F, g, out, xg, hg, h):
        if F is not diff:  # a plain backward on arrays: one fused op
            return F.gru_cell_grad(g, xg, hg, h)
        hs = h.shape[-1]
        last = h.ndim - 1
        lead = (slice(None),) * last

        def part(a, k):
            return F.get_item(a, index=lead + (slice(k * hs, (k + 1) * hs),))

        hn = part(hg, 2)
        r = F.sigmoid(part(xg, 0) + part(hg, 0))
        z = F.sigmoid(part(xg, 1) + part(hg, 1))
        n = F.tanh(part(xg, 2) + r * hn)
        dn = g * (1.0 - z) * (1.0 - n * n)
        dr = dn * hn * r * (1.0 - r)
        dz = g * (h - n) * z * (1.0 - z)
        return (F.concat(dr, dz, dn, axis=last), F.concat(dr, dz, dn * r, axis=last), g * z)


def unstack(x: Tensor, dim: int = 0) -> tuple:
    """The slices of ``x`` along ``dim`` (a tuple of views), recorded as one op.

    Unlike ``unbind`` (one indexing op per slice, each with a full-size gradient), the
    backward stacks the slice gradients once. The slices share memory with ``x``.

    Example:
        >>> import ember
        >>> [t.shape for t in ember.ops.rnn.unstack(ember.zeros(3, 2), 0)]
        [(2,), (2,), (2,)]
    """
    if not -x.ndim <= dim < x.ndim:
        raise ShapeError(f"unstack: dim {dim} is out of range for shape {tuple(x.shape)}")
    dim %= x.ndim
    if x.shape[dim] == 1:
        return (x.reshape(tuple(x.shape[:dim]) + tuple(x.shape[dim + 1:])),)
    return apply(unstack_op(x.shape[dim]), x, axis=dim)


def lstm_cell(xg: Tensor, hg: Tensor | None, c: Tensor | None) -> tuple:
    """One LSTM step from pre-activations (see ``LstmCell``): returns ``(h', c')``.

    Example:
        >>> import ember
        >>> h, c = ember.ops.rnn.lstm_cell(ember.zeros(2, 8), None, None)
        >>> h.shape, c.shape
        ((2, 2), (2, 2))
    """
    return apply(LstmCell, xg, hg, c)


def gru_cell(xg: Tensor, hg: Tensor, h: Tensor) -> Tensor:
    """One GRU step from projections (see ``GruCell``): returns ``h'``.

    Example:
        >>> import ember
        >>> ember.ops.rnn.gru_cell(ember.zeros(2, 6), ember.zeros(2, 6), ember.ones(2, 2))
        tensor([[0.5000, 0.5000],
                [0.5000, 0.5000]])
    """
    return apply(GruCell, xg, hg, h)
