"""``TensorBoard``: scalar summaries in TensorBoard's event-file format, written directly.

An event file is a sequence of TFRecords (length, masked CRC-32C of the length, payload,
masked CRC-32C of the payload); each payload is an ``Event`` protocol buffer. ember encodes
the few fields it needs by hand, so no TensorFlow or protobuf package is required.
"""

from __future__ import annotations

import os
import socket
import struct
import time

from .base import Callback

__all__ = ["TensorBoard", "EventFileWriter", "crc32c"]


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum TFRecords use.

    Example:
        >>> from ember.keras.callbacks.tensorboard import crc32c
        >>> hex(crc32c(b"123456789"))
        '0xe3069283'
    """
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def encode_event(wall_time: float, step: int, *, file_version: str | None = None,
                 scalars: dict[str, float] | None = None) -> bytes:
    """An ``Event`` message: wall_time (1), step (2), file_version (3) or summary (5)."""
    msg = b"\x09" + struct.pack("<d", wall_time) + b"\x10" + _varint(step)
    if file_version is not None:
        msg += _field(3, file_version.encode())
    if scalars:
        values = b"".join(
            _field(1, _field(1, tag.encode()) + b"\x15" + struct.pack("<f", value))
            for tag, value in scalars.items())
        msg += _field(5, values)
    return msg


def frame(payload: bytes) -> bytes:
    """One TFRecord around ``payload``."""
    header = struct.pack("<Q", len(payload))
    return (header + struct.pack("<I", _masked(crc32c(header))) + payload
            + struct.pack("<I", _masked(crc32c(payload))))


class EventFileWriter:
    """Append scalar events to ``events.out.tfevents.<time>.<host>`` in ``log_dir``."""

    def __init__(self, log_dir) -> None:
        os.makedirs(log_dir, exist_ok=True)
        now = time.time()
        self.path = os.path.join(log_dir, f"events.out.tfevents.{int(now)}.{socket.gethostname()}")
        self._file = open(self.path, "ab")
        self._file.write(frame(encode_event(now, 0, file_version="brain.Event:2")))
        self._file.flush()

    def add_scalars(self, scalars: dict[str, float], step: int) -> None:
        self._file.write(frame(encode_event(time.time(), step, scalars=scalars)))
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class TensorBoard(Callback):
    """Write the epoch logs as TensorBoard scalars: ``log_dir/train`` and
    ``log_dir/validation``, tags ``epoch_loss``, ``epoch_accuracy`` ... as Keras names them.

    Args:
        log_dir: the folder ``tensorboard --logdir`` is pointed at.
        update_freq: ``"epoch"``, or a number of batches between ``batch_*`` scalars.
    """

    def __init__(self, log_dir="logs", update_freq="epoch") -> None:
        super().__init__()
        if update_freq != "epoch" and (not isinstance(update_freq, int) or update_freq < 1):
            raise ValueError(f"TensorBoard: update_freq must be 'epoch' or a positive number "
                             f"of batches, got {update_freq!r}")
        self.log_dir, self.update_freq = os.fspath(log_dir), update_freq
        self._train = self._val = None
        self._step = 0

    def on_train_begin(self, logs=None) -> None:
        self._train = EventFileWriter(os.path.join(self.log_dir, "train"))
        self._val = None

    def on_train_batch_end(self, batch, logs=None) -> None:
        self._step += 1
        if self.update_freq != "epoch" and self._step % self.update_freq == 0:
            self._train.add_scalars({"batch_" + k: float(v) for k, v in (logs or {}).items()},
                                    self._step)

    def on_epoch_end(self, epoch, logs=None) -> None:
        logs = logs or {}
        train = {"epoch_" + k: float(v) for k, v in logs.items() if not k.startswith("val_")}
        val = {"epoch_" + k[4:]: float(v) for k, v in logs.items() if k.startswith("val_")}
        self._train.add_scalars(train, epoch)
        if val:
            if self._val is None:
                self._val = EventFileWriter(os.path.join(self.log_dir, "validation"))
            self._val.add_scalars(val, epoch)

    def on_train_end(self, logs=None) -> None:
        for writer in (self._train, self._val):
            if writer is not None:
                writer.close()
        self._train = self._val = None
