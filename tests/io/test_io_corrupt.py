"""Truncated, corrupted and hostile files: a clear CheckpointError, nothing executed."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest

import ember
import ember.io
from ember.errors import EmberError
from ember.io import CheckpointError, load, load_safetensors, save


def _raw(path, header, data=b"", length=None):
    blob = header if isinstance(header, bytes) else json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write((len(blob) if length is None else length).to_bytes(8, "little"))
        f.write(blob)
        f.write(data)
    return path


def _entry(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def test_error_class_is_a_value_error():
    assert issubclass(CheckpointError, ValueError) and issubclass(CheckpointError, EmberError)


def test_truncated_anywhere(tmp_path):
    path = tmp_path / "c"
    save({"w": ember.randn(50, 20), "b": ember.zeros(20), "epoch": 3}, path)
    blob = path.read_bytes()
    n = int.from_bytes(blob[:8], "little")
    for cut in [0, 3, 8, 9, 8 + n // 2, 8 + n, 8 + n + 7, len(blob) - 1]:
        (tmp_path / "t").write_bytes(blob[:cut])
        with pytest.raises(CheckpointError, match="truncated|not valid JSON|8-byte"):
            load(tmp_path / "t")


def test_trailing_bytes(tmp_path):
    path = _raw(tmp_path / "c", {"a": _entry("F32", [2], 0, 8)}, b"\0" * 12)
    with pytest.raises(CheckpointError, match="4 bytes follow the last tensor"):
        load(path)


@pytest.mark.parametrize("header, match", [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"a": 1, "a": 2}', "duplicate key 'a'"),
    (b'{"a": NaN}', "non-standard JSON constant NaN"),
    (b"[" * 100000 + b"]" * 100000, "not valid JSON"),
    ({"__metadata__": {"k": 1}}, "__metadata__ must map strings to strings"),
    ({"a": {"dtype": "F32", "shape": [1]}}, "exactly 'dtype', 'shape' and 'data_offsets'"),
    ({"a": _entry("F128", [1], 0, 16)}, "dtype 'F128', which ember cannot read"),
    ({"a": _entry("F32", [-1], 0, 4)}, "expected a list of ints >= 0"),
    ({"a": _entry("F32", [True], 0, 4)}, "expected a list of ints >= 0"),
    ({"a": _entry("F32", [1], 4, 0)}, "0 <= begin <= end"),
    ({"a": _entry("F32", [1], -4, 0)}, "0 <= begin <= end"),
    ({"a": _entry("F32", [3], 0, 8)}, "spans 8 bytes but shape .3,. of F32 needs 12"),
    ({"a": _entry("F32", [1, 2], 0, 8), "b": _entry("F32", [2], 4, 12)}, "overlaps"),
    ({"a": _entry("F32", [1], 0, 4), "b": _entry("F32", [1], 8, 12)}, "gap of 4 bytes"),
    ({"a": _entry("F32", [2], 0, 8), "b": _entry("F32", [4], 8, 24)}, "data is truncated"),
    ({"a": _entry("F32", [10 ** 12], 0, 4 * 10 ** 12)}, "data is truncated"),
], ids=lambda v: str(v)[:40] if isinstance(v, (bytes, dict)) else None)
def test_corrupted_headers(tmp_path, header, match):
    path = _raw(tmp_path / "c", header, b"\0" * 8)
    with pytest.raises(CheckpointError, match=match):
        load(path)
    with pytest.raises(CheckpointError):
        load_safetensors(path)


def test_header_over_100_mb(tmp_path):
    path = _raw(tmp_path / "c", b"{}", length=100_000_001)
    with pytest.raises(CheckpointError, match="over the 100000000-byte limit"):
        load(path)


def test_header_longer_than_file(tmp_path):
    path = _raw(tmp_path / "c", b"{}", length=5000)
    with pytest.raises(CheckpointError, match="claims 5000 bytes but the file has only 2"):
        load(path)


def _with_structure(path, structure, tensors=None):
    tensors = tensors or {}
    header = {"__metadata__": {"format": "ember", "ember.structure": structure}}
    offset, data = 0, b""
    for name, arr in tensors.items():
        header[name] = _entry("F32", list(arr.shape), offset, offset + arr.nbytes)
        offset += arr.nbytes
        data += arr.tobytes()
    return _raw(path, header, data)


@pytest.mark.parametrize("structure, match", [
    ("{", "not valid JSON"),
    ('{"tensor": "missing"}', "refers to a tensor 'missing' the file does not hold"),
    ('{"tensor": 3}', "refers to a tensor 3"),
    ('{"module": "os", "call": "system"}', "expected a tagged object"),
    ('{"pickle": "gASVAAAA"}', "unknown entry"),
    ('[1, 2]', "expected a tagged object"),
    ('{"float": "1e999"}', "unknown entry"),
    ('{"items": [[1]]}', "must be a \\[key, value\\] pair"),
    ('{"items": [[{"list": []}, 1]]}', "dict key must be hashable"),
    ('{"list": [' * 300 + "]}" * 300, "deeper than 200"),
], ids=lambda v: v[:30] if isinstance(v, str) else None)
def test_malformed_structures(tmp_path, structure, match):
    path = _with_structure(tmp_path / "c", structure, {"w": np.ones(2, np.float32)})
    with pytest.raises(CheckpointError, match=match):
        load(path)


def test_pickle_files_are_refused_and_never_run(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"w": Exploit()}))
    with pytest.raises(CheckpointError):
        load(path)
    import torch

    torch.save({"w": torch.ones(2)}, tmp_path / "torch.pt")
    assert load(tmp_path / "torch.pt")["w"].tolist() == [1.0, 1.0]  # read safely (ember.io.pth)
    assert not marker.exists()


def test_unreadable_dtype_in_a_checkpoint_is_clear(tmp_path):
    path = _raw(tmp_path / "c", {"a": _entry("F8_E4M3", [2], 0, 2)}, b"\0\0")
    with pytest.raises(CheckpointError, match="F8_E4M3"):
        load(path)
