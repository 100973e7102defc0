"""Backend switches, as PyTorch's ``torch.backends``: ``ember.backends.cudnn``.

(Not to be confused with ``ember.backend``, ember's internal array backends.)

Example:
    >>> import ember
    >>> ember.backends.cudnn.benchmark
    False
"""

from . import cudnn

__all__ = ["cudnn"]
