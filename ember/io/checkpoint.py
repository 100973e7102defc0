"""``save`` and ``load``: checkpoints of nested Python structures holding tensors, no pickle.

A checkpoint is a standard safetensors file. Its tensors are named by where they sit in the
saved object (``"model/fc.weight"``, ``"optimizer/state/0/exp_avg"``), and its
``__metadata__`` holds the object's structure as tagged JSON: every container is an object
with one tag -- ``{"dict": {...}}`` (string keys), ``{"items": [[key, value], ...]}`` (other
keys, such as an optimiser state's parameter indices), ``{"list": [...]}``,
``{"tuple": [...]}`` -- a tensor is ``{"tensor": name}`` (``{"ndarray": name}`` for NumPy
arrays), a non-finite float is ``{"float": "inf"}``, and numbers, strings, booleans and None
stand as themselves. Loading only parses JSON and copies bytes, so a file cannot run code.

Example:
    >>> import ember, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "ckpt.safetensors")
    >>> ember.io.save({"epoch": 3, "w": ember.ones(2), "betas": (0.9, 0.999)}, path)
    >>> ckpt = ember.io.load(path)
    >>> ckpt["epoch"], ckpt["w"], ckpt["betas"]
    (3, tensor([1., 1.]), (0.9, 0.999))
"""

from __future__ import annotations

import collections
import json
import math
import os

import numpy as np

from ..tensor import Tensor
from .safetensors_io import CheckpointError, parse_json, read_safetensors, write_safetensors

__all__ = ["save", "load", "save_safetensors", "load_safetensors"]

FORMAT_KEY = "ember.structure"
MAX_DEPTH = 200  # nesting deeper than this in a file is refused rather than recursed into


def _host(t: Tensor) -> np.ndarray:
    return t.numpy(force=True)


