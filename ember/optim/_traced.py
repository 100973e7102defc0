"""The optimiser step while ``ember.jit`` traces: the same update rule, recorded as ops.

For the built-in rules (SGD, Adam/AdamW, RMSprop, Adagrad) once their state exists, each
parameter group's update is recorded as one ``optimizer_step_<n>`` op whose forward is the
eager kernel (``_fused.py``): the graph then updates its states in place, chunked and
threaded, exactly as ``opt.step()`` does. Other rules, and steps that create state buffers
(a first step, which is traced again anyway), take the general path below.

Eagerly, an optimiser's ``_update(xp, coefficients, p, g, buffers, scratch)`` writes into
arrays with ``out=``. While tracing, the same function runs against ``TracedXP``: every
``xp.<ufunc>(..., out=a)`` becomes an ember op whose result is remembered as the new value of
``a``; at the end the parameter and the state buffers are assigned their final values with
``copy_`` (which the tracer records as variable updates). The step count is held in a 0-d
tensor, so coefficients that depend on it (Adam's bias corrections) are computed in the graph
rather than frozen at trace time. One update rule serves eager and traced steps.
"""

from __future__ import annotations

from ..autograd.grad_mode import no_grad
from ..autograd.grad_mode import state as _state
from ..autograd.node import apply
from ..ops import creation
from ..ops import elementwise as ew
from ..tensor import Tensor


class TracedXP:
    """The ufuncs an update rule uses, as ember ops on the tensors behind the arrays."""

    def __init__(self, values: dict) -> None:
        self.values = values  # id(array) -> the tensor holding its current value

    def _v(self, a):
        if isinstance(a, Tensor):
            return a
        return self.values.get(id(a), a) if hasattr(a, "shape") else a

    def _out(self, out, value):
        self.values[id(out)] = value
        return out

    def add(self, a, b, out):
        return self._out(out, self._v(a) + self._v(b))

    def subtract(self, a, b, out):
        return self._out(out, self._v(a) - self._v(b))

    def multiply(self, a, b, out):
        return self._out(out, self._v(a) * self._v(b))

    def divide(self, a, b, out):
        return self._out(out, self._v(a) / self._v(b))

    def maximum(self, a, b, out):
        return self._out(out, ew.maximum(self._v(a), self._v(b)))

    def sqrt(self, a, out):
        return self._out(out, ew.sqrt(self._v(a)))

    def square(self, a, out):
        return self._out(out, ew.square(self._v(a)))

    def negative(self, a, out):
        return self._out(out, -self._v(a))

    def copyto(self, dst, src):
        self._out(dst, self._v(src))


def traced_step(opt) -> None:
    """Record ``opt``'s update of every parameter with a gradient: one fused
    ``optimizer_step`` op per parameter group where the rule has one (the eager kernel),
    else the rule's ufuncs as elementwise ops."""
    import numpy as np

    live = getattr(_state.tracer, "lr_live", None)
    with no_grad():
        for group in opt.param_groups:
            if _fused_group(opt, group):
                continue
            if live is not None:
                live[id(opt)] = False  # this rule bakes the learning rate into the graph
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                state = opt.state[p]
                if not state:
                    state.update(opt._new_state(p, group))
                step = state.get("step")
                if step is not None and not isinstance(step, Tensor):
                    state["step"] = creation.tensor(float(step), dtype="float64",
                                                    device=p.device)
                counter = state.get("step")
                coefs = opt._coefficients(p, group, state)
                if counter is not None and state["step"] is not counter:
                    counter.copy_(state["step"])  # the increment becomes a variable update
                    state["step"] = counter
                buffers = [state[k] for k in opt._buffers if k in state]
                values = {id(p.data): p, id(g.data): g}
                values.update({id(b.data): b for b in buffers})
                scratch = [np.empty(0) for _ in range(opt._n_scratch)]  # stand-ins, by identity
                xp = TracedXP(values)
                opt._update(xp, coefs, p.data, g.data, tuple(b.data for b in buffers), scratch)
                for t in (p, *buffers):
                    new = values[id(t.data)]
                    if new is not t:
                        t.copy_(new.to(t.dtype))


def _plain(v) -> bool:
    if v is None or isinstance(v, (bool, int, float, str)):
        return True
    return isinstance(v, tuple) and all(_plain(x) for x in v)


def _fused_group(opt, group: dict) -> bool:
    """Record the update of ``group`` as one ``optimizer_step`` op; False (nothing done) when
    the rule has none, a hyper-parameter is not plain data, or this step creates state
    buffers (the first step: the state is new, so the next call traces again anyway)."""
    from ._fused import rule_name, step_op

    rule = rule_name(opt)
    if rule is None:
        return False
    hyper = tuple((k, tuple(v) if isinstance(v, list) else v)
                  for k, v in sorted(group.items()) if k not in ("params", "lr"))
    lr = group.get("lr")
    if not all(_plain(v) for _, v in hyper) or isinstance(lr, bool) or \
            not isinstance(lr, (int, float)):
        return False
    params = [p for p in group["params"] if p.grad is not None]
    for p in params:
        state = opt.state[p]
        if not state:
            state.update(opt._new_state(p, group))
        probe = {k: (0 if k == "step" else v) for k, v in state.items()}
        opt._coefficients(p, group, probe)
        if set(probe) != set(state):
            return False
    if not params:
        return True
    tracer = _state.tracer
    args, targets, layout = [], [], []
    for p in params:
        state = opt.state[p]
        step = state.get("step")
        if step is not None and not isinstance(step, Tensor):
            step = state["step"] = creation.tensor(float(step), dtype="float64",
                                                   device=p.device)
        names = tuple(k for k in opt._buffers if k in state)
        mine = [p] + ([step] if step is not None else []) + [state[k] for k in names]
        args += [p, p.grad, *mine[1:]]
        targets += mine
        layout.append((step is not None, names))
    cell = getattr(opt, "_jit_lr", {}).get(id(group))  # made by ember.jit before tracing
    if cell is None:
        cell = creation.tensor(float(lr), dtype="float64",  # a constant of this graph
                               device=params[0].device if params else None)
        tracer.lr_live[id(opt)] = False
    else:  # a state: the compiled step reads the rate ember.jit writes there before a run
        tracer.lr_live.setdefault(id(opt), True)
    args.append(cell)
    for t in args:
        tracer.value(t)  # classify them before the op writes into them
    outs = apply(step_op(len(targets)), *args, rule=rule, hyper=hyper, layout=tuple(layout))
    if len(targets) == 1:
        outs = (outs,)
    for t, new in zip(targets, outs):
        t._version[0] += 1
        tracer.assign(t, new)
    return True
