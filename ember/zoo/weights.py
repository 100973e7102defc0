"""``load_weights``: put a weights file or state dict onto a model, mapping names and layouts.

A published checkpoint rarely has exactly the model's names and layouts: DDP saves
``module.``-prefixed names, Hugging Face files carry the architecture's prefix, Keras stores
Dense kernels as ``(in, out)`` and Conv2D kernels as ``(h, w, in, out)``. ``load_weights``
makes every such step explicit -- a ``mapping`` for names, a ``layout`` for tensor layouts --
and returns a :class:`LoadReport` saying what it matched, converted, and left out. With
``strict=True`` (the default) any unmatched or mis-shaped tensor is an error that lists them
all, and nothing is copied.

Example:
    >>> import ember
    >>> from ember.zoo import load_weights
    >>> src = ember.nn.Sequential(ember.nn.Linear(4, 3))
    >>> ddp_style = {"module." + k: v for k, v in src.state_dict().items()}
    >>> dst = ember.nn.Sequential(ember.nn.Linear(4, 3))
    >>> load_weights(dst, ddp_style, mapping="ddp")
    LoadReport(matched=2, converted=0, unexpected=0, missing=0, mis_shaped=0)
    >>> bool((dst[0].weight == src[0].weight).all())
    True
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..autograd.grad_mode import no_grad
from ..io.formats import flatten_state, read_weights
from ..nn.module import Module, StateDictError
from ..ops.creation import from_numpy

__all__ = ["load_weights", "LoadReport", "WeightsMismatchError", "MAPPINGS", "hwio_to_oihw",
           "oihw_to_hwio"]

OPTIONAL = ("num_batches_tracked",)  # counters a checkpoint may lack (Keras, old PyTorch)


class WeightsMismatchError(StateDictError):
    """Weights that do not fit the model: unmatched or mis-shaped tensors (all listed)."""


@dataclass
class LoadReport:
    """What ``load_weights`` did. Names are the model's unless said otherwise.

    Attributes:
        matched: model entries that received a tensor.
        converted: ``(name, what)`` for each tensor whose layout or dtype was changed.
        unexpected: source names that map to no model entry.
        missing: model entries the source does not provide.
        mis_shaped: ``(name, source name, source shape, model shape)``.
        mapping: the name mapping applied; layout: the source layout.
    """

    matched: list = field(default_factory=list)
    converted: list = field(default_factory=list)
    unexpected: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    mis_shaped: list = field(default_factory=list)
    mapping: str = "none"
    layout: str = "torch"

    def __repr__(self) -> str:
        return (f"LoadReport(matched={len(self.matched)}, converted={len(self.converted)}, "
                f"unexpected={len(self.unexpected)}, missing={len(self.missing)}, "
                f"mis_shaped={len(self.mis_shaped)})")

    @property
    def unmatched(self) -> list:
        """Source names used nowhere and model entries left unset, together."""
        return self.unexpected + self.missing

    def summary(self) -> str:
        """Every entry of the report, one line each."""
        lines = [f"{len(self.matched)} matched (mapping {self.mapping}, layout {self.layout})"]
        lines += [f"converted {n}: {what}" for n, what in self.converted]
        lines += [f"unexpected (in the source only): {n}" for n in self.unexpected]
        lines += [f"missing (in the model only): {n}" for n in self.missing]
        lines += [f"mis-shaped {n} <- {s}: source {a}, model {b}"
                  for n, s, a, b in self.mis_shaped]
        return "\n".join(lines)


# ------------------------------------------------------------------ layouts
def hwio_to_oihw(kernel: np.ndarray) -> np.ndarray:
    """A Keras/TensorFlow conv kernel ``(..., in, out)`` as ember's ``(out, in, ...)``.

    Example:
        >>> import numpy as np
        >>> from ember.zoo.weights import hwio_to_oihw
        >>> hwio_to_oihw(np.zeros((3, 3, 2, 8))).shape
        (8, 2, 3, 3)
    """
    n = kernel.ndim - 2
    return kernel.transpose((n + 1, n) + tuple(range(n)))


def oihw_to_hwio(weight: np.ndarray) -> np.ndarray:
    """ember's conv weight ``(out, in, ...)`` as a Keras/TensorFlow kernel ``(..., in, out)``.

    Example:
        >>> import numpy as np
        >>> from ember.zoo.weights import oihw_to_hwio
        >>> oihw_to_hwio(np.zeros((8, 2, 3, 3))).shape
        (3, 3, 2, 8)
    """
    n = weight.ndim - 2
    return weight.transpose(tuple(range(2, n + 2)) + (1, 0))


def _gates(arr: np.ndarray, mode: str) -> np.ndarray:
    """Keras's GRU gate blocks (update z, reset r, candidate) in ember's order (r, z, n)."""
    if mode != "GRU":
        return arr
    z, r, n = np.split(arr, 3, axis=0)
    return np.concatenate([r, z, n])


def _from_keras(arr: np.ndarray, owner: Module, leaf: str, shape: tuple) -> list:
    """Keras layout -> ember layout for one tensor: ``[(leaf, array, what or None), ...]``
    (a recurrent layer's one Keras bias gives both of ember's biases)."""
    from ..nn.layers.conv import _ConvNd
    from ..nn.layers.linear import Linear
    from ..nn.layers.rnn import RNNBase

    if leaf == "weight" and isinstance(owner, Linear) and arr.ndim == 2:
        return [(leaf, arr.T, "Dense kernel (in, out) -> (out, in)")]
    if leaf == "weight" and isinstance(owner, _ConvNd) and arr.ndim == len(shape) >= 3:
        out = hwio_to_oihw(arr)
        if out.shape != shape and arr.ndim == 4 and shape[1] == 1:  # depthwise (h, w, c, m)
            h, w, c, m = arr.shape
            return [(leaf, arr.reshape(h, w, c * m, 1).transpose(2, 3, 0, 1),
                     "DepthwiseConv2D kernel (h, w, c, m) -> (c*m, 1, h, w)")]
        return [(leaf, out, "conv kernel HWIO -> OIHW")]
    if isinstance(owner, RNNBase) and leaf.startswith(("weight_ih", "weight_hh")) \
            and arr.ndim == 2:
        what = "recurrent kernel (in, gates) -> (gates, in)"
        return [(leaf, _gates(arr.T, owner.mode), what + (", GRU gates z,r,h -> r,z,n"
                                                          if owner.mode == "GRU" else ""))]
    if isinstance(owner, RNNBase) and leaf.startswith("bias_ih"):
        other = "bias_hh" + leaf[len("bias_ih"):]
        if arr.ndim == 2 and arr.shape[0] == 2:  # GRU reset_after: input and recurrent bias
            return [(leaf, _gates(arr[0], owner.mode), "Keras bias[0] (GRU gates reordered)"),
                    (other, _gates(arr[1], owner.mode), "Keras bias[1] (GRU gates reordered)")]
        return [(leaf, _gates(arr, owner.mode), "Keras's one bias -> bias_ih"),
                (other, np.zeros_like(arr), "bias_hh = 0 (Keras has one bias)")]
    return [(leaf, arr, None)]


def _channels_last_flatten(arr: np.ndarray, hwc: tuple) -> np.ndarray:
    """Reorder a Linear weight's inputs from a flattened (H, W, C) to a flattened (C, H, W)."""
    out = arr.shape[0]
    return arr.reshape((out,) + tuple(hwc)).transpose(0, len(hwc), *range(1, len(hwc))) \
        .reshape(out, -1)


