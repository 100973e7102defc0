"""Weight initialisers by Keras name, applied in place through ``ember.nn.init``.

Keras's defaults: ``glorot_uniform`` kernels, ``zeros`` biases, ``orthogonal`` recurrent
kernels, ``RandomUniform(-0.05, 0.05)`` embeddings. Fans are computed from ember.nn's weight
layouts (``(out, in, *kernel)``), which give the same fan-in and fan-out as Keras's kernels.
The Keras ``*_normal`` variance-scaling initialisers draw from a normal truncated at two
standard deviations, as Keras does.

Example:
    >>> import ember
    >>> from ember.keras import initializers
    >>> w = ember.nn.Parameter(ember.empty(3, 2))
    >>> initializers.get("ones")(w)
    >>> w.sum().item()
    6.0
"""

from __future__ import annotations

import math

from ..nn import init as _init
from ..tensor import Tensor

__all__ = ["Initializer", "Zeros", "Ones", "Constant", "RandomUniform", "RandomNormal",
           "TruncatedNormal", "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeUniform",
           "HeNormal", "LecunUniform", "LecunNormal", "Orthogonal", "get", "serialize"]

_TRUNC_STD = 0.87962566103423978  # std of a unit normal truncated to [-2, 2]


def _fans(shape: tuple) -> tuple[int, int]:
    if len(shape) < 2:
        n = shape[0] if shape else 1
        return n, n
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


class Initializer:
    """Base class: ``init(weight)`` fills the weight in place."""

    def __call__(self, weight: Tensor) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define __call__(weight)")

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> Initializer:
        return cls(**config)


class Zeros(Initializer):
    def __call__(self, weight: Tensor) -> None:
        _init.zeros_(weight)


class Ones(Initializer):
    def __call__(self, weight: Tensor) -> None:
        _init.ones_(weight)


class Constant(Initializer):
    def __init__(self, value: float = 0.0) -> None:
        self.value = float(value)

    def __call__(self, weight: Tensor) -> None:
        _init.constant_(weight, self.value)

    def get_config(self) -> dict:
        return {"value": self.value}


class RandomUniform(Initializer):
    def __init__(self, minval: float = -0.05, maxval: float = 0.05) -> None:
        self.minval, self.maxval = float(minval), float(maxval)

    def __call__(self, weight: Tensor) -> None:
        _init.uniform_(weight, self.minval, self.maxval)

    def get_config(self) -> dict:
        return {"minval": self.minval, "maxval": self.maxval}


class RandomNormal(Initializer):
    def __init__(self, mean: float = 0.0, stddev: float = 0.05) -> None:
        self.mean, self.stddev = float(mean), float(stddev)

    def __call__(self, weight: Tensor) -> None:
        _init.normal_(weight, self.mean, self.stddev)

    def get_config(self) -> dict:
        return {"mean": self.mean, "stddev": self.stddev}


class TruncatedNormal(RandomNormal):
    def __call__(self, weight: Tensor) -> None:
        _init.trunc_normal_(weight, self.mean, self.stddev, self.mean - 2 * self.stddev,
                            self.mean + 2 * self.stddev)


class VarianceScaling(Initializer):
    """Draw with variance ``scale / n`` where n is fan_in, fan_out or their average."""

    def __init__(self, scale: float = 1.0, mode: str = "fan_in",
                 distribution: str = "truncated_normal") -> None:
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"VarianceScaling: mode must be fan_in, fan_out or fan_avg, "
                             f"got {mode!r}")
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError("VarianceScaling: distribution must be truncated_normal, "
                             f"untruncated_normal or uniform, got {distribution!r}")
        self.scale, self.mode, self.distribution = float(scale), mode, distribution

    def __call__(self, weight: Tensor) -> None:
        fan_in, fan_out = _fans(tuple(weight.shape))
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            _init.uniform_(weight, -limit, limit)
        elif self.distribution == "untruncated_normal":
            _init.normal_(weight, 0.0, math.sqrt(variance))
        else:
            std = math.sqrt(variance) / _TRUNC_STD
            _init.trunc_normal_(weight, 0.0, std, -2 * std, 2 * std)

    def get_config(self) -> dict:
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution}


class GlorotUniform(VarianceScaling):
    def __init__(self) -> None:
        super().__init__(1.0, "fan_avg", "uniform")

    def get_config(self) -> dict:
        return {}


class GlorotNormal(VarianceScaling):
    def __init__(self) -> None:
        super().__init__(1.0, "fan_avg", "truncated_normal")

    def get_config(self) -> dict:
        return {}


class HeUniform(VarianceScaling):
    def __init__(self) -> None:
        super().__init__(2.0, "fan_in", "uniform")

    def get_config(self) -> dict:
        return {}


class HeNormal(VarianceScaling):
    def __init__(self) -> None:
        super().__init__(2.0, "fan_in", "truncated_normal")

    def get_config(self) -> dict:
        return {}


class LecunUniform(VarianceScaling):
    def __init__(self) -> None:
        super().__init__(1.0, "fan_in", "uniform")

    def get_config(self) -> dict:
        return {}


class LecunNormal(VarianceScaling):
    def __init__(self) -> None:
        super().__init__(1.0, "fan_in", "truncated_normal")

    def get_config(self) -> dict:
        return {}


class Orthogonal(Initializer):
    def __init__(self, gain: float = 1.0) -> None:
        self.gain = float(gain)

    def __call__(self, weight: Tensor) -> None:
        _init.orthogonal_(weight, gain=self.gain)

    def get_config(self) -> dict:
        return {"gain": self.gain}


_BY_NAME = {
    "zeros": Zeros, "ones": Ones, "constant": Constant, "random_uniform": RandomUniform,
    "random_normal": RandomNormal, "truncated_normal": TruncatedNormal,
    "variance_scaling": VarianceScaling, "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal, "he_uniform": HeUniform, "he_normal": HeNormal,
    "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal, "orthogonal": Orthogonal,
}
_BY_CLASS = {cls.__name__: cls for cls in _BY_NAME.values()}


def get(identifier) -> Initializer:
    """An initialiser from a Keras name (``"he_normal"``), a config dict or an instance."""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower()) or _BY_CLASS.get(identifier)
        if cls is None:
            raise ValueError(f"unknown initializer {identifier!r}; known initializers: "
                             + ", ".join(sorted(_BY_NAME)))
        return cls()
    if isinstance(identifier, dict):
        return get(identifier["class_name"]).from_config(identifier.get("config", {}))
    if callable(identifier):
        return identifier
    raise TypeError(f"initializer must be a name, a dict or an Initializer, "
                    f"got {type(identifier).__name__}")


def serialize(init) -> dict:
    """``{"class_name": ..., "config": ...}`` for ``get_config``."""
    if not isinstance(init, Initializer):
        raise ValueError(f"initializer {init!r} is not an ember.keras Initializer and cannot be "
                         "saved to a config")
    return {"class_name": type(init).__name__, "config": init.get_config()}
