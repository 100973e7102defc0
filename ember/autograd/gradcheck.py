"""Numerical gradient checks: compare autograd's Jacobian with central differences.

Use float64 inputs; the defaults are PyTorch's (eps 1e-6, atol 1e-5, rtol 1e-3).

Example:
    >>> import ember
    >>> x = ember.randn(3, dtype=ember.float64, requires_grad=True)
    >>> ember.autograd.gradcheck(lambda t: (t.exp() * t).sum(), (x,))
    True
"""

from __future__ import annotations

import numpy as np

from ..errors import AutogradError


def _outputs(fn, inputs):
    out = fn(*inputs)
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _numerical_jacobian(fn, inputs, i, eps):
    """d(flattened outputs) / d(flattened input i), by central differences."""
    x = inputs[i]
    cols = []
    for idx in np.ndindex(x.data.shape):  # element by element: works for non-contiguous data
        orig = x.data[idx]
        x.data[idx] = orig + eps  # recording stays on: fn may itself take gradients
        plus = _flat_outputs(fn, inputs)
        x.data[idx] = orig - eps
        minus = _flat_outputs(fn, inputs)
        x.data[idx] = orig
        cols.append((plus - minus) / (2 * eps))
    if not cols:
        return np.zeros((_flat_outputs(fn, inputs).size, 0))
    return np.stack(cols, axis=1)


def _flat_outputs(fn, inputs):
    outs = _outputs(fn, inputs)
    if not outs:
        return np.zeros(0)
    return np.concatenate([np.asarray(o.data, dtype=np.float64).reshape(-1) for o in outs])


def _analytical_jacobian(fn, inputs, i, create_graph=False):
    from . import grad

    outs = _outputs(fn, inputs)
    rows = []
    for o in outs:
        for k in range(o.data.size):
            seed = np.zeros(o.data.size, dtype=o.data.dtype)
            seed[k] = 1.0
            from ..tensor import Tensor

            if not o.requires_grad:
                rows.append(np.zeros(inputs[i].data.size))
                continue
            (g,) = grad([o], [inputs[i]], grad_outputs=[Tensor(seed.reshape(o.data.shape))],
                        retain_graph=True, allow_unused=True)
            rows.append(np.zeros(inputs[i].data.size) if g is None
                        else np.asarray(g.data, dtype=np.float64).reshape(-1))
    return np.stack(rows, axis=0) if rows else np.zeros((0, inputs[i].data.size))


def gradcheck(fn, inputs, *, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True) -> bool:
    """Check autograd's gradients of ``fn(*inputs)`` against finite differences.

    Only inputs with ``requires_grad=True`` are checked; they should be float64.
    Returns True, or raises (or returns False with ``raise_exception=False``) naming the
    input and the largest difference.
    """
    inputs = tuple(inputs)
    for i, x in enumerate(inputs):
        if not getattr(x, "requires_grad", False):
            continue
        if x.data.dtype != np.float64:
            raise AutogradError(
                f"gradcheck: input {i} is {x.dtype.name}; finite differences need float64 "
                "inputs (x.double())"
            )
        num = _numerical_jacobian(fn, inputs, i, eps)
        ana = _analytical_jacobian(fn, inputs, i)
        if num.shape != ana.shape or not np.allclose(ana, num, atol=atol, rtol=rtol):
            diff = np.abs(ana - num).max() if num.shape == ana.shape else float("inf")
            if raise_exception:
                raise AutogradError(
                    f"gradcheck: Jacobian mismatch for input {i}: largest difference {diff:.3g} "
                    f"(atol {atol}, rtol {rtol}).\nnumerical:\n{num}\nanalytical:\n{ana}"
                )
            return False
    return True


def gradgradcheck(fn, inputs, grad_outputs=None, *, eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, seed: int = 0) -> bool:
    """Check second derivatives: gradcheck of ``v -> vjp(fn, v)`` with ``create_graph=True``."""
    from ..tensor import Tensor
    from . import grad

    inputs = tuple(inputs)
    outs = _outputs(fn, inputs)
    rng = np.random.default_rng(seed)
    if grad_outputs is None:
        grad_outputs = [Tensor(rng.standard_normal(o.shape)).requires_grad_() for o in outs]
    diff_inputs = [x for x in inputs if getattr(x, "requires_grad", False)]

    def first_grads(*args):
        ins = args[:len(inputs)]
        gos = args[len(inputs):]
        o = _outputs(fn, ins)
        gs = grad(o, [x for x in ins if getattr(x, "requires_grad", False)],
                  grad_outputs=list(gos), create_graph=True, allow_unused=True)
        return tuple(g if g is not None else Tensor(np.zeros(x.shape))
                     for g, x in zip(gs, diff_inputs))

    return gradcheck(first_grads, inputs + tuple(grad_outputs), eps=eps, atol=atol, rtol=rtol)