class _Encoder:
    """Turns an object into tagged JSON plus a table of arrays named by their path."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.names: dict[int, str] = {}  # id of a tensor already stored -> its name
        self.keep: list = []  # keeps encoded objects alive so ids stay unique

    def name_for(self, path: list[str]) -> str:
        name = "/".join(path) or "tensor"
        base, i = name, 1
        while name in self.arrays or name == "__metadata__":
            i += 1
            name = f"{base}#{i}"
        return name

    def array(self, obj, arr: np.ndarray, path: list[str], tag: str) -> dict:
        name = self.names.get(id(obj))
        if name is None:
            name = self.name_for(path)
            self.arrays[name] = arr
            self.names[id(obj)] = name
            self.keep.append(obj)
        return {tag: name}

    def encode(self, obj, path: list[str]):
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int):
            return int(obj)
        if isinstance(obj, float):
            return float(obj) if math.isfinite(obj) else {"float": repr(float(obj))}
        if isinstance(obj, Tensor):
            return self.array(obj, _host(obj), path, "tensor")
        if isinstance(obj, np.ndarray):
            return self.array(obj, obj, path, "ndarray")
        if isinstance(obj, np.generic):
            return self.encode(obj.item(), path)
        if isinstance(obj, dict):
            if all(isinstance(k, str) for k in obj):
                return {"dict": {k: self.encode(v, path + [k]) for k, v in obj.items()}}
            return {"items": [[self.key(k, path), self.encode(v, path + [str(k)])]
                              for k, v in obj.items()]}
        if isinstance(obj, (list, tuple)):
            items = [self.encode(v, path + [str(i)]) for i, v in enumerate(obj)]
            return {"tuple" if isinstance(obj, tuple) else "list": items}
        where = "/".join(path) or "the top level"
        raise TypeError(
            f"save: cannot store a {type(obj).__name__} at {where}; checkpoints hold tensors, "
            "NumPy arrays, numbers, strings, bools, None and dicts/lists/tuples of them (no "
            "pickle). Save a state_dict() rather than a module or optimizer object"
        )

    def key(self, k, path: list[str]):
        if isinstance(k, (Tensor, np.ndarray)):
            raise TypeError(f"save: a tensor cannot be a dict key (at {'/'.join(path)})")
        return self.encode(k, path)


def save(obj, path: str | os.PathLike) -> None:
    """Save tensors, state dicts and plain values to ``path`` (safetensors), atomically.

    Args:
        obj: a tensor, or nested dicts/lists/tuples of tensors, NumPy arrays, numbers,
            strings, bools and None -- e.g. ``{"model": model.state_dict(), "optimizer":
            opt.state_dict(), "rng": ember.get_rng_state(), "epoch": 4}``.
        path: the file to write. Its directory must exist. The file is replaced only once
            the new one is complete, so a crash mid-save leaves the previous checkpoint.

    Tensors are stored by value (not their autograd state); a tensor that appears twice is
    stored once and loads as one tensor.

    Example:
        >>> import ember, os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "t.safetensors")
        >>> ember.io.save(ember.arange(4).reshape(2, 2).T, path)
        >>> ember.io.load(path)
        tensor([[0, 2],
                [1, 3]])
    """
    enc = _Encoder()
    structure = enc.encode(obj, [])
    meta = {"format": "ember", FORMAT_KEY: json.dumps(structure, separators=(",", ":"))}
    write_safetensors(path, enc.arrays, meta)


def load(path: str | os.PathLike, device=None):
    """Load what ``save`` wrote, any safetensors file, or a PyTorch ``.pt``/``.pth`` file.

    Args:
        path: the file to read. A ``torch.save`` file (zip or legacy) is read without
            PyTorch through a restricted unpickler (:mod:`ember.io.pth`): its tensors come
            back as ember tensors in the same dicts/lists/tuples, and a file naming any
            global outside the allow-list is refused before anything runs.
        device: move the tensors to this device (default: the CPU).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UnsafeCheckpointError: a ``.pth`` file that would run code (the error names it).
        CheckpointError: a truncated, corrupted or malformed file (nothing in it is run).

    Example:
        >>> import ember, os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "s.safetensors")
        >>> ember.io.save({"step": 7, "lr": [0.1, 0.01]}, path)
        >>> ember.io.load(path)
        {'step': 7, 'lr': [0.1, 0.01]}
    """
    from .formats import sniff

    if sniff(path) == "pth":
        from .pth import read_pth

        return _tensors_in(read_pth(path), device, {})
    arrays, metadata = read_safetensors(path)
    text = metadata.get(FORMAT_KEY)
    if text is None:
        return {k: _tensor(a, device) for k, a in arrays.items()}
    structure = parse_json(text, path, "the ember structure")
    return _Decoder(path, arrays, device).decode(structure, 0)


def _tensor(arr: np.ndarray, device) -> Tensor:
    t = Tensor(arr)
    t.dtype  # noqa: B018 - raises a DTypeError for element types ember does not have
    return t if device is None else t.to(device)


def _tensors_in(obj, device, seen: dict):
    """The same structure with every NumPy array as a tensor (shared arrays stay shared)."""
    if isinstance(obj, np.ndarray):
        t = seen.get(id(obj))
        if t is None:
            t = seen[id(obj)] = _tensor(obj, device)
        return t
    if isinstance(obj, dict):
        out = type(obj)() if isinstance(obj, collections.OrderedDict) else {}
        for k, v in obj.items():
            out[k] = _tensors_in(v, device, seen)
        return out
    if isinstance(obj, (list, tuple)):
        items = [_tensors_in(v, device, seen) for v in obj]
        return items if isinstance(obj, list) else tuple(items)
    return obj


class _Decoder:
    def __init__(self, path, arrays: dict, device) -> None:
        self.path, self.arrays, self.device = path, arrays, device
        self.tensors: dict[str, Tensor] = {}

    def fail(self, problem: str) -> CheckpointError:
        return CheckpointError(f"load: {os.fspath(self.path)!r} has a malformed ember "
                               f"structure: {problem}")

    def decode(self, node, depth: int):
        if depth > MAX_DEPTH:
            raise self.fail(f"it nests deeper than {MAX_DEPTH} levels")
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if not isinstance(node, dict) or len(node) != 1:
            raise self.fail(f"expected a tagged object, got {_short(node)}")
        (tag, body), = node.items()
        if tag in ("tensor", "ndarray"):
            if not isinstance(body, str) or body not in self.arrays:
                raise self.fail(f"it refers to a tensor {_short(body)} the file does not hold")
            if tag == "ndarray":
                return self.arrays[body]
            t = self.tensors.get(body)
            if t is None:
                t = self.tensors[body] = _tensor(self.arrays[body], self.device)
            return t
        if tag in ("list", "tuple") and isinstance(body, list):
            items = [self.decode(v, depth + 1) for v in body]
            return tuple(items) if tag == "tuple" else items
        if tag == "dict" and isinstance(body, dict):
            return {k: self.decode(v, depth + 1) for k, v in body.items()}
        if tag == "items" and isinstance(body, list):
            out = {}
            for pair in body:
                if not isinstance(pair, list) or len(pair) != 2:
                    raise self.fail(f"a dict item must be a [key, value] pair, got {_short(pair)}")
                key = self.decode(pair[0], depth + 1)
                try:
                    out[key] = self.decode(pair[1], depth + 1)
                except TypeError:  # an unhashable key
                    raise self.fail(f"a dict key must be hashable, got {_short(pair[0])}") from None
            return out
        if tag == "float" and body in ("inf", "-inf", "nan"):
            return float(body)
        raise self.fail(f"unknown entry {_short(node)}")


def _short(x) -> str:
    text = repr(x)
    return text if len(text) <= 80 else text[:77] + "..."


def save_safetensors(tensors: dict[str, Tensor], path: str | os.PathLike,
                     metadata: dict[str, str] | None = None) -> None:
    """Save a flat dict of tensors as a plain safetensors file (atomically).

    Args:
        tensors: names to tensors (e.g. ``model.state_dict()``).
        path: the file to write; its directory must exist.
        metadata: optional string-to-string metadata stored in the header.

    Example:
        >>> import ember, os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "m.safetensors")
        >>> ember.io.save_safetensors({"bias": ember.zeros(3)}, path)
        >>> ember.io.load_safetensors(path)
        {'bias': tensor([0., 0., 0.])}
    """
    if not isinstance(tensors, dict):
        raise TypeError(f"save_safetensors: expected a dict of tensors, got "
                        f"{type(tensors).__name__}")
    arrays, seen = {}, {}
    for name, t in tensors.items():
        if not isinstance(t, Tensor):
            raise TypeError(f"save_safetensors: {name!r} is a {type(t).__name__}, not a tensor")
        arrays[name] = seen.setdefault(id(t), _host(t))
    write_safetensors(path, arrays, metadata, what="save_safetensors")


def load_safetensors(path: str | os.PathLike, device=None) -> dict[str, Tensor]:
    """Load every tensor of a safetensors file into a dict, by name.

    Raises:
        CheckpointError: a truncated, corrupted or malformed file.
    """
    arrays, _ = read_safetensors(path)
    return {k: _tensor(a, device) for k, a in arrays.items()}
