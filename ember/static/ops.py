"""The lecture's TensorFlow-1 functions over symbolic tensors: math, reductions, random
initial values, ``gradients``, and the ``nn`` and ``losses`` namespaces.

Each function builds a symbolic tensor whose computation is the ember function of the same
meaning; nothing runs until a ``Session`` does.

Example:
    >>> import ember.static as tf
    >>> a = tf.constant([[1.0, 2.0]])
    >>> b = tf.matmul(a, tf.constant([[3.0], [4.0]]))
    >>> b.shape
    (1, 1)
"""

from __future__ import annotations

import types

from .. import dtypes as _dt
from .. import ops as E
from ..autograd import grad as _grad
from ..nn import functional as F
from .core import Placeholder, Tensor, as_tensor

__all__ = ["placeholder", "constant", "matmul", "maximum", "minimum", "add", "subtract",
           "multiply", "divide", "square", "sqrt", "exp", "log", "tanh", "sigmoid", "abs",
           "reduce_sum", "reduce_mean", "reduce_max", "reshape", "transpose", "cast",
           "argmax", "equal", "zeros", "ones", "random_normal", "random_uniform", "gradients",
           "nn", "losses"]


def placeholder(dtype, shape=None, name: str = "Placeholder") -> Placeholder:
    """An input fed through ``Session.run(..., feed_dict={placeholder: value})``.

    Args:
        dtype: its dtype (``tf.float32`` ...).
        shape: its shape; ``None`` entries (e.g. the batch) accept any size.
        name: the name errors use.
    """
    return Placeholder(dtype, shape, name)


def constant(value, dtype=None, shape=None, name: str = "Const") -> Tensor:
    """A constant tensor."""
    from .core import _constant_value

    t = _constant_value(value, _dt.to_dtype(dtype) if dtype is not None else None)
    if shape is not None:
        t = E.broadcast_to(t, tuple(shape)) if t.numel() == 1 else E.reshape(t, tuple(shape))
    return Tensor(lambda: t, (), tuple(t.shape), t.dtype, name)


def _unary(fn, name):
    def f(x, name_=None):
        x = as_tensor(x)
        return Tensor(fn, (x,), x.shape, x.dtype, name)

    f.__name__ = name
    f.__doc__ = f"Elementwise ``{name}``."
    return f


def _binary(fn, name):
    def f(x, y, name_=None):
        from .core import _binary as build

        return build(fn, x, y, name)

    f.__name__ = name
    f.__doc__ = f"Elementwise ``{name}`` with broadcasting."
    return f


add = _binary(lambda a, b: a + b, "add")
subtract = _binary(lambda a, b: a - b, "subtract")
multiply = _binary(lambda a, b: a * b, "multiply")
divide = _binary(lambda a, b: a / b, "divide")
maximum = _binary(E.maximum, "maximum")
minimum = _binary(E.minimum, "minimum")
equal = _binary(lambda a, b: E.eq(a, b), "equal")
square = _unary(E.square, "square")
sqrt = _unary(E.sqrt, "sqrt")
exp = _unary(E.exp, "exp")
log = _unary(E.log, "log")
tanh = _unary(E.tanh, "tanh")
sigmoid = _unary(E.sigmoid, "sigmoid")
abs = _unary(E.abs, "abs")  # noqa: A001


def matmul(a, b, name: str = "MatMul") -> Tensor:
    """Matrix product."""
    a, b = as_tensor(a), as_tensor(b)
    shape = None
    if a.shape is not None and b.shape is not None and len(a.shape) == len(b.shape) == 2:
        shape = (a.shape[0], b.shape[1])
    return Tensor(E.matmul, (a, b), shape, a.dtype, name)


def _reduced(shape, axis, keepdims):
    if shape is None:
        return None
    if axis is None:
        return tuple(1 for _ in shape) if keepdims else ()
    axes = {a % len(shape) for a in (axis if isinstance(axis, (tuple, list)) else (axis,))}
    return tuple(1 if i in axes else d for i, d in enumerate(shape)
                 if keepdims or i not in axes)


def _reduction(fn, name):
    def f(input_tensor, axis=None, keepdims: bool = False, name_=None):
        x = as_tensor(input_tensor)
        ax = tuple(axis) if isinstance(axis, list) else axis
        return Tensor(lambda t: fn(t, dim=ax, keepdim=keepdims), (x,),
                      _reduced(x.shape, ax, keepdims), x.dtype, name)

    f.__name__ = name
    f.__doc__ = f"``{name}`` over ``axis`` (all axes by default)."
    return f


reduce_sum = _reduction(E.sum, "reduce_sum")
reduce_mean = _reduction(E.mean, "reduce_mean")
reduce_max = _reduction(E.amax, "reduce_max")


