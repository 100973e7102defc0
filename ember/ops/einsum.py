"""``einsum``: Einstein summation as one primitive.

The public function rewrites the equation into an explicit form without ``...`` (ellipsis
dimensions get spare letters, operands are broadcast where a letter has size 1), so the
primitive sees one letter per dimension and consistent sizes. The gradient of operand i is
another einsum of the output gradient and the other operands into operand i's letters;
letters that only operand i has are broadcast back, and letters repeated within operand i
(a diagonal, as in ``"ii->i"``) put the gradient back on that diagonal.
"""

from __future__ import annotations

import functools
import string

from .. import dtypes as _dt
from ..autograd.node import apply
from ..errors import ShapeError
from ..tensor import Tensor
from .registry import Op, einsum_flops, io_bytes, register

__all__ = ["einsum"]

_LETTERS = string.ascii_letters


@functools.lru_cache(maxsize=512)
def _grad_plan(equation: str, i: int):
    """For operand ``i``: the einsum giving its gradient, and how to expand the result."""
    inputs, output = equation.split("->")
    subs = inputs.split(",")
    own = subs[i]
    others = subs[:i] + subs[i + 1:]
    avail = set(output).union(*others)
    unique = "".join(dict.fromkeys(own))
    keep = "".join(c for c in unique if c in avail)
    grad_eq = ",".join([output, *others]) + "->" + keep
    repeats = tuple(
        (own.index(c), tuple(j for j, d in enumerate(own) if d == c)[1:])
        for c in unique if own.count(c) > 1
    )
    first = tuple(own.index(c) == j and c in avail for j, c in enumerate(own))
    return grad_eq, keep != unique or bool(repeats), first, repeats


@register
class Einsum(Op):
    blas = True

    def cost(out_specs, in_specs, attrs):
        """A naive contraction's count (``registry.einsum_flops``)."""
        flops = einsum_flops(attrs["equation"], [s[0] for s in in_specs])
        return flops, io_bytes(out_specs, in_specs)

    def forward(xp, *operands, equation):
        dt = operands[0].dtype
        if dt.kind == "V":  # bfloat16 (ml_dtypes): NumPy's C einsum refuses it; contract in
            operands = [x.astype(xp.float32) for x in operands]  # float32, round once
        out = xp.einsum(equation, *operands, optimize=True)
        if len(operands) == 1 and xp.may_share_memory(out, operands[0]):
            out = out.copy()  # NumPy returns views for transposes and diagonals
        out = xp.asarray(out)
        return out if out.dtype == dt or dt.kind != "V" else out.astype(dt)

    def vjp(F, g, out, *operands, equation):
        grads = []
        for i, x in enumerate(operands):
            grad_eq, expand, first, repeats = _grad_plan(equation, i)
            gi = F.einsum(g, *operands[:i], *operands[i + 1:], equation=grad_eq)
            if expand:
                shape = tuple(x.shape)
                view = tuple(n if f else 1 for n, f in zip(shape, first))
                gi = F.broadcast_to(F.reshape(gi, shape=view), shape=shape)
                for p, qs in repeats:
                    for q in qs:
                        m = [1] * len(shape)
                        m[p] = m[q] = shape[p]
                        mask = F.reshape(F.eye_mask(n=shape[p]), shape=tuple(m))
                        gi = F.where(mask, gi, 0.0)
            grads.append(gi)
        return tuple(grads)


@functools.lru_cache(maxsize=512)
def _normalize(equation: str, shapes: tuple):
    """The explicit equation (no ellipsis) and the shape each operand is broadcast to."""
    eq = equation.replace(" ", "")
    inputs, arrow, output = eq.partition("->")
    subs = inputs.split(",")
    if len(subs) != len(shapes):
        raise ValueError(f"einsum: the equation {equation!r} has {len(subs)} operand "
                         f"subscript(s) but {len(shapes)} operand(s) were given")
    for s in subs + [output]:
        if any(c not in _LETTERS for c in s.replace("...", "")):
            raise ValueError(f"einsum: invalid subscript {s!r} in {equation!r}; use letters "
                             "a-z, A-Z and at most one '...' per operand")
    used = set(eq)
    spare = [c for c in _LETTERS if c not in used]
    n_ell = 0
    for s, shape in zip(subs, shapes):
        named = len(s.replace("...", ""))
        if "..." in s:
            n_ell = max(n_ell, len(shape) - named)
        elif named != len(shape):
            raise ShapeError(f"einsum: subscripts {s!r} name {named} dimension(s) but the "
                             f"operand has shape {shape}; add '...' for the others")
    if n_ell > len(spare):
        raise ValueError("einsum: too many dimensions for the available letters")
    ell = "".join(spare[:n_ell])
    full = []
    for s, shape in zip(subs, shapes):
        n = len(shape) - len(s.replace("...", ""))
        full.append(s.replace("...", ell[n_ell - n:]) if "..." in s else s)
    for s, shape in zip(full, shapes):
        for c in set(s):
            if len({n for d, n in zip(s, shape) if d == c}) > 1:
                raise ShapeError(f"einsum: subscript {c!r} repeats in {s!r} over dimensions "
                                 f"of different sizes {shape}; a diagonal needs equal sizes")
    sizes: dict = {}
    for s, shape in zip(full, shapes):
        for c, n in zip(s, shape):
            if sizes.get(c, 1) == 1:
                sizes[c] = n
            elif n not in (1, sizes[c]):
                raise ShapeError(f"einsum: subscript {c!r} has size {sizes[c]} in one operand "
                                 f"and {n} in another (shapes {shapes}); sizes must match or "
                                 "be 1")
    if arrow:
        out = output.replace("...", ell)
        for c in out:
            if c not in sizes or out.count(c) > 1:
                raise ValueError(f"einsum: output subscript {c!r} in {equation!r} "
                                 f"{'appears twice' if c in sizes else 'is in no operand'}")
    else:
        letters = "".join(full)
        out = ell + "".join(sorted(c for c in set(letters) if c not in ell
                                   and letters.count(c) == 1))
    targets = tuple(tuple(sizes[c] for c in s) for s in full)
    return ",".join(full) + "->" + out, targets


def einsum(equation: str, *operands) -> Tensor:
    """Einstein summation over the operands' dimensions, as in ``torch.einsum``.

    Args:
        equation: subscripts per operand separated by commas, optionally ``->`` and the
            output subscripts (without it: the letters that appear once, sorted). ``...``
            stands for broadcast leading dimensions; a letter repeated in one operand takes
            its diagonal.
        operands: tensors (or one list of tensors).

    Example:
        >>> import ember
        >>> a = ember.tensor([[1.0, 2.0], [3.0, 4.0]])
        >>> ember.einsum("ij,jk->ik", a, a)
        tensor([[ 7., 10.],
                [15., 22.]])
        >>> ember.einsum("ii", a)
        tensor(5.)
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not isinstance(equation, str):
        raise TypeError(f"einsum: the equation must be a string, got {type(equation).__name__}")
    for o in operands:
        if not isinstance(o, Tensor):
            raise TypeError(f"einsum: operands must be ember tensors, got {type(o).__name__}")
    dtypes = {o.dtype for o in operands}
    if len(dtypes) > 1:
        common = functools.reduce(_dt.result_type, dtypes)
        operands = tuple(o.to(common) for o in operands)
    eq, targets = _normalize(equation, tuple(tuple(o.shape) for o in operands))
    operands = tuple(o if tuple(o.shape) == t else o.expand(*t)
                     for o, t in zip(operands, targets))
    return apply(Einsum, *operands, equation=eq)
