"""Transform bases, composition, and the conversions at the ends of a pipeline.

A transform is a callable on one image tensor ``(C, H, W)`` or a batch ``(N, C, H, W)``.
Random transforms draw their parameters once per call: one set per sample for a batch
(``sample_params``), then apply them all at once (``apply``). They draw from
``ember.data.sample_generator()`` unless given a ``generator``, so inside a ``DataLoader``
the augmentation is fixed by the loader's seed.
"""

from __future__ import annotations

import numpy as np

from ... import ops
from ...errors import ShapeError
from ...random import Generator
from ...tensor import Tensor
from ..worker import sample_generator
from . import functional as F


class Transform:
    """Base class: subclasses define ``__call__``; ``repr`` lists the settings."""

    def _args(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in vars(self).items()
                         if not k.startswith("_") and k != "generator")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._args()})"


class RandomTransform(Transform):
    """A transform with per-sample random parameters.

    Subclasses define ``sample_params(shape, rng)`` -> dict of NumPy arrays (one entry per
    sample of the batch shape ``(N, C, H, W)``) and ``apply(batch, params)``.
    """

    generator: Generator | None = None

    def rng(self) -> np.random.Generator:
        return (self.generator or sample_generator()).np

    def __call__(self, x: Tensor) -> Tensor:
        batch, single = F.as_batch(x, type(self).__name__)
        out = self.apply(batch, self.sample_params(tuple(batch.shape), self.rng()))
        return out[0] if single else out

    def sample_params(self, shape: tuple, rng: np.random.Generator) -> dict:
        raise NotImplementedError(f"{type(self).__name__} must define sample_params")

    def apply(self, batch: Tensor, params: dict) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define apply")


class Compose(Transform):
    """Apply transforms one after the other.

    Example:
        >>> import numpy as np
        >>> from ember.data import transforms as T
        >>> t = T.Compose([T.ToTensor(), T.Normalize([0.5], [0.5])])
        >>> t(np.full((2, 2), 255, np.uint8)).tolist()
        [[[1.0, 1.0], [1.0, 1.0]]]
    """

    def __init__(self, transforms: list) -> None:
        self.transforms = list(transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self) -> str:
        body = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{body}\n])"


class Lambda(Transform):
    """Wrap a function as a transform (use a module-level function with process workers).

    Example:
        >>> from ember.data import transforms as T
        >>> T.Lambda(lambda x: x * 2)(3)
        6
    """

    def __init__(self, fn) -> None:
        if not callable(fn):
            raise TypeError(f"Lambda: expects a callable, got {type(fn).__name__}")
        self.fn = fn

    def __call__(self, x):
        return self.fn(x)


class ToTensor(Transform):
    """An HWC image (PIL image or NumPy array) to a CHW tensor; uint8 values scaled to [0, 1].

    As torchvision: ``(H, W, C)`` and ``(H, W)`` arrays become ``(C, H, W)``; uint8 data
    becomes float32 divided by 255, other dtypes keep their values. A 4-d array is taken as
    a batch ``(N, H, W, C)`` and gives ``(N, C, H, W)``.

    Example:
        >>> import numpy as np
        >>> from ember.data import transforms as T
        >>> T.ToTensor()(np.zeros((4, 5, 3), np.uint8)).shape
        (3, 4, 5)
    """

    def __call__(self, pic) -> Tensor:
        if isinstance(pic, Tensor):
            raise TypeError("ToTensor: the input is already a tensor; ToTensor converts PIL "
                            "images and (H, W, C) arrays. For a uint8 (N, H, W, C) batch use "
                            "x.permute(0, 3, 1, 2).float() / 255")
        if hasattr(pic, "getbands") and hasattr(pic, "mode"):  # a PIL image
            arr = np.array(pic)
            if pic.mode == "1":
                arr = arr.astype(np.uint8) * 255
        elif isinstance(pic, np.ndarray):
            arr = pic
        else:
            raise TypeError(f"ToTensor: expects a PIL image or a NumPy array, got "
                            f"{type(pic).__name__}")
        if arr.ndim == 2:
            arr = arr[:, :, None]
        if arr.ndim not in (3, 4):
            raise ShapeError(f"ToTensor: expects an (H, W), (H, W, C) or (N, H, W, C) array, "
                             f"got shape {arr.shape}")
        arr = np.ascontiguousarray(np.moveaxis(arr, -1, -3))
        if arr.dtype == np.uint8:
            arr = arr.astype(np.float32) / np.float32(255)
        return Tensor(arr)


class Normalize(Transform):
    """Subtract ``mean`` and divide by ``std``, per channel: ``(x - mean[c]) / std[c]``.

    Args:
        mean, std: one value per channel (or one for all).
        inplace: accepted for torchvision compatibility; the result is always a new tensor.

    Example:
        >>> import ember
        >>> from ember.data import transforms as T
        >>> T.Normalize([1.0, 2.0], [2.0, 4.0])(ember.ones(2, 1, 1)).tolist()
        [[[0.0]], [[-0.25]]]
    """

    def __init__(self, mean, std, inplace: bool = False) -> None:
        self.mean = [float(m) for m in np.atleast_1d(np.asarray(mean, dtype=np.float64))]
        self.std = [float(s) for s in np.atleast_1d(np.asarray(std, dtype=np.float64))]
        if any(np.float32(s) == 0 for s in self.std):
            raise ValueError(f"Normalize: std {self.std} holds a zero, which would divide by "
                             "zero")
        self.inplace = inplace

    def __call__(self, x: Tensor) -> Tensor:
        batch, single = F.as_batch(x, "Normalize")
        if not batch.dtype.is_floating_point:
            raise TypeError(f"Normalize: expects a float tensor, got {batch.dtype.name}; "
                            "convert with ToTensor() or x.float() / 255 first")
        c = batch.shape[1]
        for name, v in (("mean", self.mean), ("std", self.std)):
            if len(v) not in (1, c):
                raise ShapeError(f"Normalize: {name} has {len(v)} values but the image has {c} "
                                 f"channels (shape {tuple(x.shape)})")
        mean = ops.tensor(self.mean, dtype=batch.dtype, device=batch.device).reshape(1, -1, 1, 1)
        std = ops.tensor(self.std, dtype=batch.dtype, device=batch.device).reshape(1, -1, 1, 1)
        out = (batch - mean) / std
        return out[0] if single else out
