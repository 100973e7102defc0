"""Each transform on single images and on batches, against torchvision's algorithms.

Random transforms are checked in two steps: the parameters they draw (ranges, frequencies),
then ``apply`` on a batch against the reference run image by image with those parameters.
"""

import numpy as np
import pytest
from PIL import Image

import ember
from ember.data import transforms as T
from ember.errors import ShapeError

from . import transform_refs as ref

RNG = np.random.default_rng(0)


def _img(*shape, dtype=np.float32):
    if dtype == np.uint8:
        return RNG.integers(0, 256, shape, dtype=np.uint8)
    return RNG.random(shape, dtype=np.float32)


def _close(ours, want, atol=1e-5):
    ours = ours.numpy() if isinstance(ours, ember.Tensor) else ours
    assert ours.shape == want.shape and ours.dtype == want.dtype, (ours.shape, want.shape,
                                                                   ours.dtype, want.dtype)
    np.testing.assert_allclose(ours, want, rtol=1e-5, atol=atol)


def _params(t, shape, seed=0):
    return t.sample_params(shape, np.random.default_rng(seed))


# ----------------------------------------------------------------------------- conversions
def test_to_tensor_arrays_and_pil_images():
    hwc = _img(5, 7, 3, dtype=np.uint8)
    _close(T.ToTensor()(hwc), ref.to_tensor(hwc))
    gray = _img(5, 7, dtype=np.uint8)
    _close(T.ToTensor()(gray), ref.to_tensor(gray))
    floats = _img(4, 4, 2)
    _close(T.ToTensor()(floats), ref.to_tensor(floats))  # non-uint8 values are kept
    _close(T.ToTensor()(Image.fromarray(hwc)), ref.to_tensor(hwc))
    _close(T.ToTensor()(Image.fromarray(gray)), ref.to_tensor(gray))
    bits = Image.fromarray(gray > 128)
    _close(T.ToTensor()(bits), ref.to_tensor((gray > 128).astype(np.uint8) * 255))
    batch = _img(3, 5, 7, 3, dtype=np.uint8)
    _close(T.ToTensor()(batch), np.stack([ref.to_tensor(b) for b in batch]))


def test_to_tensor_errors():
    with pytest.raises(TypeError, match="already a tensor"):
        T.ToTensor()(ember.zeros(3, 2, 2))
    with pytest.raises(TypeError, match="PIL image or a NumPy array"):
        T.ToTensor()([[1, 2]])
    with pytest.raises(ShapeError, match=r"got shape \(2,\)"):
        T.ToTensor()(np.zeros(2, np.uint8))


def test_normalize_single_and_batch():
    mean, std = [0.1, 0.2, 0.3], [0.5, 0.25, 2.0]
    want = lambda x: (x - np.float32(mean)[:, None, None]) / np.float32(std)[:, None, None]  # noqa: E731
    x = _img(4, 3, 5, 6)
    _close(T.Normalize(mean, std)(ember.tensor(x)), want(x))
    _close(T.Normalize(mean, std)(ember.tensor(x[1])), want(x[1]))
    x64 = x.astype(np.float64)
    out = T.Normalize(mean, std)(ember.tensor(x64))
    assert out.dtype == ember.float64
    np.testing.assert_allclose(out.numpy(), (x64 - np.array(mean)[:, None, None]) /
                               np.array(std)[:, None, None], rtol=1e-12)


def test_normalize_errors():
    with pytest.raises(ValueError, match="holds a zero"):
        T.Normalize([0.0], [0.0])
    with pytest.raises(TypeError, match="expects a float tensor, got uint8"):
        T.Normalize([0.5], [0.5])(ember.tensor(_img(1, 2, 2, dtype=np.uint8)))
    with pytest.raises(ShapeError, match="mean has 3 values but the image has 2 channels"):
        T.Normalize([0.1, 0.2, 0.3], [1.0])(ember.zeros(2, 4, 4))
    with pytest.raises(TypeError, match="expects an ember Tensor"):
        T.Normalize([0.5], [0.5])(np.zeros((1, 2, 2)))
    with pytest.raises(ShapeError, match=r"got shape \(4, 4\)"):
        T.Normalize([0.5], [0.5])(ember.zeros(4, 4))


