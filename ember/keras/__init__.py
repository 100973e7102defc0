"""``ember.keras``: Keras's high-level API -- ``Sequential``, ``compile``, ``fit`` -- on ember.

A Keras layer or model here *is* an ``ember.nn.Module`` that wraps ``ember.nn`` layers, and
training runs ember's autograd and ``ember.optim``: one system, Keras's names. Code written
for ``tensorflow.keras`` runs after changing the imports, for what ember covers.

Example:
    >>> import ember
    >>> from ember.keras import Sequential, layers
    >>> _ = ember.manual_seed(0)
    >>> model = Sequential([layers.Dense(4, activation="relu", input_shape=(2,)),
    ...                     layers.Dense(1)])
    >>> model.compile(optimizer="adam", loss="mse")
    >>> x = ember.randn(64, 2)
    >>> history = model.fit(x, x.sum(dim=1, keepdim=True), epochs=2, verbose=0)
    >>> len(history.history["loss"])
    2
"""

from __future__ import annotations

from . import (
               activations,
               applications,
               backend,
               callbacks,
               initializers,
               layers,
               losses,
               metrics,
               models,
               optimizers,
               utils,
)
from .layers import Input
from .models import Model, Sequential, load_model

__all__ = ["Sequential", "Model", "Input", "load_model", "layers", "models", "losses",
           "metrics", "optimizers", "callbacks", "activations", "initializers", "utils",
           "backend", "applications"]
