"""Shape primitives: reshape, permute, broadcast_to, concat, tile, flip, roll, pad.

Everything else that changes a shape (view, transpose, squeeze, unsqueeze, flatten, expand,
stack, split, chunk, repeat …) is a composite of these, so it needs no vjp of its own.
"""

from __future__ import annotations

import math

from ..autograd.node import apply
from ..errors import ShapeError
from ..tensor import Tensor
from .registry import Op, copy_cost, free_cost, register

# ----------------------------------------------------------------------------- primitives


@register
class Reshape(Op):
    uses_input_values = False  # the vjp needs only shapes

    is_view = True

    cost = free_cost

    def forward(xp, x, shape):
        return x.reshape(shape)

    def vjp(F, g, out, x, shape):
        return (F.reshape(g, shape=tuple(x.shape)),)


@register
class Permute(Op):
    uses_input_values = False  # the vjp needs only shapes

    is_view = True

    cost = free_cost

    def forward(xp, x, axes):
        return x.transpose(axes)

    def vjp(F, g, out, x, axes):
        inverse = tuple(sorted(range(len(axes)), key=axes.__getitem__))
        return (F.permute(g, axes=inverse),)


@register
class BroadcastTo(Op):
    uses_input_values = False  # the vjp needs only shapes

    is_view = True

    cost = free_cost

    def forward(xp, x, shape):
        return xp.broadcast_to(x, shape)

    def vjp(F, g, out, x, shape):
        return (g,)  # the engine sums the gradient back to x's shape


@register
class Concat(Op):
    uses_input_values = False  # the vjp needs only shapes

    cost = copy_cost

    def forward(xp, *xs, axis):
        return xp.concatenate(xs, axis=axis)

    def vjp(F, g, out, *xs, axis):
        grads = []
        start = 0
        lead = (slice(None),) * axis
        for x in xs:
            stop = start + x.shape[axis]
            grads.append(F.get_item(g, index=lead + (slice(start, stop),)))
            start = stop
        return tuple(grads)


@register
class Tile(Op):
    uses_input_values = False  # the vjp needs only shapes

    cost = copy_cost

    def forward(xp, x, reps):
        return xp.tile(x, reps)

    def vjp(F, g, out, x, reps):
        # g has shape (r0*s0, r1*s1, ...): view it as (r0, s0, r1, s1, ...) and sum the r's
        shape = (1,) * (len(reps) - x.ndim) + tuple(x.shape)
        split = []
        for r, s in zip(reps, shape):
            split += [r, s]
        summed = F.sum(F.reshape(g, shape=tuple(split)),
                       axis=tuple(range(0, 2 * len(reps), 2)), keepdims=False)
        return (F.reshape(summed, shape=tuple(x.shape)),)


@register
class Flip(Op):
    uses_input_values = False  # the vjp needs only shapes

    cost = copy_cost

    def forward(xp, x, axis):
        return xp.flip(x, axis=axis)

    def vjp(F, g, out, x, axis):
        return (F.flip(g, axis=axis),)


@register
class Roll(Op):
    uses_input_values = False  # the vjp needs only shapes

    cost = copy_cost

    def forward(xp, x, shift, axis):
        return xp.roll(x, shift, axis=axis)

    def vjp(F, g, out, x, shift, axis):
        back = tuple(-s for s in shift) if isinstance(shift, tuple) else -shift
        return (F.roll(g, shift=back, axis=axis),)


def _pad_index(xp, n: int, before: int, after: int, mode: str):
    """Source position of each output position along one padded axis."""
    p = xp.arange(-before, n + after)
    if mode == "reflect":
        period = 2 * n - 2
        m = p % period if period else p * 0
        return xp.where(m < n, m, period - m)
    if mode == "symmetric":
        m = p % (2 * n)
        return xp.where(m < n, m, 2 * n - 1 - m)
    if mode == "replicate":
        return xp.clip(p, 0, n - 1)
    return p % n  # circular


