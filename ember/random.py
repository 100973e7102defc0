"""Random numbers: ``manual_seed``, ``Generator``, and the default generator.

ember draws from NumPy's PCG64 through a ``Generator``; the global one is reseeded by
``ember.manual_seed``. A generator's state is a JSON-serialisable dict, so checkpoints can
store it without pickle.

Example:
    >>> import ember
    >>> _ = ember.manual_seed(0)
    >>> a = ember.rand(3)
    >>> _ = ember.manual_seed(0)
    >>> bool((a == ember.rand(3)).all())
    True
"""

from __future__ import annotations

import numpy as np


class Generator:
    """A source of random numbers (PCG64), seedable and with a saveable state."""

    def __init__(self, device="cpu", seed: int | None = None) -> None:
        self.device = device
        self._seed = seed if seed is not None else int(np.random.SeedSequence().entropy % 2**63)
        self.np = np.random.Generator(np.random.PCG64(self._seed))

    def manual_seed(self, seed: int) -> Generator:
        """Reseed; returns self."""
        self._seed = int(seed)
        self.np = np.random.Generator(np.random.PCG64(self._seed))
        return self

    def seed(self) -> int:
        """Reseed from fresh entropy and return the new seed."""
        self.manual_seed(int(np.random.SeedSequence().entropy % 2**63))
        return self._seed

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> dict:
        """The generator state as a JSON-serialisable dict."""
        return {"seed": self._seed, "bit_generator": self.np.bit_generator.state}

    def set_state(self, state: dict) -> None:
        """Restore a state returned by ``get_state``."""
        self._seed = int(state["seed"])
        self.np.bit_generator.state = state["bit_generator"]


default_generator = Generator(seed=0)


def manual_seed(seed: int) -> Generator:
    """Seed the default generator (and return it), and the CUDA generators if CUDA is in use
    (as ``torch.manual_seed``)."""
    from .backend import _BY_DEVICE_TYPE

    seed_cuda = getattr(_BY_DEVICE_TYPE.get("cuda"), "manual_seed", None)
    if seed_cuda is not None:
        seed_cuda(seed)
    return default_generator.manual_seed(seed)


def seed() -> int:
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state() -> dict:
    return default_generator.get_state()


def set_rng_state(state: dict) -> None:
    default_generator.set_state(state)


def _gen(generator: Generator | None) -> np.random.Generator:
    return (generator or default_generator).np
