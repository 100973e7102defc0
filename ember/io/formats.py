"""Recognise a weights file by its first bytes and read it into flat NumPy arrays.

``read_weights(path)`` returns ``(arrays, layout)``: a flat ``{name: numpy array}`` and the
layout convention of those arrays, ``"torch"`` (PyTorch/ember: Linear ``(out, in)``, Conv
``(out, in, kh, kw)``) or ``"keras"`` (Dense ``(in, out)``, Conv2D ``(kh, kw, in, out)``).
It reads safetensors (ember's own checkpoints too), ``torch.save`` files through the
restricted unpickler of :mod:`ember.io.pth`, Keras HDF5 weights and ONNX initializers. Nested
checkpoints are flattened with dots (``{"model": {"fc.weight": w}}`` -> ``"model.fc.weight"``)
and a lone ``state_dict``/``model`` entry holding the weights is unwrapped.

Example:
    >>> import ember, os, tempfile
    >>> from ember.io.formats import read_weights
    >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
    >>> ember.io.save_safetensors(ember.nn.Linear(3, 2).state_dict(), path)
    >>> arrays, layout = read_weights(path)
    >>> sorted(arrays), layout
    (['bias', 'weight'], 'torch')
"""

from __future__ import annotations

import os
import zipfile

import numpy as np

from ..tensor import Tensor

__all__ = ["read_weights", "sniff", "flatten_state"]

WRAPPERS = ("state_dict", "model_state_dict", "model", "module", "net", "weights")


def sniff(path: str | os.PathLike) -> str:
    """The format of a weights file from its first bytes: ``"safetensors"``, ``"pth"``,
    ``"h5"``, ``"onnx"`` or ``"keras"`` (a Keras 3 ``.keras`` zip). Anything else is
    taken for safetensors, whose reader reports what is wrong with a foreign file.

    Raises:
        FileNotFoundError: with what to check when ``path`` does not exist.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no weights file at {path!r} (working directory "
                                f"{os.getcwd()!r}); check the path, ember downloads nothing")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path!r} is a directory; give the weights file inside it")
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "h5"
    if head.startswith(b"PK"):
        with zipfile.ZipFile(path) as zf:
            return "keras" if "model.weights.h5" in zf.namelist() else "pth"
    if head[8:9] == b"{":
        return "safetensors"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "pth"  # a pickle (legacy torch.save): only the restricted unpickler reads it
    if os.path.splitext(path)[1].lower() == ".onnx":
        return "onnx"
    return "safetensors"  # its reader says precisely what is wrong with anything else


def flatten_state(obj, prefix: str = "", out: dict | None = None) -> dict[str, np.ndarray]:
    """Flatten nested dicts/lists of arrays or tensors (ember's, PyTorch's, anything with
    ``__array__``) into ``{"a.b.c": array}``; other values (epochs, names) are left out."""
    out = {} if out is None else out
    if isinstance(obj, Tensor):
        out[prefix or "tensor"] = obj.numpy(force=True)
    elif isinstance(obj, np.ndarray):
        out[prefix or "tensor"] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            flatten_state(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            flatten_state(v, f"{prefix}.{i}" if prefix else str(i), out)
    elif hasattr(obj, "detach") and hasattr(obj, "numpy"):  # a PyTorch tensor (duck-typed)
        t = obj.detach().cpu()
        try:
            out[prefix or "tensor"] = t.numpy()
        except TypeError:  # bfloat16: NumPy has no such dtype; float32 holds it exactly
            out[prefix or "tensor"] = t.float().numpy()
    elif hasattr(obj, "__array__"):
        out[prefix or "tensor"] = np.asarray(obj)
    return out


def _unwrap(obj):
    """A checkpoint {"state_dict": {...}, "epoch": 3} -> its state dict."""
    if isinstance(obj, dict) and not any(isinstance(v, (np.ndarray, Tensor))
                                         for v in obj.values()):
        inner = [k for k in WRAPPERS if isinstance(obj.get(k), dict)]
        if len(inner) == 1:
            return obj[inner[0]]
    return obj


def _read_onnx(path: str) -> dict[str, np.ndarray]:
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise ImportError("reading ONNX initializers needs onnx: pip install onnx") from None
    model = onnx.load(path)
    arrays = {}
    for init in model.graph.initializer:
        arr = numpy_helper.to_array(init)
        if arr.dtype.kind == "f":  # integer initializers are graph constants (shapes, axes)
            arrays[init.name] = np.array(arr)
    return arrays


def read_weights(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], str]:
    """Read any supported weights file into ``({name: array}, layout)``; nothing is executed.

    Args:
        path: a ``.safetensors``, ``.pt``/``.pth``/``.bin`` (``torch.save``), ``.h5``/
            ``.weights.h5``/``.keras`` (Keras) or ``.onnx`` file.

    Returns:
        The flat arrays and ``"torch"`` or ``"keras"``, the layout they are in.
    """
    path = os.fspath(path)
    kind = sniff(path)
    if kind == "pth":
        from .pth import read_pth

        return flatten_state(_unwrap(read_pth(path))), "torch"
    if kind == "h5":
        from .keras_h5 import read_keras_h5

        return read_keras_h5(path), "keras"
    if kind == "keras":
        import io

        from .keras_h5 import read_keras_h5

        with zipfile.ZipFile(path) as zf:
            return read_keras_h5(io.BytesIO(zf.read("model.weights.h5"))), "keras"
    if kind == "onnx":
        return _read_onnx(path), "torch"
    from .checkpoint import load

    return flatten_state(_unwrap(load(path))), "torch"
