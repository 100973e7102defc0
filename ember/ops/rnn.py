"""Recurrent-cell primitives: the fused LSTM and GRU cell steps, and ``unstack``.

A recurrent layer computes its input projection for every time step in one matmul, splits it
into steps with ``unstack`` (one op, not one slice op per step), and then runs one fused cell
op per step: the gate nonlinearities and the state update happen in a single forward on
arrays, and the vjp (written with ``F`` ops, so double backward works) recomputes the gate
activations from the pre-activations it is given instead of storing them. Gate order and
formulas are PyTorch's: LSTM ``i, f, g, o``; GRU ``r, z, n`` with
``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))`` and ``h' = (1 - z) * n + z * h``.
"""

from __future__ import annotations

from ..autograd.node import apply
from ..errors import ShapeError
from ..tensor import Tensor
from .registry import Op, register

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


def _lstm_forward(xp, xg, hg, c):
    gates = xg + hg if hg is not None else xg.copy()
    hs = gates.shape[-1] // 4
    sig = (gates[..., :2 * hs], gates[..., 3 * hs:])  # i, f and o
    for s in sig:  # sigmoid(a) = 0.5 * tanh(a / 2) + 0.5: one tanh for all four gates
        s *= 0.5
    xp.tanh(gates, out=gates)
    for s in sig:
        s *= 0.5
        s += 0.5
    i, f, g = gates[..., :hs], gates[..., hs:2 * hs], gates[..., 2 * hs:3 * hs]
    c_new = i * g
    if c is not None:
        c_new += f * c
    h_new = xp.tanh(c_new)
    h_new *= sig[1]
    return h_new, c_new


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
class GruCell(Op):
    """One GRU step: ``(xg, hg, h) -> h'`` with ``xg = W_ih x + b_ih``, ``hg = W_hh h + b_hh``."""

    name = "gru_cell"

    def forward(xp, xg, hg, h):
        hs = h.shape[-1]
        rz = xg[..., :2 * hs] + hg[..., :2 * hs]
        rz *= 0.5
        xp.tanh(rz, out=rz)
        rz *= 0.5
        rz += 0.5
        r, z = rz[..., :hs], rz[..., hs:]
        n = r * hg[..., 2 * hs:]
        n += xg[..., 2 * hs:]
        xp.tanh(n, out=n)
        out = h - n
        out *= z
        out += n
        return out

    def vjp(F, g, out, xg, hg, h):
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
