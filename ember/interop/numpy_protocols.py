"""NumPy's override protocols: ``np.exp(t)`` and ``np.sum(t)`` run ember's ops on tensors.

``Tensor.__array_ufunc__`` maps the ufuncs ember has (``UFUNCS``) to its ops, and
``Tensor.__array_function__`` maps a documented set of NumPy functions (``FUNCTIONS``), so the
result is an ember tensor recorded by autograd. Results follow ember's (PyTorch's) dtype rules,
e.g. ``np.exp`` of an int64 tensor is float32, not float64.

Everything else -- other functions, ufunc methods (``np.add.reduce``), ``out=``/``where=``
arguments, NumPy-only keywords -- falls back to NumPy itself on the tensors' values and returns
NumPy results, as it did before these protocols existed. The fallback refuses (TypeError) when
a tensor requires grad and autograd is recording, because the gradient would be lost
silently (the check applies to floating-point results; ``np.shape``, ``np.argsort`` and the
like pass); call the ember function or pass ``t.detach()``. ``out=`` with a tensor is refused:
use the in-place method.

Example:
    >>> import ember, numpy as np
    >>> x = ember.tensor([0.0, 1.0], requires_grad=True)
    >>> y = np.exp(x)
    >>> y.sum().backward()
    >>> x.grad
    tensor([1.    , 2.7183])
    >>> np.sum(ember.ones(2, 3), axis=0)
    tensor([2., 2., 2.])
"""

from __future__ import annotations

import numpy as np

from .. import ops
from ..autograd.grad_mode import state as _state
from ..graph.trace import collect_tensors
from ..tensor import Tensor

_INVERT = lambda x: ops.logical_not(x) if x.data.dtype.kind == "b" else ops.bitwise_not(x)  # noqa: E731

UFUNCS = {
    np.add: ops.add, np.subtract: ops.sub, np.multiply: ops.mul, np.divide: ops.div,
    np.floor_divide: ops.floor_divide, np.remainder: ops.remainder, np.fmod: ops.fmod,
    np.power: ops.pow, np.maximum: ops.maximum, np.minimum: ops.minimum,
    np.matmul: ops.matmul, np.negative: ops.neg, np.positive: ops.clone,
    np.absolute: ops.abs, np.sign: ops.sign, np.sqrt: ops.sqrt, np.square: ops.square,
    np.reciprocal: ops.reciprocal, np.exp: ops.exp, np.expm1: ops.expm1, np.log: ops.log,
    np.log1p: ops.log1p, np.log2: ops.log2, np.log10: ops.log10, np.sin: ops.sin,
    np.cos: ops.cos, np.tan: ops.tan, np.tanh: ops.tanh, np.floor: ops.floor,
    np.ceil: ops.ceil, np.trunc: ops.trunc, np.rint: ops.round,
    np.equal: ops.eq, np.not_equal: ops.ne, np.less: ops.lt, np.less_equal: ops.le,
    np.greater: ops.gt, np.greater_equal: ops.ge, np.isnan: ops.isnan, np.isinf: ops.isinf,
    np.isfinite: ops.isfinite, np.logical_and: ops.logical_and,
    np.logical_or: ops.logical_or, np.logical_xor: ops.logical_xor,
    np.logical_not: ops.logical_not, np.bitwise_and: ops.bitwise_and,
    np.bitwise_or: ops.bitwise_or, np.bitwise_xor: ops.bitwise_xor, np.invert: _INVERT,
}


class _Fallback(Exception):
    """An adapter met NumPy-only arguments: run NumPy's own implementation instead."""


def _plain(*values) -> None:
    """Fall back unless every NumPy-only argument (out=, where=, initial= ...) is unset."""
    for v in values:
        if v is not None and v is not np._NoValue:
            raise _Fallback