# ------------------------------------------------------------------ names
def _strip_ddp(name: str) -> str:
    return name[len("module."):] if name.startswith("module.") else name


MAPPINGS: dict[str, str] = {
    "ddp": "strip the 'module.' prefix that DistributedDataParallel/DataParallel add",
    "hf": "Hugging Face style: strip the architecture prefix (e.g. 'bert.', 'model.') the "
          "model lacks, or add the one it has; LayerNorm 'gamma'/'beta' -> 'weight'/'bias'",
    "keras": "Keras layer names ('<layer>/vars/<i>') -> an ember.keras model's weights",
}
"""The built-in name mappings, by name."""


def _keras_names(model: Module) -> dict[str, str]:
    """``"<layer>/vars/<i>"`` (Keras's names, by layer name and by class-name counter) ->
    the model's dotted names, for an ember.keras model."""
    from ..keras.layers.base import Layer, to_snake_case

    dotted = {id(t): n for n, t in model.state_dict(keep_vars=True).items()}
    table: dict[str, str] = {}
    counters: dict[str, int] = {}
    for m in model.modules():
        if not isinstance(m, Layer) or any(isinstance(c, Layer) for c in m.modules()
                                           if c is not m):
            continue
        cls = to_snake_case(type(m).__name__)
        n = counters.get(cls, 0)
        counters[cls] = n + 1
        for i, w in enumerate(m.weights):
            if id(w) in dotted:
                table.setdefault(f"{m.name}/vars/{i}", dotted[id(w)])
                table.setdefault(f"{cls if n == 0 else f'{cls}_{n}'}/vars/{i}", dotted[id(w)])
    return table


