"""TFRecord framing and CRC-32C, the container format of TensorBoard event files.

Each record is ``uint64 length | uint32 masked_crc32c(length) | data | uint32
masked_crc32c(data)``, all little-endian. CRC-32C (Castagnoli, reflected polynomial
0x82F63B78) is computed with a slicing-by-8 table in pure Python: eight table lookups per
eight bytes instead of eight dependent steps.

Example:
    >>> from ember.utils.tensorboard.record import crc32c
    >>> hex(crc32c(b"123456789"))
    '0xe3069283'
"""

from __future__ import annotations

import struct

import numpy as np

_POLY = 0x82F63B78


def _tables() -> list[list[int]]:
    first = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        first.append(c)
    tables = [first]
    for _ in range(7):
        prev = tables[-1]
        tables.append([(prev[n] >> 8) ^ first[prev[n] & 0xFF] for n in range(256)])
    return tables


_T = _tables()
_T0, _T1, _T2, _T3, _T4, _T5, _T6, _T7 = _T


def crc32c(data: bytes, crc: int = 0) -> int:
    """The CRC-32C of ``data`` (continuing from ``crc``)."""
    crc ^= 0xFFFFFFFF
    mv = memoryview(data).cast("B")
    n8 = len(mv) // 8 * 8
    if n8:
        for w in np.frombuffer(mv[:n8], dtype="<u8").tolist():
            w ^= crc
            crc = (_T7[w & 0xFF] ^ _T6[(w >> 8) & 0xFF] ^ _T5[(w >> 16) & 0xFF]
                   ^ _T4[(w >> 24) & 0xFF] ^ _T3[(w >> 32) & 0xFF] ^ _T2[(w >> 40) & 0xFF]
                   ^ _T1[(w >> 48) & 0xFF] ^ _T0[w >> 56])
    for b in mv[n8:]:
        crc = _T0[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC: rotate right by 15 and add a constant (mod 2**32)."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame(data: bytes) -> bytes:
    """One TFRecord: the length, its CRC, the data and its CRC."""
    header = struct.pack("<Q", len(data))
    return (header + struct.pack("<I", masked_crc32c(header)) + data
            + struct.pack("<I", masked_crc32c(data)))
