"""The safetensors format, read and written by ember itself, with atomic writes.

A safetensors file is an 8-byte little-endian header length ``N``, ``N`` bytes of JSON (each
tensor's ``dtype``, ``shape`` and ``data_offsets`` into the data, plus an optional
``__metadata__`` of string pairs), then the raw little-endian bytes of every tensor. Writing
it here (instead of through the ``safetensors`` package) handles bfloat16 and makes strided
arrays contiguous before their bytes are taken. Reading validates everything before any
byte is trusted: nothing in a file is executed, and a damaged file raises ``CheckpointError``.

Example:
    >>> import ember, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
    >>> ember.io.save_safetensors({"w": ember.ones(2, 3)}, path, metadata={"note": "demo"})
    >>> ember.io.load_safetensors(path)["w"].shape
    (2, 3)
"""

from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import Callable

import numpy as np

from .. import dtypes as _dt
from ..errors import EmberError

__all__ = ["CheckpointError", "write_safetensors", "read_safetensors", "atomic_write"]

MAX_HEADER = 100_000_000  # bytes; the limit of the reference implementation

_BY_CODE = {"BOOL": np.dtype(np.bool_), "U8": np.dtype(np.uint8), "I8": np.dtype(np.int8),
            "I16": np.dtype(np.int16), "U16": np.dtype(np.uint16), "I32": np.dtype(np.int32),
            "U32": np.dtype(np.uint32), "I64": np.dtype(np.int64), "U64": np.dtype(np.uint64),
            "F16": np.dtype(np.float16), "F32": np.dtype(np.float32),
            "F64": np.dtype(np.float64)}
_CODE_OF = {v: k for k, v in _BY_CODE.items()}


def _bf16_known() -> None:
    """Add bfloat16 (ml_dtypes, imported on first use) to the tables once it is needed."""
    if _dt.bfloat16 is not None and "BF16" not in _BY_CODE:
        _BY_CODE["BF16"] = _dt.bfloat16.np
        _CODE_OF[_BY_CODE["BF16"]] = "BF16"


class CheckpointError(EmberError, ValueError):
    """A checkpoint or safetensors file that is truncated, corrupted or not one at all."""


def _code(arr: np.ndarray, name: str) -> str:
    if arr.dtype.kind == "V":
        _bf16_known()
    code = _CODE_OF.get(arr.dtype.newbyteorder("="))
    if code is None:
        raise TypeError(f"save: tensor {name!r} has dtype {arr.dtype}, which safetensors files "
                        f"cannot hold; convert it to one of {sorted(_dt._BY_NAME)}")
    return code


