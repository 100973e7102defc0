"""Automatic mixed precision: ``autocast`` and ``GradScaler`` (PyTorch's ``torch.amp``).

Example:
    >>> import ember
    >>> with ember.amp.autocast("cpu"):
    ...     y = ember.ones(2, 3) @ ember.ones(3, 2)
    >>> y.dtype
    ember.bfloat16
"""

from .autocast_mode import autocast, get_autocast_dtype, is_autocast_enabled
from .grad_scaler import GradScaler

__all__ = ["GradScaler", "autocast", "get_autocast_dtype", "is_autocast_enabled"]
