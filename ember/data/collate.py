"""Collation: turn a list of samples into one batch (PyTorch's ``default_collate`` rules).

Tensors and NumPy arrays are stacked along a new first dimension; Python floats become a
float64 tensor, ints int64, bools bool; strings stay a list; dicts, tuples, lists and
namedtuples are collated field by field (tuples and lists give lists, as in PyTorch).

Example:
    >>> from ember.data import default_collate
    >>> batch = default_collate([{"x": [1.0, 2.0], "y": 0}, {"x": [3.0, 4.0], "y": 1}])
    >>> batch["y"]
    tensor([0, 1])
"""

from __future__ import annotations

import collections.abc as abc

import numpy as np

from ..backend import backend_of
from ..errors import ShapeError
from ..tensor import Tensor


def _field(path: str) -> str:
    return f"field {path}" if path else "the samples"


def _check_shapes(shapes, path: str) -> None:
    first = shapes[0]
    for i, s in enumerate(shapes):
        if s != first:
            raise ShapeError(
                f"default_collate: cannot stack {_field(path)}: sample 0 has shape {first} but "
                f"sample {i} has shape {s}. Give every sample the same shape (e.g. Resize or "
                "CenterCrop in the transform) or pass a collate_fn that pads"
            )


def _stack_tensors(batch, path: str) -> Tensor:
    shapes = [tuple(t.data.shape) for t in batch]
    _check_shapes(shapes, path)
    if any(t._rg for t in batch):
        from ..ops import stack

        return stack(batch)
    xp = backend_of(batch[0].data).xp
    try:
        return Tensor(xp.stack([t.data for t in batch]))
    except (TypeError, ValueError) as exc:  # mixed devices
        raise TypeError(f"default_collate: cannot stack {_field(path)}: {exc}") from None


def _collate(batch, path: str):
    elem = batch[0]
    cls = type(elem)
    if cls is Tensor:
        for i, t in enumerate(batch):
            if type(t) is not Tensor:
                raise TypeError(f"default_collate: {_field(path)} is a tensor in sample 0 but a "
                                f"{type(t).__name__} in sample {i}")
        return _stack_tensors(batch, path)
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind in "OUSV":
            raise TypeError(f"default_collate: {_field(path)} holds NumPy arrays of dtype "
                            f"{elem.dtype}, which cannot become a tensor; convert them to numbers")
        shapes = [np.shape(a) for a in batch]
        _check_shapes(shapes, path)
        return Tensor(np.stack(batch))
    if isinstance(elem, (np.generic, bool, int, float)) and not isinstance(
            elem, (np.str_, np.bytes_)):
        dtype = (elem.dtype if isinstance(elem, np.generic) else np.bool_ if isinstance(
            elem, bool) else np.int64 if isinstance(elem, int) else np.float64)
        try:
            return Tensor(np.asarray(batch, dtype=dtype))
        except (TypeError, ValueError):
            bad = next(i for i, b in enumerate(batch) if not isinstance(b, (
                np.generic, bool, int, float)) or np.ndim(b) != 0)
            raise TypeError(f"default_collate: {_field(path)} is a number in sample 0 but "
                            f"{type(batch[bad]).__name__} {batch[bad]!r:.40} in sample "
                            f"{bad}") from None
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, abc.Mapping):
        keys = list(elem)
        for i, d in enumerate(batch):
            if not isinstance(d, abc.Mapping) or d.keys() != elem.keys():
                got = list(d) if isinstance(d, abc.Mapping) else type(d).__name__
                raise TypeError(f"default_collate: {_field(path)} has keys {keys} in sample 0 "
                                f"but {got} in sample {i}")
        out = {k: _collate([d[k] for d in batch], f"{path}[{k!r}]") for k in keys}
        try:
            return cls(out) if cls is not dict else out
        except TypeError:
            return out
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return cls(*(_collate(list(f), f"{path}.{name}")
                     for name, f in zip(elem._fields, zip(*batch))))
    if isinstance(elem, abc.Sequence):
        n = len(elem)
        for i, s in enumerate(batch):
            if (type(s) is not cls and not isinstance(s, abc.Sequence)) or len(s) != n:
                got = len(s) if isinstance(s, abc.Sized) else type(s).__name__
                raise ShapeError(f"default_collate: {_field(path)} is a sequence of length {n} "
                                 f"in sample 0 but {got} in sample {i}; each sample must have "
                                 "the same number of fields")
        return [_collate(list(f), f"{path}[{j}]") for j, f in enumerate(zip(*batch))]
    raise TypeError(
        f"default_collate: cannot collate {_field(path)} of type {cls.__module__}.{cls.__name__};"
        " samples may hold tensors, NumPy arrays, numbers, strings, dicts, tuples or lists. "
        "Convert images with transforms.ToTensor() or pass a collate_fn"
    )


def default_collate(batch: list):
    """Collate a list of samples into a batch (tensors stacked along a new first dim).

    Args:
        batch: a non-empty list of samples with the same structure.

    Example:
        >>> import ember
        >>> from ember.data import default_collate
        >>> xs, ys = default_collate([(ember.zeros(3), 1), (ember.ones(3), 2)])
        >>> xs.shape, ys.tolist()
        ((2, 3), [1, 2])
    """
    if not batch:
        raise ValueError("default_collate: the batch is empty")
    return _collate(batch, "")


def default_convert(data):
    """Convert NumPy arrays (also inside dicts and sequences) to tensors; used without batching.

    Example:
        >>> import numpy as np
        >>> from ember.data import default_convert
        >>> default_convert({"a": np.ones(2)})["a"].shape
        (2,)
    """
    if isinstance(data, np.ndarray) and data.dtype.kind not in "OUSV":
        return Tensor(data)
    if isinstance(data, np.generic) and not isinstance(data, (np.str_, np.bytes_)):
        return Tensor(np.asarray(data))
    if isinstance(data, abc.Mapping):
        return {k: default_convert(v) for k, v in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, abc.Sequence) and not isinstance(data, (str, bytes)):
        return [default_convert(d) for d in data]
    return data
