"""``ember.nn.utils``: gradient clipping and parameter/vector conversion.

Example:
    >>> import ember
    >>> w = ember.zeros(2, requires_grad=True)
    >>> w.grad = ember.tensor([0.0, 10.0])
    >>> ember.nn.utils.clip_grad_norm_([w], max_norm=2.0).item()
    10.0
"""

from __future__ import annotations

from .clip_grad import clip_grad_norm_, clip_grad_value_
from .convert_parameters import parameters_to_vector, vector_to_parameters

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector",
           "vector_to_parameters"]
