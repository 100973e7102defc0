"""``ember.keras.models``: ``Sequential``, ``Model`` (functional and subclassed) and loading.

Example:
    >>> from ember.keras.models import Sequential
    >>> from ember.keras.layers import Dense
    >>> model = Sequential([Dense(2, input_shape=(3,))])
    >>> model.count_params()
    8
"""

from __future__ import annotations

from .functional import Functional
from .model import Model
from .saving import load_model, model_from_config, model_from_json, save_model
from .sequential import Sequential

__all__ = ["Model", "Sequential", "Functional", "load_model", "save_model", "model_from_json",
           "model_from_config", "MODELS"]

#: The model classes a saved config may name.
MODELS: dict[str, type] = {"Sequential": Sequential, "Functional": Functional}
