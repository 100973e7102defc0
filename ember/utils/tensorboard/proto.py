"""The protocol-buffer messages of TensorBoard event files, encoded by hand.

Only the wire format is needed to write: varints, 64/32-bit little-endian numbers and
length-delimited fields. Each function here returns the bytes of one message; the field
numbers come from TensorFlow's ``event.proto``, ``summary.proto``, ``tensor.proto``,
``graph.proto``, ``node_def.proto`` and ``attr_value.proto``.

Example:
    >>> from ember.utils.tensorboard import proto
    >>> proto.varint(300).hex()
    'ac02'
    >>> proto.field_bytes(1, b"hi").hex()
    '0a026869'
"""

from __future__ import annotations

import struct

import numpy as np

# TensorFlow DataType enum values
DT_FLOAT, DT_DOUBLE, DT_INT32, DT_UINT8, DT_INT16, DT_INT8, DT_STRING = 1, 2, 3, 4, 5, 6, 7
DT_INT64, DT_BOOL, DT_BFLOAT16, DT_HALF = 9, 10, 14, 19
DTYPES = {"float32": DT_FLOAT, "float64": DT_DOUBLE, "int32": DT_INT32, "uint8": DT_UINT8,
          "int16": DT_INT16, "int8": DT_INT8, "int64": DT_INT64, "bool": DT_BOOL,
          "bfloat16": DT_BFLOAT16, "float16": DT_HALF}


def varint(n: int) -> bytes:
    """Base-128 varint; negative numbers as their 64-bit two's complement (10 bytes)."""
    n &= (1 << 64) - 1
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return varint((field << 3) | wire)


def field_varint(field: int, n: int) -> bytes:
    """An int32/int64/enum/bool field."""
    return _key(field, 0) + varint(int(n))


def field_double(field: int, x: float) -> bytes:
    return _key(field, 1) + struct.pack("<d", x)


def field_float(field: int, x: float) -> bytes:
    return _key(field, 5) + struct.pack("<f", x)


def field_bytes(field: int, data: bytes | str) -> bytes:
    """A string, bytes or embedded-message field."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return _key(field, 2) + varint(len(data)) + data


def field_packed_doubles(field: int, values) -> bytes:
    return field_bytes(field, np.asarray(values, dtype="<f8").tobytes())


SESSION_START = 1  # SessionLog.SessionStatus.START


def _present_bytes(*fields: tuple) -> bytes:
    """The length-delimited ``(number, value)`` fields whose value is not None, in order."""
    return b"".join(field_bytes(n, v) for n, v in fields if v is not None)


def event(wall_time: float, step: int = 0, *, file_version: str | None = None,
          graph_def: bytes | None = None, summary: bytes | None = None,
          session_status: int | None = None) -> bytes:
    """``Event``: wall_time (1), step (2), file_version (3), graph_def (4), summary (5),
    session_log (7: SessionLog with status 1)."""
    out = field_double(1, wall_time)
    if step:
        out += field_varint(2, step)
    out += _present_bytes((3, file_version), (4, graph_def), (5, summary))
    if session_status is not None:
        out += field_bytes(7, field_varint(1, session_status))
    return out


def summary(*values: bytes) -> bytes:
    """``Summary``: repeated Value (1)."""
    return b"".join(field_bytes(1, v) for v in values)


def value(tag: str, *, simple_value: float | None = None, image: bytes | None = None,
          histo: bytes | None = None, tensor: bytes | None = None,
          metadata: bytes | None = None) -> bytes:
    """``Summary.Value``: tag (1), simple_value (2), image (4), histo (5), tensor (8),
    metadata (9)."""
    out = field_bytes(1, tag)
    if simple_value is not None:
        out += field_float(2, simple_value)
    return out + _present_bytes((4, image), (5, histo), (8, tensor), (9, metadata))


def image(height: int, width: int, colorspace: int, png: bytes) -> bytes:
    """``Summary.Image``: height (1), width (2), colorspace (3), encoded_image_string (4)."""
    return (field_varint(1, height) + field_varint(2, width) + field_varint(3, colorspace)
            + field_bytes(4, png))


def histogram(vmin: float, vmax: float, num: float, total: float, sum_squares: float,
              bucket_limit, bucket) -> bytes:
    """``HistogramProto``: min, max, num, sum, sum_squares (1-5), bucket_limit (6),
    bucket (7)."""
    return (field_double(1, vmin) + field_double(2, vmax) + field_double(3, num)
            + field_double(4, total) + field_double(5, sum_squares)
            + field_packed_doubles(6, bucket_limit) + field_packed_doubles(7, bucket))


def metadata(plugin_name: str, content: bytes = b"", data_class: int = 0) -> bytes:
    """``SummaryMetadata`` with ``PluginData`` (1: plugin_name 1, content 2), data_class (4)."""
    plugin = field_bytes(1, plugin_name) + (field_bytes(2, content) if content else b"")
    return field_bytes(1, plugin) + (field_varint(4, data_class) if data_class else b"")


def tensor_shape(shape) -> bytes:
    """``TensorShapeProto``: repeated Dim (2) with size (1); unknown sizes as -1."""
    return b"".join(field_bytes(2, field_varint(1, d if isinstance(d, int) else -1))
                    for d in shape)


def scalar_tensor(x: float, double: bool = False) -> bytes:
    """``TensorProto`` of one DT_FLOAT (float_val, 5) or DT_DOUBLE (double_val, 6), shape []."""
    if double:
        return field_varint(1, DT_DOUBLE) + field_bytes(2, b"") + field_bytes(
            6, struct.pack("<d", x))
    return field_varint(1, DT_FLOAT) + field_bytes(2, b"") + field_bytes(5, struct.pack("<f", x))


def string_tensor(strings) -> bytes:
    """``TensorProto`` of DT_STRING: dtype (1), tensor_shape (2), string_val (8)."""
    strings = [s.encode("utf-8") if isinstance(s, str) else s for s in strings]
    return (field_varint(1, DT_STRING) + field_bytes(2, tensor_shape([len(strings)]))
            + b"".join(field_bytes(8, s) for s in strings))


def attr_value(*, s: bytes | str | None = None, i: int | None = None,
               dtype: int | None = None, shapes=None) -> bytes:
    """``AttrValue``: s (2), i (3), type (6), or list (1) of shapes (7)."""
    if s is not None:
        return field_bytes(2, s)
    if i is not None:
        return field_varint(3, i)
    if dtype is not None:
        return field_varint(6, dtype)
    return field_bytes(1, b"".join(field_bytes(7, tensor_shape(sh)) for sh in shapes))


def node_def(name: str, op: str, inputs=(), attrs: dict | None = None,
             device: str = "") -> bytes:
    """``NodeDef``: name (1), op (2), input (3), device (4), attr (5, map of AttrValue)."""
    out = field_bytes(1, name) + field_bytes(2, op)
    out += b"".join(field_bytes(3, i) for i in inputs)
    if device:
        out += field_bytes(4, device)
    for key, val in (attrs or {}).items():
        out += field_bytes(5, field_bytes(1, key) + field_bytes(2, val))
    return out


def graph_def(nodes, producer: int = 22) -> bytes:
    """``GraphDef``: repeated NodeDef (1), versions (4: VersionDef producer 1)."""
    return b"".join(field_bytes(1, n) for n in nodes) + field_bytes(4, field_varint(1, producer))