def _hf(sources: list[str], targets: dict) -> Callable[[str], str]:
    heads = {s.split(".", 1)[0] for s in sources}
    strip = None
    if len(heads) == 1 and "." in sources[0]:
        head = next(iter(heads)) + "."
        if not any(t.startswith(head) for t in targets):
            strip = head

    theads = {t.split(".", 1)[0] for t in targets}
    add = next(iter(theads)) + "." if len(theads) == 1 and "." in next(iter(targets)) else ""

    def rename(name: str) -> str:
        if strip and name.startswith(strip):
            name = name[len(strip):]
        candidates = [name]
        for old, new in ((".gamma", ".weight"), (".beta", ".bias")):
            if name.endswith(old):
                candidates.append(name[: -len(old)] + new)
        for c in candidates:  # as it is, or under the prefix the model has (base -> headed)
            for full in (c, add + c) if add else (c,):
                if full in targets:
                    return full
        return name
    return rename


def _resolve(mapping, sources: list[str], targets: dict, model: Module):
    """The mapping as a function name -> name (or None to drop), and its description."""
    if mapping is None:
        return (lambda n: n), "none"
    if isinstance(mapping, (list, tuple)):
        steps = [_resolve(m, sources, targets, model) for m in mapping]

        def chain(name):
            for fn, _ in steps:
                if name is None:
                    return None
                name = fn(name)
            return name
        return chain, " then ".join(d for _, d in steps)
    if isinstance(mapping, str):
        if mapping == "ddp":
            return _strip_ddp, "ddp"
        if mapping == "hf":
            return _hf(sources, targets), "hf"
        if mapping == "keras":
            table = _keras_names(model)
            if not table:
                raise ValueError("load_weights: mapping='keras' needs a built ember.keras "
                                 "model; for an ember.nn model give a dict from Keras names "
                                 "('<layer>/vars/<i>') to the model's names")
            return (lambda n: table.get(n, n)), "keras"
        raise ValueError(f"load_weights: unknown mapping {mapping!r}; the built-in ones are "
                         f"{sorted(MAPPINGS)} (or give a dict or a callable)")
    if isinstance(mapping, dict):
        exact = {k: v for k, v in mapping.items() if not k.endswith((".", "/"))}
        prefixes = sorted(((k, v) for k, v in mapping.items() if k.endswith((".", "/"))),
                          key=lambda kv: -len(kv[0]))

        def by_dict(name):
            if name in exact:
                return exact[name]
            for old, new in prefixes:
                if name.startswith(old):
                    return None if new is None else new + name[len(old):]
            return name
        return by_dict, f"dict of {len(mapping)}"
    if callable(mapping):
        return mapping, getattr(mapping, "__name__", "callable")
    raise TypeError(f"load_weights: mapping must be None, a name in {sorted(MAPPINGS)}, a dict, "
                    f"a callable or a list of them, got {type(mapping).__name__}")


# ------------------------------------------------------------------ the entry point
def _owners(model: Module) -> dict[str, tuple[Module, str]]:
    owners = {}
    for prefix, m in model.named_modules(remove_duplicate=False):
        for leaf in list(m._parameters) + list(m._buffers):
            owners[f"{prefix}.{leaf}" if prefix else leaf] = (m, leaf)
    return owners


def _read(source) -> tuple[dict, str, str]:
    if isinstance(source, (str, os.PathLike)):
        arrays, layout = read_weights(source)
        return arrays, layout, os.fspath(source)
    if isinstance(source, dict):
        return flatten_state(source), "torch", "a state dict"
    raise TypeError(f"load_weights: expected a path or a dict of tensors/arrays, got "
                    f"{type(source).__name__}")


