"""Datasets (ArrayDataset, Subset, ConcatDataset, random_split) and every sampler."""

import numpy as np
import pytest

import ember
from ember.data import (
    ArrayDataset,
    BatchSampler,
    ChainDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    random_split,
)
from ember.errors import ShapeError


def test_array_dataset_items_share_memory_and_keep_dtypes():
    x = np.arange(12, dtype=np.float64).reshape(4, 3)
    y = np.array([5, 6, 7, 8], dtype=np.int32)
    ds = ArrayDataset(x, y)
    a, b = ds[2]
    assert len(ds) == 4
    np.testing.assert_array_equal(a.numpy(), [6.0, 7.0, 8.0])
    assert a.dtype == ember.float64 and b.dtype == ember.int32 and b.shape == ()
    assert int(b) == 7
    assert np.shares_memory(a.numpy(), x)
    assert ds[-1][1].item() == 8


def test_tensor_dataset_from_tensors_and_fast_batch():
    t = ember.arange(10).float().reshape(5, 2)
    ds = TensorDataset(t, ember.arange(5))
    xb, yb = ds._get_batch(np.array([4, 0, 2]))
    np.testing.assert_array_equal(xb.numpy(), t.numpy()[[4, 0, 2]])
    assert yb.tolist() == [4, 0, 2]


def test_array_dataset_errors():
    with pytest.raises(ShapeError, match=r"same first dimension.*\(3, 2\), \(4,\)"):
        ArrayDataset(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="at least one array"):
        ArrayDataset()
    with pytest.raises(ShapeError, match="0-d"):
        ArrayDataset(np.float32(3.0))
    with pytest.raises(TypeError, match="dtype <U1"):
        ArrayDataset(np.array(["a", "b"]))


def test_subset_and_concat():
    base = list(range(10, 20))
    sub = Subset(base, [3, 0, 9])
    assert [sub[i] for i in range(3)] == [13, 10, 19] and len(sub) == 3
    cat = ConcatDataset([[0, 1], [2, 3, 4], [5]])
    assert [cat[i] for i in range(len(cat))] == [0, 1, 2, 3, 4, 5]
    assert cat[-1] == 5 and cat[-6] == 0
    with pytest.raises(IndexError, match="out of range"):
        cat[6]
    with pytest.raises(IndexError, match="out of range"):
        cat[-7]
    combined = Subset(base, [0]) + Subset(base, [1])
    assert isinstance(combined, ConcatDataset) and list(combined) == [10, 11]


def test_concat_rejects_streams_and_chain_chains():
    class S(IterableDataset):
        def __init__(self, items):
            self.items = items

        def __iter__(self):
            return iter(self.items)

    with pytest.raises(TypeError, match="ChainDataset"):
        ConcatDataset([S([1])])
    assert list(ChainDataset([S([1, 2]), S([3])])) == [1, 2, 3]
    assert list(S([1]) + S([2])) == [1, 2]


def test_subset_of_array_dataset_keeps_fast_path():
    ds = ArrayDataset(np.arange(10) * 10)
    sub = Subset(ds, [9, 1, 5])
    (batch,) = sub._get_batch([2, 0])
    assert batch.tolist() == [50, 90]


def test_random_split_counts_fractions_and_determinism():
    parts = random_split(range(10), [3, 7], generator=ember.Generator(seed=4))
    assert [len(p) for p in parts] == [3, 7]
    assert sorted(list(parts[0]) + list(parts[1])) == list(range(10))
    again = random_split(range(10), [3, 7], generator=ember.Generator(seed=4))
    assert list(parts[0]) == list(again[0])
    other = random_split(range(10), [3, 7], generator=ember.Generator(seed=5))
    assert list(parts[0]) != list(other[0])
    # fractions: floor, then the remainder one by one from the first split (PyTorch)
    fr = random_split(range(11), [0.5, 0.3, 0.2], generator=ember.Generator(seed=0))
    assert [len(p) for p in fr] == [6, 3, 2]
    with pytest.raises(ValueError, match="sum to 9"):
        random_split(range(10), [4, 5])
    with pytest.raises(ValueError, match="non-negative"):
        random_split(range(10), [11, -1])


def test_base_dataset_requires_getitem():
    with pytest.raises(NotImplementedError, match="__getitem__"):
        Dataset()[0]


# ----------------------------------------------------------------------------- samplers
def test_sequential_sampler():
    s = SequentialSampler(range(5))
    assert list(s) == [0, 1, 2, 3, 4] and len(s) == 5


