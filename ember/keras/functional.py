"""``Functional``: the model ``Model(inputs, outputs)`` builds from a graph of layer calls."""

from __future__ import annotations

from ..errors import EmberError, ShapeError
from .layers.base import Layer, _in_context
from .layers.input_layer import InputLayer
from .layers.symbolic import KerasTensor, flatten, pack_like
from .model import Model
from .sequential import check_input

__all__ = ["Functional"]


def _map_kwargs(kwargs: dict, fn) -> dict:
    """Apply ``fn`` to every KerasTensor inside the keyword arguments of a call."""
    out = {}
    for k, v in kwargs.items():
        leaves = flatten(v)
        if any(isinstance(t, KerasTensor) for t in leaves):
            out[k] = pack_like(v, [fn(t) if isinstance(t, KerasTensor) else t for t in leaves])
        else:
            out[k] = v
    return out


def _from_refs(value, tensor):
    """Undo ``get_config``'s ``{"tensor": ref}`` markers inside keyword arguments."""
    if isinstance(value, dict) and set(value) == {"tensor"}:
        return tensor(value["tensor"])
    if isinstance(value, list):
        return [_from_refs(v, tensor) for v in value]
    return value


def _node_tensors(node) -> list:
    extra = [t for v in node.kwargs.values() for t in flatten(v) if isinstance(t, KerasTensor)]
    return node.flat_inputs + extra


def _topological(outputs: list) -> list:
    """The nodes that produce ``outputs``, each after the nodes it reads from."""
    order, seen, active = [], set(), set()

    def visit(t: KerasTensor) -> None:
        if not isinstance(t, KerasTensor) or t._keras_history is None:
            raise TypeError(f"Model outputs must come from layers called on keras.Input "
                            f"tensors; got {t!r}")
        layer, index, _ = t._keras_history
        node = layer._inbound_nodes[index]
        if id(node) in seen:
            return
        if id(node) in active:
            raise ValueError("the layer graph has a cycle")
        active.add(id(node))
        for parent in _node_tensors(node):
            visit(parent)
        active.discard(id(node))
        seen.add(id(node))
        order.append(node)

    for t in outputs:
        visit(t)
    return order


