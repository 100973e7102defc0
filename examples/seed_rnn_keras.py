"""Seed 004's RNN for sentence generation, run with ember.keras: the seed's code below is
unchanged except that its imports say ``ember`` where they said ``tensorflow``.

The seed defines the model (Embedding of 1000 words, LSTM 128, softmax over 1000 words) and
compiles it. Its data is a text corpus; here a synthetic "language" stands in: sentences are
drawn from a fixed set of phrases over a 1000-word vocabulary, so the next word is
predictable inside a phrase. The model learns it and then generates text greedily.

    python examples/seed_rnn_keras.py           # ~1 min
    python examples/seed_rnn_keras.py --quick   # a few seconds
"""

# ruff: noqa: I001
import argparse

import numpy as np

# --- seed 004, RNN (only the imports changed: tensorflow -> ember) ---------------------------
import ember as tf
from ember.keras.models import Sequential
from ember.keras.layers import Embedding, LSTM, Dense

# RNN 모델 정의
model = Sequential()
model.add(Embedding(input_dim=1000, output_dim=128, input_length=20))
model.add(LSTM(128))
model.add(Dense(1000, activation='softmax'))

# 모델 컴파일
model.compile(optimizer='adam', loss='categorical_crossentropy')
# --- end of the seed's code ------------------------------------------------------------------


def corpus(n_words: int, seed: int = 0) -> np.ndarray:
    """A word stream made of 40 fixed 6-word phrases in random order."""
    rng = np.random.default_rng(seed)
    phrases = rng.integers(1, 1000, size=(40, 6))
    picks = rng.integers(0, len(phrases), size=n_words // 6 + 1)
    return phrases[picks].reshape(-1)[:n_words]


def windows(stream: np.ndarray, length: int = 20):
    """(previous 20 words, next word one-hot) pairs."""
    from ember.keras.utils import to_categorical

    idx = np.arange(len(stream) - length)[:, None] + np.arange(length)
    return stream[idx], to_categorical(stream[length:], 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds on a subset")
    args = parser.parse_args()
    tf.manual_seed(0)
    stream = corpus(300 if args.quick else 4000)
    x, y = windows(stream)
    model.summary()
    history = model.fit(x, y, batch_size=32, epochs=1 if args.quick else 6, verbose=2)
    losses = history.history["loss"]
    print(f"loss: first epoch {losses[0]:.3f}, last epoch {losses[-1]:.3f} "
          f"(uniform guessing: {np.log(1000):.3f})")
    context = list(stream[:20])
    generated = []
    for _ in range(12):
        probs = model.predict(np.array([context[-20:]]), verbose=0)[0]
        word = int(probs.argmax())
        generated.append(word)
        context.append(word)
    print("context :", " ".join(map(str, stream[:20])))
    print("next    :", " ".join(map(str, generated)))
    print("corpus  :", " ".join(map(str, stream[20:32])))


if __name__ == "__main__":
    main()
