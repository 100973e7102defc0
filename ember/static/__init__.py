"""``ember.static``: the lecture's TensorFlow-1 API (define the graph, then run it).

``import ember.static as tf`` and the CS231n lecture-8 code runs: placeholders, variables,
``Session.run(fetches, feed_dict)``, ``gradients``, ``assign``/``group``, ``layers.dense`` with
a Xavier initialiser, ``losses.mean_squared_error`` and ``train.*Optimizer.minimize``. Each
``Session.run`` fetch list is compiled by ``ember.graph.jit`` into one static graph holding
forward, backward and the variable updates.

Example:
    >>> import numpy as np
    >>> import ember.static as tf
    >>> x = tf.placeholder(tf.float32, shape=(None, 2))
    >>> w = tf.Variable(tf.constant([[1.0], [2.0]]))
    >>> loss = tf.reduce_mean(tf.matmul(x, w) ** 2)
    >>> step = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    >>> with tf.Session() as sess:
    ...     _ = sess.run(tf.global_variables_initializer())
    ...     for _ in range(3):
    ...         l, _ = sess.run([loss, step], feed_dict={x: np.ones((4, 2))})
    ...     print(round(float(l), 4))
    1.1664
"""

from __future__ import annotations

from .. import dtypes as _dt
from .core import (
    Assign,
    FailedPreconditionError,
    Graph,
    Operation,
    Placeholder,
    Tensor,
    Variable,
    get_default_graph,
    global_variables_initializer,
    group,
    reset_default_graph,
)
from .ops import (
    abs,
    add,
    argmax,
    cast,
    constant,
    divide,
    equal,
    exp,
    gradients,
    log,
    losses,
    matmul,
    maximum,
    minimum,
    multiply,
    nn,
    ones,
    placeholder,
    random_normal,
    random_uniform,
    reduce_max,
    reduce_mean,
    reduce_sum,
    reshape,
    sigmoid,
    sqrt,
    square,
    subtract,
    tanh,
    transpose,
    zeros,
)
from .session import Session
from .training import (
    contrib,
    dense,
    global_variables,
    initializers,
    layers,
    train,
    trainable_variables,
)

float16, float32, float64 = _dt.float16, _dt.float32, _dt.float64
int8, int16, int32, int64, uint8, bool = (  # noqa: A001
    _dt.int8, _dt.int16, _dt.int32, _dt.int64, _dt.uint8, _dt.bool_)
assign = Variable.assign

__all__ = [
    "Assign", "FailedPreconditionError", "Graph", "Operation", "Placeholder", "Session",
    "Tensor", "Variable", "get_default_graph", "global_variables_initializer", "group",
    "reset_default_graph", "abs", "add", "argmax", "cast", "constant", "divide", "equal", "exp",
    "gradients", "log", "losses", "matmul", "maximum", "minimum", "multiply", "nn", "ones",
    "placeholder", "random_normal", "random_uniform", "reduce_max", "reduce_mean",
    "reduce_sum", "reshape", "sigmoid", "sqrt", "square", "subtract", "tanh", "transpose",
    "zeros", "contrib", "dense", "global_variables", "initializers", "layers", "train",
    "trainable_variables", "float16", "float32", "float64", "int8", "int16", "int32", "int64",
    "uint8", "bool", "assign",
]