def _reduction(fn):
    def adapter(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
        _plain(out, initial, where)
        kw = {} if dtype is None else {"dtype": dtype}
        return fn(a, dim=axis, keepdim=bool(keepdims), **kw)
    return adapter


def _extremum(fn):
    def adapter(a, axis=None, out=None, keepdims=False, initial=None, where=None):
        _plain(out, initial, where)
        return fn(a, dim=axis, keepdim=bool(keepdims))
    return adapter


def _arg_extremum(fn):
    def adapter(a, axis=None, out=None, *, keepdims=False):
        _plain(out)
        if axis is None and keepdims:
            raise _Fallback
        return fn(a, dim=axis, keepdim=bool(keepdims))
    return adapter


def _moment(fn):
    def adapter(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None,
                mean=None, correction=None):
        _plain(dtype, out, where, mean)
        return fn(a, dim=axis, keepdim=bool(keepdims),
                  correction=ddof if correction is None else correction)
    return adapter


def _logical(fn):
    def adapter(a, axis=None, out=None, keepdims=False, *, where=None):
        _plain(out, where)
        return fn(a, dim=axis, keepdim=bool(keepdims))
    return adapter


def _concatenate(arrays, axis=0, out=None, *, dtype=None, casting=None):
    _plain(out, dtype, casting)
    if axis is None:
        return ops.cat([ops.reshape(a, -1) for a in arrays], dim=0)
    return ops.cat(list(arrays), dim=axis)


def _stack(arrays, axis=0, out=None, *, dtype=None, casting=None):
    _plain(out, dtype, casting)
    return ops.stack(list(arrays), dim=axis)


def _where(condition, x=None, y=None):
    if x is None or y is None:
        raise _Fallback  # np.where(condition) is nonzero(): a data-dependent shape
    return ops.where(condition, x, y)


def _reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    if order != "C" or copy is not None:
        raise _Fallback
    shape = newshape if shape is None else shape
    return ops.reshape(a, tuple(shape) if isinstance(shape, (list, tuple)) else shape)


def _transpose(a, axes=None):
    return ops.permute(a, tuple(reversed(range(a.ndim))) if axes is None else tuple(axes))


def _clip(a, a_min=np._NoValue, a_max=np._NoValue, out=None, *, min=np._NoValue,  # noqa: A002
          max=np._NoValue, **kwargs):  # noqa: A002
    _plain(out, *kwargs.values())
    lo = min if a_min is np._NoValue else a_min
    hi = max if a_max is np._NoValue else a_max
    return ops.clamp(a, None if lo is np._NoValue else lo, None if hi is np._NoValue else hi)


def _cumsum(a, axis=None, dtype=None, out=None):
    _plain(dtype, out)
    return ops.cumsum(ops.reshape(a, -1), 0) if axis is None else ops.cumsum(a, axis)


def _dot(a, b, out=None):
    _plain(out)
    if np.ndim(a) == 1 and np.ndim(b) == 1:
        return ops.dot(a, b)
    if 1 <= np.ndim(a) <= 2 and 1 <= np.ndim(b) <= 2:
        return ops.matmul(a, b)
    raise _Fallback  # scalars and the N-d contraction rule of np.dot


def _einsum(subscripts, *operands, out=None, dtype=None, order="K", casting="safe",
            optimize=False):
    _plain(out, dtype)
    if not isinstance(subscripts, str):
        raise _Fallback
    return ops.einsum(subscripts, *operands)


def _like(fn):
    def adapter(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
        if shape is not None or device not in (None, "cpu"):
            raise _Fallback
        return fn(a, dtype=dtype)
    return adapter


def _full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None, *, device=None):
    if shape is not None or device not in (None, "cpu"):
        raise _Fallback
    return ops.full_like(a, fill_value, dtype=dtype)


def _axis_op(fn):
    def adapter(a, axis=None):
        return fn(a) if axis is None else fn(a, axis)
    return adapter


def _flip(m, axis=None):
    return ops.flip(m, tuple(range(m.ndim)) if axis is None else axis)


def _roll(a, shift, axis=None):
    return ops.roll(a, shift, axis)


def _diagonal(a, offset=0, axis1=0, axis2=1):
    if (axis1, axis2) != (0, 1) or a.ndim != 2:
        raise _Fallback
    return ops.diagonal(a, offset)


def _trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    _plain(dtype, out)
    if offset or (axis1, axis2) != (0, 1) or a.ndim != 2:
        raise _Fallback
    return ops.trace(a)


def _round(a, decimals=0, out=None):
    _plain(out)
    return ops.round(a, decimals)


def _ravel(a, order="C"):
    if order != "C":
        raise _Fallback
    return ops.reshape(a, -1)


def _outer(a, b, out=None):
    _plain(out)
    return ops.outer(a, b)


def _close(fn):
    def adapter(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
        return fn(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)
    return adapter


FUNCTIONS = {
    np.sum: _reduction(ops.sum), np.mean: _reduction(ops.mean), np.prod: _reduction(ops.prod),
    np.max: _extremum(ops.amax), np.amax: _extremum(ops.amax),
    np.min: _extremum(ops.amin), np.amin: _extremum(ops.amin),
    np.argmax: _arg_extremum(ops.argmax), np.argmin: _arg_extremum(ops.argmin),
    np.var: _moment(ops.var), np.std: _moment(ops.std),
    np.all: _logical(ops.all), np.any: _logical(ops.any),
    np.concatenate: _concatenate, np.stack: _stack, np.where: _where,
    np.reshape: _reshape, np.ravel: _ravel,
    np.transpose: _transpose, np.squeeze: _axis_op(ops.squeeze),
    np.expand_dims: lambda a, axis: ops.unsqueeze(a, axis),
    np.swapaxes: lambda a, axis1, axis2: ops.swapaxes(a, axis1, axis2),
    np.moveaxis: lambda a, source, destination: ops.moveaxis(a, source, destination),
    np.broadcast_to: lambda array, shape, subok=False: ops.broadcast_to(
        array, tuple(shape) if isinstance(shape, (list, tuple)) else (shape,)),
    np.clip: _clip, np.cumsum: _cumsum, np.flip: _flip, np.roll: _roll,
    np.tile: lambda A, reps: ops.tile(A, tuple(reps) if isinstance(reps, (list, tuple))
                                      else (reps,)),
    np.dot: _dot, np.outer: _outer,
    np.einsum: _einsum, np.diagonal: _diagonal, np.trace: _trace,
    np.tril: lambda m, k=0: ops.tril(m, k), np.triu: lambda m, k=0: ops.triu(m, k),
    np.round: _round, np.around: _round,
    np.zeros_like: _like(ops.zeros_like), np.ones_like: _like(ops.ones_like),
    np.full_like: _full_like,
    np.isclose: _close(ops.isclose), np.allclose: _close(ops.allclose),
}


def _to_numpy(obj):
    """Replace tensors (also inside lists, tuples and dicts) by their NumPy arrays."""
    if isinstance(obj, Tensor):
        return obj.__array__()
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_numpy(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _to_numpy(v) for k, v in obj.items()}
    return obj


def _wrap(obj):
    """NumPy arrays among the arguments (also in a list of arrays) as tensors sharing their
    memory, so ``np.concatenate([array, tensor])`` reaches ember's ops with tensors only."""
    if isinstance(obj, np.ndarray):
        return Tensor(obj)
    if isinstance(obj, (list, tuple)) and any(isinstance(o, (Tensor, np.ndarray)) for o in obj):
        return [o if isinstance(o, Tensor) else Tensor(np.asarray(o)) for o in obj]
    return obj


def _numpy_fallback(name: str, fn, args, kwargs):
    """Run NumPy itself on the tensors' values; refuse when a gradient would be dropped."""
    tensors = collect_tensors((args, kwargs), [])
    out = kwargs.get("out")
    if out is not None and collect_tensors(out, []):
        raise TypeError(f"{name}: out= an ember tensor is not supported; ember does not "
                        "write NumPy results into tensors. Use the tensor's in-place method "
                        "(e.g. t.add_(u)) or assign t[...] = result")
    result = fn(*_to_numpy(args), **_to_numpy(kwargs))
    if _state.grad_enabled and _floating(result) and any(t._rg for t in tensors):
        raise TypeError(f"{name} on a tensor that requires grad: ember has no equivalent for "
                        "this call, and NumPy's result would silently drop the gradient. Use "
                        "an ember function, or pass t.detach() to get a NumPy result")
    return result


def _floating(result) -> bool:
    """Whether a result holds real or complex values, which a gradient could flow into
    (shapes, dtypes, indices and booleans cannot)."""
    if isinstance(result, (np.ndarray, np.generic)):
        return result.dtype.kind in "fc"
    if isinstance(result, (list, tuple)):
        return any(_floating(r) for r in result)
    return isinstance(result, float)


def _foreign(types) -> bool:
    """True when another library with its own protocol takes part (let it decide)."""
    return any(not issubclass(t, (Tensor, np.ndarray)) for t in types)


_OPERANDS = (Tensor, np.ndarray, np.generic, int, float)


def tensor_array_ufunc(self: Tensor, ufunc, method: str, *inputs, **kwargs):
    """``Tensor.__array_ufunc__``: ember's op for the ufuncs in ``UFUNCS``, else NumPy."""
    fn = UFUNCS.get(ufunc)
    if fn is not None and method == "__call__" and not kwargs:
        for x in inputs:
            if not isinstance(x, _OPERANDS):
                break
        else:  # the common case: tensors, arrays and numbers only
            return fn(*inputs)
    if any(hasattr(x, "__array_ufunc__") and not isinstance(x, _OPERANDS) for x in inputs):
        return NotImplemented  # another library's array: let it decide
    if fn is not None and method == "__call__" and not kwargs:
        return fn(*[x if isinstance(x, _OPERANDS) else np.asarray(x) for x in inputs])
    name = f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
    return _numpy_fallback(name, getattr(ufunc, method), inputs, kwargs)


def tensor_array_function(self: Tensor, func, types, args, kwargs):
    """``Tensor.__array_function__``: ember's function for those in ``FUNCTIONS``."""
    if _foreign(types):
        return NotImplemented
    adapter = FUNCTIONS.get(func)
    if adapter is not None:
        try:
            return adapter(*[_wrap(a) for a in args], **kwargs)
        except _Fallback:
            pass
    return _numpy_fallback(f"np.{func.__name__}", func, args, kwargs)
