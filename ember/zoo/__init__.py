"""``ember.zoo``: standard architectures with torchvision's layer names, and pretrained weights.

Every model is an ``ember.nn.Module`` whose parameter names and shapes match the reference
implementation's (torchvision for the vision models), so a published state dict maps onto it
one to one. ``list_models()`` names them, ``get_model(name, **kwargs)`` builds one, and
``lenet5(pretrained=True)`` / ``seed_cnn(pretrained=True)`` load weights ember ships.

Example:
    >>> import ember
    >>> "resnet50" in ember.zoo.list_models()
    True
    >>> ember.zoo.get_model("vgg11", num_classes=10, hidden=64)(ember.randn(1, 3, 32, 32)).shape
    (1, 10)
"""

from __future__ import annotations

from .models import *  # noqa: F403
from .models import __all__ as _model_names
from .pretrained import seed_cnn
from .registry import MODELS, ModelInfo, get_model, list_models, model_info
from .transfer import extract_features, freeze, param_groups, replace_head, unfreeze
from .weights import LoadReport, WeightsMismatchError, load_weights

__all__ = [*_model_names, "seed_cnn", "MODELS", "ModelInfo", "get_model", "list_models",
           "model_info"]
__all__ += ["load_weights", "LoadReport", "WeightsMismatchError", "freeze", "unfreeze",
            "param_groups", "replace_head", "extract_features"]
