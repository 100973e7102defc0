"""Automatic differentiation: ``backward``, ``grad``, custom ``Function``s, ``gradcheck``.

Example:
    >>> import ember
    >>> x = ember.tensor([1.0, 2.0], requires_grad=True)
    >>> (g,) = ember.autograd.grad((x ** 3).sum(), x)
    >>> g
    tensor([ 3., 12.])
"""

from __future__ import annotations

from ..errors import AutogradError
from .engine import detect_anomaly, run_backward
from .function import Function, FunctionCtx
from .grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import gradcheck, gradgradcheck

__all__ = [
    "backward", "grad", "Function", "FunctionCtx", "gradcheck", "gradgradcheck",
    "detect_anomaly", "no_grad", "enable_grad", "inference_mode", "set_grad_enabled",
    "is_grad_enabled",
]


def _as_list(x):
    if x is None:
        return None
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _seed_grads(outputs, grad_outputs, create_graph, op_name):
    from ..tensor import Tensor

    grads = []
    for i, t in enumerate(outputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op_name}: outputs must be tensors, got {type(t).__name__}")
        if not t.requires_grad:
            raise AutogradError(
                f"{op_name}: output {i} ({tuple(t.shape)} {t.dtype.name}) does not require grad "
                "and has no grad_fn: nothing recorded leads to it. Make sure an input has "
                "requires_grad=True, that it is floating point, that the computation did not "
                "pass through an integer op (argmax, comparisons) and that it ran outside no_grad"
            )
        g = grad_outputs[i] if grad_outputs is not None else None
        if g is None:
            if t.data.size != 1:
                raise AutogradError(
                    f"{op_name}: output {i} has shape {tuple(t.shape)}; a gradient can be "
                    "created implicitly only for one-element outputs. Pass gradient= (a tensor "
                    "of the output's shape), or reduce the output first, e.g. y.sum().backward()"
                )
            from ..ops.creation import ones_like

            g = ones_like(t)
        elif not isinstance(g, Tensor):
            from ..ops.creation import tensor

            g = tensor(g, dtype=t.dtype)
        if tuple(g.shape) != tuple(t.shape):
            raise AutogradError(
                f"{op_name}: gradient for output {i} has shape {tuple(g.shape)} but the output "
                f"has shape {tuple(t.shape)}"
            )
        grads.append(g if create_graph else g.data)
    return grads


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate gradients of ``tensors`` into the ``.grad`` of the leaves that need them.

    Args:
        tensors: a tensor or a list of tensors to differentiate.
        grad_tensors: their gradients (needed for tensors with more than one element).
        retain_graph: keep the graph for another backward (defaults to ``create_graph``).
        create_graph: record the backward pass for higher-order derivatives.
        inputs: if given, accumulate only into these leaves.
    """
    tensors = _as_list(tensors)
    grad_tensors = _as_list(grad_tensors)
    if retain_graph is None:
        retain_graph = create_graph
    grads = _seed_grads(tensors, grad_tensors, create_graph, "backward")
    if inputs is not None:
        inputs = _as_list(inputs)
        captured = grad(tensors, inputs, grad_outputs=[
            g if create_graph else _wrap(g) for g in grads],
            retain_graph=retain_graph, create_graph=create_graph, allow_unused=True)
        for t, g in zip(inputs, captured):
            if g is not None:
                t.grad = g if t.grad is None else t.grad + g
        return
    run_backward(tensors, grads, retain_graph=retain_graph, create_graph=create_graph)


def _wrap(arr):
    import numpy as np

    from ..tensor import Tensor

    if isinstance(arr, Tensor):  # the engine records tensors while ember.jit traces
        return arr
    return Tensor(arr if hasattr(arr, "shape") and not isinstance(arr, np.generic)
                  else np.asarray(arr))


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """Gradients of ``outputs`` with respect to ``inputs``, returned (not accumulated).

    Args:
        outputs: tensor(s) to differentiate.
        inputs: tensor(s) to differentiate with respect to (leaves or intermediate results).
        grad_outputs: gradients of the outputs (needed for non-scalar outputs).
        retain_graph: keep the graph (defaults to ``create_graph``).
        create_graph: record the computation so the result can be differentiated again.
        allow_unused: return None for inputs the outputs do not depend on instead of raising.

    Example:
        >>> import ember
        >>> x = ember.tensor(2.0, requires_grad=True)
        >>> (dy,) = ember.autograd.grad(x ** 3, x, create_graph=True)
        >>> (d2y,) = ember.autograd.grad(dy, x)
        >>> dy.item(), d2y.item()
        (12.0, 12.0)
    """
    from ..tensor import Tensor

    outputs = _as_list(outputs)
    inputs = _as_list(inputs)
    grad_outputs = _as_list(grad_outputs)
    if retain_graph is None:
        retain_graph = create_graph
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise AutogradError(
                f"grad: input {i} does not require grad; only tensors with requires_grad=True "
                "(or computed from them) can be differentiated with respect to"
            )
    seeds = _seed_grads(outputs, grad_outputs, create_graph, "grad")
    capture = {}
    keys = []
    for t in inputs:
        key = id(t) if t._node is None else (t._node, t._idx)
        capture[key] = None
        keys.append(key)
    run_backward(outputs, seeds, retain_graph=retain_graph, create_graph=create_graph,
                 capture=capture)
    result = []
    for i, (t, k) in enumerate(zip(inputs, keys)):
        g = capture[k]
        if g is None:
            if not allow_unused:
                raise AutogradError(
                    f"grad: input {i} ({tuple(t.shape)}) was not used to compute the outputs; "
                    "pass allow_unused=True to get None for it"
                )
            result.append(None)
        else:
            result.append(g if create_graph else _wrap(g))
    return tuple(result)
