"""Every op-table row: the jit-compiled call (forward, and forward + backward) gives exactly
what the eager call gives, in float32 and float64."""

from __future__ import annotations

import numpy as np
import pytest
from ops.harness import cast_inputs, is_diff, outputs, to_ember
from ops.op_table import cases

import ember
from ember.graph import jit


def _same(a, b, what):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, what
    np.testing.assert_array_equal(a, b, err_msg=what)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("op,sample", cases(lambda op, s: "float32" in op.dtypes))
def test_forward_eager_equals_jit(op, sample, dtype):
    args = [to_ember(a) for a in cast_inputs(sample, op, dtype)]
    pos = [i for i, a in enumerate(args) if isinstance(a, ember.Tensor)]

    def fn(*ts):
        full = list(args)
        for i, t in zip(pos, ts):
            full[i] = t
        return outputs(op.ember(*full, **sample.kwargs))

    tensors = [args[i] for i in pos]
    want = [o.detach().numpy() for o in fn(*tensors)]
    fast = jit(fn)
    fast(*tensors)  # the tracing call
    got = fast(*tensors)  # the compiled graph
    for i, (w, g) in enumerate(zip(want, got)):
        _same(g.numpy(), w, f"{op.name} output {i}")


@pytest.mark.parametrize("op,sample", cases(
    lambda op, s: op.grad and s.grad and any(is_diff(a) for a in s.args)))
def test_backward_eager_equals_jit(op, sample):
    base = [to_ember(a) for a in sample.args]
    pos = [i for i, a in enumerate(sample.args) if is_diff(a)]
    rng = np.random.default_rng(0)

    def fn(*xs):
        full = list(base)
        for i, x in zip(pos, xs):
            full[i] = x.detach().requires_grad_()
        outs = [o for o in outputs(op.ember(*full, **sample.kwargs))
                if o.dtype.is_floating_point]
        loss = sum((o * ember.from_numpy(rng_weights(o.shape))).sum() for o in outs)
        # create_graph: the seeds are tensors (see the report: plain seeds are arrays)
        grads = ember.autograd.grad(loss, [full[i] for i in pos], allow_unused=True,
                                    create_graph=True)
        return [loss] + [g for g in grads if g is not None]

    weights = {}

    def rng_weights(shape):
        if shape not in weights:
            weights[shape] = rng.standard_normal(shape)
        return weights[shape]

    xs = [base[i] for i in pos]
    fast = jit(fn)
    want = [np.asarray(t.data) for t in fn(*xs)]  # autograd.grad may wrap NumPy scalars
    fast(*xs)
    got = fast(*xs)
    for i, (w, g) in enumerate(zip(want, got)):
        _same(g.numpy(), w, f"{op.name} result {i}")
