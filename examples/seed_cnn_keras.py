"""Seed 004's CNN, run with ember.keras: the seed's code below is unchanged except that its
imports say ``ember`` where they said ``tensorflow``.

The seed builds and compiles the model for 28x28 grey images (MNIST). MNIST is not bundled
here, so the data is scikit-learn's handwritten digits (8x8) scaled up 3x and padded to 28x28;
the labels are one-hot, as ``categorical_crossentropy`` expects.

    python examples/seed_cnn_keras.py           # ~1 min: 5 epochs, test accuracy printed
    python examples/seed_cnn_keras.py --quick   # a few seconds
"""

# ruff: noqa: I001
import argparse

import numpy as np

# --- seed 004, CNN (only the imports changed: tensorflow -> ember) ---------------------------
import ember as tf
from ember.keras.models import Sequential
from ember.keras.layers import Conv2D, MaxPooling2D, Flatten, Dense

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
# --- end of the seed's code ------------------------------------------------------------------


def digits_28x28():
    """scikit-learn's digits as 28x28x1 images in [0, 1] and one-hot labels."""
    from ember.data.datasets import digits
    from ember.keras.utils import to_categorical

    x, y = digits().arrays                                  # (1797, 1, 8, 8), (1797,)
    x = np.kron(x[:, 0], np.ones((3, 3), np.float32))       # 8x8 -> 24x24
    x = np.pad(x, ((0, 0), (2, 2), (2, 2)))[..., None]      # -> 28x28x1
    return x, to_categorical(y, 10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds on a subset")
    args = parser.parse_args()
    tf.manual_seed(0)
    x, y = digits_28x28()
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    n_test = 360
    x_train, y_train, x_test, y_test = x[n_test:], y[n_test:], x[:n_test], y[:n_test]
    if args.quick:
        x_train, y_train, x_test, y_test = x_train[:256], y_train[:256], x_test[:64], y_test[:64]
    model.summary()
    model.fit(x_train, y_train, batch_size=32, epochs=1 if args.quick else 5,
              validation_split=0.1, verbose=2)
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    print(f"test loss {loss:.4f}, test accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
