"""Symbolic tensors for the functional API, and helpers for (nested lists of) tensors."""

from __future__ import annotations

__all__ = ["KerasTensor", "Node", "flatten", "pack_like", "shape_of", "fmt_shape"]


def flatten(structure) -> list:
    """The leaves of a tensor or a (nested) list/tuple of them, in order."""
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    return [structure]


def pack_like(structure, leaves: list):
    """Rebuild ``structure``'s nesting from a flat list of leaves."""
    it = iter(leaves)

    def rebuild(s):
        if isinstance(s, (list, tuple)):
            return type(s)(rebuild(item) for item in s)
        return next(it)

    return rebuild(structure)


def shape_of(structure):
    """Input shapes with the batch dimension as ``None``: a tuple, or a list of tuples."""
    if isinstance(structure, (list, tuple)):
        return [shape_of(s) for s in structure]
    return (None,) + tuple(structure.shape[1:])


def fmt_shape(shape) -> str:
    if isinstance(shape, list):
        return "[" + ", ".join(fmt_shape(s) for s in shape) + "]"
    return str(tuple(shape))


class KerasTensor:
    """A symbolic tensor: the shape and dtype a layer will see, and the node that makes it.

    ``Input(shape=(8,))`` returns one; calling layers on it builds a graph that
    ``Model(inputs, outputs)`` turns into a model. The batch dimension is ``None``.
    """

    def __init__(self, shape: tuple, dtype: str = "float32", name: str | None = None) -> None:
        self.shape = tuple(shape)
        self.dtype = dtype
        self.name = name
        self._keras_history = None  # (layer, node_index, tensor_index)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def __array__(self, *args, **kwargs):
        raise TypeError("a KerasTensor is symbolic and has no values; build a Model from it and "
                        "call the model on real data")


class Node:
    """One call of a layer on symbolic inputs: what went in, what came out, with which args."""

    def __init__(self, layer, inputs, outputs, kwargs: dict) -> None:
        self.layer = layer
        self.inputs = inputs
        self.outputs = outputs
        self.kwargs = kwargs
        self.flat_inputs = flatten(inputs)
        self.flat_outputs = flatten(outputs)
