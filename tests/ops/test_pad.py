"""``pad`` in its five modes against ``numpy.pad`` (and PyTorch where it has the mode), at the
largest pads each mode allows, with gradients and double backward through ``pad_adjoint``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as tF

import ember

NP_MODE = {"constant": "constant", "reflect": "reflect", "symmetric": "symmetric",
           "replicate": "edge", "circular": "wrap"}
LIMIT = {"constant": 7, "reflect": -1, "symmetric": 0, "replicate": 7, "circular": 0}


def _np_pad(x, pad, mode, value=0.0):
    width = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        width[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    kw = {"constant_values": value} if mode == "constant" else {}
    return np.pad(x, width, mode=NP_MODE[mode], **kw)


def _max_pad(mode, n):
    """The largest pad ``mode`` accepts on a dimension of size ``n``."""
    return n + LIMIT[mode]


CASES = [  # shape, pad (None entries become the mode's largest allowed pad)
    ((5,), (2, 1)), ((5,), (None, None)), ((1, 4), (0, None)), ((2, 3), (None, 0, 1, None)),
    ((2, 3, 4), (1, 1, 0, 2, None, 1)), ((3, 2, 2, 3), (2, 0, 1, 1)), ((4,), (0, 0)),
]


@pytest.mark.parametrize("mode", list(NP_MODE))
@pytest.mark.parametrize("shape,pad", CASES, ids=[f"{s}-{p}" for s, p in CASES])
def test_pad_matches_numpy(mode, shape, pad):
    x = np.random.default_rng(0).standard_normal(shape)
    pad = tuple(_max_pad(mode, shape[-1 - i // 2]) if p is None else p
                for i, p in enumerate(pad))
    got = ember.pad(ember.tensor(x), pad, mode=mode, value=2.5).numpy()
    np.testing.assert_array_equal(got, _np_pad(x, pad, mode, 2.5))


@pytest.mark.parametrize("mode", list(NP_MODE))
def test_pad_gradcheck_at_the_largest_pad(mode):
    x = ember.tensor(np.random.default_rng(1).standard_normal((2, 3)), requires_grad=True)
    pad = (_max_pad(mode, 3), 1, 1, _max_pad(mode, 2) if mode != "reflect" else 1)
    assert ember.autograd.gradcheck(lambda t: ember.pad(t, pad, mode=mode), [x])
    assert ember.autograd.gradgradcheck(lambda t: ember.pad(t, pad, mode=mode), [x])


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_gradient_matches_torch_at_the_largest_pad(mode):
    x = np.random.default_rng(2).standard_normal((1, 2, 3, 4))
    n = _max_pad(mode, 4), _max_pad(mode, 3)
    pad = (n[0], n[0], 1, n[1])
    g = np.random.default_rng(3).standard_normal(_np_pad(x, pad, mode).shape)
    e = ember.tensor(x, requires_grad=True)
    ember.pad(e, pad, mode=mode).backward(ember.tensor(g))
    t = torch.tensor(x, requires_grad=True)
    tF.pad(t, pad, mode=mode).backward(torch.tensor(g))
    np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_symmetric_pad_gradient_counts_each_source():
    # padding [a b c] symmetrically by 3 on each side uses each element 3 times
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    out = ember.pad(x, (3, 3), mode="symmetric")
    assert out.tolist() == [3.0, 2.0, 1.0, 1.0, 2.0, 3.0, 3.0, 2.0, 1.0]
    out.sum().backward()
    assert x.grad.tolist() == [3.0, 3.0, 3.0]


def test_pad_keeps_dtype_and_value():
    for dtype in ("float16", "bfloat16", "int32", "bool"):
        x = ember.ones(2, 2, dtype=dtype)
        for mode in NP_MODE:
            assert ember.pad(x, (1, 1), mode=mode).dtype.name == dtype
    y = ember.pad(ember.zeros(1, 2, dtype="int64"), (1, 0, 0, 1), value=5)
    assert y.tolist() == [[5, 0, 0], [5, 5, 5]]


def test_replicate_of_single_element_and_empty_pads():
    x = ember.tensor([[4.0]])
    assert ember.pad(x, (2, 1), mode="replicate").tolist() == [[4.0, 4.0, 4.0, 4.0]]
    assert ember.pad(x, (1, 1), mode="symmetric").tolist() == [[4.0, 4.0, 4.0]]
    assert ember.pad(x, (0, 0), mode="reflect").tolist() == [[4.0]]
