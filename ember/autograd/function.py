"""Custom differentiable operations: subclass ``Function`` with ``forward`` and ``backward``.

Example:
    >>> import ember
    >>> class Cube(ember.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x * x * x
    ...     @staticmethod
    ...     def backward(ctx, grad):
    ...         (x,) = ctx.saved_tensors
    ...         return grad * 3 * x * x
    >>> x = ember.tensor(2.0, requires_grad=True)
    >>> Cube.apply(x).backward()
    >>> x.grad.item()
    12.0
"""

from __future__ import annotations

from . import node as _node_mod
from .grad_mode import no_grad, state


class FunctionCtx:
    """What ``forward`` leaves for ``backward``: saved tensors and any attributes."""

    def save_for_backward(self, *tensors) -> None:
        self.saved_tensors = tuple(tensors)

    def mark_non_differentiable(self, *tensors) -> None:
        self.non_differentiable = {id(t) for t in tensors}


class _FunctionOp:
    """Adapts a user ``Function`` to the op protocol of ``ember.ops.registry.Op``."""

    name = "custom_function"
    n_outputs = 1
    needs_output = False
    differentiable = True
    is_view = False
    uses_input_values = True
    value_needed_for = None
    wants_needs = False

    def forward(xp, *arrays, fn, ctx):  # the user's forward already ran in Function.apply
        raise RuntimeError("custom functions are computed eagerly")

    def vjp(F, g, out, *args, fn, ctx):
        Tensor = _node_mod.Tensor
        raw = not isinstance(g if not isinstance(g, tuple) else g[0], Tensor)
        gs = g if isinstance(g, tuple) else (g,)
        if raw:
            gs = tuple(Tensor(x) for x in gs)
        grads = fn.backward(ctx, *gs)
        if not isinstance(grads, tuple):
            grads = (grads,)
        if len(grads) != len(args):
            raise RuntimeError(
                f"{fn.__name__}.backward returned {len(grads)} gradients for {len(args)} "
                "inputs; return one per forward input (None where there is none)"
            )
        out_grads = []
        for gr in grads:
            if gr is None or not raw:
                out_grads.append(gr)
            else:
                out_grads.append(gr.data if isinstance(gr, Tensor) else gr)
        return tuple(out_grads)


class Function:
    """Base class of custom autograd operations (PyTorch's ``torch.autograd.Function``)."""

    @staticmethod
    def forward(ctx, *args, **kwargs):  # pragma: no cover - subclasses define it
        raise NotImplementedError("a custom Function must define forward(ctx, *args)")

    @staticmethod
    def backward(ctx, *grads):  # pragma: no cover - subclasses define it
        raise NotImplementedError("a custom Function must define backward(ctx, *grads) to be "
                                  "differentiated")

    @classmethod
    def apply(cls, *args, **kwargs):
        Tensor = _node_mod.Tensor
        ctx = FunctionCtx()
        ctx.saved_tensors = ()
        with no_grad():
            out = cls.forward(ctx, *args, **kwargs)
        multi = isinstance(out, tuple)
        outs = out if multi else (out,)
        needs = state.grad_enabled and any(isinstance(a, Tensor) and a._rg for a in args)
        if not needs:
            return out
        op = type(cls.__name__, (_FunctionOp,), {"n_outputs": len(outs),
                                                 "name": cls.__name__})
        skip = getattr(ctx, "non_differentiable", set())
        results = []
        for o in outs:
            t = Tensor(o.data, id(o) not in skip)
            results.append(t)
        edges, versions = [], []
        for a in args:
            if isinstance(a, Tensor):
                versions.append(a._version[0])
                edges.append(((a._node, a._idx) if a._node is not None else a) if a._rg
                             else None)
            else:
                versions.append(0)
                edges.append(None)
        node = _node_mod.Node(op, args, {"fn": cls, "ctx": ctx}, edges, versions)
        if len(outs) > 1:
            node.specs = tuple((t.data.shape, t.data.dtype) for t in results)
        for i, t in enumerate(results):
            if t._rg:
                t._node, t._idx = node, i
        return tuple(results) if multi else results[0]
