"""``ember.utils.summary``: per-layer output shape, parameters, FLOPs and activation memory.

The model runs once on zeros of the given shape under ``ember.profiler.profile``, so the
FLOPs are the ops' own cost declarations (the numbers the profiler and the graph compiler
use); the backward pass runs through ``ember.autograd.grad`` (no ``.grad`` is touched) to
count a training step. The model's buffers (batch-norm statistics) and the random generator
are restored afterwards, so a summary changes nothing.
"""

from __future__ import annotations

from ..errors import EmberError, ShapeError

__all__ = ["summary", "ModelSummary", "module_costs", "flops_by_module"]


def _human(n: float, unit: str = "") -> str:
    for suffix in ("", "K", "M", "G", "T"):
        if abs(n) < 1000 or suffix == "T":
            return f"{n:.0f} {suffix}{unit}".rstrip() if suffix == "" else \
                f"{n:.2f} {suffix}{unit}"
        n /= 1000
    return f"{n:.2f} T{unit}"  # pragma: no cover - the loop returns


def _mib(nbytes: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if nbytes < 1024:
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.2f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.2f} GiB"


def _shape_of(out):
    if hasattr(out, "shape"):
        return tuple(out.shape)
    if isinstance(out, (list, tuple)):
        return [_shape_of(o) for o in out]
    return None


def _out_bytes(out) -> int:
    if hasattr(out, "data") and hasattr(out.data, "nbytes"):
        return int(out.data.nbytes)
    if isinstance(out, (list, tuple)):
        return sum(_out_bytes(o) for o in out)
    return 0


class ModelSummary:
    """The result of ``summary``: ``rows`` (one dict per module call) and the totals;
    ``str()`` is the table."""

    def __init__(self, name, rows, totals) -> None:
        self.name = name
        self.rows = rows
        self.__dict__.update(totals)

    def __str__(self) -> str:
        head = ("Layer (type)", "Output Shape", "Param #", "FLOPs", "Activations")
        cells = [(("  " * r["depth"]) + f"{r['name']} ({r['type']})", str(r["output_shape"]),
                  f"{r['params']:,}", _human(r["flops"]), _mib(r["activation_bytes"]))
                 for r in self.rows]
        widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h)
                  for i, h in enumerate(head)]

        def line(c):
            return "  ".join(v.ljust(w) if i < 2 else v.rjust(w)
                             for i, (v, w) in enumerate(zip(c, widths)))

        rule = "=" * len(line(head))
        out = [f"Model: {self.name}", rule, line(head), rule] + [line(c) for c in cells]
        out += [rule,
                f"Total params: {self.total_params:,} ({_mib(self.param_bytes)}), "
                f"trainable: {self.trainable_params:,}",
                f"Forward: {_human(self.forward_flops, 'FLOPs')}, activations "
                f"{_mib(self.activation_bytes)} (every op output of one forward)",
                f"Training step: {_human(self.training_flops, 'FLOPs')} (forward + backward "
                f"{_human(self.backward_flops, 'FLOPs')}); memory {_mib(self.step_bytes)} "
                "= params + grads + activations (+ optimiser state: Adam adds 2x params)",
                rule]
        return "\n".join(out)

    __repr__ = __str__


def module_costs(model, inputs) -> tuple:
    """Run ``model(*inputs)`` and its backward under the profiler; returns ``(profile,
    output, calls)`` where ``calls`` lists ``(module, path, depth, args, output)`` in call
    order. Buffers and the random generator are restored."""
    from .. import autograd, get_rng_state, ones_like, set_rng_state
    from ..profiler import profile

    calls: list = []
    stack: list = []
    names = {id(m): n for n, m in model.named_modules()}
    root = type(model).__name__
    handles = []

    def pre(module, args):
        name = names.get(id(module))
        path = root if name == "" else f"{root}.{name}" if name is not None else \
            type(module).__name__
        entry = [module, path, len(stack), args, None]
        calls.append(entry)
        stack.append(entry)

    def post(module, args, out):
        entry = stack.pop()
        entry[4] = out

    for m in model.modules():
        handles.append(m.register_forward_pre_hook(pre))
        handles.append(m.register_forward_hook(post))
    saved = [(b, b.data.copy()) for b in model.buffers()]
    rng = get_rng_state()
    prof = profile(activities=["cpu"], peaks={"gflops": 1.0, "gbs": 1.0})
    try:
        with prof:
            out = model(*inputs)
            outs = [o for o in (out if isinstance(out, (list, tuple)) else [out])
                    if hasattr(o, "requires_grad")]
            params = [p for p in model.parameters() if p.requires_grad]
            seeds = [o for o in outs if o.requires_grad]
            if seeds and params:  # ones as the output gradients: no extra op in the counts
                ones = [ones_like(o) for o in seeds]
                autograd.grad(seeds, params, grad_outputs=ones, allow_unused=True)
    except (EmberError, ValueError, TypeError, IndexError) as exc:
        if not stack:
            raise
        module, path, _, args, _ = stack[-1]
        shapes = ", ".join(str(s) for s in (_shape_of(a) for a in args) if s is not None)
        raise ShapeError(
            f"summary: layer {path} ({type(module).__name__}) rejected its input of shape "
            f"{shapes}: {exc}. Check input_shape: it must include the batch dimension and "
            "match what the first layer expects") from exc
    finally:
        for h in handles:
            h.remove()
        for b, data in saved:
            b.data[...] = data
        set_rng_state(rng)
    return prof, out, [tuple(c) for c in calls]


