"""Window functions against PyTorch: every kind, both periodic forms, lengths 0 and 1."""

import numpy as np
import pytest
import torch

import ember

KINDS = {
    "hann_window": {},
    "hamming_window": {},
    "blackman_window": {},
    "bartlett_window": {},
    "kaiser_window": {},
}
LENGTHS = [0, 1, 2, 3, 5, 8, 33]


@pytest.mark.parametrize("name", list(KINDS))
@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("periodic", [True, False])
def test_window_matches_torch(name, length, periodic):
    ours = getattr(ember, name)(length, periodic)
    ref = getattr(torch, name)(length, periodic)
    assert ours.dtype == ember.float32
    assert tuple(ours.shape) == tuple(ref.shape)
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("length", [4, 9, 64])
def test_hamming_coefficients_and_float64(length):
    ours = ember.hamming_window(length, False, alpha=0.6, beta=0.3, dtype=ember.float64)
    ref = torch.hamming_window(length, False, alpha=0.6, beta=0.3, dtype=torch.float64)
    assert ours.dtype == ember.float64
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("beta", [0.0, 0.5, 5.0, 12.0, 40.0, 150.0])
@pytest.mark.parametrize("periodic", [True, False])
def test_kaiser_beta(beta, periodic):
    ours = ember.kaiser_window(17, periodic, beta, dtype=ember.float64)
    ref = torch.kaiser_window(17, periodic, beta, dtype=torch.float64)
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-10, atol=1e-300)


def test_dtype_and_requires_grad():
    w = ember.hann_window(6, dtype=ember.float16, requires_grad=True)
    assert w.dtype == ember.float16 and w.requires_grad
    with pytest.raises(TypeError):
        ember.hann_window(6, dtype=ember.int32)
    with pytest.raises(ValueError):
        ember.blackman_window(-1)
