"""oneDNN switch for CPU convolutions: ``ember.backends.onednn.enabled`` (as PyTorch's
``torch.backends.mkldnn``).

- ``enabled`` (True): float32 convolutions on the CPU (forward, input and weight gradients,
  and ``conv_transpose2d``) run through oneDNN's kernels when oneDNN is installed
  (``pip install 'ember[onednn]'``); when False, or when oneDNN is missing, they run on
  ember's im2col + NumPy BLAS kernels. Other dtypes always use the NumPy kernels. The
  environment variable ``EMBER_ONEDNN=0`` sets it False at import.

Example:
    >>> import ember
    >>> isinstance(ember.backends.onednn.is_available(), bool)
    True
    >>> ember.backends.onednn.enabled = False  # the NumPy kernels, e.g. to compare
    >>> ember.backends.onednn.enabled = True
"""

from __future__ import annotations

import os

enabled: bool = os.environ.get("EMBER_ONEDNN", "1") != "0"


def is_available() -> bool:
    """Whether CPU convolutions can run through oneDNN on this machine.

    Example:
        >>> import ember
        >>> isinstance(ember.backends.onednn.is_available(), bool)
        True
    """
    from ..backend import onednn

    return onednn.load()[0] is not None


def why_unavailable() -> str:
    """Why oneDNN cannot be used ("" when it can).

    Example:
        >>> import ember
        >>> isinstance(ember.backends.onednn.why_unavailable(), str)
        True
    """
    from ..backend import onednn

    return onednn.load()[1]


def version() -> tuple | None:
    """oneDNN's (major, minor, patch), or None when it is not available.

    Example:
        >>> import ember
        >>> v = ember.backends.onednn.version()
        >>> v is None or v[0] == 3
        True
    """
    from ..backend import onednn

    lib = onednn.load()[0]
    return None if lib is None else lib.version