def test_random_sampler_is_a_seeded_permutation():
    a = list(RandomSampler(range(50), generator=ember.Generator(seed=1)))
    b = list(RandomSampler(range(50), generator=ember.Generator(seed=1)))
    c = list(RandomSampler(range(50), generator=ember.Generator(seed=2)))
    assert sorted(a) == list(range(50)) and a == b and a != c
    ember.manual_seed(3)
    d = list(RandomSampler(range(50)))
    ember.manual_seed(3)
    assert d == list(RandomSampler(range(50)))
    s = RandomSampler(range(50), generator=ember.Generator(seed=1))
    assert list(s) != list(s)  # a new order per pass


def test_random_sampler_num_samples_without_replacement_chains_permutations():
    out = list(RandomSampler(range(4), num_samples=10, generator=ember.Generator(seed=0)))
    assert len(out) == 10
    assert sorted(out[:4]) == sorted(out[4:8]) == [0, 1, 2, 3]
    assert len(set(out[8:])) == 2


def test_random_sampler_with_replacement_is_uniform():
    n, draws = 5, 50_000
    out = np.array(list(RandomSampler(range(n), replacement=True, num_samples=draws,
                                      generator=ember.Generator(seed=0))))
    counts = np.bincount(out, minlength=n)
    sd = np.sqrt(draws * (1 / n) * (1 - 1 / n))
    assert np.all(np.abs(counts - draws / n) < 5 * sd)
    assert len(RandomSampler(range(n), replacement=True, num_samples=7)) == 7
    with pytest.raises(ValueError, match="num_samples must be a positive integer"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(TypeError, match="replacement must be a bool"):
        RandomSampler(range(3), replacement=1)


def test_weighted_sampler_follows_the_weights():
    w = [1.0, 3.0, 0.0, 6.0]
    draws = 40_000
    out = np.array(list(WeightedRandomSampler(w, draws, generator=ember.Generator(seed=0))))
    p = np.array(w) / sum(w)
    counts = np.bincount(out, minlength=4)
    assert counts[2] == 0
    sd = np.sqrt(draws * p * (1 - p))
    assert np.all(np.abs(counts - draws * p) <= 5 * sd + 1e-9)


def test_weighted_sampler_without_replacement():
    s = WeightedRandomSampler([1.0, 0.0, 2.0, 5.0], 3, replacement=False,
                              generator=ember.Generator(seed=0))
    out = list(s)
    assert sorted(out) == [0, 2, 3] and len(s) == 3
    with pytest.raises(ValueError, match="only 3 weights are non-zero"):
        WeightedRandomSampler([1.0, 0.0, 2.0, 5.0], 4, replacement=False)
    with pytest.raises(ValueError, match="non-negative"):
        WeightedRandomSampler([1.0, -1.0], 2)
    with pytest.raises(ValueError, match="not all zero"):
        WeightedRandomSampler([0.0, 0.0], 2)
    with pytest.raises(ValueError, match="1-d"):
        WeightedRandomSampler([[1.0]], 2)


def test_subset_random_sampler():
    idx = [7, 3, 11, 5]
    a = list(SubsetRandomSampler(idx, generator=ember.Generator(seed=0)))
    assert sorted(a) == sorted(idx) and len(SubsetRandomSampler(idx)) == 4
    assert a == list(SubsetRandomSampler(idx, generator=ember.Generator(seed=0)))


@pytest.mark.parametrize("drop_last", [False, True])
def test_batch_sampler(drop_last):
    s = BatchSampler(SequentialSampler(range(10)), 4, drop_last)
    want = [[0, 1, 2, 3], [4, 5, 6, 7]] + ([] if drop_last else [[8, 9]])
    assert list(s) == want and len(s) == len(want)
    arrays = [a.tolist() for a in s._index_batches()]
    assert arrays == want
    assert list(BatchSampler(range(3), 3, drop_last)) == [[0, 1, 2]]


def test_batch_sampler_index_arrays_match_lists_for_random_samplers():
    for sampler in (RandomSampler(range(23), generator=ember.Generator(seed=9)),
                    WeightedRandomSampler(np.arange(1, 24.0), 30,
                                          generator=ember.Generator(seed=9)),
                    SubsetRandomSampler(list(range(5, 23)), generator=ember.Generator(seed=9))):
        bs = BatchSampler(sampler, 5, False)
        sampler.generator.manual_seed(9)
        lists = list(bs)
        sampler.generator.manual_seed(9)
        assert [a.tolist() for a in bs._index_batches()] == lists


def test_batch_sampler_errors():
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        BatchSampler(range(3), 0, False)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        BatchSampler(range(3), True, False)
    with pytest.raises(TypeError, match="drop_last must be a bool"):
        BatchSampler(range(3), 2, None)
