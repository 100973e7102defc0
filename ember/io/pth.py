"""Read PyTorch ``.pt``/``.pth`` checkpoints without PyTorch and without running their code.

A ``torch.save`` file is a pickle. Unpickling an arbitrary pickle runs whatever functions it
names, so this reader uses a restricted unpickler (the idea behind ``torch.load(...,
weights_only=True)``): ``find_class`` maps the few globals a checkpoint needs -- the tensor
and parameter rebuild functions, the ``torch.*Storage`` types, ``torch.Size``,
``torch.device`` and dtypes (as names), ``collections.OrderedDict``, NumPy arrays and
scalars, and a handful of builtins -- to ember's own functions (or NumPy's), and refuses any
other global by name *before* anything runs. Nothing is ever imported from the file.

Two layouts are read: the zip archive of PyTorch 1.6+ (``<name>/data.pkl`` plus one
``<name>/data/<key>`` entry per storage and a ``byteorder`` record) and the legacy layout
(``_use_new_zipfile_serialization=False``: magic number, protocol, system info, the pickle,
the list of storage keys, then each storage's element count and bytes). Storages become NumPy
arrays; tensors are views into them with the saved size, stride and offset, so tensors that
shared a storage still share memory (overlapping views, e.g. an ``expand``, are copied).

Example:
    >>> import ember, os, tempfile
    >>> from ember.io.pth import read_pth
    >>> path = os.path.join(tempfile.mkdtemp(), "x.pt")
    >>> with open(path, "wb") as f:  # a pickle naming a function outside the allow-list
    ...     _ = f.write(b"cos\\nsystem\\n(S'echo hi'\\ntR.")
    >>> read_pth(path)
    Traceback (most recent call last):
    ...
    ember.io.pth.UnsafeCheckpointError: read_pth: ... refers to the global 'os.system', ...
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import sys
import zipfile

import numpy as np

from .. import dtypes as _dt
from .safetensors_io import CheckpointError

__all__ = ["read_pth", "UnsafeCheckpointError", "ALLOWED_GLOBALS"]

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint that names a global outside the allow-list (it could run code)."""


_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
    "ComplexFloatStorage": np.complex64, "ComplexDoubleStorage": np.complex128,
}
if _dt.bfloat16 is not None:  # its NumPy dtype resolves on first use (ml_dtypes' import)
    _STORAGE_DTYPES["BFloat16Storage"] = _dt.bfloat16


class _StorageType:
    """What ``torch.FloatStorage`` and friends unpickle to: a name and a NumPy dtype."""

    def __init__(self, name: str, dtype) -> None:
        self.name, self._dtype = name, dtype

    @property
    def dtype(self) -> np.dtype:
        d = self._dtype
        return d.np if isinstance(d, _dt.DType) else np.dtype(d)

    def __repr__(self) -> str:
        return f"torch.{self.name}"


def _non_overlapping(shape: tuple, strides: tuple) -> bool:
    """True when no two elements of a view share memory (a sufficient check)."""
    dims = sorted((st, n) for n, st in zip(shape, strides) if n > 1)
    need = 1
    for st, n in dims:
        if st < need:
            return False
        need = st * n
    return True


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None) -> np.ndarray:
    """Make the saved view (size, stride, offset) of a storage, checking it fits."""
    if not isinstance(storage, np.ndarray) or storage.ndim != 1:
        raise CheckpointError("read_pth: a tensor is rebuilt from something that is not a "
                              f"storage ({type(storage).__name__})")
    try:
        size = tuple(int(n) for n in size)
        stride = tuple(int(s) for s in stride)
        offset = int(storage_offset)
    except (TypeError, ValueError):
        raise CheckpointError(f"read_pth: malformed tensor record (size={size!r}, "
                              f"stride={stride!r}, offset={storage_offset!r})") from None
    if len(size) != len(stride) or offset < 0 or min(size + stride, default=0) < 0:
        raise CheckpointError(f"read_pth: malformed tensor record (size={size}, "
                              f"stride={stride}, offset={offset})")
    if 0 in size:
        return np.empty(size, storage.dtype)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= storage.size:
        raise CheckpointError(
            f"read_pth: a tensor of size {size}, stride {stride} and offset {offset} reaches "
            f"element {last} of a storage of {storage.size} elements; the file is corrupted")
    item = storage.itemsize
    return np.lib.stride_tricks.as_strided(storage[offset:], size, [s * item for s in stride])


