"""Seed 004's Keras scripts run on ember with only their imports changed."""

from pathlib import Path

import numpy as np

# The two scripts exactly as seed 004 gives them (with TensorFlow's imports).
SEED_CNN = """\
import tensorflow as tf
from tensorflow.keras.models import Sequential
from tensorflow.keras.layers import Conv2D, MaxPooling2D, Flatten, Dense

# CNN 모델 정의
model = Sequential()
model.add(Conv2D(32, (3, 3), activation='relu', input_shape=(28, 28, 1)))
model.add(MaxPooling2D((2, 2)))
model.add(Conv2D(64, (3, 3), activation='relu'))
model.add(MaxPooling2D((2, 2)))
model.add(Conv2D(64, (3, 3), activation='relu'))
model.add(Flatten())
model.add(Dense(64, activation='relu'))
model.add(Dense(10, activation='softmax'))

# 모델 컴파일
model.compile(optimizer='adam',
              loss='categorical_crossentropy',
              metrics=['accuracy'])
"""

SEED_RNN = """\
import tensorflow as tf
from tensorflow.keras.models import Sequential
from tensorflow.keras.layers import Embedding, LSTM, Dense

# RNN 모델 정의
model = Sequential()
model.add(Embedding(input_dim=1000, output_dim=128, input_length=20))
model.add(LSTM(128))
model.add(Dense(1000, activation='softmax'))

# 모델 컴파일
model.compile(optimizer='adam', loss='categorical_crossentropy')
"""

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def port(source: str) -> str:
    """The only change: the imports name ember instead of tensorflow."""
    return source.replace("import tensorflow as tf", "import ember as tf").replace(
        "tensorflow.keras", "ember.keras")


def run(source: str) -> dict:
    namespace: dict = {}
    exec(compile(port(source), "<seed 004>", "exec"), namespace)
    return namespace


def test_seed_cnn_script_builds_compiles_and_trains():
    model = run(SEED_CNN)["model"]
    assert model.output_shape == (None, 10) and model.count_params() == 93322
    rng = np.random.default_rng(0)
    x = rng.random((64, 28, 28, 1)).astype(np.float32)
    y = np.eye(10)[rng.integers(0, 10, 64)]
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert set(history.history) == {"loss", "accuracy"}


def test_seed_rnn_script_builds_compiles_and_trains():
    model = run(SEED_RNN)["model"]
    assert model.output_shape == (None, 1000)
    assert model.count_params() == 1000 * 128 + 4 * (128 * 128 * 2 + 2 * 128) + 128 * 1000 + 1000
    rng = np.random.default_rng(0)
    x = rng.integers(0, 1000, (32, 20))
    y = np.eye(1000)[x[:, -1]]  # predict the last word again: learnable in a few steps
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_the_examples_contain_the_seed_scripts_verbatim():
    for source, name in ((SEED_CNN, "seed_cnn_keras.py"), (SEED_RNN, "seed_rnn_keras.py")):
        text = (EXAMPLES / name).read_text(encoding="utf-8")
        assert port(source) in text, name
