"""Adam's (and SGD's) update of large float32 parameters as oneDNN binary primitives.

NumPy runs ``Adam._update`` as a dozen ufunc passes on one core (the update stays on the
calling thread while oneDNN is active, see ``ember.optim._parallel``). oneDNN's binary
primitive takes a chain of post-ops (eltwise functions and further binary operands) that it
applies in registers, and runs on oneDNN's own OpenMP threads, which are awake anyway. An
update becomes three passes over memory:

1. ``m = beta1 * m + m_coef * g``: binary add, scales on both sources given at run time,
   written in place (oneDNN allows ``dst`` to be ``src0``);
2. ``v = beta2 * (v + (1 - beta2) / beta2 * g * g)``: binary mul of ``g`` by itself (scale
   on src0) with post-ops ``+ v`` and ``* beta2``;
3. ``p = p + neg_step * m / (sqrt(v) + eps)``: ``v * 1`` with post-ops ``sqrt``, ``+ eps``,
   ``pow(., -1)``, ``* m``, ``* neg_step``, ``+ p``.

oneDNN 3.2's binary primitive has no ``sum`` post-op, so passes 2 and 3 read the tensor they
write (``v``, ``p``) as a post-op operand at the same offsets: the kernel loads, computes
and stores block by block, and each element is read before it is written. Every per-step
scalar (the bias corrections, ``eps`` times ``sqrt(1 - beta2^t)``) is a one-element operand
or a run-time scale, so one primitive per parameter size serves every step. The result
differs from the NumPy rule by rounding only (the order of the multiplications in pass 2);
the tests hold it to PyTorch's float32 Adam.

Used for float32, C-contiguous parameters of at least ``MIN_SIZE`` elements without L2
weight decay or AMSGrad (AdamW's decoupled decay is one NumPy pass before); the rest stays
with the NumPy rule. SGD (``sgd_update``) is one or two binary adds with run-time scales:
the momentum buffer, then the parameter step (with ``+ p`` as a post-op for Nesterov's).
"""

from __future__ import annotations

import threading

import numpy as np

from ._binary import ADD, MUL, POW, SQRT, SRC0, SRC1, binary
from ._lib import _Library, cached

MIN_SIZE = 1 << 15  # elements: below this the three calls cost more than NumPy's passes


class _AdamProblem:
    """The three primitives of Adam's update for parameters of ``n`` elements."""

    def __init__(self, lib: _Library, n: int) -> None:
        self.lock = threading.Lock()  # the memories are shared by callers of one size
        self.moment = binary(lib, ADD, n, False, (), (SRC0, SRC1))
        self.second = binary(lib, MUL, n, False, (("binary", ADD, False), ("binary", MUL, True)),
                             (SRC0,))
        self.param = binary(lib, MUL, n, True, (
            ("eltwise", SQRT, 0.0, 0.0), ("binary", ADD, True),
            ("eltwise", POW, 1.0, -1.0), ("binary", MUL, False),
            ("binary", MUL, True), ("binary", ADD, False)), ())


def _arrays_fit(xp, p, g, bufs) -> bool:
    return (xp is np and p.size >= MIN_SIZE
            and all(a.dtype == np.float32 and a.flags.c_contiguous and a.shape == p.shape
                    for a in (p, g) + tuple(bufs)))


def _eligible(xp, coefs, p, g, bufs) -> bool:
    beta2, wd, amsgrad = coefs[1], coefs[6], coefs[9]
    return not wd and not amsgrad and beta2 > 0.0 and len(bufs) == 2 and \
        _arrays_fit(xp, p, g, bufs)


def adam_update(jobs: list) -> list:
    """Run the oneDNN update for the jobs ``(xp, coefs, p, g, (m, v))`` of an Adam step
    that it serves (see the module); returns the others, for the NumPy rule."""
    rest = []
    for job in jobs:
        xp, coefs, p, g, bufs = job
        prob = cached(("adam", p.size), lambda lib, n=p.size: _AdamProblem(lib, n)) \
            if _eligible(xp, coefs, p, g, bufs) else None
        if prob is None:
            rest.append(job)
            continue
        beta1, beta2, m_coef, g_coef, eps, neg_step, _, _, decay, _ = coefs
        m, v = bufs
        c = np.array([beta1, m_coef, g_coef * g_coef / beta2, beta2, 1.0, eps, neg_step],
                     np.float32)
        if decay != 1.0:
            np.multiply(p, decay, out=p)
        with prob.lock:
            prob.moment.run(m, g, m, c[0:1], c[1:2])
            prob.second.run(g, g, v, v, c[3:4], c[2:3])
            prob.param.run(v, c[4:5], p, c[5:6], m, c[6:7], p)
    return rest


class _SgdProblem:
    """SGD's primitives for parameters of ``n`` elements: ``a·s0 + b·s1`` (the momentum
    buffer, or plain SGD and heavy-ball momentum's parameter step), and ``a·s0 + b·s1 + p``
    (Nesterov's parameter step)."""

    def __init__(self, lib: _Library, n: int) -> None:
        self.lock = threading.Lock()
        self.axpby = binary(lib, ADD, n, False, (), (SRC0, SRC1))
        self.nesterov = binary(lib, ADD, n, False, (("binary", ADD, False),), (SRC0, SRC1))


def sgd_update(jobs: list) -> list:
    """Run SGD's update through oneDNN for the jobs ``(xp, coefs, p, g, bufs)`` it serves
    (float32, contiguous, at least ``MIN_SIZE`` elements, no L2 ``weight_decay``); returns
    the others, for the NumPy rule. Two passes with momentum (buffer, then parameter), one
    without; ``maximize`` flips the gradient's scale."""
    rest = []
    for job in jobs:
        xp, coefs, p, g, bufs = job
        lr, wd, maximize, momentum, damp, nesterov, first = coefs
        prob = cached(("sgd", p.size), lambda lib, n=p.size: _SgdProblem(lib, n)) \
            if not wd and _arrays_fit(xp, p, g, bufs) else None
        if prob is None:
            rest.append(job)
            continue
        sign = -1.0 if maximize else 1.0
        with prob.lock:
            if momentum == 0:
                c = np.array([1.0, -lr * sign], np.float32)
                prob.axpby.run(p, g, p, c[0:1], c[1:2])
                continue
            buf = bufs[0]
            # PyTorch starts the buffer at the first gradient itself (no dampening)
            c = np.array([0.0 if first else momentum, sign if first else sign * damp,
                          1.0, -lr, -lr * sign, -lr * momentum], np.float32)
            prob.axpby.run(buf, g, buf, c[0:1], c[1:2])
            if nesterov:  # p += -lr * (g + momentum * buf)
                prob.nesterov.run(g, buf, p, p, c[4:5], c[5:6])
            else:
                prob.axpby.run(p, buf, p, c[2:3], c[3:4])
    return rest