def atomic_write(path, write: Callable, what: str = "save") -> None:
    """Write a file through ``write(fileobj)`` so that ``path`` is always whole.

    The bytes go to a temporary file in the same directory, which is flushed, synced and
    renamed over ``path``; the directory is synced too. A crash leaves the old file intact.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            f"{what}: the directory {directory!r} does not exist; create it first, e.g. "
            f"os.makedirs({directory!r}, exist_ok=True)"
        )
    if os.path.isdir(path):
        raise IsADirectoryError(f"{what}: {path!r} is a directory; give a file name")
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{uuid.uuid4().hex[:12]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def write_safetensors(path, arrays: dict[str, np.ndarray], metadata: dict[str, str] | None,
                      what: str = "save") -> None:
    """Write host arrays as a safetensors file, atomically.

    Arrays are made C-contiguous and little-endian first; larger element types come first in
    the data so every tensor stays aligned to its element size.
    """
    header: dict = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError(f"{what}: metadata must map str to str, got {k!r}: "
                                f"{type(v).__name__}")
        header["__metadata__"] = dict(metadata)
    order = sorted(arrays, key=lambda n: -arrays[n].dtype.itemsize)
    prepared = []
    offset = 0
    for name in order:
        if not isinstance(name, str) or name == "__metadata__":
            raise ValueError(f"{what}: tensor names must be strings other than '__metadata__', "
                             f"got {name!r}")
        arr = arrays[name]
        code = _code(arr, name)
        if arr.dtype.byteorder == ">":
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        if not arr.flags.c_contiguous:
            arr = np.array(arr, order="C", copy=True)
        header[name] = {"dtype": code, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
        prepared.append(arr)
    blob = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    blob += b" " * (-len(blob) % 8)  # pad so the data starts 8-byte aligned

    def write(f) -> None:
        f.write(len(blob).to_bytes(8, "little"))
        f.write(blob)
        for arr in prepared:
            if arr.size:
                f.write(arr.reshape(-1).view(np.uint8))

    atomic_write(path, write, what)


def _fail(path, problem: str) -> CheckpointError:
    return CheckpointError(f"load: {os.fspath(path)!r} is not a valid safetensors file: {problem}")


def _no_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise CheckpointError(f"duplicate key {k!r}")
        out[k] = v
    return out


def parse_json(text: str, path, what: str):
    """``json.loads`` that refuses duplicate keys, NaN literals and absurd nesting."""
    def constant(name):
        raise CheckpointError(f"non-standard JSON constant {name}")

    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=constant)
    except CheckpointError as exc:
        raise _fail(path, f"{what}: {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise _fail(path, f"{what} is not valid JSON ({type(exc).__name__}: {exc})") from None


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_entry(path, name: str, entry) -> tuple[np.dtype, tuple, int, int]:
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise _fail(path, f"entry {name!r} must be an object with exactly 'dtype', 'shape' and "
                          "'data_offsets'")
    code, shape, offs = entry["dtype"], entry["shape"], entry["data_offsets"]
    if code == "BF16":
        _bf16_known()
    dtype = _BY_CODE.get(code) if isinstance(code, str) else None
    if dtype is None:
        hint = " (install ml_dtypes for BF16)" if code == "BF16" else ""
        raise _fail(path, f"tensor {name!r} has dtype {code!r}, which ember cannot read{hint}; "
                          f"readable: {sorted(_BY_CODE)}")
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
        raise _fail(path, f"tensor {name!r} has shape {shape!r}; expected a list of ints >= 0")
    if (not isinstance(offs, list) or len(offs) != 2 or not all(_is_int(o) for o in offs)
            or not 0 <= offs[0] <= offs[1]):
        raise _fail(path, f"tensor {name!r} has data_offsets {offs!r}; expected [begin, end] "
                          "with 0 <= begin <= end")
    expected = math.prod(shape) * dtype.itemsize
    if offs[1] - offs[0] != expected:
        raise _fail(path, f"tensor {name!r} spans {offs[1] - offs[0]} bytes but shape "
                          f"{tuple(shape)} of {code} needs {expected}")
    return dtype, tuple(shape), offs[0], offs[1]


def read_safetensors(path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read and validate a safetensors file: ``(arrays by name, metadata)``.

    Raises:
        CheckpointError: the file is truncated, its header is not valid JSON or exceeds
            100 MB, or its tensors' offsets are out of range, overlap, leave gaps or disagree
            with their shape and dtype.
    """
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < 8:
            raise _fail(path, f"it has {size} bytes; a safetensors file starts with an 8-byte "
                              "header length (truncated?)")
        n = int.from_bytes(f.read(8), "little")
        if n > MAX_HEADER:
            raise _fail(path, f"its header claims {n} bytes, over the {MAX_HEADER}-byte limit")
        if 8 + n > size:
            raise _fail(path, f"its header claims {n} bytes but the file has only {size - 8} "
                              "after the length (truncated?)")
        raw = f.read(n)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _fail(path, "its header is not UTF-8 text") from None
        header = parse_json(text, path, "the header")
        if not isinstance(header, dict):
            raise _fail(path, "its header is not a JSON object")
        metadata = header.pop("__metadata__", None) or {}
        if not isinstance(metadata, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise _fail(path, "__metadata__ must map strings to strings")
        entries = sorted(((_check_entry(path, k, v), k) for k, v in header.items()),
                         key=lambda e: (e[0][2], e[0][3]))
        data_size = size - 8 - n
        position = 0
        for (_, _, begin, end), name in entries:
            if begin != position:
                problem = "overlaps the previous tensor" if begin < position else (
                    f"leaves a gap of {begin - position} bytes before it")
                raise _fail(path, f"tensor {name!r} (data_offsets [{begin}, {end}]) {problem}")
            position = end
        if position != data_size:
            problem = ("the data is truncated" if position > data_size
                       else f"{data_size - position} bytes follow the last tensor")
            raise _fail(path, f"the tensors span {position} bytes but the file holds "
                              f"{data_size}: {problem}")
        arrays = {}
        for (dtype, shape, begin, end), name in entries:
            arr = np.empty(shape, dtype=dtype)
            if end > begin and f.readinto(arr.reshape(-1).view(np.uint8)) != end - begin:
                raise _fail(path, f"the data of tensor {name!r} ends early (file truncated "
                                  "while reading?)")
            arrays[name] = arr
    return arrays, metadata
