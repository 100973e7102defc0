"""``ember.keras.backend``: session helpers (layer-name counters).

Example:
    >>> from ember.keras import backend
    >>> backend.floatx()
    'float32'
"""

from __future__ import annotations

from .layers.base import clear_session

__all__ = ["clear_session", "floatx"]


def floatx() -> str:
    """The default float type of Keras layers and of the arrays ``fit`` converts."""
    return "float32"
