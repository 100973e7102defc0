"""The reference workloads W1-W6, written once against the PyTorch API.

ember follows PyTorch's names, so each workload is one function taking the library
(``ember`` or ``torch``) and returning a zero-argument ``step`` callable that runs one full
training step (forward, loss, backward, optimiser update). The same code building both models
is itself a check that ember ports PyTorch code by changing the import.
"""

from __future__ import annotations

import numpy as np


def _data(lib, arr):
    return lib.from_numpy(np.ascontiguousarray(arr))


def _train_step(lib, model, opt, x, y):
    F = lib.nn.functional

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def models(lib, key: str, seed=0):
    """W1, W2 or W3's model and one batch ``(model, x, y)`` (x and y as NumPy arrays)."""
    nn = lib.nn
    lib.manual_seed(seed)
    rng = np.random.default_rng(seed)
    if key == "W1":  # MLP 784-512-512-10, batch 128
        model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                              nn.Linear(512, 10))
        return model, rng.standard_normal((128, 784), dtype=np.float32), rng.integers(0, 10, 128)
    if key == "W2":  # the seed CNN on 28x28x1, batch 64
        model = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(),
            nn.Linear(64 * 3 * 3, 64), nn.ReLU(), nn.Linear(64, 10),
        )
        x = rng.standard_normal((64, 1, 28, 28), dtype=np.float32)
        return model, x, rng.integers(0, 10, 64)

    class Net(nn.Module):  # W3: Embedding(1000,128), LSTM 128, Dense 1000 on the last step
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(1000, 128)
            self.lstm = nn.LSTM(128, 128, batch_first=True)
            self.fc = nn.Linear(128, 1000)

        def forward(self, tokens):
            out, _ = self.lstm(self.emb(tokens))
            return self.fc(out[:, -1])

    return Net(), rng.integers(0, 1000, (32, 20)), rng.integers(0, 1000, 32)


def _adam_step(lib, key, seed):
    model, x, y = models(lib, key, seed)
    opt = lib.optim.Adam(model.parameters(), lr=1e-3)
    return _train_step(lib, model, opt, _data(lib, x), _data(lib, y))


def w1_mlp(lib, seed=0):
    """MLP 784-512-512-10, ReLU, cross-entropy, Adam, batch 128."""
    return _adam_step(lib, "W1", seed)


def w2_seed_cnn(lib, seed=0):
    """The seed CNN on 28x28x1, batch 64, Adam."""
    return _adam_step(lib, "W2", seed)


def w3_seed_rnn(lib, seed=0):
    """Embedding(1000,128), LSTM 128, Dense 1000 on the last step; length 20, batch 32, Adam."""
    return _adam_step(lib, "W3", seed)


def w4_cifar_cnn(lib, seed=0):
    """Three blocks of (Conv 3x3, BatchNorm, ReLU) x2, 32/64/128 channels; GAP; Dense 10."""
    nn = lib.nn

    def block(cin, cout, stride):
        return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(cout), nn.ReLU(),
                nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    lib.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = nn.Sequential(*block(3, 32, 1), *block(32, 64, 2), *block(64, 128, 2),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10))
    opt = lib.optim.Adam(model.parameters(), lr=1e-3)
    x = _data(lib, rng.standard_normal((32, 3, 32, 32), dtype=np.float32))
    y = _data(lib, rng.integers(0, 10, 32))
    return _train_step(lib, model, opt, x, y)


def w5_autograd_overhead(lib, seed=0):
    """100 x (x * 1.0001 + 0.1) on a 10-element tensor, then backward."""
    x = lib.ones(10, requires_grad=True)

    def step():
        y = x
        for _ in range(100):
            y = y * 1.0001 + 0.1
        y.sum().backward()
        x.grad = None
        return y

    return step


def w6_matmul(lib, seed=0):
    """2048 x 2048 float32 matmul (reported as GFLOP/s)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((2048, 2048), dtype=np.float32)
    b = rng.standard_normal((2048, 2048), dtype=np.float32)
    if lib is np:
        return lambda: a @ b
    ta, tb = _data(lib, a), _data(lib, b)
    return lambda: ta @ tb


W6_FLOPS = 2 * 2048**3

WORKLOADS = {
    "W1": ("MLP 784-512-512-10, Adam, batch 128", w1_mlp),
    "W2": ("seed CNN 28x28x1, Adam, batch 64", w2_seed_cnn),
    "W3": ("Embedding+LSTM 128+Dense 1000, len 20, batch 32", w3_seed_rnn),
    "W4": ("CIFAR convnet with BatchNorm, batch 32", w4_cifar_cnn),
    "W5": ("autograd overhead: 100 x (x*1.0001+0.1), backward", w5_autograd_overhead),
    "W6": ("2048x2048 float32 matmul", w6_matmul),
}
