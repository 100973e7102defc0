"""topk, kthvalue, bucketize, scatter, scatter_reduce and masked_select beyond the op table:
larger inputs against PyTorch, ties, NaN, in-place methods and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from ember.errors import EmberIndexError, ShapeError


@pytest.mark.parametrize("dim,k,largest,sorted_", [(-1, 5, True, True), (0, 3, False, True),
                                                    (1, 40, True, True), (2, 1, False, True)])
def test_topk_matches_torch_on_large_inputs(dim, k, largest, sorted_):
    x = np.random.default_rng(0).permutation(5 * 64 * 6).reshape(5, 64, 6) * 0.5
    got = ember.topk(ember.tensor(x), k, dim=dim, largest=largest, sorted=sorted_)
    want = torch.topk(torch.tensor(x), k, dim=dim, largest=largest, sorted=sorted_)
    np.testing.assert_array_equal(got.values.numpy(), want.values.numpy())
    np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())


def test_topk_unsorted_keeps_the_same_set_in_index_order():
    x = ember.tensor([5.0, 1.0, 9.0, 3.0, 7.0])
    values, indices = ember.topk(x, 3, sorted=False)
    assert indices.tolist() == [0, 2, 4]
    assert values.tolist() == [5.0, 9.0, 7.0]


def test_topk_ties_take_the_lowest_indices_and_agree_with_gather():
    x = ember.tensor([[1.0, 3.0, 3.0, 2.0, 3.0, 0.0]])
    values, indices = ember.topk(x, 2)
    assert indices.tolist() == [[1, 2]]
    assert ember.gather(x, 1, indices).tolist() == values.tolist() == [[3.0, 3.0]]
    values, indices = ember.topk(x, 4, largest=False)
    assert indices.tolist() == [[5, 0, 3, 1]]


def test_topk_counts_nan_as_largest_like_torch():
    x = [1.0, float("nan"), 3.0, -1.0]
    got = ember.topk(ember.tensor(x), 2)
    want = torch.topk(torch.tensor(x), 2)
    np.testing.assert_array_equal(got.values.numpy(), want.values.numpy())
    np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())


def test_topk_gradient_scatters_into_the_input():
    x = ember.tensor([[4.0, 1.0, 3.0], [0.0, 2.0, 5.0]], requires_grad=True)
    values, _ = x.topk(2, dim=1)
    (values * ember.tensor([[1.0, 10.0], [100.0, 1000.0]])).sum().backward()
    assert x.grad.tolist() == [[1.0, 0.0, 10.0], [0.0, 1000.0, 100.0]]


def test_topk_result_is_named_and_integer_input_works():
    out = ember.topk(ember.tensor([3, 8, 1]), 1)
    assert out.values.tolist() == [8] and out.indices.tolist() == [1]
    assert out.indices.dtype == ember.int64


@pytest.mark.parametrize("k,err,text", [(4, ShapeError, "k=4 is out of range for dim 0 of size 3"),
                                        (-1, ShapeError, "k=-1"),
                                        (1.5, TypeError, "k must be an integer")])
def test_topk_errors_name_the_op_and_shape(k, err, text):
    with pytest.raises(err, match="topk") as info:
        ember.topk(ember.tensor([1.0, 2.0, 3.0]), k)
    assert text in str(info.value)
    if err is ShapeError:
        assert "(3,)" in str(info.value)


def test_topk_bad_dim():
    with pytest.raises(ShapeError, match="topk: dim 2 is out of range"):
        ember.topk(ember.ones(2, 2), 1, dim=2)


def test_kthvalue_and_bucketize_match_torch():
    x = np.random.default_rng(1).permutation(24).reshape(4, 6).astype(np.float64)
    got = ember.kthvalue(ember.tensor(x), 3, dim=0, keepdim=True)
    want = torch.kthvalue(torch.tensor(x), 3, dim=0, keepdim=True)
    np.testing.assert_array_equal(got[0].numpy(), want.values.numpy())
    np.testing.assert_array_equal(got[1].numpy(), want.indices.numpy())
    b = [1.0, 3.0, 5.0, 7.0]
    v = [[0.0, 1.0, 3.5], [5.0, 7.0, 9.0]]
    for right in (False, True):
        np.testing.assert_array_equal(
            ember.bucketize(ember.tensor(v), ember.tensor(b), right=right).numpy(),
            torch.bucketize(torch.tensor(v), torch.tensor(b), right=right).numpy())
    assert ember.bucketize(ember.tensor(v), ember.tensor(b), out_int32=True).dtype == ember.int32
    with pytest.raises(ShapeError, match="kthvalue: k=5"):
        ember.kthvalue(ember.tensor(x), 5, dim=0)


def _scatter_inputs(seed=2):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((6, 5))
    index = rng.integers(0, 6, size=(8, 5))
    src = rng.standard_normal((8, 5))
    return x, index, src


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_with_repeats_matches_torch(reduce, include_self):
    x, index, src = _scatter_inputs()
    ex, es = ember.tensor(x, requires_grad=True), ember.tensor(src, requires_grad=True)
    tx, ts = torch.tensor(x, requires_grad=True), torch.tensor(src, requires_grad=True)
    got = ember.scatter_reduce(ex, 0, ember.tensor(index), es, reduce, include_self=include_self)
    want = torch.scatter_reduce(tx, 0, torch.tensor(index), ts, reduce,
                                include_self=include_self)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-12)
    w = np.random.default_rng(3).standard_normal(x.shape)
    (got * ember.tensor(w)).sum().backward()
    (want * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(es.grad.numpy(), ts.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reduce,torch_reduce", [("add", "sum"), ("multiply", "prod")])
def test_scatter_reduce_argument_matches_torch(reduce, torch_reduce):
    x, index, src = _scatter_inputs(4)
    got = ember.scatter(ember.tensor(x), 0, ember.tensor(index), ember.tensor(src),
                        reduce=reduce)
    want = torch.scatter_reduce(torch.tensor(x), 0, torch.tensor(index), torch.tensor(src),
                                torch_reduce)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)


def test_scatter_negative_index_and_value_keyword():
    x = ember.zeros(2, 3)
    got = ember.scatter(x, 1, ember.tensor([[-1], [0]]), value=4.0)
    want = torch.zeros(2, 3).scatter(1, torch.tensor([[-1 + 3], [0]]), 4.0)
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_inplace_scatter_methods_match_torch_and_record_gradients():
    x, index, src = _scatter_inputs(5)
    index = np.argsort(np.random.default_rng(5).random((6, 5)), axis=0)[:4]  # no repeats
    src = src[:4]
    for name, args in (("scatter_", ()), ("scatter_add_", ()), ("scatter_reduce_", ("amax",))):
        e, t = ember.tensor(x), torch.tensor(x)
        es = ember.tensor(src, requires_grad=True)
        ts = torch.tensor(src, requires_grad=True)
        out = getattr(e, name)(0, ember.tensor(index), es, *args)
        getattr(t, name)(0, torch.tensor(index), ts, *args)
        assert out is e
        np.testing.assert_allclose(e.detach().numpy(), t.detach().numpy(), rtol=1e-12)
        e.sum().backward()
        t.sum().backward()
        np.testing.assert_allclose(es.grad.numpy(), ts.grad.numpy(), rtol=1e-12)


def test_scatter_errors():
    x = ember.zeros(3, 4)
    with pytest.raises(EmberIndexError, match="scatter: index out of range for dim 0 of size 3"):
        ember.scatter(x, 0, ember.tensor([[3]]), ember.ones(1, 1))
    with pytest.raises(ShapeError, match="scatter: index has 1 dimension"):
        ember.scatter(x, 0, ember.tensor([0]), 1.0)
    with pytest.raises(EmberIndexError, match="scatter: index must be an integer tensor"):
        ember.scatter(x, 0, ember.tensor([[0.5]]), 1.0)
    with pytest.raises(ShapeError, match="scatter_reduce: index must not be larger than src"):
        ember.scatter_reduce(x, 0, ember.tensor([[0, 1]]), ember.ones(1, 1), "sum")
    with pytest.raises(ValueError, match="scatter_reduce: reduce must be one of"):
        ember.scatter_reduce(x, 0, ember.tensor([[0]]), ember.ones(1, 1), "max")
    with pytest.raises(ShapeError, match="src has dtype int64"):
        ember.scatter(x, 0, ember.tensor([[0]]), ember.tensor([[1]]))


def test_masked_select_gradient_and_errors():
    x = np.random.default_rng(6).standard_normal((3, 4))
    mask = np.array([True, False, True, True])
    ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    got = ex.masked_select(ember.tensor(mask))
    want = torch.masked_select(tx, torch.tensor(mask))
    np.testing.assert_array_equal(got.detach().numpy(), want.detach().numpy())
    w = np.arange(got.shape[0], dtype=np.float64)
    (got * ember.tensor(w)).sum().backward()
    (want * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(ex.grad.numpy(), tx.grad.numpy())
    with pytest.raises(EmberIndexError, match="masked_select: mask must be a bool tensor"):
        ember.masked_select(ember.tensor(x), ember.tensor([1, 0, 1, 1]))
