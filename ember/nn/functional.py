"""``ember.nn.functional``: the functional forms of layers, activations and losses.

The functions live with their primitives in ``ember/ops`` (``nn_ops``: activations,
softmax, normalisation, dropout, embedding, losses; ``conv``: convolution and pooling);
this module gathers them under PyTorch's name.

Example:
    >>> import ember
    >>> import ember.nn.functional as F
    >>> F.relu(ember.tensor([-1.0, 2.0]))
    tensor([0., 2.])
"""

from __future__ import annotations

from ..ops.conv import *  # noqa: F403
from ..ops.conv3d import *  # noqa: F403
from ..ops.elementwise import relu, sigmoid, tanh  # noqa: F401
from ..ops.index import one_hot  # noqa: F401
from ..ops.nn_ops import *  # noqa: F403
from ..ops.normalization_more import *  # noqa: F403
from ..ops.resample import *  # noqa: F403
from ..ops.sampling import *  # noqa: F403
from ..ops.shape import pad  # noqa: F401