def _unalias(obj):
    """Copy views whose elements overlap (e.g. an ``expand``): a write must change one value.

    Runs after the storages hold their bytes (the legacy layout fills them last).
    """
    if isinstance(obj, np.ndarray):
        steps = tuple(s // obj.itemsize for s in obj.strides)
        return obj if _non_overlapping(obj.shape, steps) else np.ascontiguousarray(obj)
    if isinstance(obj, (dict, list)):
        for k, v in (obj.items() if isinstance(obj, dict) else enumerate(obj)):
            obj[k] = _unalias(v)
        return obj
    if isinstance(obj, tuple):
        return tuple(_unalias(v) for v in obj)
    return obj


def _rebuild_parameter(data, requires_grad=True, backward_hooks=None, state=None):
    return data


def _size(*args):
    return tuple(*args)


def _device(kind, index=None) -> str:
    """``torch.device`` -> its name (``"cuda:1"``): ember reads every tensor to the host."""
    return f"{kind}:{index}" if index is not None else str(kind)


def _encode(text, encoding="utf-8"):
    """Protocol 2 pickles ``bytes`` as ``_codecs.encode(text, "latin1")``."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8"):
        raise CheckpointError("read_pth: a malformed bytes record")
    return text.encode(encoding)


_np_reconstruct = np.ndarray.__reduce__(np.empty(0))[0]  # numpy's own (no code from the file)
_np_scalar = np.float64(0).__reduce__()[0]

ALLOWED_GLOBALS = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch", "Size"): _size,
    ("torch", "device"): _device,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "complex"): complex,
    ("builtins", "slice"): slice,
    ("_codecs", "encode"): _encode,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy._core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy.core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy._core.multiarray", "scalar"): _np_scalar,
    ("numpy.core.multiarray", "scalar"): _np_scalar,
}
ALLOWED_GLOBALS.update({("torch", name): _StorageType(name, dt)
                        for name, dt in _STORAGE_DTYPES.items()})
ALLOWED_GLOBALS.update({("torch", name): f"torch.{name}" for name in (  # dtypes, as names
    "float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8",
    "bool", "complex64", "complex128")})
"""The only globals a checkpoint may name, each mapped to ember's stand-in (no torch)."""


class _Unpickler(pickle.Unpickler):
    """An unpickler whose globals come from ``ALLOWED_GLOBALS`` only."""

    def __init__(self, file, path: str, load_storage) -> None:
        super().__init__(file)
        self.path = path
        self.load_storage = load_storage

    def find_class(self, module: str, name: str):
        found = ALLOWED_GLOBALS.get(("builtins" if module == "__builtin__" else module, name))
        if found is None:
            hint = ("a TorchScript archive is a program, not weights: save its state_dict() "
                    "instead" if module.startswith("__torch__") else
                    "load it in PyTorch, save model.state_dict() (tensors and plain "
                    "containers only) and read that file")
            raise UnsafeCheckpointError(
                f"read_pth: {self.path!r} refers to the global '{module}.{name}', which is "
                f"not on the allow-list of tensor-rebuild functions and plain containers; "
                f"nothing was run. {hint}")
        return found

    def persistent_load(self, pid):
        if (not isinstance(pid, tuple) or len(pid) not in (5, 6) or pid[0] != "storage"
                or not isinstance(pid[1], _StorageType)):
            raise CheckpointError(f"read_pth: {self.path!r} holds an unknown persistent "
                                  f"record {str(pid)[:80]}")
        stype, key, numel = pid[1], str(pid[2]), pid[4]
        if not isinstance(numel, int) or numel < 0:
            raise CheckpointError(f"read_pth: {self.path!r}: bad storage size {numel!r}")
        storage = self.load_storage(key, stype.dtype, numel)
        view = pid[5] if len(pid) == 6 else None
        if view is not None:  # legacy storage views: (view_key, offset, size)
            _, start, count = view
            if not (0 <= start and start + count <= storage.size):
                raise CheckpointError(f"read_pth: {self.path!r}: a storage view is out of range")
            storage = storage[start:start + count]
        return storage


def _zip_load(zf: zipfile.ZipFile, path: str):
    names = zf.namelist()
    pkl = [n for n in names if n.endswith("data.pkl") and n.count("/") == 1]
    if len(pkl) != 1:
        raise CheckpointError(f"read_pth: {path!r} is a zip file without a PyTorch "
                              "'<name>/data.pkl' record; it is not a torch.save checkpoint")
    root = pkl[0][: -len("data.pkl")]
    order = zf.read(root + "byteorder").decode().strip() if root + "byteorder" in names \
        else "little"
    if order not in ("little", "big"):
        raise CheckpointError(f"read_pth: {path!r} has an unknown byte order {order!r}")
    storages: dict[str, np.ndarray] = {}

    def load_storage(key: str, dtype: np.dtype, numel: int) -> np.ndarray:
        found = storages.get(key)
        if found is not None:
            if found.dtype == dtype:
                return found
            if found.nbytes % dtype.itemsize:
                raise CheckpointError(f"read_pth: {path!r}: storage {key} is read as two "
                                      "dtypes of incompatible sizes; the file is corrupted")
            return found.view(dtype)
        entry = f"{root}data/{key}"
        try:
            info = zf.getinfo(entry)
        except KeyError:
            raise CheckpointError(f"read_pth: {path!r} has no record {entry!r} for a "
                                  "storage; the file is truncated or corrupted") from None
        if info.file_size != numel * dtype.itemsize:
            raise CheckpointError(f"read_pth: {path!r}: storage {key} holds {info.file_size} "
                                  f"bytes, expected {numel} x {dtype.itemsize}")
        buf = bytearray(info.file_size)
        with zf.open(info) as f:
            if f.readinto(buf) != len(buf):
                raise CheckpointError(f"read_pth: {path!r}: storage {key} is truncated")
        arr = np.frombuffer(buf, dtype)
        if order != sys.byteorder:
            arr.byteswap(inplace=True)
        storages[key] = arr
        return arr

    with zf.open(root + "data.pkl") as f:
        return _Unpickler(io.BytesIO(f.read()), path, load_storage).load()


def _legacy_load(f, path: str, size: int):
    def plain(what: str):
        try:
            return _Unpickler(f, path, _no_storage).load()
        except (EOFError, pickle.UnpicklingError) as e:
            raise CheckpointError(f"read_pth: {path!r}: cannot read the {what} ({e})") from None

    if plain("magic number") != LEGACY_MAGIC:
        raise CheckpointError(f"read_pth: {path!r} is neither a zip archive nor a legacy "
                              "torch.save file (wrong magic number)")
    if plain("protocol version") != 1001:
        raise CheckpointError(f"read_pth: {path!r} uses an unknown legacy protocol")
    info = plain("system info")
    little = info.get("little_endian", True) if isinstance(info, dict) else True
    storages: dict[str, np.ndarray] = {}

    def load_storage(key: str, dtype: np.dtype, numel: int) -> np.ndarray:
        if numel * dtype.itemsize > size:  # refuse before allocating what the file lacks
            raise CheckpointError(f"read_pth: {path!r}: storage {key} claims {numel} elements, "
                                  f"more than the {size}-byte file holds; it is corrupted")
        if key not in storages:  # filled after the pickle, when the bytes come
            storages[key] = np.empty(numel, dtype)
        return storages[key]

    try:
        result = _Unpickler(f, path, load_storage).load()
    except (EOFError, pickle.UnpicklingError) as e:
        raise CheckpointError(f"read_pth: {path!r}: cannot read the pickle ({e})") from None
    keys = plain("storage keys")
    if not isinstance(keys, list):
        raise CheckpointError(f"read_pth: {path!r}: malformed storage key list")
    for key in keys:
        arr = storages.get(str(key))
        head = f.read(8)
        if arr is None or len(head) != 8 or struct.unpack("<q", head)[0] != arr.size:
            raise CheckpointError(f"read_pth: {path!r}: storage {key} is missing or has the "
                                  "wrong size; the file is truncated or corrupted")
        raw = f.read(arr.nbytes)
        if len(raw) != arr.nbytes:
            raise CheckpointError(f"read_pth: {path!r}: storage {key} is truncated")
        arr[...] = np.frombuffer(raw, arr.dtype)
        if little != (sys.byteorder == "little"):
            arr.byteswap(inplace=True)
    return result


def _no_storage(key, dtype, numel):
    raise CheckpointError("read_pth: a storage record outside the checkpoint's main pickle")


def read_pth(path: str | os.PathLike):
    """Read a ``torch.save`` file into the same structure with NumPy arrays for tensors.

    Args:
        path: a ``.pt``/``.pth``/``.bin`` file written by ``torch.save`` (zip or legacy).

    Returns:
        The saved object: dicts (``OrderedDict`` for state dicts), lists, tuples, numbers,
        strings, with every tensor and parameter as a ``numpy.ndarray`` (bfloat16 through
        ``ml_dtypes``). ``torch.Size`` becomes a tuple.

    Raises:
        UnsafeCheckpointError: the file names a global outside ``ALLOWED_GLOBALS`` (nothing
            is run; the error names the global).
        CheckpointError: a truncated, corrupted or foreign file.
        FileNotFoundError: ``path`` does not exist.

    Example:
        >>> from ember.io.pth import ALLOWED_GLOBALS
        >>> ("torch._utils", "_rebuild_tensor_v2") in ALLOWED_GLOBALS
        True
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"read_pth: no such file {path!r}")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            return _unalias(_zip_load(zf, path))
    with open(path, "rb") as f:
        return _unalias(_legacy_load(f, path, os.path.getsize(path)))
