"""The op registry: each primitive is one class holding its forward and its vjp.

A primitive is declared once, next to its derivative::

    @register
    class Exp(Op):
        needs_output = True

        def forward(xp, x):
            return xp.exp(x)

        def vjp(F, g, out, x):
            return (g * out,)

``forward(xp, *arrays, **attrs)`` computes on backend arrays with the backend's array module
``xp``. ``vjp(F, g, out, *inputs, **attrs)`` returns one gradient per input (or None); ``F`` is a
namespace holding every registered op -- on raw arrays during a plain backward, on tensors
(recorded, so differentiable again) under ``create_graph=True`` -- and arithmetic uses
operators, which both arrays and tensors have. Gradients whose shape differs from the
input's are summed back to it (``sum_to``) by the engine, so vjps may return broadcast shapes.
Backends override forwards by op name (``backend.override("conv2d")``); the graph compiler and
ONNX export read the same entries.
"""

from __future__ import annotations

REGISTRY: dict[str, type] = {}


class Op:
    """Base of all primitive ops (used as a class, never instantiated)."""

    name: str = ""
    n_outputs: int = 1
    needs_output: bool = False  # the vjp uses the op's output(s)
    differentiable: bool = True  # False: outputs never require grad (comparisons, argmax)
    is_view: bool = False  # the output aliases the first input's memory
    uses_input_values: bool = True  # False: in-place changes of inputs don't affect the vjp
    # {argument index: indices of the arguments whose gradient reads its value}; None: all
    wants_needs: bool = False  # True: vjp gets needs=(bool per argument: is its gradient used?)
    value_needed_for: dict | None = None

    def forward(xp, *args, **attrs):  # pragma: no cover - every op defines it
        raise NotImplementedError

    def vjp(F, g, out, *args, **attrs):  # pragma: no cover - non-differentiable ops have none
        raise NotImplementedError


def _snake(name: str) -> str:
    out = []
    for i, c in enumerate(name):
        if c.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(c.lower())
    return "".join(out)


def register(cls):
    """Class decorator: add a primitive op to the registry under ``cls.name`` (or snake_case)."""
    if not cls.__dict__.get("name"):
        cls.name = _snake(cls.__name__)
    if cls.name in REGISTRY:
        raise ValueError(f"op {cls.name!r} is registered twice")
    REGISTRY[cls.name] = cls
    return cls


class DiffNamespace:
    """Every registered op as a recorded (differentiable) function of tensors."""

    def __getattr__(self, name: str):
        op = REGISTRY.get(name)
        if op is None:
            raise AttributeError(f"no op named {name!r}")
        from ..autograd.node import apply

        def call(*args, **attrs):
            return apply(op, *args, **attrs)

        call.__name__ = name
        setattr(self, name, call)
        return call


diff = DiffNamespace()