# ----------------------------------------------------------------------------- resize, crops
@pytest.mark.parametrize("size", [(9, 14), (24, 40), (16, 13), 11])
@pytest.mark.parametrize("mode, antialias", [("bilinear", True), ("bilinear", False),
                                             ("nearest", False), ("nearest-exact", False)])
def test_resize_matches_torchvision(size, mode, antialias):
    x = _img(3, 3, 17, 26)
    t = T.Resize(size, interpolation=mode, antialias=antialias)
    out_hw = ref.resized_size(17, 26, size)
    want = np.stack([ref.resize(img, out_hw, mode, antialias) for img in x])
    _close(t(ember.tensor(x)), want)
    _close(t(ember.tensor(x[0])), want[0])


def test_resize_uint8_rounds_and_size_rules():
    x = _img(2, 3, 20, 30, dtype=np.uint8)
    out = T.Resize((7, 11))(ember.tensor(x))
    want = np.stack([ref.resize(img, (7, 11)) for img in x])
    assert out.dtype == ember.uint8
    np.testing.assert_array_equal(out.numpy(), want)
    assert T.Resize(10)(ember.zeros(1, 20, 30)).shape == (1, 10, 15)
    assert T.Resize(10)(ember.zeros(1, 30, 20)).shape == (1, 15, 10)
    assert T.Resize(10, max_size=12)(ember.zeros(1, 20, 30)).shape == (1, 8, 12)
    same = ember.zeros(1, 10, 10)
    assert T.Resize(10)(same) is same
    with pytest.raises(ValueError, match="max_size .* must be larger"):
        T.Resize(10, max_size=10)
    with pytest.raises(ValueError, match="interpolation must be one of"):
        T.Resize(10, interpolation="bicubic")


@pytest.mark.parametrize("size", [(4, 4), (5, 3), (9, 12), (7, 13)])
def test_center_crop_matches_torchvision(size):
    x = _img(2, 3, 8, 11)
    want = np.stack([ref.center_crop(img, size) for img in x])
    _close(T.CenterCrop(size)(ember.tensor(x)), want)
    _close(T.CenterCrop(size)(ember.tensor(x[1])), want[1])


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
@pytest.mark.parametrize("padding", [2, (1, 3), (1, 2, 3, 0)])
def test_pad_matches_numpy(mode, padding):
    x = _img(2, 3, 5, 6)
    ltrb = {2: (2, 2, 2, 2), (1, 3): (1, 3, 1, 3), (1, 2, 3, 0): (1, 2, 3, 0)}[padding]
    want = np.stack([ref.pad(img, ltrb, 0.5, mode) for img in x])
    _close(T.Pad(padding, fill=0.5, padding_mode=mode)(ember.tensor(x)), want)
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        T.Pad(1, padding_mode="wrap")


@pytest.mark.parametrize("kwargs", [
    dict(size=5), dict(size=(6, 4), padding=2), dict(size=8, padding=(1, 2, 3, 0), fill=0.7),
    dict(size=9, padding=1, padding_mode="reflect"), dict(size=(12, 14), pad_if_needed=True),
    dict(size=(12, 14), pad_if_needed=True, padding_mode="reflect"),
    dict(size=(7, 8), padding=1, padding_mode="symmetric"), dict(size=(7, 8))])
