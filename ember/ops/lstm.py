"""A whole LSTM layer in one direction as one primitive, from its input: ``lstm``.

``nn.LSTM`` runs each layer and direction as one ``lstm`` op: the input projection of every
step (``x W_ih^T + b``) and the recurrence (``lstm_layer``'s kernel) together, so that a
backend can run the layer as one library call -- the CPU backend's oneDNN LSTM primitive,
forward and backward (``ember/backend/onednn/``). On NumPy and CuPy the forward is one
matmul and the fused recurrence kernel, as before; its fourth output keeps the projections
(and, beside the hidden states, every step's gates) for the backward, which is one fused
op (``lstm_grad``) for a plain ``backward()`` and recorded ops under ``create_graph``.

Example:
    >>> import ember
    >>> out, h, c = ember.ops.lstm.lstm(ember.zeros(5, 2, 3), ember.zeros(8, 3),
    ...                                 ember.zeros(8, 2))
    >>> out.shape, h.shape, c.shape
    ((5, 2, 2), (2, 2), (2, 2))
"""

from __future__ import annotations

from ..autograd.grad_mode import is_grad_enabled
from ..autograd.node import apply
from ..tensor import Tensor
from . import rnn_kernels as K
from .layer_ops import Linear
from .registry import Op, diff, io_bytes, numel, register
from .rnn import _lstm_layer_vjp_recorded

__all__ = ["lstm"]


def _project(xp, x, w_ih, bias):
    """The input projections ``x W_ih^T + bias`` of every step, as Linear's forward."""
    xg = xp.matmul(x.reshape(-1, x.shape[-1]), w_ih.T).reshape(x.shape[:-1] + w_ih.shape[:1])
    if bias is not None:
        xg += bias
    return xg


@register
class Lstm(Op):
    """``(x, w_ih, w_hh, bias, h0, c0) -> (out, h_n, c_n, saved)``: one LSTM layer in one
    direction; ``bias = b_ih + b_hh`` or None, ``h0``/``c0`` None for zeros, time along
    ``axis``. ``saved`` is what the backward needs (the projections here; oneDNN's
    workspace on the CPU backend) and takes no gradient."""

    blas = True

    n_outputs = 4
    grad_outputs = 3
    needs_output = True

    def cost(out_specs, in_specs, attrs):
        """The projection (2·C FLOPs per gate element) plus the recurrence (2·H + 7)."""
        x, w_hh = in_specs[0][0], in_specs[2][0]
        gates = numel(x) // x[-1] * w_hh[0]
        return gates * (2 * x[-1] + 2 * w_hh[1] + 7), io_bytes(out_specs[:3], in_specs)

    def forward(xp, x, w_ih, w_hh, bias, h0, c0, reverse, axis, save=False):
        xg = _project(xp, x, w_ih, bias)
        out, h, c = K.lstm_layer(xp, xg, w_hh, h0, c0, reverse, axis, save)
        return out, h, c, xg

    def vjp(F, g, out, x, w_ih, w_hh, bias, h0, c0, reverse, axis, save=False):
        if F is not diff or not is_grad_enabled():  # arrays, or traced without create_graph
            dx, dw_ih, dw_hh, db, dh0, dc0 = F.lstm_grad(
                g[0], g[1], g[2], x, w_ih, w_hh, bias, h0, c0, out[0], out[1], out[2], out[3],
                reverse=reverse, axis=axis)
            return dx, dw_ih, dw_hh, db, dh0, dc0
        xg = F.linear(x, w_ih, bias)  # recorded, so the result can be differentiated again
        dxg, dw_hh, dh0, dc0 = _lstm_layer_vjp_recorded(F, g[:3], xg, w_hh, h0, c0, reverse,
                                                        axis)
        dx, dw_ih, db = Linear.vjp(F, dxg, xg, x, w_ih, bias)
        return dx, dw_ih, dw_hh, db, dh0, dc0


@register
class LstmGrad(Op):
    """``lstm``'s vjp on arrays (a plain backward only): ``(dx, dw_ih, dw_hh, dbias, dh0,
    dc0)``, None for the arguments that were None."""

    blas = True

    n_outputs = 6
    differentiable = False

    def cost(out_specs, in_specs, attrs):
        """Twice the forward's products plus the cells' gradients (~14 per gate element)."""
        x, w_hh = in_specs[3][0], in_specs[5][0]
        gates = numel(x) // x[-1] * w_hh[0]
        return gates * (4 * x[-1] + 4 * w_hh[1] + 14), io_bytes(out_specs, in_specs)

    def forward(xp, g_out, g_hn, g_cn, x, w_ih, w_hh, bias, h0, c0, out, h_n, c_n, saved,
                reverse, axis):
        dxg, dw_hh, dh0, dc0 = K.lstm_layer_grad(xp, g_out, g_hn, g_cn, saved, w_hh, h0, c0,
                                                 out, reverse, axis)
        d2 = dxg.reshape(-1, dxg.shape[-1])
        dx = xp.matmul(d2, w_ih).reshape(x.shape)
        dw_ih = xp.matmul(d2.T, x.reshape(-1, x.shape[-1]))
        db = None if bias is None else d2.sum(axis=0)
        return dx, dw_ih, dw_hh, db, dh0, dc0


def lstm(x: Tensor, w_ih: Tensor, w_hh: Tensor, bias: Tensor | None = None,
         h0: Tensor | None = None, c0: Tensor | None = None, reverse: bool = False,
         time_dim: int = 0) -> tuple:
    """Run one LSTM layer in one direction over ``x``: ``(out, h_n, c_n)``.

    Args:
        x: (T, N, C) inputs ((N, T, C) with ``time_dim=1``).
        w_ih: (4H, C) and ``w_hh``: (4H, H) weights, gates in PyTorch's order ``i, f, g, o``.
        bias: (4H,) ``b_ih + b_hh``, or None.
        h0, c0: (N, H) initial states, or None for zeros.
        reverse: run from the last step to the first.

    Example:
        >>> import ember
        >>> out, h, c = ember.ops.lstm.lstm(ember.zeros(2, 7, 3), ember.zeros(8, 3),
        ...                                 ember.zeros(8, 2), time_dim=1)
        >>> out.shape
        (2, 7, 2)
    """
    save = is_grad_enabled() and any(t is not None and t.requires_grad
                                     for t in (x, w_ih, w_hh, bias, h0, c0))
    out, h, c, _ = apply(Lstm, x, w_ih, w_hh, bias, h0, c0, reverse=bool(reverse),
                         axis=time_dim, save=save)
    return out, h, c
