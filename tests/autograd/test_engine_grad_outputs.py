"""``Op.grad_outputs``: outputs past it (saved state) get None, not zeros, in the vjp."""

from __future__ import annotations

import numpy as np

import ember
from ember.ops import lstm as lstm_ops


def test_saved_state_output_gets_no_zero_gradient(monkeypatch):
    seen = []
    real = lstm_ops.Lstm.vjp

    def spy(F, g, out, *args, **attrs):
        seen.append((g[1] is not None, g[2] is not None, g[3]))
        return real(F, g, out, *args, **attrs)

    monkeypatch.setattr(lstm_ops.Lstm, "vjp", staticmethod(spy))
    lstm = ember.nn.LSTM(3, 4)
    out, (h, c) = lstm(ember.randn(5, 2, 3, requires_grad=True))
    out.sum().backward()  # h_n and c_n get zeros (they are outputs that take gradients)
    assert seen == [(True, True, None)]
    assert np.isfinite(lstm.weight_hh_l0.grad.numpy()).all()