def reshape(tensor, shape, name: str = "Reshape") -> Tensor:
    """Reshape (``-1`` infers one dimension)."""
    x = as_tensor(tensor)
    shape = tuple(shape)
    return Tensor(lambda t: E.reshape(t, shape), (x,),
                  None if -1 in shape else shape, x.dtype, name)


def transpose(a, perm=None, name: str = "transpose") -> Tensor:
    """Permute the axes (reverse them by default)."""
    x = as_tensor(a)

    def f(t):
        return E.permute(t, tuple(perm) if perm is not None else tuple(reversed(range(t.ndim))))

    shape = None
    if x.shape is not None:
        p = perm if perm is not None else tuple(reversed(range(len(x.shape))))
        shape = tuple(x.shape[i] for i in p)
    return Tensor(f, (x,), shape, x.dtype, name)


def cast(x, dtype, name: str = "Cast") -> Tensor:
    """Convert to ``dtype``."""
    x = as_tensor(x)
    d = _dt.to_dtype(dtype)
    return Tensor(lambda t: E.astype(t, d), (x,), x.shape, d, name)


def argmax(input, axis=None, name: str = "ArgMax") -> Tensor:  # noqa: A002
    """Index of the largest value along ``axis``."""
    x = as_tensor(input)
    return Tensor(lambda t: E.argmax(t, dim=axis), (x,), _reduced(x.shape, axis, False),
                  _dt.int64, name)


def zeros(shape, dtype=_dt.float32, name: str = "zeros") -> Tensor:
    return constant(E.zeros(*shape, dtype=_dt.to_dtype(dtype)), name=name)


def ones(shape, dtype=_dt.float32, name: str = "ones") -> Tensor:
    return constant(E.ones(*shape, dtype=_dt.to_dtype(dtype)), name=name)


def random_normal(shape, mean: float = 0.0, stddev: float = 1.0, dtype=_dt.float32,
                  seed=None, name: str = "random_normal") -> Tensor:
    """Normal samples, drawn once from ember's generator when the graph is built (the
    lecture uses them as initial values: ``tf.Variable(tf.random_normal((D, H)))``)."""
    t = E.randn(*shape, dtype=_dt.to_dtype(dtype)) * stddev + mean
    return constant(t, name=name)


def random_uniform(shape, minval: float = 0.0, maxval: float = 1.0, dtype=_dt.float32,
                   seed=None, name: str = "random_uniform") -> Tensor:
    """Uniform samples in ``[minval, maxval)``, drawn once when the graph is built."""
    t = E.rand(*shape, dtype=_dt.to_dtype(dtype)) * (maxval - minval) + minval
    return constant(t, name=name)


def gradients(ys, xs, name: str = "gradients") -> list:
    """Symbolic gradients of ``sum(ys)`` with respect to each of ``xs`` (None if unused).

    Evaluated by ember's autograd while the session traces the run, so the backward pass
    becomes part of the same static graph as the forward pass.
    """
    ys = [as_tensor(y) for y in (ys if isinstance(ys, (list, tuple)) else [ys])]
    xs = list(xs) if isinstance(xs, (list, tuple)) else [xs]

    def all_grads(*vals):
        yv, xv = vals[:len(ys)], vals[len(ys):]
        total = yv[0].sum() if len(yv) == 1 else E.add_n([y.sum() for y in yv])
        return _grad(total, list(xv), create_graph=True, allow_unused=True)

    node = Tensor(all_grads, tuple(ys) + tuple(xs), None, None, name)
    return [Tensor(lambda gs, i=i: gs[i], (node,), x.shape, x.dtype, f"{name}_{i}")
            for i, x in enumerate(xs)]


nn = types.SimpleNamespace(
    relu=_unary(E.relu, "relu"),
    sigmoid=sigmoid,
    tanh=tanh,
    softmax=lambda logits, axis=-1, name=None: Tensor(
        lambda t: F.softmax(t, dim=axis), (as_tensor(logits),), as_tensor(logits).shape,
        as_tensor(logits).dtype, "softmax"),
    softmax_cross_entropy_with_logits=lambda labels, logits, name=None: Tensor(
        lambda y, z: -(y * F.log_softmax(z, dim=-1)).sum(-1), (as_tensor(labels),
                                                              as_tensor(logits)),
        None, as_tensor(logits).dtype, "softmax_cross_entropy"),
)


def mean_squared_error(labels, predictions, name: str = "mean_squared_error") -> Tensor:
    """The mean over all elements of ``(labels - predictions) ** 2`` (``tf.losses``)."""
    a, b = as_tensor(labels), as_tensor(predictions)
    return Tensor(lambda x, y: ((x - y) ** 2).mean(), (a, b), (), a.dtype, name)


losses = types.SimpleNamespace(mean_squared_error=mean_squared_error)
