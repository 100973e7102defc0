"""TensorBoard logging: ``SummaryWriter`` writes event files that ``tensorboard`` reads.

Example:
    >>> import tempfile
    >>> from ember.utils.tensorboard import SummaryWriter
    >>> w = SummaryWriter(tempfile.mkdtemp())
    >>> w.add_scalar("loss", 0.5, 1)
    >>> w.close()
"""

from __future__ import annotations

from .writer import SummaryWriter

__all__ = ["SummaryWriter"]