@register
class Pad(Op):
    """Pad with ``pad_width`` = ((before, after) per axis) in one of five modes."""

    uses_input_values = False  # the vjp needs only shapes

    cost = copy_cost

    def forward(xp, x, pad_width, mode="constant", value=0.0):
        if mode == "constant":
            return xp.pad(x, pad_width, mode="constant", constant_values=value)
        for axis, (before, after) in enumerate(pad_width):
            if before or after:
                x = xp.take(x, _pad_index(xp, x.shape[axis], before, after, mode), axis=axis)
        return x

    def vjp(F, g, out, x, pad_width, mode="constant", value=0.0):
        return (F.pad_adjoint(g, shape=tuple(x.shape), pad_width=pad_width, mode=mode),)


@register
class PadAdjoint(Op):
    """The transpose of ``pad``: sums each padded position back onto its source."""

    uses_input_values = False  # the vjp needs only shapes

    cost = copy_cost

    def forward(xp, g, shape, pad_width, mode):
        if mode == "constant":
            index = tuple(slice(b, b + n) for (b, _), n in zip(pad_width, shape))
            return g[index]
        for axis in reversed(range(len(shape))):
            before, after = pad_width[axis]
            if before or after:
                n = shape[axis]
                idx = _pad_index(xp, n, before, after, mode)
                out_shape = g.shape[:axis] + (n,) + g.shape[axis + 1:]
                z = xp.zeros(out_shape, dtype=g.dtype)
                xp.add.at(z, (slice(None),) * axis + (idx,), g)
                g = z
        return g

    def vjp(F, g, out, x, shape, pad_width, mode):
        return (F.pad(g, pad_width=pad_width, mode=mode, value=0.0),)


# ----------------------------------------------------------------------------- public API


def _axis(dim: int, ndim: int, op: str) -> int:
    if not -ndim <= dim < max(ndim, 1):
        raise ShapeError(
            f"{op}: dim {dim} is out of range for a tensor with {ndim} dimension(s); "
            f"use a dim in [{-max(ndim, 1)}, {max(ndim, 1) - 1}]"
        )
    return dim % max(ndim, 1)


def _shape_arg(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(s) for s in shape)


