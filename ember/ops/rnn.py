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

from ..autograd.grad_mode import is_grad_enabled
from ..autograd.node import apply
from ..errors import ShapeError
from ..tensor import Tensor
from . import rnn_kernels as K
from .registry import Op, diff, free_cost, io_bytes, numel, register

__all__ = ["gru_cell", "lstm_cell", "lstm_layer", "unstack"]


class Unstack(Op):
    """The ``n`` slices of ``x`` along ``axis``, as views, from one op (its vjp stacks).

    An op's number of outputs is fixed per class, so ``unstack_op(n)`` registers one
    subclass per slice count (``unstack_20`` for 20 time steps) the first time it is needed.
    """

    cost = free_cost

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


@register
class LstmCell(Op):
    """One LSTM step from gate pre-activations: ``(xg, hg, c) -> (h', c')``.

    ``xg`` is ``W_ih x + b_ih + b_hh``, ``hg`` is ``W_hh h`` (None for a zero state), ``c``
    the cell state (None for zero); all gates in PyTorch's order ``i, f, g, o``.
    """

    name = "lstm_cell"
    n_outputs = 2
    needs_output = True

    def cost(out_specs, in_specs, attrs):
        """Per gate element an add and an activation (~5); per state element f·c + i·g,
        tanh and o·tanh (~8)."""
        return 5 * numel(in_specs[0][0]) + 8 * numel(in_specs[2][0]), io_bytes(
            out_specs, in_specs)

    def forward(xp, xg, hg, c):
        return K.lstm_cell(xp, xg, hg, c)

    def vjp(F, g, out, xg, hg, c):
        gh, gc = g
        _, c_new = out
        if F is not diff or not is_grad_enabled():  # arrays, or traced without
            # create_graph (the jit records the fused op): one fused op
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

    def cost(out_specs, in_specs, attrs):
        """About twice the cell's forward: activations recomputed and differentiated."""
        return 10 * numel(in_specs[2][0]) + 16 * numel(in_specs[4][0]), io_bytes(
            out_specs, in_specs)

    def forward(xp, gh, gc, xg, hg, c, c_new):
        return K.lstm_cell_grad(xp, gh, gc, xg, hg, c, c_new)


@register
class LstmLayer(Op):
    """A whole LSTM layer in one direction: ``(xg, w_hh, h0, c0) -> (out, h_n, c_n)``.

    ``xg`` holds the input projections ``W_ih x + b_ih + b_hh`` of every step, time along
    ``axis`` (0, or 1 for batch-first); ``h0``/``c0`` may be None (zeros). One op for all
    steps keeps Python out of the time loop. With ``save`` (gradients wanted) the forward
    keeps every step's gates beside ``out`` for the backward; otherwise, or when they are
    gone, the backward recomputes them from ``out`` with one matmul.
    """

    blas = True

    name = "lstm_layer"
    n_outputs = 3
    needs_output = True

    def cost(out_specs, in_specs, attrs):
        """Per step the recurrent product h @ w.T (2·H FLOPs per gate element) plus the
        cell (~7 per gate element)."""
        xg, w = in_specs[0][0], in_specs[1][0]
        return numel(xg) * (2 * w[1] + 7), io_bytes(out_specs, in_specs)

    def forward(xp, xg, w, h0, c0, reverse, axis, save=False):
        return K.lstm_layer(xp, xg, w, h0, c0, reverse, axis, save)

    def vjp(F, g, out, xg, w, h0, c0, reverse, axis, save=False):
        if F is not diff or not is_grad_enabled():  # arrays, or traced without
            # create_graph (the jit records the fused op): one fused op
            return F.lstm_layer_grad(g[0], g[1], g[2], xg, w, h0, c0, out[0], reverse=reverse,
                                     axis=axis)
        return _lstm_layer_vjp_recorded(F, g, xg, w, h0, c0, reverse, axis)