def test_random_crop_batch_matches_per_sample_reference(kwargs):
    x = _img(6, 3, 7, 8)
    t = T.RandomCrop(**kwargs)
    params = _params(t, x.shape)
    out = t.apply(ember.tensor(x), params)
    th, tw = (kwargs["size"],) * 2 if isinstance(kwargs["size"], int) else kwargs["size"]
    mode, fill = kwargs.get("padding_mode", "constant"), kwargs.get("fill", 0)
    for n, img in enumerate(x):
        if "padding" in kwargs:
            img = ref.pad(img, T.functional.pad_ltrb(kwargs["padding"]), fill, mode)
        if kwargs.get("pad_if_needed"):  # torchvision pads width, then height, if too small
            if img.shape[2] < tw:
                img = ref.pad(img, (tw - img.shape[2], 0, tw - img.shape[2], 0), fill, mode)
            if img.shape[1] < th:
                img = ref.pad(img, (0, th - img.shape[1], 0, th - img.shape[1]), fill, mode)
        i, j = params["top"][n], params["left"][n]
        _close(out[n], img[:, i:i + th, j:j + tw])


def test_random_crop_offsets_cover_the_range_uniformly():
    t = T.RandomCrop(4, padding=2)
    p = _params(t, (20_000, 1, 6, 6))
    for key in ("top", "left"):
        counts = np.bincount(p[key], minlength=7)  # padded size 10, crop 4: offsets 0..6
        assert counts.size == 7
        assert np.all(np.abs(counts - 20_000 / 7) < 5 * np.sqrt(20_000 / 7 * 6 / 7))
    with pytest.raises(ShapeError, match=r"crop size \(9, 9\) is larger than the \(padded\) "
                                         r"image size \(8, 8\)"):
        T.RandomCrop(9)(ember.zeros(1, 8, 8))


def test_random_flips():
    x = _img(200, 2, 3, 4)
    for cls, axis in ((T.RandomHorizontalFlip, 2), (T.RandomVerticalFlip, 1)):
        t = cls(p=0.3)
        params = _params(t, x.shape)
        assert 40 <= params["flip"].sum() <= 80
        out = t.apply(ember.tensor(x), params).numpy()
        want = np.stack([np.flip(img, axis) if f else img for img, f in zip(x, params["flip"])])
        np.testing.assert_array_equal(out, want)
        np.testing.assert_array_equal(cls(p=1.0)(ember.tensor(x[0])).numpy(), np.flip(x[0], axis))
        np.testing.assert_array_equal(cls(p=0.0)(ember.tensor(x)).numpy(), x)
    with pytest.raises(ValueError, match=r"p must lie in \[0, 1\]"):
        T.RandomHorizontalFlip(p=1.5)


# ----------------------------------------------------------------------------- rotation
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
@pytest.mark.parametrize("kwargs", [dict(), dict(fill=0.5), dict(center=(3, 2)),
                                    dict(fill=(0.1, 0.9, 0.4))])
def test_random_rotation_matches_torchvision(mode, kwargs):
    x = _img(5, 3, 9, 12)
    t = T.RandomRotation(170, interpolation=mode, **kwargs)
    params = _params(t, x.shape, seed=3)
    out = t.apply(ember.tensor(x), params)
    for n, img in enumerate(x):
        want = ref.rotate(img, params["angle"][n], mode, center=kwargs.get("center"),
                          fill=kwargs.get("fill", 0.0))
        _close(out[n], want)


def test_rotation_expand_uint8_and_exact_quarter_turns():
    img = _img(3, 8, 13, dtype=np.uint8)
    t = T.RandomRotation((33.0, 33.0), interpolation="bilinear", expand=True)
    want = ref.rotate(img, 33.0, "bilinear", expand=True)
    out = t(ember.tensor(img))
    assert out.shape == want.shape and out.dtype == ember.uint8
    np.testing.assert_array_equal(out.numpy(), want)
    square = _img(2, 6, 6)
    out = T.RandomRotation((90.0, 90.0))(ember.tensor(square)).numpy()
    np.testing.assert_array_equal(out, np.rot90(square, 1, axes=(1, 2)))
    with pytest.raises(ShapeError, match="expand=True .* batch of 2"):
        T.RandomRotation(10, expand=True)(ember.zeros(2, 1, 4, 4))
    with pytest.raises(ValueError, match="must be >= 0"):
        T.RandomRotation(-5)


