"""compile(jit_compile=True) trains through ember.jit and gives the eager run's losses."""

import numpy as np

import ember
from ember.keras.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from ember.keras.models import Sequential


def _fit(jit_compile):
    ember.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((96, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, 10, 96)
    model = Sequential([Conv2D(8, (3, 3), activation="relu", input_shape=(8, 8, 1)),
                        MaxPooling2D((2, 2)), Flatten(), Dense(16, activation="relu"),
                        Dropout(0.2), Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], jit_compile=jit_compile)
    history = model.fit(x, y, batch_size=32, epochs=3, verbose=0)
    return model, history.history


def test_jit_compiled_fit_equals_eager_fit():
    eager_model, eager = _fit(False)
    jit_model, jitted = _fit(True)
    assert eager["loss"] == jitted["loss"]
    assert eager["accuracy"] == jitted["accuracy"]
    assert jit_model._jit_train is not None and eager_model._jit_train is None
    for a, b in zip(eager_model.get_weights(), jit_model.get_weights()):
        np.testing.assert_array_equal(a, b)
