"""Embedding's scale_grad_by_freq against PyTorch; sparse gradients are refused clearly."""

import numpy as np
import pytest
import torch

import ember


@pytest.mark.parametrize("padding_idx", [None, 1])
@pytest.mark.parametrize("functional", [False, True])
def test_scale_grad_by_freq_matches_torch(padding_idx, functional):
    rng = np.random.default_rng(0)
    idx = np.array([[1, 2, 1, 4], [4, 3, 1, 0]])
    w = rng.standard_normal((6, 3))
    g = rng.standard_normal((2, 4, 3))
    t = torch.nn.Embedding(6, 3, padding_idx=padding_idx, scale_grad_by_freq=True,
                           dtype=torch.float64)
    with torch.no_grad():
        t.weight.copy_(torch.tensor(w))
    t(torch.tensor(idx)).backward(torch.tensor(g))
    if functional:
        weight = ember.tensor(w, dtype=ember.float64, requires_grad=True)
        out = ember.nn.functional.embedding(ember.tensor(idx), weight, padding_idx=padding_idx,
                                            scale_grad_by_freq=True)
    else:
        e = ember.nn.Embedding(6, 3, padding_idx=padding_idx, scale_grad_by_freq=True,
                               dtype=ember.float64)
        with ember.no_grad():
            e.weight.copy_(ember.tensor(w))
        weight = e.weight
        out = e(ember.tensor(idx))
    np.testing.assert_allclose(out.detach().numpy(), t(torch.tensor(idx)).detach().numpy())
    out.backward(ember.tensor(g))
    np.testing.assert_allclose(weight.grad.numpy(), t.weight.grad.numpy(), rtol=1e-12,
                               atol=1e-15)


def test_scale_grad_by_freq_divides_each_row_gradient_by_its_count():
    # deliberately not the true derivative (so no gradcheck): row r gets sum(g) / count(r)
    idx = np.array([0, 2, 2, 1, 2])
    w = ember.randn(4, 2, dtype=ember.float64, requires_grad=True)
    g = np.arange(10.0).reshape(5, 2)
    ember.nn.functional.embedding(ember.tensor(idx), w, scale_grad_by_freq=True).backward(
        ember.tensor(g))
    expected = np.zeros((4, 2))
    for pos, row in enumerate(idx):
        expected[row] += g[pos] / np.count_nonzero(idx == row)
    np.testing.assert_allclose(w.grad.numpy(), expected)


def test_sparse_gradients_are_refused_with_what_to_do():
    with pytest.raises(ValueError, match="sparse=True.*sparse=False"):
        ember.nn.Embedding(4, 2, sparse=True)
    with pytest.raises(ValueError, match="embedding: sparse=True"):
        ember.nn.functional.embedding(ember.tensor([0]), ember.randn(4, 2), sparse=True)
