"""Layers, initialisers and optimisers of the lecture's TensorFlow-1 API.

``layers.dense`` creates its kernel and bias as variables; ``train.*Optimizer.minimize(loss)``
builds the gradients and the update assignments (one ``group`` op) with TensorFlow's
formulas, slot variables (momentum, Adam's moments and step) included.

Example:
    >>> import ember.static as tf
    >>> x = tf.placeholder(tf.float32, shape=(None, 3))
    >>> h = tf.layers.dense(x, 4, activation=tf.nn.relu)
    >>> h.shape, [v.shape for v in tf.trainable_variables()][-2:]
    ((None, 4), [(3, 4), (4,)])
"""

from __future__ import annotations

import math
import types

from .. import dtypes as _dt
from .. import ops as E
from .core import Tensor, Variable, as_tensor, get_default_graph, group
from .ops import gradients, matmul, sqrt


def trainable_variables() -> list:
    """The trainable variables of the default graph, in creation order."""
    return get_default_graph().get_collection("trainable_variables")


def global_variables() -> list:
    """Every variable of the default graph."""
    return get_default_graph().get_collection("variables")


# ----------------------------------------------------------------------------- initialisers


def glorot_uniform_initializer(seed=None):
    """Xavier/Glorot uniform: U(-a, a) with a = sqrt(6 / (fan_in + fan_out))."""
    def init(shape, dtype=_dt.float32):
        fan_in, fan_out = _fans(shape)
        a = math.sqrt(6.0 / (fan_in + fan_out))
        return E.rand(*shape, dtype=_dt.to_dtype(dtype)) * (2 * a) - a

    return init


def glorot_normal_initializer(seed=None):
    """Xavier/Glorot normal: N(0, 2 / (fan_in + fan_out))."""
    def init(shape, dtype=_dt.float32):
        fan_in, fan_out = _fans(shape)
        return E.randn(*shape, dtype=_dt.to_dtype(dtype)) * math.sqrt(2.0 / (fan_in + fan_out))

    return init


def zeros_initializer():
    def init(shape, dtype=_dt.float32):
        return E.zeros(*shape, dtype=_dt.to_dtype(dtype))

    return init


def _fans(shape):
    if len(shape) < 2:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


initializers = types.SimpleNamespace(glorot_uniform=glorot_uniform_initializer,
                                     glorot_normal=glorot_normal_initializer,
                                     zeros=zeros_initializer)
contrib = types.SimpleNamespace(layers=types.SimpleNamespace(
    xavier_initializer=lambda uniform=True, seed=None: (
        glorot_uniform_initializer() if uniform else glorot_normal_initializer())))


def dense(inputs, units: int, activation=None, use_bias: bool = True,
          kernel_initializer=None, bias_initializer=None, name: str = "dense") -> Tensor:
    """A fully connected layer: ``activation(inputs @ kernel + bias)``.

    Args:
        inputs: a symbolic tensor whose last dimension is known.
        units: the output size.
        activation: e.g. ``tf.nn.relu`` (None: linear).
        use_bias: add a bias (initialised to zeros).
        kernel_initializer: ``init(shape, dtype)``; Glorot uniform by default, as in TF.
        bias_initializer: ``init(shape, dtype)``; zeros by default.
    """
    x = as_tensor(inputs)
    if x.shape is None or x.shape[-1] is None:
        raise ValueError(f"layers.dense: the last dimension of the input {x.name} must be "
                         "known (give the placeholder a shape such as (None, 784))")
    dtype = x.dtype or _dt.float32
    kinit = kernel_initializer or glorot_uniform_initializer()
    kernel = Variable(kinit((x.shape[-1], units), dtype), name=name + "/kernel")
    y = matmul(x, kernel)
    if use_bias:
        bias = Variable((bias_initializer or zeros_initializer())((units,), dtype),
                        name=name + "/bias")
        y = y + bias
    if activation is not None:
        y = activation(y)
    return y


layers = types.SimpleNamespace(dense=dense)


# ----------------------------------------------------------------------------- optimisers


def _reachable(t) -> set:
    """Ids of the symbolic tensors ``t`` is computed from (itself included)."""
    seen, stack = set(), [t]
    while stack:
        x = stack.pop()
        if id(x) not in seen:
            seen.add(id(x))
            stack.extend(getattr(x, "inputs", ()))
    return seen


