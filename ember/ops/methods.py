"""Tensor operators and methods, each a thin call to the op functions of this package.

Kept as one table so a reader sees every method a Tensor has and the function behind it.
In-place methods (``add_``, ``x += y``, ``x[i] = v``) write into the tensor's own array and
bump its version counter; when autograd is recording they record the op out of place and
move the tensor to the new node, refusing leaves that require grad and views of tensors in
the graph (where the result would silently diverge from PyTorch's).
"""

from __future__ import annotations

from .. import dtypes as _dt
from .. import memory_format as _memory_format
from ..autograd.grad_mode import state
from ..errors import AutogradError, DTypeError, ShapeError, describe, op_error
from ..tensor import Tensor
from . import creation
from . import elementwise as ew
from . import index as ix
from . import linalg as la
from . import math_more as _mm
from . import reduce as rd
from . import scatter as sc
from . import shape as sh
from . import sorting as so


def _r(fn):
    """The reflected form of a binary function: ``other (op) self``."""
    return lambda self, other: fn(other, self)


_METHODS = {
    # arithmetic operators
    "__add__": ew.add, "__radd__": _r(ew.add),
    "__sub__": ew.sub, "__rsub__": _r(ew.sub),
    "__mul__": ew.mul, "__rmul__": _r(ew.mul),
    "__truediv__": ew.div, "__rtruediv__": _r(ew.div),
    "__floordiv__": ew.floor_divide, "__rfloordiv__": _r(ew.floor_divide),
    "__mod__": ew.remainder, "__rmod__": _r(ew.remainder),
    "__pow__": ew.pow, "__rpow__": _r(ew.pow),
    "__matmul__": la.matmul, "__rmatmul__": _r(la.matmul),
    "__neg__": ew.neg, "__pos__": lambda self: self, "__abs__": ew.abs,
    "__invert__": lambda self: (ew.logical_not(self) if self.data.dtype.kind == "b"
                                else ew.bitwise_not(self)),
    "__and__": ew.bitwise_and, "__rand__": _r(ew.bitwise_and),
    "__or__": ew.bitwise_or, "__ror__": _r(ew.bitwise_or),
    "__xor__": ew.bitwise_xor, "__rxor__": _r(ew.bitwise_xor),
    "__lshift__": _mm.bitwise_left_shift, "__rlshift__": _r(_mm.bitwise_left_shift),
    "__rshift__": _mm.bitwise_right_shift, "__rrshift__": _r(_mm.bitwise_right_shift),
    "__eq__": ew.eq, "__ne__": ew.ne, "__lt__": ew.lt, "__le__": ew.le, "__gt__": ew.gt,
    "__ge__": ew.ge,
    "__getitem__": ix.getitem,
    # elementwise
    "add": ew.add, "sub": ew.sub, "mul": ew.mul, "div": ew.div, "pow": ew.pow,
    "multiply": ew.mul, "subtract": ew.sub, "divide": ew.div, "true_divide": ew.div,
    "floor_divide": ew.floor_divide, "remainder": ew.remainder, "fmod": ew.fmod,
    "maximum": ew.maximum, "minimum": ew.minimum, "neg": ew.neg, "negative": ew.neg,
    "abs": ew.abs, "sign": ew.sign, "sqrt": ew.sqrt, "rsqrt": ew.rsqrt, "exp": ew.exp,
    "expm1": ew.expm1, "log": ew.log, "log1p": ew.log1p, "log2": ew.log2, "log10": ew.log10,
    "square": ew.square, "round": ew.round, "floor": ew.floor, "ceil": ew.ceil,
    "trunc": ew.trunc, "reciprocal": ew.reciprocal, "sin": ew.sin, "cos": ew.cos,
    "tan": ew.tan, "tanh": ew.tanh, "sigmoid": ew.sigmoid, "erf": ew.erf, "relu": ew.relu,
    "clamp": ew.clamp, "clip": ew.clamp, "clone": ew.clone,
    "eq": ew.eq, "ne": ew.ne, "lt": ew.lt, "le": ew.le, "gt": ew.gt, "ge": ew.ge,
    "isnan": ew.isnan, "isinf": ew.isinf, "isfinite": ew.isfinite,
    "logical_and": ew.logical_and, "logical_or": ew.logical_or,
    "logical_xor": ew.logical_xor, "logical_not": ew.logical_not,
    "where": lambda self, condition, other: ew.where(condition, self, other),
    "astype": ew.astype,
    # reductions
    "sum": rd.sum, "mean": rd.mean, "prod": rd.prod, "var": rd.var, "std": rd.std,
    "max": rd.max, "min": rd.min, "amax": rd.amax, "amin": rd.amin, "argmax": rd.argmax,
    "argmin": rd.argmin, "logsumexp": rd.logsumexp, "cumsum": rd.cumsum,
    "cumprod": rd.cumprod, "all": rd.all, "any": rd.any, "norm": rd.norm,
    # shape
    "reshape": sh.reshape, "view": sh.reshape, "permute": sh.permute,
    "transpose": sh.transpose, "swapaxes": sh.transpose, "moveaxis": sh.moveaxis,
    "movedim": sh.moveaxis, "unsqueeze": sh.unsqueeze, "squeeze": sh.squeeze,
    "flatten": sh.flatten, "unflatten": sh.unflatten, "expand": sh.broadcast_to,
    "broadcast_to": sh.broadcast_to, "tile": sh.tile, "repeat": sh.repeat,
    "repeat_interleave": sh.repeat_interleave, "flip": sh.flip, "roll": sh.roll,
    "split": sh.split, "chunk": sh.chunk, "unbind": sh.unbind,
    "expand_as": lambda self, other: sh.broadcast_to(self, other.shape),
    "view_as": lambda self, other: sh.reshape(self, other.shape),
    "reshape_as": lambda self, other: sh.reshape(self, other.shape),
    "contiguous": _memory_format.contiguous, "is_contiguous": _memory_format.is_contiguous,
    # indexing
    "gather": ix.gather, "scatter_add": ix.scatter_add, "index_select": ix.index_select,
    "masked_fill": ix.masked_fill, "take_along_dim": ix.take_along_dim,
    "scatter": sc.scatter, "scatter_reduce": sc.scatter_reduce,
    "masked_select": sc.masked_select, "topk": so.topk, "kthvalue": so.kthvalue,
    # products
    "matmul": la.matmul, "dot": la.dot, "outer": la.outer,
    # dtype conversions
    "float": lambda self: ew.astype(self, _dt.float32, copy=False),
    "double": lambda self: ew.astype(self, _dt.float64, copy=False),
    "half": lambda self: ew.astype(self, _dt.float16, copy=False),
    "bfloat16": lambda self: ew.astype(self, _dt.bfloat16, copy=False),
    "long": lambda self: ew.astype(self, _dt.int64, copy=False),
    "int": lambda self: ew.astype(self, _dt.int32, copy=False),
    "short": lambda self: ew.astype(self, _dt.int16, copy=False),
    "bool": lambda self: ew.astype(self, _dt.bool_, copy=False),
    "byte": lambda self: ew.astype(self, _dt.uint8, copy=False),
    "is_floating_point": lambda self: self.data.dtype.kind == "f" or self.dtype.kind == "f",
    "new_zeros": lambda self, *size, dtype=None: creation.zeros(
        *size, dtype=dtype or self.dtype, device=self.device),
    "new_ones": lambda self, *size, dtype=None: creation.ones(
        *size, dtype=dtype or self.dtype, device=self.device),
    "new_full": lambda self, size, fill, dtype=None: creation.full(
        size, fill, dtype=dtype or self.dtype, device=self.device),
    "new_tensor": lambda self, data, dtype=None: creation.tensor(
        data, dtype=dtype or self.dtype, device=self.device),
}

