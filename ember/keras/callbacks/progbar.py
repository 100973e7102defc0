"""The progress bar ``fit`` shows: steps, time per step, loss, metrics and throughput.

On a terminal the line is redrawn in place (at most ten times a second); when the output is
a file or a pipe, one line is printed per epoch, so logs stay readable.
"""

from __future__ import annotations

import sys
import time

from .base import Callback

__all__ = ["ProgbarLogger", "format_logs"]

_WIDTH = 30


def format_logs(logs: dict) -> str:
    """``loss: 0.1234 - accuracy: 0.9612`` (learning rate in scientific notation)."""
    parts = []
    for k, v in logs.items():
        if isinstance(v, float):
            parts.append(f"{k}: {v:.4e}" if k == "learning_rate" else f"{k}: {v:.4f}")
        else:
            parts.append(f"{k}: {v}")
    return " - ".join(parts)


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds >= 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{seconds:.0f}s" if seconds >= 1 else f"{seconds * 1000:.0f}ms"


class ProgbarLogger(Callback):
    """Print training progress; ``fit(verbose=1)`` adds one (``verbose=2``: a line per epoch).

    Args:
        stream: where to write (``sys.stdout`` at the time of each write by default).
    """

    def __init__(self, stream=None) -> None:
        super().__init__()
        self._stream = stream
        self._last_draw = 0.0

    @property
    def stream(self):
        return self._stream or sys.stdout

    def _live(self) -> bool:
        if self.params.get("verbose", 1) != 1:
            return False
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self._epoch = epoch
        self._start = time.perf_counter()
        self._first_step = (logs or {}).get("resumed_at_batch", 0)
        self._done = self._first_step
        epochs = self.params.get("epochs")
        note = f" (resumed at batch {self._first_step})" if self._first_step else ""
        self._write(f"Epoch {epoch + 1}/{epochs}{note}\n" if epochs else "")

    def on_train_batch_end(self, batch, logs=None) -> None:
        self._done = batch + 1
        self._logs = logs or {}
        if not self._live():
            return
        now = time.perf_counter()
        steps = self.params.get("steps")
        if now - self._last_draw < 0.1 and self._done != steps:
            return
        self._last_draw = now
        self._write("\r" + self._line(self._logs, final=False))

    def on_epoch_end(self, epoch, logs=None) -> None:
        line = self._line(logs or {}, final=True)
        self._write(("\r" if self._live() else "") + line + "\n")

    def _line(self, logs: dict, final: bool) -> str:
        steps = self.params.get("steps")
        done = self._done
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        ran = max(done - self._first_step, 1)
        per_step = elapsed / ran
        if steps:
            filled = int(_WIDTH * done / steps)
            bar = "=" * filled + (">" if filled < _WIDTH else "") + "." * (_WIDTH - filled - 1)
            head = f"{done:{len(str(steps))}d}/{steps} [{bar[:_WIDTH]}]"
        else:
            head = f"{done}"
        timing = _duration(elapsed) if final or not steps else \
            "ETA: " + _duration(per_step * (steps - done))
        parts = [head, f"{timing} {_duration(per_step)}/step"]
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val = {k: v for k, v in logs.items() if k.startswith("val_")}
        if train:
            parts.append(format_logs(train))
        batch_size, samples = self.params.get("batch_size"), self.params.get("samples")
        if batch_size:
            seen = (done - self._first_step) * batch_size
            if samples and done == steps:
                seen = samples - self._first_step * batch_size
            parts.append(f"{seen / elapsed:,.0f} samples/s")
        if val:
            parts.append(format_logs(val))
        return " - ".join(parts)

    def _write(self, text: str) -> None:
        if text:
            self.stream.write(text)
            self.stream.flush()