class Optimizer:
    """Base of the TF-1 optimisers: ``minimize(loss)`` returns the update op."""

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = float(learning_rate)

    def compute_gradients(self, loss, var_list=None) -> list:
        """``[(gradient, variable)]`` for the trainable variables (or ``var_list``)."""
        loss = as_tensor(loss)
        if var_list is None:  # the trainable variables the loss reads, as TensorFlow keeps
            reached = _reachable(loss)
            var_list = [v for v in loss.graph.variables if v.trainable and id(v) in reached]
        var_list = list(var_list)
        if not var_list:
            raise ValueError(f"{type(self).__name__}.minimize: no variables to optimize")
        return list(zip(gradients(loss, var_list), var_list))

    def apply_gradients(self, grads_and_vars):
        """The op applying one update step to every variable that has a gradient.

        Variables the loss does not depend on (gradient None) are left alone, as in
        TensorFlow; if none has a gradient, that is an error naming them.
        """
        grads_and_vars = list(grads_and_vars)
        updates = [self._update(g, v) for g, v in grads_and_vars if g is not None]
        if not updates:
            names = ", ".join(v.name for _, v in grads_and_vars)
            raise ValueError(f"{type(self).__name__}: no gradients for any variable ({names}); "
                             "check that the loss depends on them")
        return group(*updates)

    def minimize(self, loss, var_list=None):
        """Gradients of ``loss`` and the update op, in one call."""
        return self.apply_gradients(self.compute_gradients(loss, var_list))

    def _slot(self, var: Variable, name: str) -> Variable:
        return Variable(E.zeros(*var.shape, dtype=var.dtype), trainable=False,
                        name=f"{var.name}/{name}")

    def _update(self, g, v):  # pragma: no cover - every optimiser defines it
        raise NotImplementedError


class GradientDescentOptimizer(Optimizer):
    """``var -= learning_rate * grad``."""

    def _update(self, g, v):
        return v.assign(v - self.learning_rate * g)


class MomentumOptimizer(Optimizer):
    """``accum = momentum * accum + grad``; ``var -= lr * accum`` (Nesterov: ``lr * (grad +
    momentum * accum)``), TensorFlow's formulation."""

    def __init__(self, learning_rate: float, momentum: float, use_nesterov: bool = False):
        super().__init__(learning_rate)
        self.momentum = float(momentum)
        self.use_nesterov = use_nesterov

    def _update(self, g, v):
        accum = self._slot(v, "Momentum")
        new_accum = accum * self.momentum + g
        step = g + new_accum * self.momentum if self.use_nesterov else new_accum
        return group(accum.assign(new_accum), v.assign(v - self.learning_rate * step))


class AdamOptimizer(Optimizer):
    """Adam as TensorFlow 1 writes it: ``lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t)``;
    ``var -= lr_t * m / (sqrt(v) + epsilon)``."""

    def __init__(self, learning_rate: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 epsilon: float = 1e-8) -> None:
        super().__init__(learning_rate)
        self.beta1, self.beta2, self.epsilon = float(beta1), float(beta2), float(epsilon)

    def apply_gradients(self, grads_and_vars):
        step = Variable(E.zeros((), dtype=_dt.float32), trainable=False, name="Adam/step")
        t = step + 1.0
        lr_t = self.learning_rate * sqrt(1.0 - self.beta2 ** t) / (1.0 - self.beta1 ** t)
        ups = [step.assign(t)]
        for g, v in grads_and_vars:
            m, s = self._slot(v, "Adam"), self._slot(v, "Adam_1")
            m_new = m * self.beta1 + g * (1.0 - self.beta1)
            s_new = s * self.beta2 + (g * g) * (1.0 - self.beta2)
            ups += [m.assign(m_new), s.assign(s_new),
                    v.assign(v - lr_t * m_new / (sqrt(s_new) + self.epsilon))]
        return group(*ups)


train = types.SimpleNamespace(GradientDescentOptimizer=GradientDescentOptimizer,
                              MomentumOptimizer=MomentumOptimizer, AdamOptimizer=AdamOptimizer,
                              Optimizer=Optimizer)
