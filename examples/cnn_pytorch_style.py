"""The seed CNN written PyTorch-style: ember.nn modules, a DataLoader and an explicit loop.

The same network as ``ember train``'s default (seed 004's CNN with padding 1 so that it fits
8x8 digits), but nothing is hidden: forward, loss, ``backward()``, ``optimizer.step()``, and an
evaluation pass under ``ember.no_grad()``. A PyTorch user reads it as PyTorch code.

    python examples/cnn_pytorch_style.py           # under a minute, about 97% test accuracy
    python examples/cnn_pytorch_style.py --quick   # a few seconds
"""

import argparse

import ember
import ember.nn as nn
import ember.nn.functional as F
from ember.data import DataLoader, Subset, datasets, random_split


class SeedCNN(nn.Module):
    """Conv 32 -> pool -> Conv 64 -> pool -> Conv 64 -> Dense 64 -> Dense 10 (channels first)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.conv3 = nn.Conv2d(64, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 2 * 2, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)     # 8x8 -> 4x4
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)     # 4x4 -> 2x2
        x = F.relu(self.conv3(x))
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)                              # logits


def evaluate(model, loader) -> tuple[float, float]:
    model.eval()
    total, correct, loss_sum = 0, 0, 0.0
    with ember.no_grad():
        for x, y in loader:
            logits = model(x)
            loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(dim=1) == y).sum().item()
            total += len(y)
    return loss_sum / total, correct / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds on a subset")
    args = parser.parse_args()
    ember.manual_seed(0)
    data = datasets.digits()                            # (1, 8, 8) images, labels 0..9
    train_set, test_set = random_split(data, [1437, 360], generator=ember.Generator(seed=0))
    if args.quick:
        train_set, test_set = Subset(train_set, range(256)), Subset(test_set, range(64))
    train_loader = DataLoader(train_set, batch_size=32, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=256)
    model = SeedCNN()
    optimizer = ember.optim.Adam(model.parameters(), lr=2e-3)
    epochs = 1 if args.quick else 10
    scheduler = ember.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    for epoch in range(epochs):
        model.train()
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
        scheduler.step()
        test_loss, test_acc = evaluate(model, test_loader)
        print(f"epoch {epoch + 1}/{epochs}  last batch loss {loss.item():.4f}  "
              f"test loss {test_loss:.4f}  test accuracy {test_acc:.4f}")


if __name__ == "__main__":
    main()
