"""cuDNN switches: ``ember.backends.cudnn.enabled``, ``.benchmark``, ``.deterministic``.

- ``enabled`` (True): convolutions on CUDA use cuDNN when CuPy has its bindings; when False,
  or when cuDNN is missing, they use im2col + cuBLAS (with a one-time warning for the latter).
- ``benchmark`` (False): let cuDNN time its algorithms on the first call of each input shape
  and reuse the fastest (CuPy's cache is keyed by shapes, strides, dtype and layout). Worth it
  when shapes repeat, as in training with a fixed batch size.
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
    """``(module, "")``: CuPy's high-level cuDNN module, or ``(None, why not)``."""
    if "mod" in _CACHE:
        return _CACHE["mod"], _CACHE["why"]
    from ..backend import try_backend

    mod, why = None, ""
    backend, why = try_backend("cuda")
    if backend is not None:
        mod, why = _import_cudnn()
    _CACHE["mod"], _CACHE["why"] = mod, why
    return mod, why


def _import_cudnn():
    errors = []
    for name in ("cupyx.cudnn", "cupy.cudnn"):
        try:
            import importlib

            mod = importlib.import_module(name)
            mod.convolution_forward  # noqa: B018 - the binding ember calls
            import cupy

            cupy.cuda.cudnn.getVersion()
            return mod, ""
        except (ImportError, AttributeError, RuntimeError, OSError) as exc:
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
    return None, "CuPy has no usable cuDNN bindings (" + "; ".join(errors) + ")"


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
    if not is_available():
        return None
    import cupy

    return int(cupy.cuda.cudnn.getVersion())