for _name, _fn in _METHODS.items():
    setattr(Tensor, _name, _fn)

Tensor.T = property(lambda self: sh.permute(self, tuple(reversed(range(self.ndim)))))
Tensor.mT = property(sh.matrix_transpose)
Tensor.__hash__ = lambda self: id(self)


# ----------------------------------------------------------------------------- in place


def _check_inplace(t: Tensor, what: str) -> None:
    if t._rg and t._node is None:
        raise AutogradError(
            f"{what}: a leaf tensor that requires grad ({tuple(t.shape)}) cannot be modified "
            "in place while gradients are recorded. Wrap the update in `with ember.no_grad():` "
            "or modify a .clone()"
        )
    base = t._base
    if base is not None and (base._rg or base._node is not None):
        raise AutogradError(
            f"{what}: this tensor is a view of a tensor that is part of the autograd graph; "
            "ember does not rewrite the base's history for in-place changes of views. "
            "Modify the base directly (base[index] = value) or use out-of-place ops"
        )


def _commit(t: Tensor, out: Tensor, what: str = "in-place op") -> Tensor:
    """Write ``out`` into ``t``'s array and move ``t`` to ``out``'s node."""
    if out.data.shape != t.data.shape:
        raise ShapeError(
            f"{what}: the result has shape {tuple(out.shape)} but the tensor being "
            f"modified has {tuple(t.shape)}; in-place ops cannot change the shape"
        )
    if ew._CATEGORY[out.data.dtype.kind] > ew._CATEGORY[t.data.dtype.kind]:
        raise DTypeError(
            f"{what}: the result is {out.dtype.name}, which cannot be stored in this "
            f"{t.dtype.name} tensor in place; use the out-of-place op or convert the tensor first"
        )
    t.data[...] = out.data
    t._version[0] += 1
    if state.tracer is not None:
        state.tracer.assign(t, out)
    node = out._node
    if node is not None:  # node.out keeps out's own array, which later changes of t don't touch
        t._node, t._idx, t._rg = node, out._idx, True
    return t


