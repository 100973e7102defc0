"""``Session``: runs fetch lists of a static graph, each compiled once by ``ember.graph.jit``."""

from __future__ import annotations

import numpy as np

from ..graph import jit
from ..graph.ir import FeedError
from ..tensor import Tensor as _ETensor
from .core import Graph, Operation, Placeholder, as_tensor, get_default_graph

# ----------------------------------------------------------------------------- Session


class Session:
    """Runs parts of a graph (``tf.Session``); a context manager.

    ``run(fetches, feed_dict)`` evaluates ``fetches`` -- one tensor or op, a list/tuple, or a
    dict of them -- with placeholders fed from ``feed_dict`` (arrays, numbers or ember
    tensors) and returns NumPy values in the same structure (None for ops). Each distinct
    fetch list is compiled once per feed signature into an ember static graph.

    Example:
        >>> import ember.static as tf
        >>> x = tf.placeholder(tf.float32, shape=(None, 2))
        >>> y = tf.reduce_sum(x * 2.0)
        >>> with tf.Session() as sess:
        ...     print(sess.run(y, feed_dict={x: [[1.0, 2.0]]}))
        6.0
    """

    def __init__(self, graph: Graph | None = None) -> None:
        self.graph = graph or get_default_graph()
        self._compiled: dict = {}
        self.closed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self) -> None:
        self.closed = True
        self._compiled.clear()

    def run(self, fetches, feed_dict=None):
        """Evaluate ``fetches`` with ``feed_dict``; returns NumPy values (None for ops)."""
        if self.closed:
            raise RuntimeError("Session.run: the session is closed")
        flat, rebuild = _flatten_fetches(fetches)
        feed_dict = feed_dict or {}
        placeholders = []
        arrays = []
        for ph, value in feed_dict.items():
            if not isinstance(ph, Placeholder):
                raise TypeError(f"feed_dict keys must be placeholders, got {ph!r}")
            placeholders.append(ph)
            arrays.append(ph.check(value))
        missing = sorted({p.name for p in _needed_placeholders(flat)} -
                         {p.name for p in placeholders})
        if missing:
            raise FeedError("You must feed a value for placeholder tensor(s) " +
                            ", ".join(f"'{m}'" for m in missing))
        eager = [v for f in flat if isinstance(f, Operation) for v in f.eager]
        if eager:  # initialisers copy initial values in: run eagerly, outside the jit
            from ..autograd.grad_mode import no_grad

            with no_grad():
                for v in eager:
                    v.value.copy_(v.initial)
                    v.initialized = True
        key = (tuple(flat), tuple(placeholders))
        fn = self._compiled.get(key)
        if fn is None:
            fn = self._compiled[key] = jit(_Runner(flat, placeholders))
        values = fn(*(_ETensor(a) for a in arrays))
        return rebuild([None if v is None else np.asarray(v.numpy()) for v in values])


class _Runner:
    """The Python function a session compiles: the fetches as a function of the feeds."""

    def __init__(self, fetches, placeholders) -> None:
        self.fetches = fetches
        self.placeholders = placeholders

    def __call__(self, *feeds):
        env = dict(zip(self.placeholders, feeds))
        return [f.evaluate(env) for f in self.fetches]


def _flatten_fetches(fetches):
    if isinstance(fetches, dict):
        keys = list(fetches)
        return [as_tensor(fetches[k]) for k in keys], lambda v: dict(zip(keys, v))
    if isinstance(fetches, (list, tuple)):
        kind = type(fetches)
        return [as_tensor(f) for f in fetches], lambda v: kind(v)
    return [as_tensor(fetches)], lambda v: v[0]


def _needed_placeholders(fetches) -> set:
    seen, out, todo = set(), set(), list(fetches)
    while todo:
        t = todo.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        if isinstance(t, Placeholder):
            out.add(t)
        todo.extend(t.inputs)
    return out
