"""Transfer learning as in seed 004: a pretrained base, frozen, with a new head on top.

No ImageNet weights ship with ember, so the "pretrained model" is trained here: a small CNN
learns to tell the ten digits apart on half of scikit-learn's digits. Then, as the seed does
with VGG16, its layers are frozen (``layer.trainable = False``), a new head (Flatten,
Dense 256, softmax) is added with the functional API, and only the head is trained -- for a
new task, "is the digit odd or even?", from just 10 labelled images of the other half. For
comparison the same network is trained from scratch on those 10 images.

    python examples/transfer_learning.py           # ~10 s
    python examples/transfer_learning.py --quick   # a few seconds
"""

import argparse

import numpy as np

import ember
from ember.data.datasets import digits
from ember.keras.layers import Conv2D, Dense, Flatten, MaxPooling2D
from ember.keras.models import Model, Sequential


def make_base() -> Sequential:
    """The convolutional part of the seed CNN (padding="same" for 8x8 digits)."""
    return Sequential([Conv2D(32, 3, activation="relu", padding="same", input_shape=(8, 8, 1)),
                       MaxPooling2D(2),
                       Conv2D(64, 3, activation="relu", padding="same"),
                       MaxPooling2D(2)])


def add_head(base_model, classes: int):
    # the seed's code, with our base model in place of VGG16 and 2 classes instead of 10
    x = base_model.output
    x = Flatten()(x)
    x = Dense(256, activation='relu')(x)
    output = Dense(classes, activation='softmax')(x)
    model = Model(inputs=base_model.input, outputs=output)
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy',
                  metrics=['accuracy'])
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds")
    args = parser.parse_args()
    ember.manual_seed(0)
    x, y = digits().arrays
    x = x.transpose(0, 2, 3, 1)                       # channels last, as Keras expects
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    source, target = np.arange(300 if args.quick else 900), np.arange(900, len(x))
    labelled = np.array([target[y[target] == digit][0] for digit in range(10)])
    test = np.setdiff1d(target, labelled)
    parity = y % 2
    epochs = 1 if args.quick else 8

    # 1. "pretrain" the base on the ten-digit task, with a temporary head
    base_model = make_base()
    pretrain = Sequential([base_model, Flatten(), Dense(10, activation="softmax")])
    pretrain.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                     metrics=["accuracy"])
    pretrain.fit(x[source], y[source], epochs=epochs, batch_size=32, verbose=0)
    acc = pretrain.evaluate(x[test], y[test], verbose=0)[1]
    print(f"pretrained base: digit accuracy {acc:.3f} on the other half")

    # 2. freeze it (the seed's loop) and train a new head for odd/even on 10 images
    for layer in base_model.layers:
        layer.trainable = False
    frozen = [w.copy() for w in base_model.get_weights()]
    model = add_head(base_model, classes=2)
    model.summary()
    model.fit(x[labelled], parity[labelled], epochs=epochs * 5, batch_size=16, verbose=0)
    unchanged = all(np.array_equal(a, b) for a, b in zip(frozen, base_model.get_weights()))
    print(f"frozen base unchanged by training: {unchanged}")
    transfer = model.evaluate(x[test], parity[test], verbose=0)[1]

    # 3. the same network trained from scratch on the same 10 images
    scratch = add_head(make_base(), classes=2)
    scratch.fit(x[labelled], parity[labelled], epochs=epochs * 5, batch_size=16, verbose=0)
    alone = scratch.evaluate(x[test], parity[test], verbose=0)[1]
    print(f"odd/even from 10 labelled images, tested on {len(test)}: "
          f"transfer {transfer:.3f}, from scratch {alone:.3f}")


if __name__ == "__main__":
    main()