def _snapshot(t: Tensor) -> Tensor:
    """The value and history ``t`` has now, detached from later in-place changes."""
    s = Tensor(t.data.copy(), t._rg)
    s._node, s._idx = t._node, t._idx
    return s


def _records(t: Tensor, other) -> bool:
    return state.grad_enabled and (t._rg or (isinstance(other, Tensor) and other._rg))


def _inplace(fn, name: str, ufunc_name: str | None = None):
    """The in-place method ``name`` (e.g. "mul_") computing ``fn(self, other, ...)``."""

    def method(self, other=None, *args, **kwargs):
        if _records(self, other):
            _check_inplace(self, name)
            snap = _snapshot(self)
            return _commit(self, fn(snap, other, *args, **kwargs) if other is not None
                           else fn(snap, *args, **kwargs), name)
        if ufunc_name is not None and not args and not kwargs and state.tracer is None:
            from ..backend import backend_of

            xp = backend_of(self.data).xp
            o = other.data if isinstance(other, Tensor) else other
            try:
                getattr(xp, ufunc_name)(self.data, o, out=self.data, casting="same_kind")
            except (TypeError, ValueError) as exc:
                raise _inplace_error(name, self, other, exc) from None
            self._version[0] += 1
            return self
        with _no_record():
            out = fn(self, other, *args, **kwargs) if other is not None else fn(
                self, *args, **kwargs)
        return _commit(self, out, name)

    method.__name__ = name
    return method


def _inplace_error(name: str, t: Tensor, other, exc: Exception) -> Exception:
    """A clear error for a NumPy failure of ``ufunc(t, other, out=t)``."""
    if isinstance(exc, TypeError):
        return DTypeError(
            f"{name}: the result cannot be stored in this {t.dtype.name} tensor in place "
            f"(other operand: {describe(other)}); use the out-of-place op or convert the "
            "tensor first"
        )
    if "broadcast" in str(exc):
        return ShapeError(
            f"{name}: the result would not have this tensor's shape {tuple(t.shape)} (other "
            f"operand: {describe(other)}); in-place ops cannot change the shape"
        )
    return op_error(ValueError, name, str(exc), args=[t])


def _no_record():
    from ..autograd.grad_mode import no_grad

    return no_grad()


_iadd = _inplace(ew.add, "add_", "add")
_isub = _inplace(ew.sub, "sub_", "subtract")


def _add_(self, other, *, alpha=1):
    if alpha != 1:
        other = other * alpha
    return _iadd(self, other)


def _sub_(self, other, *, alpha=1):
    if alpha != 1:
        other = other * alpha
    return _isub(self, other)


Tensor.add_ = _add_
Tensor.sub_ = _sub_
Tensor.mul_ = _inplace(ew.mul, "mul_", "multiply")
Tensor.div_ = _inplace(ew.div, "div_", "divide")
Tensor.pow_ = _inplace(ew.pow, "pow_", "power")
Tensor.__iadd__ = _iadd
Tensor.__isub__ = _isub
Tensor.__imul__ = Tensor.mul_
Tensor.__itruediv__ = Tensor.div_
Tensor.__ipow__ = Tensor.pow_
for _op, _fn, _ufunc in (("floordiv", ew.floor_divide, "floor_divide"),
                         ("mod", ew.remainder, "remainder"),
                         ("and", ew.bitwise_and, "bitwise_and"),
                         ("or", ew.bitwise_or, "bitwise_or"),
                         ("xor", ew.bitwise_xor, "bitwise_xor"),
                         ("lshift", _mm.bitwise_left_shift, "left_shift"),
                         ("rshift", _mm.bitwise_right_shift, "right_shift")):
    setattr(Tensor, f"__i{_op}__", _inplace(_fn, f"__i{_op}__", _ufunc))
