"""Indexing semantics the op table cannot express: views, in-place ``__setitem__`` (values,
versions, autograd through it and its errors), empty selections, index spellings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from ember.errors import AutogradError


def _x():
    return ember.arange(12.0).reshape(3, 4)


def test_basic_index_is_a_view_and_advanced_index_is_a_copy():
    x = _x()
    v, c = x[1, 1:3], x[[1]]
    x.data[1, 1] = -1.0
    assert v.tolist() == [-1.0, 6.0] and c.tolist() == [[4.0, 5.0, 6.0, 7.0]]


def test_setitem_writes_in_place_through_views_and_bumps_the_version():
    x = ember.zeros(2, 3)
    row = x[0]
    before = x._version[0]
    x[0, 1] = 5.0
    x[:, 2] = ember.tensor([1.0, 2.0])
    x[ember.tensor([False, True])] = ember.tensor(7, dtype="int64")
    assert row.tolist() == [0.0, 5.0, 1.0]
    assert x.tolist() == [[0.0, 5.0, 1.0], [7.0, 7.0, 7.0]]
    assert x.dtype is ember.float32 and x._version[0] == before + 3


def test_setitem_with_mask_and_scalar_matches_torch():
    a = np.random.default_rng(0).standard_normal((3, 4))
    e, t = ember.tensor(a), torch.tensor(a)
    e[e > 0] = 0.5
    t[t > 0] = 0.5
    e[:, [0, 2]] = ember.tensor([[1.0], [2.0], [3.0]])
    t[:, [0, 2]] = torch.tensor([[1.0], [2.0], [3.0]], dtype=torch.float64)
    np.testing.assert_array_equal(e.numpy(), t.numpy())


@pytest.mark.parametrize("index", [1, (slice(None), 2), (0, slice(1, 3)),
                                   np.array([True, False, True])], ids=repr)
def test_setitem_gradients_match_torch(index):
    rng = np.random.default_rng(1)
    a, g = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    v = rng.standard_normal(np.zeros((3, 4))[index].shape[-1:])
    grads = []
    for lib, wrap in ((ember, ember.tensor), (torch, torch.tensor)):
        x, val = wrap(a, requires_grad=True), wrap(v, requires_grad=True)
        y = x * 2.0
        y[index if lib is ember else (torch.from_numpy(index) if isinstance(
            index, np.ndarray) else index)] = val * val
        (y * wrap(g)).sum().backward()
        grads.append((np.asarray(x.grad.data if lib is ember else x.grad),
                      np.asarray(val.grad.data if lib is ember else val.grad)))
    for e, t in zip(*grads):
        np.testing.assert_allclose(e, t, rtol=1e-12)


def test_setitem_refuses_leaves_and_views_of_graph_tensors():
    x = ember.ones(2, 3, requires_grad=True)
    with pytest.raises(AutogradError, match=r"setitem: a leaf tensor that requires grad"):
        x[0] = 1.0
    with ember.no_grad():
        x[0] = 2.0
    assert x[0].tolist() == [2.0, 2.0, 2.0]
    y = x * 1
    with pytest.raises(AutogradError, match=r"setitem: this tensor is a view of a tensor"):
        y[0][1] = 3.0


def test_setitem_after_use_is_detected_at_backward():
    x = ember.ones(2, 3, requires_grad=True)
    y = x * 1
    z = y * y
    y[0] = 0.0
    with pytest.raises(AutogradError, match=r"gradient of mul .* modified in place"):
        z.sum().backward()


def test_setitem_from_a_scaled_view_of_itself():
    # mul by a Python scalar never reads its tensor argument, so the later write is allowed
    a = ember.tensor([[1.0, 2.0]], requires_grad=True)
    y = a * 1
    y[0, 0] = y[0, 1] * 3
    y.sum().backward()
    assert a.grad.tolist() == [[0.0, 4.0]]


def test_empty_selections_have_zero_gradients():
    x = ember.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    parts = [x[1:1], x[ember.tensor([False, False])], x[:, []]]
    assert [p.shape for p in parts] == [(0, 3), (0, 3), (2, 0)]
    sum(p.sum() for p in parts).backward()
    assert x.grad.tolist() == [[0.0] * 3] * 2


def test_repeated_indices_accumulate_gradients():
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 2, 2, 2]].sum().backward()
    assert x.grad.tolist() == [1.0, 0.0, 3.0]


@pytest.mark.parametrize("index", [
    ember.tensor([0, 2], dtype="int32"), ember.tensor(1), np.int64(2), [True, False, True],
    (Ellipsis, None), (ember.tensor([1]), Ellipsis, 3), ember.tensor([[0], [2]]),
], ids=repr)
def test_index_spellings_match_torch(index):
    x = _x()
    t = torch.arange(12.0).reshape(3, 4)

    def conv(i):
        return torch.from_numpy(np.asarray(i.data)) if isinstance(i, ember.Tensor) else i

    tindex = tuple(conv(i) for i in index) if isinstance(index, tuple) else conv(index)
    np.testing.assert_array_equal(x[index].numpy(), t[tindex].numpy())


def test_masked_fill_with_tensor_value_gets_its_gradient():
    x = ember.ones(2, 3, requires_grad=True)
    v = ember.tensor(3.0, requires_grad=True)
    ember.masked_fill(x, ember.tensor([[True, False, True], [False, False, True]]), v)\
        .sum().backward()
    assert v.grad.item() == 3.0 and x.grad.tolist() == [[0.0, 1.0, 0.0], [1.0, 1.0, 0.0]]
