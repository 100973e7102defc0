"""The primitives behind ``ember.nn.functional``, gathered from their family modules.

``activation`` (activations, softmax), ``layer_ops`` (dropout, embedding, linear, attention),
``normalization`` (batch/layer/group norm) and ``loss``. Fused primitives are used where they
buy numerical stability or measured speed; everything else is a composite of existing ops.
"""

from __future__ import annotations

from ._nn_common import _check_float, _check_same_dtype  # noqa: F401
from .activation import *  # noqa: F403
from .activation import __all__ as _activation
from .layer_ops import *  # noqa: F403
from .layer_ops import Embedding, Linear  # noqa: F401  (primitives the layers apply directly)
from .layer_ops import __all__ as _layer_ops
from .loss import *  # noqa: F403
from .loss import __all__ as _loss
from .normalization import *  # noqa: F403
from .normalization import __all__ as _normalization

__all__ = [*_activation, *_layer_ops, *_normalization, *_loss]
