"""``ember.zoo``: standard architectures with torchvision's layer names, and pretrained weights.

Every model is an ``ember.nn.Module`` whose parameter names and shapes match the reference
implementation's (torchvision for the vision models), so a published state dict maps onto it
one to one. ``list_models()`` names them, ``get_model(name, **kwargs)`` builds one.
"""

from __future__ import annotations

__all__: list[str] = []
