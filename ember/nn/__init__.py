"""``ember.nn``: modules, parameters, layers and losses with PyTorch's names.

Example:
    >>> import ember
    >>> model = ember.nn.Sequential(ember.nn.Linear(4, 8), ember.nn.ReLU(), ember.nn.Linear(8, 2))
    >>> model(ember.randn(3, 4)).shape
    (3, 2)
"""

from __future__ import annotations

from . import functional, init, utils  # noqa: F401
from .containers import *  # noqa: F403
from .layers.activation import *  # noqa: F403
from .layers.attention import *  # noqa: F403
from .layers.conv import *  # noqa: F403
from .layers.dropout import *  # noqa: F403
from .layers.embedding import *  # noqa: F403
from .layers.flatten import *  # noqa: F403
from .layers.folding import *  # noqa: F403
from .layers.linear import *  # noqa: F403
from .layers.loss import *  # noqa: F403
from .layers.normalization import *  # noqa: F403
from .layers.padding import *  # noqa: F403
from .layers.pooling import *  # noqa: F403
from .layers.rnn import *  # noqa: F403
from .layers.upsampling import *  # noqa: F403
from .module import *  # noqa: F403
from .parameter import *  # noqa: F403
