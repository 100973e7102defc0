"""DataLoader in the main process: order, shuffling, drop_last, samplers, the fast path, errors."""

import numpy as np
import pytest

import ember
from ember.data import (
    ArrayDataset,
    BatchSampler,
    DataLoader,
    Dataset,
    IterableDataset,
    SequentialSampler,
    Subset,
    WeightedRandomSampler,
    default_collate,
    sample_generator,
)


class Items(Dataset):
    """A plain map-style dataset: ``(row, label)`` NumPy items, no fast path."""

    def __init__(self, n=10):
        self.x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
        self.y = np.arange(n)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def _labels(loader):
    return [y.tolist() for _, y in loader]


def test_sequential_batches_and_len():
    loader = DataLoader(Items(10), batch_size=4)
    assert _labels(loader) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]] and len(loader) == 3
    x, y = next(iter(loader))
    assert x.shape == (4, 2) and x.dtype == ember.float32 and y.dtype == ember.int64


def test_drop_last():
    loader = DataLoader(Items(10), batch_size=4, drop_last=True)
    assert _labels(loader) == [[0, 1, 2, 3], [4, 5, 6, 7]] and len(loader) == 2


def test_shuffle_is_deterministic_under_a_seed_and_changes_per_epoch():
    def run(seed):
        loader = DataLoader(Items(20), batch_size=6, shuffle=True,
                            generator=ember.Generator(seed=seed))
        return [_labels(loader), _labels(loader)]

    a, b, c = run(1), run(1), run(2)
    assert a == b and a != c
    assert a[0] != a[1]  # a new order each epoch
    assert sorted(sum(a[0], [])) == list(range(20))


def test_shuffle_without_generator_follows_manual_seed():
    ember.manual_seed(11)
    a = _labels(DataLoader(Items(20), batch_size=5, shuffle=True))
    ember.manual_seed(11)
    assert a == _labels(DataLoader(Items(20), batch_size=5, shuffle=True))


def test_batch_size_none_yields_converted_samples():
    loader = DataLoader(Items(3), batch_size=None)
    items = list(loader)
    assert len(items) == 3 and len(loader) == 3
    x, y = items[1]
    assert isinstance(x, ember.Tensor) and x.tolist() == [2.0, 3.0] and int(y) == 1


def test_sampler_and_batch_sampler():
    loader = DataLoader(Items(10), batch_size=3, sampler=[9, 1, 4, 4])
    assert _labels(loader) == [[9, 1, 4], [4]]
    bs = BatchSampler(SequentialSampler(range(5)), 2, drop_last=False)
    assert _labels(DataLoader(Items(5), batch_sampler=bs)) == [[0, 1], [2, 3], [4]]
    w = WeightedRandomSampler([0.0, 1.0, 0.0], 4, generator=ember.Generator(seed=0))
    assert _labels(DataLoader(Items(3), batch_size=2, sampler=w)) == [[1, 1], [1, 1]]


def test_custom_collate_fn():
    loader = DataLoader(Items(4), batch_size=2, collate_fn=lambda b: [int(y) for _, y in b])
    assert list(loader) == [[0, 1], [2, 3]]


def test_fast_path_gives_the_same_batches_as_item_collation():
    x = np.random.default_rng(0).standard_normal((50, 3, 4)).astype(np.float32)
    y = np.arange(50)
    ds = ArrayDataset(x, y)
    for kwargs in (dict(batch_size=8, shuffle=True), dict(batch_size=7, drop_last=True),
                   dict(batch_size=16, sampler=list(range(49, -1, -3)))):
        fast = DataLoader(ds, generator=ember.Generator(seed=3), **kwargs)
        slow = DataLoader(ds, generator=ember.Generator(seed=3),
                          collate_fn=lambda b: default_collate(b), **kwargs)
        assert fast._fast and not slow._fast
        pairs = list(zip(fast, slow, strict=True))
        assert pairs
        for (fx, fy), (sx, sy) in pairs:
            assert type(fx) is ember.Tensor and fx.shape == sx.shape
            np.testing.assert_array_equal(fx.numpy(), sx.numpy())
            np.testing.assert_array_equal(fy.numpy(), sy.numpy())


def test_fast_path_through_subset_and_not_with_transforms():
    ds = ArrayDataset(np.arange(10) * 2)
    assert DataLoader(Subset(ds, [1, 2]), batch_size=2)._fast
    assert [b[0].tolist() for b in DataLoader(Subset(ds, [3, 1, 2]), batch_size=2)] == [
        [6, 2], [4]]
    assert not DataLoader(Items(4), batch_size=2)._fast
    assert not DataLoader(ds, batch_size=None)._fast


