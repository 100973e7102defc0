"""Tracing a model for export: one forward, no gradients, values named after the model.

ONNX export and TensorBoard's graph view both need the same thing: the graph of
``model(*inputs)`` with parameters and buffers named by their state-dict keys, inputs named
``input`` (or ``input0``, ``input1``, ... when there are several), and ops grouped under the
module that ran them.

Example:
    >>> import ember
    >>> from ember.graph.module_trace import trace_module
    >>> g = trace_module(ember.nn.Linear(3, 2), ember.ones(1, 3))
    >>> sorted(v.name for v in g.states)
    ['bias', 'weight']
"""

from __future__ import annotations

from ..autograd.grad_mode import no_grad
from ..tensor import Tensor
from .ir import Graph
from .trace import Tracer, collect_tensors, module_scopes, trace_with


def trace_module(model, inputs) -> Graph:
    """Trace ``model(*inputs)`` (a Module or any callable) without recording gradients."""
    if isinstance(inputs, Tensor):
        inputs = (inputs,)
    inputs = tuple(inputs)
    names = {}
    if hasattr(model, "named_parameters"):
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            names.setdefault(id(t), name)
    tensors = collect_tensors(inputs, [])
    for i, t in enumerate(tensors):
        names.setdefault(id(t), f"input{i}" if len(tensors) > 1 else "input")
    tracer = Tracer(names=names)
    with no_grad():
        if hasattr(model, "named_modules"):
            with module_scopes(tracer, model):
                return trace_with(tracer, model, inputs, {})[0]
        return trace_with(tracer, model, inputs, {})[0]
