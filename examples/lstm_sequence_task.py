"""An Embedding + LSTM model learns a synthetic sequence task: the largest digit of a sequence.

Each sample is 12 random digits (0-9); the label is the largest of them. The model must
carry a running maximum through time -- a task a bag-of-tokens model cannot do from one
step's input alone. Written PyTorch-style with ember.nn; it reaches about 99% accuracy on
held-out sequences in a few seconds on 2 cores.

    python examples/lstm_sequence_task.py           # prints the test accuracy
    python examples/lstm_sequence_task.py --quick   # fewer steps, same code path
"""

import argparse

import ember
import ember.nn as nn
import ember.nn.functional as F

LENGTH, VOCAB = 12, 10


class MaxDigit(nn.Module):
    def __init__(self, hidden: int = 64) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 16)
        self.lstm = nn.LSTM(16, hidden, batch_first=True)
        self.head = nn.Linear(hidden, VOCAB)

    def forward(self, tokens):
        out, (h, c) = self.lstm(self.embed(tokens))
        return self.head(out[:, -1])


def make_data(n: int, generator):
    tokens = ember.randint(0, VOCAB, (n, LENGTH), generator=generator)
    return tokens, tokens.amax(dim=1)


def accuracy(model, tokens, labels) -> float:
    model.eval()
    with ember.no_grad():
        pred = model(tokens).argmax(dim=1)
    model.train()
    return (pred == labels).float().mean().item()


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--steps", type=int, default=600)
    args = parser.parse_args(argv)
    steps = 150 if args.quick else args.steps
    ember.manual_seed(0)
    gen = ember.Generator(seed=1)
    model = MaxDigit()
    opt = ember.optim.Adam(model.parameters(), lr=5e-3)
    test_x, test_y = make_data(2000, gen)
    for step in range(1, steps + 1):
        x, y = make_data(64, gen)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            print(f"step {step:4d}  loss {loss.item():.4f}")
    acc = accuracy(model, test_x, test_y)
    print(f"test accuracy (largest digit of {LENGTH}): {acc:.4f}")
    return acc


if __name__ == "__main__":
    main()