def load_weights(model: Module, path_or_state_dict, mapping=None, strict: bool = True,
                 layout: str | None = None, flatten_from: dict | None = None) -> LoadReport:
    """Load weights into ``model`` with explicit name mapping and layout conversion.

    Args:
        model: an ``ember.nn.Module`` (zoo models, ember.keras models -- built).
        path_or_state_dict: a weights file (safetensors, ``.pt``/``.pth`` read without
            PyTorch, Keras ``.h5``/``.weights.h5``/``.keras``, ``.onnx``) or a (nested)
            dict of tensors/arrays. A missing path raises ``FileNotFoundError``.
        mapping: source names -> model names. ``None`` keeps names, except that Keras files
            onto an ember.keras model use ``"keras"``; a built-in name from ``MAPPINGS``
            (``"ddp"``, ``"hf"``, ``"keras"``); a dict (exact names, or keys ending in
            ``.``/``/`` that rewrite a prefix; a value ``None`` drops the tensor); a callable
            ``name -> name or None``; or a list of these, applied in order.
        strict: raise :class:`WeightsMismatchError` listing every unexpected, missing and
            mis-shaped tensor, copying nothing. ``False`` loads what fits and reports the
            rest (e.g. a new head of another size).
        layout: ``"torch"`` (ember's layouts) or ``"keras"`` (Dense ``(in, out)``, conv
            ``(h, w, in, out)``, depthwise ``(h, w, c, m)``); the file's by default.
        flatten_from: ``{linear weight name: (H, W, C)}`` for a Linear that follows a
            flatten of channels-last features in the source and of channels-first ones in
            the model: its input columns are reordered.

    Returns:
        A :class:`LoadReport`.
    """
    arrays, file_layout, where = _read(path_or_state_dict)
    layout = layout or file_layout
    if layout not in ("torch", "keras"):
        raise ValueError(f"load_weights: layout must be 'torch' or 'keras', got {layout!r}")
    targets = model.state_dict(keep_vars=True)
    owners = _owners(model)
    if mapping is None and layout == "keras" and all("/vars/" in k for k in arrays):
        from ..keras.layers.base import Layer

        if isinstance(model, Layer):
            mapping = "keras"
    rename, described = _resolve(mapping, list(arrays), targets, model)
    report = LoadReport(mapping=described, layout=layout)
    plan, claimed = [], {}
    for src, arr in arrays.items():
        name = rename(src)
        if name is None:
            continue
        if name not in targets:
            report.unexpected.append(src)
            continue
        owner, leaf = owners[name]
        prefix = name[: len(name) - len(leaf)]
        parts = (_from_keras(arr, owner, leaf, tuple(targets[name].shape)) if layout == "keras"
                 else [(leaf, arr, None)])
        for part_leaf, part, what in parts:
            _plan_one(report, plan, claimed, targets, prefix + part_leaf, src, part, what,
                      flatten_from)
    report.missing = [n for n in targets if n not in claimed and n.rsplit(".", 1)[-1]
                      not in OPTIONAL]
    if strict and (report.unexpected or report.missing or report.mis_shaped):
        raise WeightsMismatchError(_message(model, where, report))
    with no_grad():
        for target, arr in plan:
            target.copy_(from_numpy(arr))
    return report


def _plan_one(report: LoadReport, plan: list, claimed: dict, targets: dict, name: str,
              src: str, arr: np.ndarray, what: str | None, flatten_from: dict | None) -> None:
    """Check one converted tensor against its target; add it to the plan or the report."""
    target = targets.get(name)
    if target is None:
        report.unexpected.append(f"{src} (as {name})")
        return
    if name in claimed:
        raise WeightsMismatchError(f"load_weights: {claimed[name]!r} and {src!r} both map "
                                   f"to {name!r}; fix the mapping")
    claimed[name] = src
    shape = tuple(target.shape)
    notes = [what] if what else []
    if flatten_from and name in flatten_from and arr.ndim == 2:
        arr = _channels_last_flatten(arr, flatten_from[name])
        notes.append(f"inputs flattened from channels-last {tuple(flatten_from[name])}")
    if tuple(arr.shape) != shape:
        report.mis_shaped.append((name, src, tuple(arr.shape), shape))
        return
    want = target.data.dtype
    if arr.dtype != want:
        notes.append(f"{arr.dtype} -> {want}")
    plan.append((target, np.ascontiguousarray(arr, dtype=want)))
    report.matched.append(name)
    report.converted += [(name, n) for n in notes]


def _listing(title: str, items: list, limit: int = 20) -> str:
    shown = [str(i) for i in items[:limit]]
    more = f" ... and {len(items) - limit} more" if len(items) > limit else ""
    return f"\n  {title} ({len(items)}): " + ", ".join(shown) + more


def _message(model: Module, where: str, report: LoadReport) -> str:
    text = (f"load_weights: the weights in {where} do not fit {type(model).__name__} "
            f"(mapping {report.mapping}, layout {report.layout}); nothing was loaded.")
    if report.unexpected:
        text += _listing("unexpected, in the source only", report.unexpected)
    if report.missing:
        text += _listing("missing, in the model only", report.missing)
    if report.mis_shaped:
        text += _listing("mis-shaped (name <- source: source shape vs model shape)",
                         [f"{n} <- {s}: {a} vs {b}" for n, s, a, b in report.mis_shaped])
    hints = []
    if report.unexpected and all(u.startswith("module.") for u in report.unexpected):
        hints.append("the names carry DDP's 'module.' prefix: pass mapping='ddp'")
    if not model.state_dict():
        hints.append("the model has no weights yet: build it (call it once on an input)")
    if report.unexpected and all(re.search(r"/vars/\d+$", u) for u in report.unexpected):
        hints.append("these are Keras names: pass mapping='keras' for an ember.keras model "
                     "or a dict of Keras names to the model's")
    hints.append("check it is a checkpoint of this architecture; strict=False loads what "
                 "fits and reports the rest")
    return text + "\n  " + "; ".join(hints)