class Functional(Model):
    """A model defined by calling layers on ``keras.Input`` tensors.

    Example:
        >>> import ember
        >>> from ember import keras
        >>> inputs = keras.Input(shape=(4,))
        >>> hidden = keras.layers.Dense(8, activation="relu")(inputs)
        >>> outputs = keras.layers.Dense(2, activation="softmax")(hidden)
        >>> model = keras.Model(inputs=inputs, outputs=outputs)
        >>> [layer.__class__.__name__ for layer in model.layers]
        ['InputLayer', 'Dense', 'Dense']
        >>> model(ember.ones(3, 4)).shape
        (3, 2)
    """

    def __init__(self, inputs, outputs, name: str | None = None, trainable: bool = True,
                 **kwargs) -> None:
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._nested_inputs, self._nested_outputs = inputs, outputs
        self._inputs, self._outputs = flatten(inputs), flatten(outputs)
        for t in self._inputs:
            if not isinstance(t, KerasTensor) or not isinstance(t._keras_history[0], InputLayer):
                raise TypeError(f"Model inputs must be tensors from keras.Input, got {t!r}")
        nodes = _topological(self._outputs)
        input_ids = {id(t) for t in self._inputs}
        for node in nodes:
            if isinstance(node.layer, InputLayer) and id(node.outputs) not in input_ids:
                raise ValueError(f"the outputs depend on the input '{node.layer.name}', which is "
                                 "not in the model's inputs; add it to inputs=[...]")
        self._nodes = [n for n in nodes if not isinstance(n.layer, InputLayer)]
        ordered: list[Layer] = [t._keras_history[0] for t in self._inputs]
        for node in self._nodes:
            if all(node.layer is not layer for layer in ordered):
                ordered.append(node.layer)
        names = [layer.name for layer in ordered]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"layer names must be unique within a model; repeated: {dupes}")
        for i, layer in enumerate(ordered):
            self.add_module(str(i), layer)
        self.built = True
        self._build_input_shape = [t.shape for t in self._inputs] if len(self._inputs) > 1 \
            else self._inputs[0].shape
        self._output_shape = pack_like(outputs, [t.shape for t in self._outputs])

    @property
    def inputs(self) -> list:
        return list(self._inputs)

    @property
    def outputs(self) -> list:
        return list(self._outputs)

    @property
    def input(self):
        return self._nested_inputs

    @property
    def output(self):
        return self._nested_outputs

    def call(self, inputs, training=None):
        flat = flatten(inputs)
        if len(flat) != len(self._inputs):
            raise ValueError(f"model '{self.name}' takes {len(self._inputs)} input(s), got "
                             f"{len(flat)}")
        values = {}
        for kt, x in zip(self._inputs, flat):
            check_input(self, kt.shape, x)
            values[id(kt)] = x
        get = values.__getitem__
        for node in self._nodes:
            args = pack_like(node.inputs, [values[id(t)] for t in node.flat_inputs])
            kwargs = _map_kwargs(node.kwargs, lambda t: get(id(t))) if node.kwargs else {}
            if training is not None and node.layer._call_accepts("training"):
                kwargs["training"] = training
            out = node.layer(args, **kwargs)
            for kt, value in zip(node.flat_outputs, flatten(out)):
                values[id(kt)] = value
        return pack_like(self._nested_outputs, [values[id(t)] for t in self._outputs])

    def compute_output_shape(self, input_shape):
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        if len(shapes) != len(self._inputs):
            raise ShapeError(f"model '{self.name}' takes {len(self._inputs)} input(s)")
        values = {id(kt): tuple(s) for kt, s in zip(self._inputs, shapes)}
        for node in self._nodes:
            in_shape = pack_like(node.inputs, [values[id(t)] for t in node.flat_inputs])
            try:
                out = node.layer.compute_output_shape(in_shape)
            except EmberError as e:
                raise _in_context(e, node.layer, in_shape) from e
            outs = out if isinstance(out, list) else [out]
            for kt, s in zip(node.flat_outputs, outs):
                values[id(kt)] = s
        result = [values[id(t)] for t in self._outputs]
        return result if len(result) > 1 else result[0]

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict:
        from .layers import serialize

        calls: dict[int, int] = {}
        where: dict[int, list] = {}  # id(KerasTensor) -> [layer name, call index, tensor index]
        for t in self._inputs:
            where[id(t)] = [t._keras_history[0].name, 0, 0]
        nodes = []
        for node in self._nodes:
            k = calls.get(id(node.layer), 0)
            calls[id(node.layer)] = k + 1
            for i, t in enumerate(node.flat_outputs):
                where[id(t)] = [node.layer.name, k, i]
            nodes.append({"layer": node.layer.name,
                          "inputs": pack_like(node.inputs,
                                              [where[id(t)] for t in node.flat_inputs]),
                          "kwargs": _map_kwargs(node.kwargs,
                                                lambda t: {"tensor": where[id(t)]})})
        return {"name": self.name, "trainable": self.trainable,
                "layers": [{**serialize(layer), "name": layer.name} for layer in self.layers],
                "nodes": nodes,
                "inputs": [where[id(t)] for t in self._inputs],
                "outputs": pack_like(self._nested_outputs,
                                     [where[id(t)] for t in self._outputs])}

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> Functional:
        from .layers import deserialize

        layers = {}
        produced: dict[tuple, list] = {}
        for entry in config["layers"]:
            layer = deserialize(entry, custom_objects)
            layers[entry["name"]] = layer
            if isinstance(layer, InputLayer):
                produced[(entry["name"], 0)] = [layer.output]

        def tensor(ref):
            return produced[(ref[0], ref[1])][ref[2]]

        def resolve(structure):
            if isinstance(structure, list) and len(structure) == 3 and \
                    isinstance(structure[0], str) and isinstance(structure[1], int):
                return tensor(structure)
            return [resolve(s) for s in structure]

        calls: dict[str, int] = {}
        for node in config["nodes"]:
            name = node["layer"]
            args = resolve(node["inputs"])
            kwargs = {k: _from_refs(v, tensor) for k, v in node.get("kwargs", {}).items()}
            out = layers[name](args, **kwargs)
            k = calls.get(name, 0)
            calls[name] = k + 1
            produced[(name, k)] = flatten(out)
        inputs = [tensor(ref) for ref in config["inputs"]]
        outputs = resolve(config["outputs"])
        return cls(inputs=inputs if len(inputs) > 1 else inputs[0], outputs=outputs,
                   name=config.get("name"), trainable=config.get("trainable", True))
