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

import math

import numpy as np

REGISTRY: dict[str, type] = {}


# ----------------------------------------------------------------------------- cost model
# A spec is ``(shape, dtype)`` of one array argument or output, or None for an argument that
# is not an array (None, a Python scalar). Costs read specs only, never values, so the
# profiler, ``ember.utils.summary`` and the graph compiler share them.


def numel(shape) -> int:
    """Number of elements of an array of ``shape``."""
    return math.prod(shape)


def spec_bytes(spec) -> int:
    """Bytes of the array described by ``spec`` (0 for None: not an array)."""
    if spec is None:
        return 0
    return math.prod(spec[0]) * np.dtype(spec[1]).itemsize


def io_bytes(out_specs, in_specs) -> int:
    """Bytes read (every array input once) plus bytes written (every output once)."""
    return sum(map(spec_bytes, in_specs)) + sum(map(spec_bytes, out_specs))


def free_cost(out_specs, in_specs, attrs):
    """Cost of a view (reshape, permute, slicing): nothing is computed or moved."""
    return 0, 0


def copy_cost(out_specs, in_specs, attrs):
    """Cost of a data movement op (concat, pad, cast, gather): no FLOPs, reads and writes."""
    return 0, io_bytes(out_specs, in_specs)


def fill_cost(out_specs, in_specs, attrs):
    """Cost of an op that only writes its output (masks, zeros)."""
    return 0, sum(map(spec_bytes, out_specs))


def reduce_cost(out_specs, in_specs, attrs):
    """Cost of a reduction: one FLOP per input element, reads input, writes output."""
    return numel(in_specs[0][0]), io_bytes(out_specs, in_specs)


def scaled_cost(k: int):
    """A cost function of ``k`` FLOPs per element of the first input (softmax: max, sub,
    exp, sum, divide -> ``k = 5``), bytes as read plus written."""

    def cost(out_specs, in_specs, attrs):
        return k * numel(in_specs[0][0]), io_bytes(out_specs, in_specs)

    cost.__doc__ = f"{k} FLOPs per input element; bytes read plus written."
    return cost


def bias_vjp_cost(op, out_specs, in_specs, attrs, needs):
    """vjp cost of a product with a bias (linear, convolution): the forward's product FLOPs
    for each of the input and weight gradients, one add per output element for the bias's."""
    flops, _ = op.cost(out_specs, in_specs, attrs)
    n_out = sum(numel(s[0]) for s in out_specs)
    has_bias = len(in_specs) > 2 and in_specs[2] is not None
    product = flops - (n_out if has_bias else 0)
    total = product * (bool(needs[0]) + bool(needs[1]))
    if has_bias and needs[2]:
        total += n_out
    grads = sum(spec_bytes(s) for s, need in zip(in_specs, needs) if need)
    return total, sum(map(spec_bytes, out_specs)) + sum(map(spec_bytes, in_specs)) + grads


def window_flops(pooled_spec, attrs) -> int:
    """kh·kw FLOPs per element of a pooled array (pooling and its gradients)."""
    kernel = attrs["kernel"]
    k = kernel if isinstance(kernel, int) else math.prod(kernel)
    return numel(pooled_spec[0]) * k


def einsum_flops(equation: str, shapes) -> int:
    """A naive contraction's count: the product of every index's size, times 2·(operands - 1)
    when some index is summed away (a multiply and an add per term), else once per operand."""
    lhs, _, rhs = equation.replace(" ", "").partition("->")
    sizes = {}
    for term, shape in zip(lhs.split(","), shapes):
        if "..." in term:
            head, tail = term.split("...")
            nell = len(shape) - len(head) - len(tail)
            term = head + "".join(chr(0x100 + i) for i in range(nell)) + tail
            if nell:
                rhs = rhs.replace("...", "".join(chr(0x100 + i) for i in range(nell)))
        for c, n in zip(term, shape):
            sizes[c] = max(sizes.get(c, 1), n)
    total = math.prod(sizes.values())
    n_ops = len(shapes)
    summed = any(c not in rhs for c in sizes) if "->" in equation else False
    return total * (2 * max(n_ops - 1, 1) if summed else n_ops)


def lapack_flops(in_specs, coef: float) -> int:
    """``coef``·m·n·min(m, n) per matrix of the first argument (a batch of (m, n)), plus
    2·n²·k for a second (right-hand side) argument: textbook dense linear algebra counts."""
    shape = in_specs[0][0]
    m, n = shape[-2], shape[-1]
    batch = numel(shape[:-2])
    flops = coef * m * n * min(m, n)
    if len(in_specs) > 1 and in_specs[1] is not None:
        b = in_specs[1][0]
        flops += 2 * n * n * (b[-1] if len(b) == len(shape) else 1)
    return int(round(batch * flops))


def backward_cost(op, out_specs, in_specs, attrs, needs):
    """Cost of ``op``'s vjp: the op's own ``vjp_cost`` if it declares one, else an estimate:
    the forward's FLOPs once per input whose gradient is needed (exact for matmul, whose
    input gradients are each one product of the forward's size); bytes: the output gradient,
    the inputs and the input gradients written."""
    own = getattr(op, "vjp_cost", None)
    if own is not None:
        return own(out_specs, in_specs, attrs, needs)
    flops, _ = op.cost(out_specs, in_specs, attrs)
    n = sum(1 for s, need in zip(in_specs, needs) if need and s is not None)
    grads = sum(spec_bytes(s) for s, need in zip(in_specs, needs) if need)
    return flops * n, sum(map(spec_bytes, out_specs)) + sum(map(spec_bytes, in_specs)) + grads


class Op:
    """Base of all primitive ops (used as a class, never instantiated)."""

    name: str = ""
    n_outputs: int = 1
    needs_output: bool = False  # the vjp uses the op's output(s)
    # with needs_output: the indices of the outputs whose VALUES the vjp reads (None: all);
    # an in-place change of another output (batch norm's y before ReLU(inplace)) is harmless
    output_values_needed: tuple | None = None
    differentiable: bool = True  # False: outputs never require grad (comparisons, argmax)
    is_view: bool = False  # the output aliases the first input's memory
    uses_input_values: bool = True  # False: in-place changes of inputs don't affect the vjp
    # {argument index: indices of the arguments whose gradient reads its value}; None: all
    wants_needs: bool = False  # True: vjp gets needs=(bool per argument: is its gradient used?)
    value_needed_for: dict | None = None
    # the NumPy forward calls BLAS: while oneDNN runs the CPU convolutions and products, the
    # CPU backend holds OpenBLAS to one thread for it (see ember/backend/onednn/)
    blas: bool = False
    # outputs past the first ``grad_outputs`` take no gradient (a saved workspace): the engine
    # hands the vjp None for them rather than zeros (None: every output takes one)
    grad_outputs: int | None = None

    def forward(xp, *args, **attrs):  # pragma: no cover - every op defines it
        raise NotImplementedError

    def vjp(F, g, out, *args, **attrs):  # pragma: no cover - non-differentiable ops have none
        raise NotImplementedError

    def cost(out_specs, in_specs, attrs):
        """``(flops, bytes)`` of one application from the specs (``(shape, dtype)`` or None)
        of its outputs and arguments. This default is an elementwise op's: one FLOP per
        output element; bytes = inputs read plus outputs written. Ops override it."""
        return sum(math.prod(s[0]) for s in out_specs), io_bytes(out_specs, in_specs)


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
