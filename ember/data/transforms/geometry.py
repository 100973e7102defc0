"""Geometric transforms: resize, crops, padding, flips, rotation (torchvision semantics).

Each takes a ``(C, H, W)`` image or an ``(N, C, H, W)`` batch; random ones give every sample
of a batch its own parameters.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ...errors import ShapeError
from ...tensor import Tensor
from . import functional as F
from .base import RandomTransform, Transform


def _pair(size, name: str) -> tuple:
    if isinstance(size, numbers.Integral):
        size = (int(size), int(size))
    size = tuple(int(s) for s in size)
    if len(size) == 1:
        size = size * 2
    if len(size) != 2 or min(size) <= 0:
        raise ValueError(f"{name}: size must be a positive int or (height, width), got {size}")
    return size


def _interpolation(mode: str, name: str) -> str:
    if mode not in F.INTERPOLATIONS:
        raise ValueError(f"{name}: interpolation must be one of {F.INTERPOLATIONS}, got {mode!r}")
    return mode


def _padding_mode(mode: str, name: str) -> str:
    if mode not in F.PADDING_MODES:
        raise ValueError(f"{name}: padding_mode must be one of {tuple(F.PADDING_MODES)}, got "
                         f"{mode!r}")
    return mode


def _unbatch(out: Tensor, single: bool) -> Tensor:
    return out[0] if single else out


class Resize(Transform):
    """Resize to ``size``: (height, width), or an int for the shorter side (aspect kept).

    Args:
        size: the output size; an int matches the smaller edge, as torchvision.
        interpolation: ``"bilinear"`` (default), ``"nearest"`` or ``"nearest-exact"``.
        max_size: with an int size, cap the longer edge at this.
        antialias: low-pass filter when shrinking (bilinear), like PIL and torchvision.

    Example:
        >>> import ember
        >>> from ember.data import transforms as T
        >>> T.Resize(16)(ember.zeros(3, 32, 64)).shape
        (3, 16, 32)
    """

    def __init__(self, size, interpolation: str = "bilinear", max_size: int | None = None,
                 antialias: bool = True) -> None:
        if isinstance(size, numbers.Integral) or len(size) == 1:
            s = int(size) if isinstance(size, numbers.Integral) else int(size[0])
            if s <= 0:
                raise ValueError(f"Resize: size must be positive, got {size}")
            if max_size is not None and max_size <= s:
                raise ValueError(f"Resize: max_size ({max_size}) must be larger than size ({s})")
            self.size = s
        else:
            if max_size is not None:
                raise ValueError("Resize: max_size applies only when size is a single int")
            self.size = _pair(size, "Resize")
        self.interpolation = _interpolation(interpolation, "Resize")
        self.max_size = max_size
        self.antialias = antialias

    def output_size(self, h: int, w: int) -> tuple:
        if isinstance(self.size, tuple):
            return self.size
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = self.size, int(self.size * long / short)
        if self.max_size is not None and new_long > self.max_size:
            new_short, new_long = int(self.max_size * new_short / new_long), self.max_size
        return (new_long, new_short) if w <= h else (new_short, new_long)

    def __call__(self, x: Tensor) -> Tensor:
        batch, single = F.as_batch(x, "Resize")
        size = self.output_size(batch.shape[2], batch.shape[3])
        if size == tuple(batch.shape[2:]):
            return x
        out = F.resample(batch, None, size, self.interpolation, self.antialias)
        return _unbatch(out, single)


class CenterCrop(Transform):
    """Crop the centre ``size``; an image smaller than that is zero-padded first.

    Example:
        >>> import ember
        >>> from ember.data import transforms as T
        >>> T.CenterCrop(2)(ember.arange(16).reshape(1, 4, 4)).tolist()
        [[[5, 6], [9, 10]]]
    """

    def __init__(self, size) -> None:
        self.size = _pair(size, "CenterCrop")

    def __call__(self, x: Tensor) -> Tensor:
        batch, single = F.as_batch(x, "CenterCrop")
        th, tw = self.size
        h, w = batch.shape[2:]
        if tw > w or th > h:
            ltrb = ((tw - w) // 2 if tw > w else 0, (th - h) // 2 if th > h else 0,
                    (tw - w + 1) // 2 if tw > w else 0, (th - h + 1) // 2 if th > h else 0)
            batch = F.pad(batch, ltrb, 0.0, "constant")
            h, w = batch.shape[2:]
        top, left = int(round((h - th) / 2.0)), int(round((w - tw) / 2.0))
        return _unbatch(batch[:, :, top:top + th, left:left + tw], single)


class Pad(Transform):
    """Pad the borders: ``padding`` is an int, (left/right, top/bottom) or (l, t, r, b).

    Args:
        padding: how much to add on each side.
        fill: the value for ``padding_mode="constant"``.
        padding_mode: ``"constant"``, ``"edge"``, ``"reflect"`` or ``"symmetric"``.

    Example:
        >>> import ember
        >>> from ember.data import transforms as T
        >>> T.Pad((1, 0), padding_mode="reflect")(ember.tensor([[[1.0, 2.0, 3.0]]])).tolist()
        [[[2.0, 1.0, 2.0, 3.0, 2.0]]]
    """

    def __init__(self, padding, fill: float = 0, padding_mode: str = "constant") -> None:
        self.padding = F.pad_ltrb(padding)
        self.fill = fill
        self.padding_mode = _padding_mode(padding_mode, "Pad")

    def __call__(self, x: Tensor) -> Tensor:
        batch, single = F.as_batch(x, "Pad")
        return _unbatch(F.pad(batch, self.padding, self.fill, self.padding_mode), single)


class RandomCrop(RandomTransform):
    """Crop ``size`` at a random place (per sample), after optional padding.

    Args:
        size: the crop (height, width) or an int.
        padding: added first: int, (left/right, top/bottom) or (l, t, r, b).
        pad_if_needed: pad images smaller than the crop.
        fill: the value for constant padding.
        padding_mode: ``"constant"``, ``"edge"``, ``"reflect"`` or ``"symmetric"``.
        generator: an ``ember.Generator``; default ``ember.data.sample_generator()``.

    Example:
        >>> import ember
        >>> from ember.data import transforms as T
        >>> T.RandomCrop(32, padding=4, padding_mode="reflect")(ember.zeros(8, 3, 32, 32)).shape
        (8, 3, 32, 32)
    """

    def __init__(self, size, padding=None, pad_if_needed: bool = False, fill: float = 0,
                 padding_mode: str = "constant", generator=None) -> None:
        self.size = _pair(size, "RandomCrop")
        self.padding = None if padding is None else F.pad_ltrb(padding)
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        self.padding_mode = _padding_mode(padding_mode, "RandomCrop")
        self.generator = generator

    def _padded(self, h: int, w: int) -> tuple:
        """The (l, t, r, b) padding for an (h, w) image and the padded size."""
        left, top, right, bottom = self.padding or (0, 0, 0, 0)
        h, w = h + top + bottom, w + left + right
        th, tw = self.size
        if self.pad_if_needed and w < tw:
            left, right, w = left + tw - w, right + tw - w, w + 2 * (tw - w)
        if self.pad_if_needed and h < th:
            top, bottom, h = top + th - h, bottom + th - h, h + 2 * (th - h)
        if h < th or w < tw:
            raise ShapeError(f"RandomCrop: the crop size {self.size} is larger than the "
                             f"(padded) image size {(h, w)}; use pad_if_needed=True or a "
                             "smaller crop")
        return (left, top, right, bottom), h, w

    def sample_params(self, shape: tuple, rng: np.random.Generator) -> dict:
        n = shape[0]
        _, h, w = self._padded(shape[2], shape[3])
        th, tw = self.size
        if (h, w) == (th, tw):
            return {"top": np.zeros(n, np.int64), "left": np.zeros(n, np.int64)}
        return {"top": rng.integers(0, h - th + 1, n), "left": rng.integers(0, w - tw + 1, n)}

    def apply(self, batch: Tensor, params: dict) -> Tensor:
        ltrb, _, _ = self._padded(batch.shape[2], batch.shape[3])
        if self.pad_if_needed and self.padding_mode != "constant":
            # torchvision pads in up to three steps; each step's reflection sees the last
            first = self.padding or (0, 0, 0, 0)
            batch = F.pad(batch, first, self.fill, self.padding_mode)
            extra_w = ltrb[0] - first[0]
            if extra_w:
                batch = F.pad(batch, (extra_w, 0, extra_w, 0), self.fill, self.padding_mode)
            extra_h = ltrb[1] - first[1]
            if extra_h:
                batch = F.pad(batch, (0, extra_h, 0, extra_h), self.fill, self.padding_mode)
        else:
            batch = F.pad(batch, ltrb, self.fill, self.padding_mode)
        return F.crop_per_sample(batch, params["top"], params["left"], *self.size)


class RandomHorizontalFlip(RandomTransform):
    """Flip left-right with probability ``p`` (each sample of a batch on its own).

    Example:
        >>> import ember
        >>> from ember.data import transforms as T
        >>> T.RandomHorizontalFlip(p=1.0)(ember.tensor([[[1.0, 2.0]]])).tolist()
        [[[2.0, 1.0]]]
    """

    dim = -1

    def __init__(self, p: float = 0.5, generator=None) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: p must lie in [0, 1], got {p}")
        self.p = float(p)
        self.generator = generator

    def sample_params(self, shape: tuple, rng: np.random.Generator) -> dict:
        return {"flip": rng.random(shape[0]) < self.p}

    def apply(self, batch: Tensor, params: dict) -> Tensor:
        return F.flip_where(batch, params["flip"], self.dim)


class RandomVerticalFlip(RandomHorizontalFlip):
    """Flip top-bottom with probability ``p`` (each sample of a batch on its own)."""

    dim = -2


class RandomRotation(RandomTransform):
    """Rotate by an angle drawn uniformly from ``degrees`` (counter-clockwise, in degrees).

    Args:
        degrees: a number d for (-d, d), or (min, max).
        interpolation: ``"nearest"`` (default) or ``"bilinear"``.
        expand: grow the output to hold the whole rotated image (single images, or batches
            of one, since each angle gives its own size).
        center: the (x, y) pixel to rotate about; the image centre by default.
        fill: the value of pixels that come from outside (a number or one per channel).
        generator: an ``ember.Generator``; default ``ember.data.sample_generator()``.

    Example:
        >>> import ember
        >>> from ember.data import transforms as T
        >>> T.RandomRotation((90, 90))(ember.tensor([[[1.0, 2.0], [3.0, 4.0]]])).tolist()
        [[[2.0, 4.0], [1.0, 3.0]]]
    """

    def __init__(self, degrees, interpolation: str = "nearest", expand: bool = False,
                 center=None, fill=0, generator=None) -> None:
        if isinstance(degrees, numbers.Number):
            if degrees < 0:
                raise ValueError(f"RandomRotation: a single degrees value must be >= 0, got "
                                 f"{degrees}")
            degrees = (-float(degrees), float(degrees))
        degrees = tuple(float(d) for d in degrees)
        if len(degrees) != 2 or degrees[0] > degrees[1]:
            raise ValueError(f"RandomRotation: degrees must be a number or (min, max), got "
                             f"{degrees}")
        self.degrees = degrees
        self.interpolation = interpolation
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"RandomRotation: interpolation must be 'nearest' or 'bilinear', "
                             f"got {interpolation!r}")
        self.expand = expand
        self.center = center
        self.fill = fill
        self.generator = generator

    def sample_params(self, shape: tuple, rng: np.random.Generator) -> dict:
        return {"angle": rng.uniform(self.degrees[0], self.degrees[1], shape[0])}

    def apply(self, batch: Tensor, params: dict) -> Tensor:
        n, c, h, w = batch.shape
        center = (0.0, 0.0)
        if self.center is not None:
            center = tuple(float(p - s * 0.5) for p, s in zip(self.center, (w, h)))
        mats = np.array([F.inverse_rotation(a, center) for a in params["angle"]])
        out_hw = (h, w)
        if self.expand:
            if n != 1:
                raise ShapeError("RandomRotation: expand=True gives each rotated image its own "
                                 f"size, so it cannot run on a batch of {n}; apply it per "
                                 "sample (in the dataset's transform) or use expand=False")
            ow, oh = F.expanded_size(mats[0].tolist(), w, h)
            out_hw = (oh, ow)
        fill = np.broadcast_to(np.asarray(self.fill, dtype=np.float64).reshape(-1), (c,))
        return F.affine_sample(batch, mats, out_hw, self.interpolation, fill)


class RandomResizedCrop(RandomTransform):
    """Crop a random area and aspect ratio, then resize it to ``size`` (Inception-style).

    Args:
        size: the output (height, width) or an int.
        scale: the range of the crop's area as a fraction of the image.
        ratio: the range of the crop's aspect ratio (width / height), drawn log-uniformly.
        interpolation: ``"bilinear"`` (default), ``"nearest"`` or ``"nearest-exact"``.
        antialias: low-pass filter when shrinking.
        generator: an ``ember.Generator``; default ``ember.data.sample_generator()``.

    Example:
        >>> import ember
        >>> from ember.data import transforms as T
        >>> T.RandomResizedCrop(24)(ember.rand(4, 3, 32, 32)).shape
        (4, 3, 24, 24)
    """

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0),
                 interpolation: str = "bilinear", antialias: bool = True,
                 generator=None) -> None:
        self.size = _pair(size, "RandomResizedCrop")
        if scale[0] > scale[1] or ratio[0] > ratio[1] or scale[0] < 0 or ratio[0] <= 0:
            raise ValueError(f"RandomResizedCrop: scale and ratio must be (min, max) ranges of "
                             f"positive values, got scale={scale}, ratio={ratio}")
        self.scale = tuple(float(s) for s in scale)
        self.ratio = tuple(float(r) for r in ratio)
        self.interpolation = _interpolation(interpolation, "RandomResizedCrop")
        self.antialias = antialias
        self.generator = generator

    def sample_params(self, shape: tuple, rng: np.random.Generator) -> dict:
        """Ten tries per sample, then torchvision's central-crop fallback."""
        n, _, height, width = shape
        area = height * width
        target = area * rng.uniform(self.scale[0], self.scale[1], (n, 10))
        aspect = np.exp(rng.uniform(math.log(self.ratio[0]), math.log(self.ratio[1]), (n, 10)))
        w = np.round(np.sqrt(target * aspect)).astype(np.int64)
        h = np.round(np.sqrt(target / aspect)).astype(np.int64)
        ok = (w > 0) & (w <= width) & (h > 0) & (h <= height)
        first = ok.argmax(1)
        found = ok.any(1)
        rows = np.arange(n)
        h, w = h[rows, first], w[rows, first]
        in_ratio = width / height
        if in_ratio < self.ratio[0]:
            fw, fh = width, int(round(width / self.ratio[0]))
        elif in_ratio > self.ratio[1]:
            fw, fh = int(round(height * self.ratio[1])), height
        else:
            fw, fh = width, height
        h, w = np.where(found, h, fh), np.where(found, w, fw)
        top = np.where(found, rng.integers(0, height - h + 1), (height - fh) // 2)
        left = np.where(found, rng.integers(0, width - w + 1), (width - fw) // 2)
        return {"boxes": np.stack([top, left, h, w], 1)}

    def apply(self, batch: Tensor, params: dict) -> Tensor:
        return F.resample(batch, params["boxes"], self.size, self.interpolation, self.antialias)
