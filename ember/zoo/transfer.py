"""Transfer-learning tools: freeze a pretrained base, replace its head, train with per-part
learning rates, or train the head alone on features computed once.

``freeze``/``unfreeze`` select modules or parameters by module object or name pattern
(``fnmatch`` style, ``"features.*"``; for ember.keras models the layer names too, ``"block1_*"``)
and set ``requires_grad`` -- and Keras's ``trainable`` for ember.keras layers. A frozen
BatchNorm stays in evaluation mode (running statistics used, never updated) even after
``model.train()``: fine-tuning on a few samples must not overwrite statistics learned on a
large dataset.

Example:
    >>> import ember
    >>> from ember.zoo import freeze, replace_head
    >>> net = ember.nn.Sequential(ember.nn.Linear(8, 8), ember.nn.BatchNorm1d(8),
    ...                           ember.nn.ReLU(), ember.nn.Linear(8, 5))
    >>> freeze(net, "0", "1")
    ['0.weight', '0.bias', '1.weight', '1.bias']
    >>> head = replace_head(net, 3)
    >>> net.train().training, net[1].training, [n for n, p in net.named_parameters()
    ...                                         if p.requires_grad]
    (True, False, ['3.weight', '3.bias'])
"""

from __future__ import annotations

import hashlib
import os
from fnmatch import fnmatchcase

import numpy as np

from ..autograd.grad_mode import no_grad
from ..data.dataset import TensorDataset
from ..nn.layers.linear import Linear
from ..nn.layers.normalization import _BatchNorm
from ..nn.module import Module
from ..ops.creation import from_numpy
from ..tensor import Tensor

__all__ = ["freeze", "unfreeze", "param_groups", "replace_head", "extract_features"]

_FROZEN: dict[type, type] = {}


def _training_setter(self, mode) -> None:
    self.__dict__["training"] = mode  # remembered, not used, while frozen


def _frozen_class(cls: type) -> type:
    """``cls`` with ``training`` pinned to False (how a frozen BatchNorm ignores ``train()``).

    Like ``torch.nn.utils.parametrize``, the module's class is swapped for a subclass; the
    property takes precedence over the ``training`` flag that ``Module.train`` writes.
    """
    sub = _FROZEN.get(cls)
    if sub is None:
        sub = _FROZEN[cls] = type(cls.__name__, (cls,), {
            "training": property(lambda self: False, _training_setter),
            "_unfrozen_class": cls, "__module__": cls.__module__,
            "__doc__": f"A frozen {cls.__name__}: always in evaluation mode."})
    return sub


def _keras_layer_type():
    from ..keras.layers.base import Layer

    return Layer


def _select(model: Module, targets: tuple, what: str):
    """The modules and the lone parameters that ``targets`` name (each must match)."""
    if not targets:
        return [("", model)], []
    layer = _keras_layer_type()
    modules, params = [], []
    named = list(model.named_modules())
    for t in targets:
        if isinstance(t, Module):
            found = [(n, m) for n, m in named if m is t]
            if not found:
                raise ValueError(f"{what}: the {type(t).__name__} given is not part of the model")
            modules += found[:1]
            continue
        if not isinstance(t, str):
            raise TypeError(f"{what}: expected modules or name patterns, got {type(t).__name__}")
        hits = [(n, m) for n, m in named if n and (fnmatchcase(n, t) or (
            isinstance(m, layer) and fnmatchcase(getattr(m, "name", ""), t)))]
        if hits:
            modules += hits
            continue
        phits = [(n, p) for n, p in model.named_parameters() if fnmatchcase(n, t)]
        if not phits:
            examples = ", ".join(n for n, _ in named[1:6])
            raise ValueError(f"{what}: no module or parameter of {type(model).__name__} matches "
                             f"{t!r} (module names look like: {examples} ...)")
        params += phits
    return modules, params