def _lstm_layer_vjp_recorded(F, g, xg, w, h0, c0, reverse, axis):
    """The layer's vjp as recorded ops (create_graph): replay the steps with ``lstm_cell``
    and chain the cells' own vjps back through time, so it can be differentiated again."""
    g_out, dh, dc = g
    steps = xg.shape[axis]
    lead = (slice(None),) * axis
    order = range(steps - 1, -1, -1) if reverse else range(steps)
    w_t = F.permute(w, axes=(1, 0))
    h, c, saved = h0, c0, {}
    for t in order:
        xt = F.get_item(xg, index=lead + (t,))
        hg = None if h is None else F.matmul(h, w_t)
        h_new, c_new = F.lstm_cell(xt, hg, c)
        saved[t] = (xt, hg, c, h, h_new, c_new)
        h, c = h_new, c_new
    dxs, dw = [None] * steps, None
    for t in reversed(order):
        xt, hg, c_prev, h_prev, h_new, c_new = saved[t]
        dh = dh + F.get_item(g_out, index=lead + (t,))
        dxs[t], dhg, dc = LstmCell.vjp(F, (dh, dc), (h_new, c_new), xt, hg, c_prev)
        if hg is not None:
            part = F.matmul(F.permute(dhg, axes=(1, 0)), h_prev)
            dw = part if dw is None else dw + part
            dh = F.matmul(dhg, w)
    shape = tuple(xg.shape[:axis]) + (1,) + tuple(xg.shape[axis + 1:])
    dx = F.concat(*[F.reshape(d, shape=shape) for d in dxs], axis=axis)
    if dw is None:  # one step from a zero state: the weight had no effect
        dw = w * 0.0
    return dx, dw, (dh if h0 is not None else None), (dc if c0 is not None else None)


@register
class LstmLayerGrad(Op):
    """The LSTM layer's vjp on arrays (a plain backward only)."""

    blas = True

    name = "lstm_layer_grad"
    n_outputs = 4
    differentiable = False

    def cost(out_specs, in_specs, attrs):
        """Two recurrent products per step (dh and dW: 4·H per gate element) plus the cells'
        gradients (~14 per gate element)."""
        xg, w = in_specs[3][0], in_specs[4][0]
        return numel(xg) * (4 * w[1] + 14), io_bytes(out_specs, in_specs)

    def forward(xp, g_out, g_hn, g_cn, xg, w, h0, c0, out, reverse, axis):
        return K.lstm_layer_grad(xp, g_out, g_hn, g_cn, xg, w, h0, c0, out, reverse, axis)


@register
class GruCellGrad(Op):
    """The GRU cell's vjp on arrays: ``(dxg, dhg, dh)`` (a plain backward only)."""

    name = "gru_cell_grad"
    n_outputs = 3
    differentiable = False

    def cost(out_specs, in_specs, attrs):
        """About twice the cell's forward."""
        return 10 * numel(in_specs[1][0]) + 8 * numel(in_specs[3][0]), io_bytes(
            out_specs, in_specs)

    def forward(xp, g, xg, hg, h):
        return K.gru_cell_grad(xp, g, xg, hg, h)


@register
class GruCell(Op):
    """One GRU step: ``(xg, hg, h) -> h'`` with ``xg = W_ih x + b_ih``, ``hg = W_hh h + b_hh``."""

    name = "gru_cell"

    def cost(out_specs, in_specs, attrs):
        """Per gate element an add and an activation (~5); per state element the blend (~4)."""
        return 5 * numel(in_specs[0][0]) + 4 * numel(in_specs[2][0]), io_bytes(
            out_specs, in_specs)

    def forward(xp, xg, hg, h):
        return K.gru_cell(xp, xg, hg, h)

    def vjp(F, g, out, xg, hg, h):
        if F is not diff or not is_grad_enabled():  # arrays, or traced without
            # create_graph (the jit records the fused op): one fused op
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
        tensor([[0.5, 0.5],
                [0.5, 0.5]])
    """
    return apply(GruCell, xg, hg, h)


def lstm_layer(xg: Tensor, w_hh: Tensor, h0: Tensor | None = None, c0: Tensor | None = None,
               reverse: bool = False, time_dim: int = 0) -> tuple:
    """Run an LSTM layer over projected inputs (see ``LstmLayer``): ``(out, h_n, c_n)``.

    Args:
        xg: (T, N, 4H) input projections ``x W_ih^T + b_ih + b_hh`` ((N, T, 4H) with
            ``time_dim=1``).
        w_hh: (4H, H) recurrent weights, gates in PyTorch's order ``i, f, g, o``.
        h0, c0: (N, H) initial states, or None for zeros.
        reverse: run from the last step to the first.

    Example:
        >>> import ember
        >>> out, h, c = ember.ops.rnn.lstm_layer(ember.zeros(5, 2, 12), ember.zeros(12, 3))
        >>> out.shape, h.shape, c.shape
        ((5, 2, 3), (2, 3), (2, 3))
    """
    save = is_grad_enabled() and any(t is not None and t.requires_grad
                                     for t in (xg, w_hh, h0, c0))
    return apply(LstmLayer, xg, w_hh, h0, c0, reverse=bool(reverse), axis=time_dim, save=save)