def test_rotation_angles_lie_in_the_range():
    angles = _params(T.RandomRotation((-10.0, 30.0)), (5000, 1, 2, 2))["angle"]
    assert angles.min() >= -10.0 and angles.max() < 30.0 and abs(angles.mean() - 10.0) < 0.5


# ----------------------------------------------------------------------------- resized crop
def test_random_resized_crop_batch_matches_per_sample_reference():
    x = _img(6, 3, 20, 28)
    for mode, aa in (("bilinear", True), ("bilinear", False), ("nearest", False)):
        t = T.RandomResizedCrop((9, 11), interpolation=mode, antialias=aa)
        params = _params(t, x.shape, seed=5)
        out = t.apply(ember.tensor(x), params)
        for n, img in enumerate(x):
            i, j, h, w = params["boxes"][n]
            _close(out[n], ref.resize(img[:, i:i + h, j:j + w], (9, 11), mode, aa))


def test_random_resized_crop_boxes():
    t = T.RandomResizedCrop(8, scale=(0.2, 0.6), ratio=(0.5, 2.0))
    boxes = _params(t, (4000, 3, 50, 60))["boxes"]
    top, left, h, w = boxes.T
    assert np.all(top >= 0) and np.all(left >= 0)
    assert np.all(top + h <= 50) and np.all(left + w <= 60)
    area = h * w / 3000
    assert area.min() > 0.17 and area.max() < 0.64  # scale range, up to rounding
    assert (w / h).min() > 0.45 and (w / h).max() < 2.2
    # no box can fit: torchvision's fallback, the largest central crop within the ratios
    fallback = T.RandomResizedCrop(8, scale=(2.0, 3.0), ratio=(1.0, 1.0))
    assert _params(fallback, (3, 1, 10, 16))["boxes"].tolist() == [[0, 3, 10, 10]] * 3
    uint8 = T.RandomResizedCrop(5)(ember.tensor(_img(3, 12, 12, dtype=np.uint8)))
    assert uint8.shape == (3, 5, 5) and uint8.dtype == ember.uint8


# ----------------------------------------------------------------------------- colour
@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
@pytest.mark.parametrize("channels", [3, 1])
def test_color_jitter_matches_torchvision_in_each_samples_order(dtype, channels):
    x = _img(8, channels, 5, 6, dtype=dtype)
    t = T.ColorJitter(brightness=0.5, contrast=(0.2, 1.8), saturation=0.7)
    params = _params(t, x.shape, seed=2)
    out = t.apply(ember.tensor(x), params).numpy()
    names = ["brightness", "contrast", "saturation"]
    assert sorted(map(tuple, np.sort(params["order"], 1))) == [(0, 1, 2)] * 8
    assert len({tuple(o) for o in params["order"]}) > 1
    for n, img in enumerate(x):
        want = img
        for j in params["order"][n]:
            want = ref.adjust(want, names[j], params[names[j]][n])
        if dtype == np.uint8:  # torchvision truncates to uint8 after each step
            np.testing.assert_array_equal(out[n], want)
        else:
            _close(out[n], want)


def test_color_jitter_ranges_and_errors():
    t = T.ColorJitter(brightness=0.3)
    p = _params(t, (3000, 3, 1, 1))
    assert set(p) == {"order", "brightness"}
    assert p["brightness"].min() >= 0.7 and p["brightness"].max() <= 1.3
    x = ember.tensor(_img(2, 3, 4, 4))
    assert T.ColorJitter()(x) is x
    with pytest.raises(ValueError, match="brightness must be >= 0"):
        T.ColorJitter(brightness=-0.1)
    with pytest.raises(ValueError, match="0 <= min <= max"):
        T.ColorJitter(contrast=(1.5, 0.5))
    with pytest.raises(ShapeError, match="1- or 3-channel images, got 2"):
        T.ColorJitter(contrast=0.5)(ember.zeros(2, 4, 4))