def flops_by_module(model, input_shape, dtype=None) -> tuple:
    """``({id(module): (forward FLOPs, backward FLOPs)}, totals)`` for one pass of
    ``model`` on zeros of ``input_shape``; totals is ``(forward, backward)`` of the model."""
    from .. import float32, zeros

    prof, _, calls = module_costs(model, [zeros(*input_shape, dtype=dtype or float32)])
    events = prof.events
    out = {}
    for module, path, *_ in calls:
        prefix = path + "."
        fwd = bwd = 0
        for e in events:
            if e.module == path or (e.module or "").startswith(prefix):
                if e.phase == "forward":
                    fwd += e.flops
                else:
                    bwd += e.flops
        out.setdefault(id(module), (fwd, bwd))
    totals = (sum(e.flops for e in events if e.phase == "forward"),
              sum(e.flops for e in events if e.phase == "backward"))
    return out, totals


def summary(model, input_shape, *, dtype=None, device=None) -> ModelSummary:
    """Layer table of ``model``: output shape, parameters, FLOPs and activation memory of
    one forward pass, and the totals of a training step (forward + backward).

    Args:
        model: an ``ember.nn.Module`` (Keras models are modules too).
        input_shape: the input's full shape, batch dimension included, e.g. ``(1, 1, 28,
            28)``; a list of shapes for a model taking several inputs.
        dtype: the input dtype (default float32; integer dtypes get zeros, e.g. token ids).
        device: where to create the input (default cpu).

    Raises:
        ShapeError: the model rejects the shape (names the layer and the shapes).

    Example:
        >>> import ember
        >>> net = ember.nn.Sequential(ember.nn.Linear(8, 4), ember.nn.ReLU())
        >>> s = ember.utils.summary(net, (2, 8))
        >>> [(r["name"], r["output_shape"], r["params"], r["flops"]) for r in s.rows]
        [('0', (2, 4), 36, 136), ('1', (2, 4), 0, 8)]
        >>> s.forward_flops, s.backward_flops
        (144, 144)
    """
    from .. import float32, zeros

    shapes = input_shape if isinstance(input_shape, list) else [input_shape]
    try:
        shapes = [tuple(int(d) for d in s) for s in shapes]
    except (TypeError, ValueError):
        raise ShapeError(f"summary: input_shape must be a tuple of ints (or a list of them), "
                         f"got {input_shape!r}") from None
    if any(d < 1 for s in shapes for d in s):
        raise ShapeError(f"summary: input_shape {input_shape!r} has a dimension below 1; "
                         "give concrete sizes, batch included (e.g. (1, 3, 32, 32))")
    inputs = [zeros(*s, dtype=dtype or float32, device=device) for s in shapes]
    prof, _, calls = module_costs(model, inputs)
    events = prof.events
    rows = []
    for module, path, depth, _, out in calls:
        prefix = path + "."
        inside = [e for e in events if e.module == path or (e.module or "").startswith(prefix)]
        rows.append({
            "name": path.split(".", 1)[1] if "." in path else path,
            "type": type(module).__name__, "depth": depth,
            "output_shape": _shape_of(out),
            "params": sum(p.numel() for p in module.parameters(recurse=False)),
            "flops": sum(e.flops for e in inside if e.phase == "forward"),
            "backward_flops": sum(e.flops for e in inside if e.phase == "backward"),
            "activation_bytes": _out_bytes(out),
        })
    if rows and rows[0]["depth"] == 0 and len(rows) > 1:
        rows = [dict(r, depth=r["depth"] - 1) for r in rows[1:]]  # the model is the table
    params = list(model.parameters())
    fwd = sum(e.flops for e in events if e.phase == "forward")
    bwd = sum(e.flops for e in events if e.phase == "backward")
    act = sum(e.alloc_bytes for e in events if e.phase == "forward")
    pbytes = sum(p.data.nbytes for p in params)
    trainable = [p for p in params if p.requires_grad]
    totals = {
        "total_params": sum(p.numel() for p in params),
        "trainable_params": sum(p.numel() for p in trainable),
        "param_bytes": pbytes, "forward_flops": fwd, "backward_flops": bwd,
        "training_flops": fwd + bwd, "activation_bytes": act,
        "step_bytes": pbytes + sum(p.data.nbytes for p in trainable) + act,
    }
    return ModelSummary(type(model).__name__, rows, totals)
