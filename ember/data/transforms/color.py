"""Photometric transforms: ``ColorJitter`` and ``RandomErasing`` (torchvision semantics).

Both take a ``(C, H, W)`` image or an ``(N, C, H, W)`` batch and give every sample of a batch
its own random factors, order and erased box.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ... import ops
from ...errors import ShapeError
from ...tensor import Tensor
from . import functional as F
from .base import RandomTransform


def _jitter_range(name: str, value) -> tuple | None:
    if isinstance(value, numbers.Number):
        if value < 0:
            raise ValueError(f"ColorJitter: {name} must be >= 0, got {value}")
        value = (max(0.0, 1.0 - value), 1.0 + value)
    value = tuple(float(v) for v in value)
    if len(value) != 2 or not 0.0 <= value[0] <= value[1]:
        raise ValueError(f"ColorJitter: {name} must be a number >= 0 or a range (min, max) with "
                         f"0 <= min <= max, got {value}")
    return None if value == (1.0, 1.0) else value


_ADJUST = {"brightness": F.adjust_brightness, "contrast": F.adjust_contrast,
           "saturation": F.adjust_saturation}


class ColorJitter(RandomTransform):
    """Randomly change brightness, contrast and saturation, in a random order per sample.

    Each factor is drawn uniformly from its range (a number v means ``[max(0, 1 - v), 1 + v]``);
    1 leaves the image unchanged. Brightness scales the values; contrast blends with the mean
    grey level; saturation blends with the greyscale image. Values are clamped to [0, 1]
    (0..255 for uint8). Hue jitter is not provided.

    Args:
        brightness, contrast, saturation: a number >= 0 or a (min, max) range of factors.
        generator: an ``ember.Generator``; default ``ember.data.sample_generator()``.

    Example:
        >>> import ember
        >>> from ember.data import transforms as T
        >>> T.ColorJitter(brightness=(2.0, 2.0))(ember.full((1, 1, 2), 0.25)).tolist()
        [[[0.5, 0.5]]]
    """

    def __init__(self, brightness=0, contrast=0, saturation=0, generator=None) -> None:
        self.brightness = _jitter_range("brightness", brightness)
        self.contrast = _jitter_range("contrast", contrast)
        self.saturation = _jitter_range("saturation", saturation)
        self.generator = generator

    def _enabled(self) -> list:
        return [k for k in _ADJUST if getattr(self, k) is not None]

    def sample_params(self, shape: tuple, rng: np.random.Generator) -> dict:
        n = shape[0]
        names = self._enabled()
        params = {"order": np.argsort(rng.random((n, len(names))), axis=1)}
        for k in names:
            lo, hi = getattr(self, k)
            params[k] = rng.uniform(lo, hi, n)
        return params

    def apply(self, batch: Tensor, params: dict) -> Tensor:
        names = self._enabled()
        if not names:
            return batch
        if "contrast" in names or "saturation" in names:
            F.check_rgb(batch, "ColorJitter")
        dt = F.float_dtype(batch)
        factors = {k: (F.on_device(params[k].reshape(-1, 1, 1, 1), batch).astype(dt),
                       F.on_device(1.0 - params[k].reshape(-1, 1, 1, 1), batch).astype(dt))
                   for k in names}
        order = params["order"]
        out = batch
        for step in range(order.shape[1]):
            chosen = order[:, step]
            new = None
            for j, k in enumerate(names):
                sel = chosen == j
                if not sel.any():
                    continue
                result = _ADJUST[k](out, factors[k])
                if sel.all():
                    new = result
                else:
                    mask = F.on_device(sel.reshape(-1, 1, 1, 1), batch)
                    new = ops.where(mask, result, out if new is None else new)
            out = new
        return out


class RandomErasing(RandomTransform):
    """With probability ``p``, overwrite a random rectangle (Zhong et al., 2017).

    Args:
        p: the probability of erasing each sample.
        scale: the range of the erased area as a fraction of the image.
        ratio: the range of the box's aspect ratio (height / width), drawn log-uniformly.
        value: the fill: a number, one number per channel, or ``"random"`` for standard
            normal noise.
        inplace: accepted for torchvision compatibility; the result is always a new tensor.
        generator: an ``ember.Generator``; default ``ember.data.sample_generator()``.

    Example:
        >>> import ember
        >>> from ember.data import transforms as T
        >>> out = T.RandomErasing(p=1.0, value=7.0)(ember.zeros(2, 3, 16, 16))
        >>> bool((out == 7.0).any()), out.shape
        (True, (2, 3, 16, 16))
    """

    def __init__(self, p: float = 0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0,
                 inplace: bool = False, generator=None) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomErasing: p must lie in [0, 1], got {p}")
        if scale[0] > scale[1] or ratio[0] > ratio[1] or scale[0] < 0 or scale[1] > 1 \
                or ratio[0] <= 0:
            raise ValueError(f"RandomErasing: scale must be a range in [0, 1] and ratio a "
                             f"positive range, got scale={scale}, ratio={ratio}")
        if isinstance(value, str) and value != "random":
            raise ValueError(f"RandomErasing: value must be a number, a sequence or 'random', "
                             f"got {value!r}")
        self.p = float(p)
        self.scale = tuple(float(s) for s in scale)
        self.ratio = tuple(float(r) for r in ratio)
        self.value = value
        self.inplace = inplace
        self.generator = generator

    def sample_params(self, shape: tuple, rng: np.random.Generator) -> dict:
        """Per sample: whether to erase, and a box from ten tries (none fits: no erase)."""
        n, c, height, width = shape
        erase = rng.random(n) < self.p
        area = height * width
        target = area * rng.uniform(self.scale[0], self.scale[1], (n, 10))
        aspect = np.exp(rng.uniform(math.log(self.ratio[0]), math.log(self.ratio[1]), (n, 10)))
        h = np.round(np.sqrt(target * aspect)).astype(np.int64)
        w = np.round(np.sqrt(target / aspect)).astype(np.int64)
        ok = (h < height) & (w < width)
        first = ok.argmax(1)
        rows = np.arange(n)
        erase &= ok.any(1)
        h, w = np.where(erase, h[rows, first], 0), np.where(erase, w[rows, first], 0)
        top = rng.integers(0, height - h + 1)
        left = rng.integers(0, width - w + 1)
        params = {"erase": erase, "boxes": np.stack([top, left, h, w], 1)}
        if self.value == "random":
            params["noise"] = rng.standard_normal((n, c, height, width), dtype=np.float32)
        return params

    def apply(self, batch: Tensor, params: dict) -> Tensor:
        erase = params["erase"]
        if not erase.any():
            return batch
        n, c, height, width = batch.shape
        boxes = params["boxes"] * erase[:, None]  # samples left alone get an empty box
        top, left, h, w = (F.on_device(boxes[:, i].reshape(-1, 1, 1, 1), batch)
                           for i in range(4))
        rows = ops.arange(height, device=batch.device).reshape(1, 1, -1, 1)
        cols = ops.arange(width, device=batch.device).reshape(1, 1, 1, -1)
        mask = (rows >= top) & (rows < top + h) & (cols >= left) & (cols < left + w)
        if self.value == "random":
            fill = F.on_device(params["noise"], batch).astype(batch.dtype)
        else:
            v = np.asarray(self.value, dtype=np.float64).reshape(-1)
            if v.size not in (1, c):
                raise ShapeError(f"RandomErasing: value has {v.size} entries but the image has "
                                 f"{c} channels")
            fill = F.on_device(v.reshape(1, -1, 1, 1), batch).astype(batch.dtype)
        return ops.where(mask, fill, batch)
