"""cuDNN switches: ``ember.backends.cudnn.enabled``, ``.benchmark``, ``.deterministic``.

- ``enabled`` (True): convolutions on CUDA use cuDNN (its C API) when it is installed; when False,
  or when cuDNN is missing, they use im2col + cuBLAS (with a one-time warning for the latter).
- ``benchmark`` (False): let cuDNN time its algorithms on the first call of each input shape
  and reuse the fastest (ember caches the choice by shapes, strides, dtype and geometry);
  without it, cuDNN's heuristics choose. Worth it when shapes repeat, as in training with a
  fixed batch size.
- ``deterministic`` (False): use only deterministic backward algorithms.

Example:
    >>> import ember
    >>> ember.backends.cudnn.benchmark = True
    >>> ember.backends.cudnn.benchmark
    True
    >>> ember.backends.cudnn.benchmark = False
"""

from __future__ import annotations

enabled: bool = True
benchmark: bool = False
deterministic: bool = False

_CACHE: dict = {}


def _load():
    """``(library, "")``: cuDNN's C API (``ember.backend.cudnn_ctypes``), or ``(None, why)``."""
    if "mod" in _CACHE:
        return _CACHE["mod"], _CACHE["why"]
    from ..backend import try_backend

    mod = None
    backend, why = try_backend("cuda")
    if backend is not None:
        from ..backend import cudnn_ctypes

        mod, why = cudnn_ctypes.load()
    _CACHE["mod"], _CACHE["why"] = mod, why
    return mod, why


def _module():
    return _load()[0]


def is_available() -> bool:
    """Whether CUDA convolutions can run through cuDNN on this machine.

    Example:
        >>> import ember
        >>> isinstance(ember.backends.cudnn.is_available(), bool)
        True
    """
    return _load()[0] is not None


def why_unavailable() -> str:
    """Why cuDNN cannot be used ("" when it can)."""
    return _load()[1]


def version() -> int | None:
    """cuDNN's version number (e.g. 90100 for 9.1.0), or None without cuDNN."""
    lib = _load()[0]
    return None if lib is None else lib.version()
