"""Transfer learning with ember.zoo's tools: pre-train on digits 0-4, reuse for digits 5-9.

The images are scikit-learn's 8x8 digits placed at a random spot of a 12x12 canvas, as if the
camera jittered. A small CNN trained on a few images cannot learn that a digit is the same
wherever it sits; a base trained on plenty of images of *other* digits has learned it.

1. A small CNN learns to tell the digits 0-4 apart (~900 images, each at 3 random places).
2. Its convolutional base is frozen (``ember.zoo.freeze``), its head replaced by a new one
   for the five classes 5-9 (``replace_head``), the base's features computed once
   (``extract_features``) and only the head trained on them -- from a few labelled images
   of each new digit.
3. For comparison the same network is trained from scratch on those same few images.

Both are scored on every other image of the digits 5-9. (On the centred 8x8 digits a CNN
trained from scratch on 25 images already reaches about 90%, and features of the digits 0-4
do not beat it: transfer pays where the base knows something the few samples cannot teach.)

    python examples/transfer_digits.py           # ~30 s
    python examples/transfer_digits.py --quick   # ~10 s
"""

from __future__ import annotations

import argparse

import numpy as np

import ember
from ember import nn
from ember.data.datasets import digits
from ember.zoo import extract_features, freeze, replace_head


def make_cnn(classes: int) -> nn.Sequential:
    """Conv-BN-ReLU-pool, conv-ReLU-pool, flatten: the base (indices 0-7); then the head."""
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                         nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(),
                         nn.Linear(32 * 3 * 3, classes))


def jitter(images: np.ndarray, rng: np.random.Generator, size: int = 12) -> np.ndarray:
    """Each 8x8 image at a random place of a ``size`` x ``size`` blank canvas."""
    out = np.zeros((len(images), 1, size, size), np.float32)
    for i, (r, c) in enumerate(rng.integers(0, size - 7, (len(images), 2))):
        out[i, :, r:r + 8, c:c + 8] = images[i]
    return out


def fit(model, x: np.ndarray, y: np.ndarray, epochs: int, lr: float, batch: int, seed: int):
    """Adam on cross-entropy over shuffled minibatches of the trainable parameters."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = ember.optim.Adam(params, lr=lr)
    rng = np.random.default_rng(seed)
    model.train()
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for i in range(0, len(x), batch):
            idx = order[i:i + batch]
            loss = nn.functional.cross_entropy(model(ember.from_numpy(x[idx])),
                                               ember.from_numpy(y[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    with ember.no_grad():
        pred = model.eval()(ember.from_numpy(x)).argmax(1).numpy()
    return float((pred == y).mean())


def run(quick: bool = False, seed: int = 0, shots: int = 5) -> dict:
    """Pre-train, transfer and train from scratch; returns both accuracies on digits 5-9."""
    ember.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x, y = digits().arrays
    old, new = y < 5, y >= 5
    copies = 3
    x_old = np.concatenate([jitter(x[old], rng) for _ in range(copies)])
    y_old = np.concatenate([y[old]] * copies)
    base_model = fit(make_cnn(5), x_old, y_old, 3 if quick else 8, 5e-3, 64, seed)
    print(f"pre-trained on digits 0-4 ({len(x_old)} images): "
          f"train accuracy {accuracy(base_model, x_old, y_old):.3f}")

    xn, yn = jitter(x[new], rng), y[new] - 5  # the new task: classes 0..4 are digits 5..9
    few = np.concatenate([rng.choice(np.flatnonzero(yn == c), shots, replace=False)
                          for c in range(5)])
    rest = np.setdiff1d(np.arange(len(yn)), few)
    epochs = 100

    # transfer: freeze the base, new head, features computed once, train the head alone
    freeze(base_model)
    head = replace_head(base_model, 5)
    feats = extract_features(base_model[:8], xn[few]).numpy()
    fit(head, feats, yn[few], epochs, 1e-2, len(few), seed)
    transfer = accuracy(base_model, xn[rest], yn[rest])

    # from scratch: the same network, every weight trained on the same few images
    scratch_model = fit(make_cnn(5), xn[few], yn[few], epochs, 1e-2, len(few), seed)
    scratch = accuracy(scratch_model, xn[rest], yn[rest])
    print(f"digits 5-9 from {shots} labelled images each, scored on the other {len(rest)}:")
    print(f"transfer accuracy: {transfer:.3f}")
    print(f"scratch accuracy: {scratch:.3f}")
    return {"transfer": transfer, "scratch": scratch, "test_images": len(rest)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shots", type=int, default=5, help="labelled images per new digit")
    args = parser.parse_args()
    run(args.quick, args.seed, args.shots)


if __name__ == "__main__":
    main()
