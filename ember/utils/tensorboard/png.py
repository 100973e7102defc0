"""A minimal PNG encoder (8-bit grayscale, RGB or RGBA) on zlib.

A PNG is the signature, an ``IHDR`` chunk (size, bit depth, colour type), ``IDAT`` chunks
holding the zlib-compressed scanlines (each prefixed by a filter byte; here filter 0, none)
and ``IEND``. Each chunk carries a CRC-32 of its type and data.

Example:
    >>> import numpy as np
    >>> from ember.utils.tensorboard.png import encode_png
    >>> data = encode_png(np.zeros((2, 3, 3), dtype=np.uint8))
    >>> data[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

_COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type (gray, gray+a, RGB, RGBA)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def encode_png(pixels: np.ndarray, level: int = 6) -> bytes:
    """PNG bytes of a ``(H, W)`` or ``(H, W, C)`` uint8 array, C in 1-4.

    Args:
        pixels: the image, row-major, uint8.
        level: zlib compression level (0-9).
    """
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8:
        raise TypeError(f"encode_png: expects uint8 pixels, got {pixels.dtype}; scale and "
                        "convert first")
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.ndim != 3 or pixels.shape[2] not in _COLOUR_TYPES or 0 in pixels.shape:
        raise ValueError(f"encode_png: expects a non-empty (H, W) or (H, W, C) image with C in "
                         f"1-4, got shape {pixels.shape}")
    height, width, channels = pixels.shape
    rows = np.empty((height, 1 + width * channels), dtype=np.uint8)
    rows[:, 0] = 0  # filter type "none" for every scanline
    rows[:, 1:] = pixels.reshape(height, width * channels)
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOUR_TYPES[channels], 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(rows.tobytes(), level)) + _chunk(b"IEND", b""))