def _set(model: Module, targets: tuple, flag: bool, what: str, bn_eval: bool) -> list[str]:
    modules, params = _select(model, targets, what)
    layer = _keras_layer_type()
    ids = set()
    for _, m in modules:
        if isinstance(m, layer):
            m.trainable = flag
        m.requires_grad_(flag)
        ids.update(id(p) for p in m.parameters())
        for bn in m.modules():
            if not isinstance(bn, _BatchNorm):
                continue
            original = type(bn).__dict__.get("_unfrozen_class")
            if flag and original is not None:
                bn.__class__ = original
                bn.__dict__["training"] = model.training
            elif not flag and bn_eval and original is None:
                bn.__class__ = _frozen_class(type(bn))
    for _, p in params:
        p.requires_grad_(flag)
        ids.add(id(p))
    return [n for n, p in model.named_parameters() if id(p) in ids]


def freeze(model: Module, *targets, bn_eval: bool = True) -> list[str]:
    """Stop training parts of ``model``: ``requires_grad=False`` (and Keras ``trainable``).

    Args:
        model: the model.
        *targets: modules of ``model`` or ``fnmatch`` patterns of module names
            (``"features"``, ``"layer[12]"``, ``"features.*"``), of ember.keras layer names,
            or of parameter names (``"*.bias"``). None: the whole model. A pattern that
            matches nothing is an error.
        bn_eval: keep the BatchNorm layers inside frozen modules in evaluation mode, even
            through ``model.train()``.

    Returns:
        The names of the parameters frozen.

    Example:
        >>> import ember
        >>> from ember.zoo import freeze
        >>> net = ember.nn.Sequential(ember.nn.Linear(2, 2), ember.nn.Linear(2, 1))
        >>> freeze(net, "*.bias")
        ['0.bias', '1.bias']
    """
    return _set(model, targets, False, "freeze", bn_eval)


def unfreeze(model: Module, *targets) -> list[str]:
    """Undo ``freeze`` for ``targets`` (the whole model by default); BatchNorm layers follow
    ``model.train()``/``eval()`` again. Returns the names of the parameters unfrozen.

    Example:
        >>> import ember
        >>> from ember.zoo import freeze, unfreeze
        >>> net = ember.nn.Sequential(ember.nn.Linear(2, 2), ember.nn.Linear(2, 1))
        >>> _ = freeze(net)
        >>> unfreeze(net, net[1])
        ['1.weight', '1.bias']
    """
    return _set(model, targets, True, "unfreeze", True)


def param_groups(model: Module, rules: dict, default: dict | float | None = None,
                 include_frozen: bool = False) -> list[dict]:
    """Parameter groups for an optimizer, with options (e.g. learning rates) per name pattern.

    Args:
        model: the model.
        rules: ``{pattern: lr}`` or ``{pattern: {option: value}}``; a parameter joins the
            group of the first pattern matching its name (``fnmatch``; ``"backbone.*"``).
        default: the options (or lr) of the group of parameters no pattern matches; ``None``
            leaves them at the optimizer's defaults.
        include_frozen: also list parameters with ``requires_grad=False``.

    Returns:
        ``[{"params": [...], **options}, ...]`` for ``ember.optim.*(groups, ...)``.

    Raises:
        ValueError: a pattern that matches no parameter.

    Example:
        >>> import ember
        >>> from ember.zoo import param_groups
        >>> net = ember.nn.Sequential(ember.nn.Linear(4, 4), ember.nn.Linear(4, 2))
        >>> groups = param_groups(net, {"0.*": 1e-4}, default=1e-2)
        >>> [(len(g["params"]), g["lr"]) for g in groups]
        [(2, 0.0001), (2, 0.01)]
        >>> opt = ember.optim.SGD(groups, lr=0.1)
    """
    def options(v) -> dict:
        return {"lr": float(v)} if isinstance(v, (int, float)) else dict(v)

    groups = [{"params": [], **options(v)} for v in rules.values()]
    rest = []
    for name, p in model.named_parameters():
        if not (p.requires_grad or include_frozen):
            continue
        for group, pattern in zip(groups, rules):
            if fnmatchcase(name, pattern):
                group["params"].append(p)
                break
        else:
            rest.append(p)
    for group, pattern in zip(groups, rules):
        if not group["params"]:
            raise ValueError(f"param_groups: no trainable parameter of {type(model).__name__} "
                             f"matches {pattern!r}")
    if rest:
        groups.append({"params": rest, **({} if default is None else options(default))})
    return groups


