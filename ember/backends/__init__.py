"""Backend switches, as PyTorch's ``torch.backends``: ``ember.backends.cudnn`` and
``ember.backends.onednn``.

(Not to be confused with ``ember.backend``, ember's internal array backends.)

Example:
    >>> import ember
    >>> ember.backends.cudnn.benchmark
    False
"""

from . import cudnn, onednn

__all__ = ["cudnn", "onednn"]
