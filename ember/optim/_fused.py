"""The optimiser step as one op: ``optimizer_step_<n>``, the eager kernel inside a graph.

Eagerly, ``Optimizer.step`` hands every parameter's update to ``_parallel.run``: the
rule's ``_update`` in chunks on a few threads, in place, with per-thread scratch buffers. Under
``ember.jit`` the same call becomes one graph node per parameter group, whose forward is that
kernel: the compiled training step updates its parameters exactly as the eager step does,
with the same passes over memory and the same threads, instead of a dozen recorded
single-threaded elementwise ops per parameter.

The op writes its arguments in place: output ``k`` is argument ``writes(attrs)[k]``
after the update (parameters, step counts and state buffers), and the graph records those
outputs as the new values of the states. The executor sees ``writes`` and lets the node work
on the states' own arrays, or on copies where a later node still reads the old values.

Arguments, per parameter: ``p, g``, the step count (a 0-d float64 array) when the rule keeps
one, then the state buffers in the rule's ``_buffers`` order; last, the learning rate (a 0-d
float64 array, read at run time so a scheduler's changes need no new graph). Attributes:
``rule`` (a key of ``RULES``), ``hyper`` (the group's other hyper-parameters as
``(name, value)`` pairs) and ``layout`` (per parameter: whether it has a step count, and
the names of its buffers).

Example:
    >>> import ember
    >>> from ember.optim._fused import step_op
    >>> step_op(2).name
    'optimizer_step_2'
"""

from __future__ import annotations

import threading

from ..backend import backend_of
from ..ops.registry import Op, register
from . import _parallel
from .adagrad import Adagrad
from .adam import Adam
from .rmsprop import RMSprop
from .sgd import SGD

RULES: dict[str, type] = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop, "adagrad": Adagrad}
_RULE_OF = {cls: name for name, cls in RULES.items()}
_OPS: dict[int, type] = {}
_scratch = threading.local()  # per calling thread: the scratch list _parallel.run keeps


def rule_name(opt) -> str | None:
    """The ``RULES`` key of ``opt``'s update rule (subclasses of a rule that override none
    of its methods share it), or None when it has no fused op."""
    for cls in type(opt).__mro__:
        name = _RULE_OF.get(cls)
        if name is not None:
            for meth in ("_update", "_coefficients", "_new_state"):
                if getattr(type(opt), meth) is not getattr(cls, meth):
                    return None
            return name
    return None


class OptimizerStep(Op):
    """An optimiser's update of every parameter of one group, in place (see the module)."""

    differentiable = False
    uses_input_values = False

    def forward(xp, *arrays, rule: str, hyper: tuple, layout: tuple):
        cls = RULES[rule]
        group = dict(hyper)
        group["lr"] = float(arrays[-1])
        jobs, outs = [], []
        k = 0
        for has_step, names in layout:
            p, g = arrays[k], arrays[k + 1]
            k += 2
            state = {}
            step = None
            if has_step:
                step = arrays[k]
                k += 1
                state["step"] = int(step)
            bufs = arrays[k:k + len(names)]
            k += len(names)
            state.update(zip(names, bufs))
            coefs = cls._coefficients(None, None, group, state)
            outs.append(p)
            if step is not None:
                step[...] = state["step"]
                outs.append(step)
            outs.extend(bufs)
            jobs.append((xp, coefs, p, g, bufs))
        jobs = backend_of(arrays[0]).fused_optimizer_step(cls, jobs)  # CUDA, oneDNN
        if jobs:
            scratch = getattr(_scratch, "lists", None)
            if scratch is None:
                scratch = _scratch.lists = {}
            _parallel.run(cls._update, jobs, cls._n_scratch, scratch.setdefault(rule, []))
        return outs[0] if len(outs) == 1 else tuple(outs)

    @staticmethod
    def writes(attrs: dict) -> tuple:
        """The argument index each output is written into, in output order."""
        out = []
        k = 0
        for has_step, names in attrs["layout"]:
            out.append(k)
            k += 2
            n = len(names) + (1 if has_step else 0)
            out.extend(range(k, k + n))
            k += n
        return tuple(out)


def step_op(n_outputs: int) -> type:
    """The registered ``OptimizerStep`` op with ``n_outputs`` outputs."""
    op = _OPS.get(n_outputs)
    if op is None:
        op = _OPS[n_outputs] = register(type(f"OptimizerStep{n_outputs}", (OptimizerStep,), {
            "name": f"optimizer_step_{n_outputs}", "n_outputs": n_outputs}))
    return op