Tensor.maximum_ = _inplace(ew.maximum, "maximum_", "maximum")
Tensor.minimum_ = _inplace(ew.minimum, "minimum_", "minimum")


def _unary_inplace(fn):
    inner = _inplace(lambda x: fn(x), fn.__name__ + "_")
    return lambda self: inner(self)


# relu_ is attached by ops/activation_inplace.py: its node keeps the output, as PyTorch's does
for _name in ("neg", "abs", "sqrt", "exp", "log", "sigmoid", "tanh", "floor", "ceil",
              "round", "sign", "square", "sin", "cos"):
    setattr(Tensor, _name + "_", _unary_inplace(getattr(ew, _name)))


_iclamp = _inplace(lambda x, bounds: ew.clamp(x, *bounds), "clamp_")
_imasked_fill = _inplace(lambda x, mask, value: ix.masked_fill(x, mask, value), "masked_fill_")


_iscatter = _inplace(lambda x, src, fn, dim, index, kw: fn(x, dim, index, src, **kw),
                     "scatter_")


def _scatter_(self, dim, index, src=None, *, value=None, reduce=None):
    return _iscatter(self, src if value is None else value, sc.scatter, dim, index,
                     {"reduce": reduce})


def _scatter_add_(self, dim, index, src):
    return _iscatter(self, src, lambda x, d, i, s: ix.scatter_add(x, d, i, s), dim, index, {})


def _scatter_reduce_(self, dim, index, src, reduce, *, include_self=True):
    return _iscatter(self, src, sc.scatter_reduce, dim, index, {
        "reduce": reduce, "include_self": include_self})


Tensor.scatter_ = _scatter_
Tensor.scatter_add_ = _scatter_add_
Tensor.scatter_reduce_ = _scatter_reduce_


def _clamp_(self, min=None, max=None):  # noqa: A002
    return _iclamp(self, (min, max))


def _masked_fill_(self, mask, value):
    return _imasked_fill(self, mask, value)


def _fill_(self, value):
    if state.grad_enabled and (self._rg or (isinstance(value, Tensor) and value._rg)):
        _check_inplace(self, "fill_")
        snap = _snapshot(self)
        return _commit(self, ew.where(creation.ones(*self.shape, dtype="bool",
                                                    device=self.device), value, snap * 0))
    if state.tracer is not None:
        return _commit(self, creation.full_like(self, 0) + value)
    self.data[...] = value.data if isinstance(value, Tensor) else value
    self._version[0] += 1
    return self


def _zero_(self):
    return _fill_(self, 0)


def _copy_(self, src):
    if state.grad_enabled and (self._rg or src._rg):
        _check_inplace(self, "copy_")
        return _commit(self, sh.broadcast_to(src.to(self.dtype, device=self.device),
                                             self.shape) + 0.0 * _snapshot(self))
    if state.tracer is not None:
        return _commit(self, sh.broadcast_to(src.to(self.dtype, device=self.device), self.shape))
    self.data[...] = src.to(self.dtype, device=self.device).data
    self._version[0] += 1
    return self


def _random_fill(sample):
    def method(self, *args, generator=None):
        from ..random import _gen

        arr = sample(_gen(generator), self.shape, *args)
        self.data[...] = creation.tensor(arr, dtype=self.dtype, device=self.device).data
        self._version[0] += 1
        return self

    return method


def _setitem(self, index, value):
    index_n = ix.normalize_index(index, self)
    if _records(self, value):
        _check_inplace(self, "setitem")
        return _commit(self, ix.index_put(_snapshot(self), index_n, value))
    if state.tracer is not None:
        return _commit(self, ix.index_put(self, index_n, value))
    self.data[index_n] = value.to(self.dtype, device=self.device).data if isinstance(
        value, Tensor) else value
    self._version[0] += 1


Tensor.clamp_ = _clamp_
Tensor.clip_ = _clamp_
Tensor.masked_fill_ = _masked_fill_
Tensor.fill_ = _fill_
Tensor.zero_ = _zero_
Tensor.copy_ = _copy_
Tensor.__setitem__ = _setitem
Tensor.uniform_ = _random_fill(lambda g, s, a=0.0, b=1.0: g.uniform(a, b, s))
Tensor.normal_ = _random_fill(lambda g, s, m=0.0, sd=1.0: g.normal(m, sd, s))
