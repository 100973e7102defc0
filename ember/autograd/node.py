"""The recorded graph: ``Node`` and ``apply``, the one place an op is run eagerly.

``apply(op, *args, **attrs)`` computes an op's forward on the backend arrays of its tensor
arguments and, when gradients are wanted, records a ``Node``: the op, its arguments, its
attributes and one edge per argument. An edge points at what produced the argument at that
moment -- ``(node, output_index)`` for a computed tensor, the tensor itself for a leaf -- so
a later in-place change of a tensor never reroutes gradients recorded before it.
"""

from __future__ import annotations

import traceback

import numpy as np

from ..backend import _BY_TYPE
from ..errors import (
    DeviceError,
    EmberError,
    EmberIndexError,
    LinAlgError,
    ShapeError,
    op_error,
)
from .grad_mode import state

Tensor = None  # set by ember.tensor (import cycle: a Tensor's operators call ops)


class Node:
    """One recorded op application: what backward needs to run the op's vjp."""

    __slots__ = ("op", "args", "attrs", "edges", "versions", "out", "hooks", "freed",
                 "trace", "specs", "__weakref__")

    def __init__(self, op, args, attrs, edges, versions):
        self.op = op
        self.args = args
        self.attrs = attrs
        self.edges = edges
        self.versions = versions
        self.out = None
        self.hooks = None
        self.freed = False
        self.trace = traceback.format_stack(limit=12)[:-2] if state.anomaly else None
        self.specs = None

    @property
    def name(self) -> str:
        return self.op.name

    @property
    def next_functions(self):
        """The edges as ``(node_or_leaf_tensor, output_index)`` pairs (None for no gradient)."""
        return tuple(e if (e is None or type(e) is tuple) else (e, 0) for e in self.edges)

    def __repr__(self) -> str:
        return f"<{self.op.__name__}Backward>"


_ERRORS = (ValueError, IndexError, TypeError, np.linalg.LinAlgError)


def _raise_forward_error(op, exc, args):
    msg = str(exc)
    if isinstance(exc, EmberError):  # already one of ours: keep its class, name the op
        if msg.startswith(op.name + ":"):
            raise exc
        raise type(exc)(f"{op.name}: {msg}") from exc
    if isinstance(exc, np.linalg.LinAlgError):
        cls, hint = LinAlgError, "the matrix must be invertible (non-singular); check its rank"
    elif isinstance(exc, IndexError):
        cls, hint = EmberIndexError, "indices must lie within the dimension sizes"
    elif "different from the current device" in msg or "peer access" in msg.lower():
        cls, hint = DeviceError, ("the arguments are on different GPUs; move them to one with "
                                  ".to('cuda:N')")  # CuPy's error for arrays on two GPUs
    elif "broadcast" in msg:
        cls, hint = ShapeError, ("shapes broadcast when each dimension pair is equal or one "
                                 "of them is 1; reshape or unsqueeze an input")
    elif isinstance(exc, TypeError) and not isinstance(exc, ShapeError):
        cls, hint = type(exc) if type(exc).__module__.startswith("ember") else TypeError, ""
    else:
        cls, hint = ShapeError, ""
    raise op_error(cls, op.name, msg, args=[a for a in args if hasattr(a, "shape")],
                   hint=hint) from exc


def apply(op, *args, **attrs):
    """Run ``op`` on tensors (and Python scalars); record a node if gradients are wanted."""
    if state.dispatch is not None:  # a profiler or autocast is listening (ember.autograd.dispatch)
        return state.dispatch(op, args, attrs)
    arrays = []
    edges = []
    versions = []
    grad = False
    cls = None
    for a in args:  # one pass: arrays for the forward, edges and versions for the node
        if isinstance(a, Tensor):
            d = a.data
            if cls is None:
                cls = d.__class__
            elif d.__class__ is not cls:
                _device_mismatch(op, args)
            arrays.append(d)
            versions.append(a._version[0])
            if a._rg:
                grad = True
                n = a._node
                edges.append((n, a._idx) if n is not None else a)
            else:
                edges.append(None)
        else:
            arrays.append(a)
            versions.append(0)
            edges.append(None)
    backend = _BY_TYPE[cls] if cls is not None else _default_backend()
    fwd = backend.forwards.get(op) or backend.forward(op)
    try:
        out = fwd(backend.xp, *arrays, **attrs)
    except _ERRORS as exc:
        _raise_forward_error(op, exc, args)
    record = grad and op.differentiable and state.grad_enabled
    if op.n_outputs == 1:
        if out.__class__ not in _BY_TYPE:  # NumPy returns scalars for 0-d results
            out = backend.xp.asarray(out)
        result = Tensor(out, record)
        if op.is_view and isinstance(args[0], Tensor):
            base = args[0]
            result._version = base._version
            result._base = base if base._base is None else base._base
        if state.tracer is not None:
            state.tracer.record(op, args, attrs, (result,))
        if not record:
            return result
        node = Node(op, args, attrs, edges, versions)
        if op.needs_output:  # the array, not the tensor: a tensor would make a reference cycle
            node.out = ((out, result._version, result._version[0]),)
        result._node = node
        return result
    outs = tuple(Tensor(o if o.__class__ in _BY_TYPE else backend.xp.asarray(o),
                        record) for o in out)
    if state.tracer is not None:
        state.tracer.record(op, args, attrs, outs)
    if not record:
        return outs
    node = Node(op, args, attrs, edges, versions)
    if op.needs_output:
        node.out = tuple((o.data, o._version, o._version[0]) for o in outs)
    node.specs = tuple((o.data.shape, o.data.dtype) for o in outs)
    for i, o in enumerate(outs):
        o._node = node
        o._idx = i
    return outs


def _default_backend():
    from ..backend import get_backend

    return get_backend("cpu")


def _device_mismatch(op, args):
    from ..errors import describe

    devices = ", ".join(
        f"argument {i} ({describe(a)}) on {a.device}"
        for i, a in enumerate(args) if isinstance(a, Tensor)
    )
    first = next(a.device for a in args if isinstance(a, Tensor))
    raise DeviceError(
        f"{op.name}: expected all tensors on one device, got {devices}. "
        f"Move them to one device first with .to(device), e.g. other.to('{first}')"
    )