@pytest.mark.parametrize("value", [0.0, (0.2, 0.5, 0.9), "random"])
def test_random_erasing_matches_per_sample_reference(value):
    x = _img(10, 3, 16, 12)
    t = T.RandomErasing(p=0.7, value=value)
    params = _params(t, x.shape, seed=4)
    out = t.apply(ember.tensor(x), params).numpy()
    for n, img in enumerate(x):
        if not params["erase"][n]:
            np.testing.assert_array_equal(out[n], img)
            continue
        i, j, h, w = params["boxes"][n]
        fill = (params["noise"][n][:, i:i + h, j:j + w] if value == "random" else
                np.asarray(value, np.float32).reshape(-1, 1, 1))
        np.testing.assert_array_equal(out[n], ref.erase(img, i, j, h, w, fill))


def test_random_erasing_boxes_probability_and_errors():
    p = _params(T.RandomErasing(p=0.4, scale=(0.1, 0.2)), (5000, 1, 30, 40))
    frac = p["erase"].mean()
    assert 0.36 < frac < 0.44
    top, left, h, w = p["boxes"][p["erase"]].T
    assert np.all(top + h <= 30) and np.all(left + w <= 40) and np.all(h < 30)
    area = h * w / 1200
    assert area.min() > 0.08 and area.max() < 0.23
    with pytest.raises(ShapeError, match="value has 2 entries but the image has 3 channels"):
        T.RandomErasing(p=1.0, value=(1.0, 2.0))(ember.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="'random'"):
        T.RandomErasing(value="noise")


# ----------------------------------------------------------------------------- all random
RANDOM = [T.RandomCrop(6, padding=1), T.RandomHorizontalFlip(), T.RandomVerticalFlip(),
          T.RandomRotation(45), T.RandomResizedCrop(5),
          T.ColorJitter(brightness=0.5, contrast=0.5, saturation=0.5), T.RandomErasing(p=0.9)]


@pytest.mark.parametrize("t", RANDOM, ids=lambda t: type(t).__name__)
def test_single_image_equals_a_batch_of_one_and_batches_vary_per_sample(t):
    img = _img(3, 8, 8)
    t.generator = ember.Generator(seed=21)
    single = t(ember.tensor(img))
    t.generator = ember.Generator(seed=21)
    params = t.sample_params((1, 3, 8, 8), t.generator.np)
    np.testing.assert_array_equal(single.numpy(), t.apply(ember.tensor(img[None]), params)[0]
                                  .numpy())
    same = ember.tensor(np.broadcast_to(img, (16, 3, 8, 8)).copy())
    out = t(same).numpy()
    assert len({o.tobytes() for o in out}) > 1, "all samples got the same parameters"
    t.generator = None


def test_transforms_draw_from_the_loaders_sample_generator():
    from ember.data import ArrayDataset, DataLoader

    class Augmented(ArrayDataset):
        transform = T.Compose([T.RandomCrop(4, padding=1), T.RandomHorizontalFlip()])

        def __getitem__(self, i):
            return self.transform(ember.tensor(self.arrays[0][i]))

    ds = Augmented(_img(12, 1, 4, 4))
    runs = [[b.numpy() for b in DataLoader(ds, batch_size=4, num_workers=k, timeout=30,
                                           generator=ember.Generator(seed=9))]
            for k in (0, 2)]
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)


def test_compose_lambda_and_repr():
    t = T.Compose([T.ToTensor(), T.Lambda(lambda x: x * 2), T.CenterCrop(2)])
    out = t(np.full((4, 4), 255, np.uint8))
    np.testing.assert_array_equal(out.numpy(), np.full((1, 2, 2), 2.0, np.float32))
    assert "CenterCrop(size=(2, 2))" in repr(t) and "ToTensor()" in repr(t)
    with pytest.raises(TypeError, match="expects a callable"):
        T.Lambda(3)