def reshape(x, *shape) -> Tensor:
    """x with a new shape of the same size; one dimension may be -1 (inferred).

    Example:
        >>> import ember
        >>> ember.arange(6).reshape(2, 3).shape
        (2, 3)
    """
    shape = _shape_arg(shape)
    size = x.data.size
    if shape.count(-1) > 1:
        raise ShapeError(f"reshape: only one dimension can be -1, got {shape}")
    known = math.prod(s for s in shape if s != -1)
    if -1 in shape:
        if known == 0 or size % known:
            raise ShapeError(
                f"reshape: cannot reshape {tuple(x.shape)} ({size} elements) into {shape}"
            )
        shape = tuple(size // known if s == -1 else s for s in shape)
    elif known != size:
        raise ShapeError(
            f"reshape: cannot reshape {tuple(x.shape)} ({size} elements) into {shape} "
            f"({known} elements); the sizes must match"
        )
    if shape == x.data.shape:
        return x
    return apply(Reshape, x, shape=shape)


view = reshape


def permute(x, *axes) -> Tensor:
    """Reorder dimensions: ``permute(x, (2, 0, 1))``."""
    axes = _shape_arg(axes)
    if sorted(a % max(x.ndim, 1) for a in axes) != list(range(x.ndim)):
        raise ShapeError(
            f"permute: {axes} is not a permutation of the {x.ndim} dimensions of "
            f"{tuple(x.shape)}"
        )
    axes = tuple(a % x.ndim for a in axes)
    return apply(Permute, x, axes=axes)


permute_dims = permute


def transpose(x, dim0: int = -2, dim1: int = -1) -> Tensor:
    """Swap two dimensions (the last two by default)."""
    n = x.ndim
    if n < 2 and dim0 in (-2, -1, 0) and dim1 in (-2, -1, 0):
        return x
    d0, d1 = _axis(dim0, n, "transpose"), _axis(dim1, n, "transpose")
    axes = list(range(n))
    axes[d0], axes[d1] = axes[d1], axes[d0]
    return apply(Permute, x, axes=tuple(axes))


swapaxes = transpose


def matrix_transpose(x) -> Tensor:
    """Swap the last two dimensions (``x.mT``)."""
    if x.ndim < 2:
        raise ShapeError(f"matrix_transpose: needs at least 2 dimensions, got {tuple(x.shape)}")
    return transpose(x, -2, -1)


def moveaxis(x, source, destination) -> Tensor:
    """Move dimension(s) ``source`` to position(s) ``destination``."""
    src = [_axis(s, x.ndim, "moveaxis") for s in (source if isinstance(source, (list, tuple))
                                                   else [source])]
    dst = [_axis(d, x.ndim, "moveaxis") for d in (destination if isinstance(destination,
                                                   (list, tuple)) else [destination])]
    order = [i for i in range(x.ndim) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return apply(Permute, x, axes=tuple(order))


movedim = moveaxis


def unsqueeze(x, dim: int) -> Tensor:
    """Insert a dimension of size 1 at ``dim``."""
    d = _axis(dim, x.ndim + 1, "unsqueeze")
    shape = x.data.shape
    return apply(Reshape, x, shape=shape[:d] + (1,) + shape[d:])


def expand_dims(x, axis: int = 0) -> Tensor:
    """Array-API name of ``unsqueeze``."""
    return unsqueeze(x, axis)


def squeeze(x, dim=None) -> Tensor:
    """Remove dimensions of size 1 (all of them, or ``dim``)."""
    shape = x.data.shape
    if dim is None:
        new = tuple(s for s in shape if s != 1)
    else:
        dims = dim if isinstance(dim, (tuple, list)) else (dim,)
        dims = {_axis(d, x.ndim, "squeeze") for d in dims} if x.ndim else set()
        new = tuple(s for i, s in enumerate(shape) if not (i in dims and s == 1))
    if new == shape:
        return x
    return apply(Reshape, x, shape=new)


def flatten(x, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dimensions ``start_dim..end_dim`` into one."""
    if x.ndim == 0:
        return reshape(x, 1)
    s, e = _axis(start_dim, x.ndim, "flatten"), _axis(end_dim, x.ndim, "flatten")
    if s > e:
        raise ShapeError(
            f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape "
            f"{tuple(x.shape)}"
        )
    shape = x.data.shape
    return reshape(x, shape[:s] + (math.prod(shape[s:e + 1]),) + shape[e + 1:])


def unflatten(x, dim: int, sizes) -> Tensor:
    """Split dimension ``dim`` into ``sizes``."""
    d = _axis(dim, x.ndim, "unflatten")
    shape = x.data.shape
    return reshape(x, shape[:d] + tuple(sizes) + shape[d + 1:])


def broadcast_to(x, *shape) -> Tensor:
    """x broadcast to ``shape`` (a read-only view; gradients sum back).

    ``-1`` keeps a dimension's size, as in PyTorch's ``expand``.
    """
    shape = _shape_arg(shape)
    lead = len(shape) - x.ndim
    if lead < 0:
        raise ShapeError(
            f"broadcast_to: cannot broadcast {tuple(x.shape)} to fewer dimensions {shape}"
        )
    if -1 in shape[:lead]:
        raise ShapeError(
            f"broadcast_to: -1 (keep the size) is not allowed in a new leading dimension: "
            f"{tuple(x.shape)} to {shape}"
        )
    shape = tuple(x.data.shape[i - lead] if s == -1 else s for i, s in enumerate(shape))
    for i, s in enumerate(x.data.shape):
        if s != 1 and s != shape[i + lead]:
            raise ShapeError(
                f"broadcast_to: cannot broadcast {tuple(x.shape)} to {shape}: dimension "
                f"{i} has size {s}, which is neither 1 nor {shape[i + lead]}"
            )
    if shape == x.data.shape:
        return x
    return apply(BroadcastTo, x, shape=shape)


expand = broadcast_to


def broadcast_tensors(*tensors):
    """Broadcast tensors against each other."""
    import numpy as np

    shape = np.broadcast_shapes(*(t.shape for t in tensors))
    return tuple(broadcast_to(t, shape) for t in tensors)


def concat(tensors, dim: int = 0, *, axis=None) -> Tensor:
    """Join tensors along an existing dimension (``cat`` in PyTorch, ``concat`` in TF).

    Example:
        >>> import ember
        >>> ember.cat([ember.zeros(2, 3), ember.ones(1, 3)]).shape
        (3, 3)
    """
    tensors = list(tensors)
    if not tensors:
        raise ValueError("concat: needs at least one tensor")
    if axis is not None:
        dim = axis
    ref = tensors[0]
    d = _axis(dim, ref.ndim, "concat")
    for i, t in enumerate(tensors[1:], 1):
        if t.ndim != ref.ndim or any(
            a != b for j, (a, b) in enumerate(zip(t.shape, ref.shape)) if j != d
        ):
            raise ShapeError(
                f"concat: tensor {i} has shape {tuple(t.shape)}, tensor 0 has "
                f"{tuple(ref.shape)}; all dimensions except dim {d} must match"
            )
    if len(tensors) == 1:
        return tensors[0]
    from .elementwise import _promote

    dtypes = {t.data.dtype for t in tensors}
    if len(dtypes) > 1:
        target = tensors[0]
        for t in tensors[1:]:
            target, _ = _promote(target, t)
        tensors = [t.to(target.dtype) for t in tensors]
    return apply(Concat, *tensors, axis=d)


cat = concat


def stack(tensors, dim: int = 0, *, axis=None) -> Tensor:
    """Join tensors along a new dimension."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: needs at least one tensor")
    if axis is not None:
        dim = axis
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) > 1:
        raise ShapeError(f"stack: all tensors must have the same shape, got {sorted(shapes)}")
    d = _axis(dim, tensors[0].ndim + 1, "stack")
    return concat([unsqueeze(t, d) for t in tensors], d)


def split(x, split_size_or_sections, dim: int = 0):
    """Split into pieces of ``split_size`` (int) or of the given sizes (list), as in PyTorch.

    TensorFlow's ``tf.split(x, num)`` is ``ember.chunk(x, num)``.
    """
    d = _axis(dim, x.ndim, "split")
    n = x.shape[d]
    if isinstance(split_size_or_sections, int):
        size = split_size_or_sections
        if size <= 0:
            raise ValueError(f"split: split_size must be positive, got {size}")
        sizes = [size] * (n // size) + ([n % size] if n % size else [])
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n:
            raise ShapeError(
                f"split: sizes {sizes} add up to {sum(sizes)}, but dim {d} has size {n}"
            )
    out, start = [], 0
    lead = (slice(None),) * d
    for s in sizes:
        out.append(x[lead + (slice(start, start + s),)])
        start += s
    return tuple(out)


def chunk(x, chunks: int, dim: int = 0):
    """Split into ``chunks`` nearly equal pieces (the last may be smaller)."""
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    n = x.shape[_axis(dim, x.ndim, "chunk")]
    return split(x, max(1, -(-n // chunks)), dim)


def unbind(x, dim: int = 0):
    """The slices along ``dim``, with that dimension removed."""
    d = _axis(dim, x.ndim, "unbind")
    lead = (slice(None),) * d
    return tuple(x[lead + (i,)] for i in range(x.shape[d]))


def tile(x, reps) -> Tensor:
    """Repeat the whole tensor ``reps`` times along each dimension (NumPy's ``tile``)."""
    reps = (reps,) if isinstance(reps, int) else tuple(int(r) for r in reps)
    reps = (1,) * (x.ndim - len(reps)) + reps
    return apply(Tile, x, reps=reps)


def repeat(x, *sizes) -> Tensor:
    """PyTorch's ``Tensor.repeat``: tile with ``len(sizes) >= x.ndim``."""
    sizes = _shape_arg(sizes)
    if len(sizes) < x.ndim:
        raise ShapeError(
            f"repeat: give at least {x.ndim} repeat counts for shape {tuple(x.shape)}, "
            f"got {sizes}"
        )
    return apply(Tile, x, reps=sizes)


def repeat_interleave(x, repeats: int, dim: int | None = None) -> Tensor:
    """Repeat each element ``repeats`` times along ``dim`` (flattened when None)."""
    if dim is None:
        x, dim = reshape(x, -1), 0
    d = _axis(dim, x.ndim, "repeat_interleave")
    shape = x.data.shape
    y = unsqueeze(x, d + 1)
    y = broadcast_to(y, shape[:d + 1] + (int(repeats),) + shape[d + 1:])
    return reshape(y, shape[:d] + (shape[d] * int(repeats),) + shape[d + 1:])


def flip(x, dims=None, *, axis=None) -> Tensor:
    """Reverse the order of elements along ``dims`` (all by default)."""
    if axis is not None:
        dims = axis
    if dims is None:
        dims = tuple(range(x.ndim))
    dims = dims if isinstance(dims, (tuple, list)) else (dims,)
    return apply(Flip, x, axis=tuple(_axis(d, x.ndim, "flip") for d in dims))


def roll(x, shifts, dims=None) -> Tensor:
    """Shift elements cyclically along ``dims`` (the flattened tensor when None)."""
    if dims is None:
        return reshape(apply(Roll, reshape(x, -1), shift=int(shifts), axis=0), x.shape)
    if isinstance(dims, (tuple, list)):
        shifts = tuple(int(s) for s in shifts)
        return apply(Roll, x, shift=shifts, axis=tuple(_axis(d, x.ndim, "roll") for d in dims))
    return apply(Roll, x, shift=int(shifts), axis=_axis(dims, x.ndim, "roll"))


PAD_MODES = ("constant", "reflect", "symmetric", "replicate", "circular")


def pad(x, pad, mode: str = "constant", value: float = 0.0) -> Tensor:
    """Pad the last ``len(pad) // 2`` dimensions, PyTorch's convention.

    ``pad`` lists (left, right) for the last dimension, then for the one before, and so on.
    Modes: ``constant`` (``value``), ``reflect`` (mirror without repeating the edge:
    ``[1 2 3]`` -> ``3 2 [1 2 3] 2 1``), ``symmetric`` (mirror repeating the edge:
    ``2 1 [1 2 3] 3 2``), ``replicate`` (repeat the edge), ``circular`` (wrap around).

    Example:
        >>> import ember
        >>> ember.pad(ember.tensor([1.0, 2.0, 3.0]), (2, 2), mode="reflect")
        tensor([3., 2., 1., 2., 3., 2., 1.])
    """
    if mode not in PAD_MODES:
        raise ValueError(f"pad: unknown mode {mode!r}; choose one of {', '.join(PAD_MODES)}")
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ShapeError(
            f"pad: pad must hold (left, right) pairs for at most {x.ndim} dimensions of "
            f"{tuple(x.shape)}, got {pad}"
        )
    width = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        width[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    for axis, (before, after) in enumerate(width):
        if before < 0 or after < 0:
            raise ValueError(f"pad: negative padding {pad} is not supported; slice instead")
        n = x.shape[axis]
        limit = {"reflect": n - 1, "symmetric": n, "circular": n}.get(mode)
        if (before or after) and limit is not None and (before > limit or after > limit):
            raise ShapeError(
                f"pad: {mode} padding of ({before}, {after}) on dim {axis} needs each side "
                f"<= {limit} for a dimension of size {n} (shape {tuple(x.shape)})"
            )
        if (before or after) and mode == "replicate" and n == 0:
            raise ShapeError(f"pad: replicate padding of an empty dim {axis}")
    return apply(Pad, x, pad_width=tuple(width), mode=mode, value=float(value))
