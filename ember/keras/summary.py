"""``model.summary()``: the layer table with output shapes, parameter counts and FLOPs.

FLOPs are those of one sample (batch 1), from the ops' cost declarations, counted by running
the model once under ``ember.profiler`` (``ember.utils.summary.flops_by_module``).
"""

from __future__ import annotations

from ..autograd.grad_mode import no_grad
from .layers.base import Layer
from .layers.input_layer import InputLayer
from .layers.symbolic import fmt_shape

__all__ = ["print_summary", "summary_rows", "readable_size"]


def readable_size(nbytes: int) -> str:
    """``373288`` -> ``'364.54 KB'`` (powers of 1024, as Keras prints them)."""
    size = float(nbytes)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} GB"


def _shape_text(shape) -> str:
    if shape is None:
        return "?"
    return fmt_shape(shape)


def _traced_shapes(model) -> dict:
    """Output shapes of a subclassed model's direct layers, from one forward on zeros."""
    from ..ops.creation import zeros

    shapes: dict = {}
    handles = []
    for layer in model.layers:
        def hook(module, args, out, layer=layer):
            outs = out if isinstance(out, (list, tuple)) else [out]
            shapes[id(layer)] = [(None,) + tuple(o.shape[1:]) for o in outs]
        handles.append(layer.register_forward_hook(hook))
    shape = model._build_input_shape
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            model(zeros(*[1 if d is None else d for d in shape]))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return {k: v[0] if len(v) == 1 else v for k, v in shapes.items()}


def summary_rows(model) -> list[tuple[str, str, int, bool]]:
    """``(name (Type), output shape, parameter count, trainable)`` per layer."""
    from .functional import Functional
    from .sequential import Sequential

    if isinstance(model, Functional):
        shapes = {}
        for node in model._nodes:
            out = [t.shape for t in node.flat_outputs]
            shapes[id(node.layer)] = "multiple" if id(node.layer) in shapes else (
                out[0] if len(out) == 1 else out)
        for t in model.inputs:
            shapes[id(t._keras_history[0])] = t.shape
    elif isinstance(model, Sequential):
        shapes = {id(layer): layer._output_shape for layer in model.layers}
    else:
        shapes = _traced_shapes(model) if model._build_input_shape is not None and \
            not isinstance(model._build_input_shape, list) else {}
    rows = []
    for layer in model.layers:
        shape = shapes.get(id(layer))
        text = shape if isinstance(shape, str) else _shape_text(shape)
        count = 0 if isinstance(layer, InputLayer) or not layer.built else layer.count_params()
        rows.append((f"{layer.name} ({type(layer).__name__})", text, count, layer.trainable))
    return rows


def _layer_flops(model) -> tuple:
    """``({id(layer): forward FLOPs}, (forward, backward))`` for one sample, or ``({}, None)``
    when the model's input shape is unknown, several inputs, or neither float nor integer
    zeros (token ids) of that shape go through the model."""
    from ..errors import EmberError
    from ..utils.summary import flops_by_module

    shape = model._build_input_shape
    if not isinstance(shape, tuple) or any(d is None for d in shape[1:]):
        return {}, None
    for dtype in (None, "int64"):
        try:
            per, totals = flops_by_module(model, (1,) + tuple(shape[1:]), dtype=dtype)
        except (EmberError, ValueError, TypeError, IndexError):
            continue
        return {k: v[0] for k, v in per.items()}, totals
    return {}, None


def print_summary(model: Layer, line_length: int | None = None, print_fn=None,
                  show_trainable: bool = False) -> None:
    """Print the summary table (through ``print_fn``, ``print`` by default)."""
    if not model.built:
        raise ValueError(f"model '{model.name}' has not been built yet, so its layers have no "
                         "weights or shapes: give the first layer input_shape=, call "
                         "model.build(input_shape), or fit/call it on data first")
    print_fn = print_fn or print
    rows = summary_rows(model)
    flops, totals = _layer_flops(model)
    flop_text = [f"{flops[id(layer)]:,}" if id(layer) in flops else "?"
                 for layer in model.layers]
    flop_w = max(len("FLOPs"), *(len(t) for t in flop_text)) + 2 if rows else 7
    name_w = max([len("Layer (type)")] + [len(r[0]) for r in rows]) + 2
    shape_w = max([len("Output Shape")] + [len(r[1]) for r in rows]) + 2
    param_w = max(len("Param #"), *(len(f"{r[2]:,}") for r in rows)) + 2
    width = max(line_length or 0,
                name_w + shape_w + param_w + flop_w + (10 if show_trainable else 0) + 1)

    def line(name: str, shape: str, params: str, flop: str, trainable: str = "") -> str:
        text = f" {name:<{name_w}}{shape:<{shape_w}}{params:>{param_w}}{flop:>{flop_w}}"
        return text + (f"  {trainable:^8}" if show_trainable else "")

    print_fn(f'Model: "{model.name}"')
    print_fn("_" * width)
    print_fn(line("Layer (type)", "Output Shape", "Param #", "FLOPs", "Trainable"))
    print_fn("=" * width)
    for i, (name, shape, count, trainable) in enumerate(rows):
        print_fn(line(name, shape, f"{count:,}", flop_text[i], "Y" if trainable else "N"))
        if i < len(rows) - 1:
            print_fn("")
    print_fn("=" * width)
    params = list(model.parameters())
    trainable = [p for p in params if p.requires_grad]
    frozen = [w for w in model.weights if not w.requires_grad]
    t_count = sum(p.numel() for p in trainable)
    f_count = sum(w.numel() for w in frozen)
    t_bytes = sum(p.numel() * p.dtype.itemsize for p in trainable)
    f_bytes = sum(w.numel() * w.dtype.itemsize for w in frozen)
    print_fn(f"Total params: {t_count + f_count:,} ({readable_size(t_bytes + f_bytes)})")
    print_fn(f"Trainable params: {t_count:,} ({readable_size(t_bytes)})")
    print_fn(f"Non-trainable params: {f_count:,} ({readable_size(f_bytes)})")
    if totals is not None:
        print_fn(f"FLOPs per sample: {totals[0]:,} forward, {totals[0] + totals[1]:,} "
                 "training step (forward + backward)")
    print_fn("_" * width)
