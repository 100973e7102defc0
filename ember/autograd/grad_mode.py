"""Switches for gradient recording: ``no_grad``, ``enable_grad``, ``inference_mode``.

The flag is thread-local, as in PyTorch, so a data-loading thread that runs under
``no_grad`` never turns recording off for the training loop.

Example:
    >>> import ember
    >>> x = ember.ones(3, requires_grad=True)
    >>> with ember.no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
"""

from __future__ import annotations

import functools
import threading


class _State(threading.local):
    grad_enabled = True
    anomaly = False
    tracer = None  # set by ember.graph while tracing: sees every op, in-place write and read
    dispatch = None  # set by ember.autograd.dispatch: profiler, autocast (one check in apply)
    profiler = None  # set by ember.profiler.profile: times backward vjps and module calls


state = _State()


def is_grad_enabled() -> bool:
    """Whether operations are being recorded for backward in this thread."""
    return state.grad_enabled


class _GradSwitch:
    """Context manager and decorator that sets the grad flag and restores it on exit."""

    mode = True

    def __enter__(self):
        self._prev = state.grad_enabled
        state.grad_enabled = self.mode
        return self

    def __exit__(self, *exc):
        state.grad_enabled = self._prev
        return False

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = state.grad_enabled
            state.grad_enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                state.grad_enabled = prev

        return wrapper


class no_grad(_GradSwitch):  # noqa: N801
    """Turn gradient recording off inside the block (or the decorated function)."""

    mode = False


class enable_grad(_GradSwitch):  # noqa: N801
    """Turn gradient recording on inside the block, e.g. within ``no_grad``."""

    mode = True


class inference_mode(_GradSwitch):  # noqa: N801
    """Like ``no_grad``: nothing is recorded (``inference_mode(False)`` records again)."""

    def __init__(self, mode: bool = True) -> None:
        self.mode = not mode


class set_grad_enabled(_GradSwitch):  # noqa: N801
    """Set recording on or off: ``with ember.set_grad_enabled(is_train): ...``."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self._prev = state.grad_enabled
        state.grad_enabled = self.mode  # takes effect at once, as a plain call does in PyTorch

    def __enter__(self):
        return self