def test_iterable_dataset_batches_and_len():
    class Count(IterableDataset):
        def __iter__(self):
            return iter(range(7))

    assert [b.tolist() for b in DataLoader(Count(), batch_size=3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [b.tolist() for b in DataLoader(Count(), batch_size=3, drop_last=True)] == [
        [0, 1, 2], [3, 4, 5]]
    assert [int(b) for b in DataLoader(Count(), batch_size=None)] == list(range(7))
    with pytest.raises(TypeError):
        len(DataLoader(Count(), batch_size=2))

    class Sized(Count):
        def __len__(self):
            return 7

    assert len(DataLoader(Sized(), batch_size=3)) == 3
    assert len(DataLoader(Sized(), batch_size=3, drop_last=True)) == 2


def test_sample_generator_is_seeded_per_batch_in_the_main_process():
    class Draws(Dataset):
        def __len__(self):
            return 8

        def __getitem__(self, i):
            return sample_generator().np.random()

    a = [b.tolist() for b in DataLoader(Draws(), batch_size=4, generator=ember.Generator(seed=5))]
    b = [b.tolist() for b in DataLoader(Draws(), batch_size=4, generator=ember.Generator(seed=5))]
    assert a == b and a[0] != a[1]
    assert sample_generator() is ember.random.default_generator  # restored after loading


def test_exception_in_the_main_process_names_the_sample():
    class Bad(Items):
        def __getitem__(self, i):
            if i == 6:
                raise KeyError("missing label")
            return super().__getitem__(i)

    loader = DataLoader(Bad(10), batch_size=4)
    with pytest.raises(KeyError, match="missing label") as info:
        list(loader)
    assert "sample index 6" in "".join(getattr(info.value, "__notes__", []))


def test_pin_memory_is_a_no_op_without_cuda():
    loader = DataLoader(Items(4), batch_size=2, pin_memory=True)
    assert _labels(loader) == [[0, 1], [2, 3]]


def test_pin_memory_uses_the_cuda_backends_pinning(monkeypatch):
    from ember import backend

    pinned = []

    class FakeCuda:
        @staticmethod
        def pin_memory(array):
            copy = np.array(array)
            pinned.append(copy)
            return copy

    monkeypatch.setitem(backend._BY_DEVICE_TYPE, "cuda", FakeCuda())
    for workers in (0, 2):
        pinned.clear()
        batches = list(DataLoader(Items(4), batch_size=2, pin_memory=True,
                                  num_workers=workers, timeout=30))
        assert len(pinned) == 4  # x and y of both batches
        assert all(any(b.data is p for p in pinned) for batch in batches for b in batch)


@pytest.mark.parametrize("kwargs, message", [
    (dict(batch_size=0), "batch_size must be a positive integer or None, got 0"),
    (dict(batch_size=-3), "batch_size must be a positive integer"),
    (dict(batch_size=2.5), "batch_size must be a positive integer"),
    (dict(shuffle=True, sampler=[0, 1]), "shuffle=True cannot be combined with a sampler"),
    (dict(batch_sampler=[[0]], batch_size=2), "batch_sampler yields whole batches"),
    (dict(batch_sampler=[[0]], drop_last=True), "batch_sampler yields whole batches"),
    (dict(num_workers=-1), "num_workers must be an integer >= 0"),
    (dict(timeout=-1), "timeout must be a number of seconds >= 0"),
    (dict(worker_type="fiber", num_workers=1), "worker_type must be one of"),
    (dict(prefetch_factor=2), "prefetch_factor needs num_workers > 0"),
    (dict(num_workers=1, prefetch_factor=0), "prefetch_factor must be a positive integer"),
    (dict(persistent_workers=True), "persistent_workers=True needs num_workers > 0"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DataLoader(Items(4), **kwargs)


def test_bad_datasets():
    class Stream(IterableDataset):
        def __iter__(self):
            return iter([1])

    with pytest.raises(ValueError, match="shuffle cannot be used with an IterableDataset"):
        DataLoader(Stream(), shuffle=True)
    with pytest.raises(ValueError, match="sampler cannot be used with an IterableDataset"):
        DataLoader(Stream(), sampler=[0])
    with pytest.raises(TypeError, match=r"needs __getitem__\s+and __len__"):
        DataLoader(object())
