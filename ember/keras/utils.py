"""``ember.keras.utils``: ``to_categorical``, ``set_random_seed`` and ``plot_history``.

Example:
    >>> from ember.keras.utils import to_categorical
    >>> to_categorical([0, 2], num_classes=3).tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
"""

from __future__ import annotations

import numpy as np

from .. import random as _random
from .callbacks.base import plot_history
from .layers.base import clear_session

__all__ = ["to_categorical", "set_random_seed", "clear_session", "plot_history"]


def to_categorical(y, num_classes: int | None = None, dtype: str = "float32") -> np.ndarray:
    """One-hot rows for integer class ids (a NumPy array, as in Keras).

    Args:
        y: class ids (any shape; a trailing axis of size 1 is dropped).
        num_classes: the number of classes (``max(y) + 1`` by default).
    """
    y = np.asarray(y)
    if y.size and (y.dtype.kind == "f" and not np.all(y == np.round(y))):
        raise ValueError("to_categorical: y must hold integer class ids")
    y = y.astype(np.int64)
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y[..., 0]
    n = int(y.max()) + 1 if num_classes is None else int(num_classes)
    if y.size and (y.min() < 0 or y.max() >= n):
        raise ValueError(f"to_categorical: class ids must be in [0, {n}), found "
                         f"{y.min()}..{y.max()}")
    return np.eye(n, dtype=dtype)[y]


def set_random_seed(seed: int) -> None:
    """Seed ember's default generator (weights, dropout, shuffling) -- Keras's
    ``keras.utils.set_random_seed``."""
    _random.manual_seed(int(seed))