def replace_head(model: Module, num_classes: int) -> Linear:
    """Replace the model's classifier (its last ``Linear``) by a new one with
    ``num_classes`` outputs, freshly initialised and trainable; returns the new layer.

    Works for the zoo's models (``fc`` of ResNet, ``classifier[-1]`` of VGG/MobileNetV2,
    ``heads.head`` of the ViT, ``fc3`` of LeNet) and any model whose last ``Linear`` in
    registration order is its head.

    Example:
        >>> import ember
        >>> from ember.zoo import replace_head
        >>> net = ember.nn.Sequential(ember.nn.Linear(4, 8), ember.nn.ReLU(),
        ...                           ember.nn.Linear(8, 1000))
        >>> replace_head(net, 10)
        Linear(in_features=8, out_features=10, bias=True)
    """
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(f"replace_head: num_classes must be a positive int, got {num_classes!r}")
    if isinstance(model, _keras_layer_type()):
        raise TypeError("replace_head works on ember.nn models; for an ember.keras model build "
                        "a new head on base.output as in Keras (see docs/transfer_learning.md)")
    found = [(n, m) for n, m in model.named_modules() if isinstance(m, Linear)]
    if not found:
        raise ValueError(f"replace_head: {type(model).__name__} has no Linear layer to replace; "
                         "assign a new head module yourself")
    name, old = found[-1]
    head = Linear(old.in_features, num_classes, bias=old.bias is not None)
    head.to(dtype=old.weight.dtype)
    parent_name, _, attr = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, attr, head)
    return head


def _fingerprint(model: Module, x: np.ndarray) -> str:
    h = hashlib.sha256(repr((type(model).__name__, x.shape, str(x.dtype))).encode())
    h.update(np.ascontiguousarray(x).tobytes())
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(np.ascontiguousarray(t.numpy(force=True)).tobytes())
    return h.hexdigest()


def extract_features(base: Module, data, batch_size: int = 256,
                     cache: str | os.PathLike | None = None):
    """Run a frozen ``base`` once over ``data`` and keep its outputs, to train a head on.

    Args:
        base: the feature extractor (run in evaluation mode, without gradients; its mode is
            restored afterwards).
        data: input tensor/array ``(N, ...)``, or a dataset of ``(x, y)`` pairs.
        batch_size: inputs per forward pass.
        cache: a file (safetensors) to keep the features in. A later call with the same
            base weights and inputs loads it instead of recomputing; a different base or
            input recomputes and rewrites it.

    Returns:
        The features as a tensor ``(N, ...)`` -- or, for a dataset, a ``TensorDataset`` of
        (features, labels).

    Example:
        >>> import ember
        >>> from ember.zoo import extract_features
        >>> base = ember.nn.Sequential(ember.nn.Linear(4, 3), ember.nn.ReLU())
        >>> extract_features(base, ember.randn(10, 4), batch_size=4).shape
        (10, 3)
    """
    if isinstance(data, (Tensor, np.ndarray)):
        x, labels = (data.numpy(force=True) if isinstance(data, Tensor) else data), None
    else:
        pairs = [data[i] for i in range(len(data))]
        x = np.stack([np.asarray(p[0].numpy(force=True) if isinstance(p[0], Tensor) else p[0])
                      for p in pairs])
        labels = np.asarray([p[1].item() if isinstance(p[1], Tensor) else p[1] for p in pairs])
    if batch_size < 1:
        raise ValueError(f"extract_features: batch_size must be >= 1, got {batch_size}")
    feats = None
    key = _fingerprint(base, x) if cache is not None else None
    if cache is not None and os.path.exists(cache):
        from ..io.checkpoint import load

        stored = load(cache)
        if isinstance(stored, dict) and stored.get("fingerprint") == key:
            feats = stored["features"]
    if feats is None:
        was_training = base.training
        base.eval()
        try:
            with no_grad():
                parts = [base(from_numpy(np.ascontiguousarray(x[i:i + batch_size])))
                         .numpy(force=True) for i in range(0, len(x), batch_size)]
        finally:
            base.train(was_training)
        feats = from_numpy(np.concatenate(parts))
        if cache is not None:
            from ..io.checkpoint import save

            save({"fingerprint": key, "features": feats}, cache)
    if labels is None:
        return feats
    return TensorDataset(feats, from_numpy(labels))
