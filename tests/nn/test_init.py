"""ember.nn.init: the distributions have the right bounds and moments, the gains and fans are
PyTorch's, and everything is reproducible under ember.manual_seed."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import ember
from ember import nn
from ember.nn import init


def test_calculate_gain_matches_torch():
    for name, param in [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None),
                        ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2),
                        ("selu", None), ("conv_transpose2d", None)]:
        assert init.calculate_gain(name, param) == torch.nn.init.calculate_gain(name, param)
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")


def test_fans_match_torch():
    for shape in [(5, 3), (8, 4, 3, 3), (6, 2, 5)]:
        assert init._calculate_fan_in_and_fan_out(ember.empty(*shape)) == \
            torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))
    with pytest.raises(ember.errors.ShapeError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(ember.empty(4))


def _stats(t):
    a = t.detach().numpy().astype(np.float64)
    return a.min(), a.max(), a.mean(), a.std()


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming_uniform_bounds_and_variance(mode):
    w = init.kaiming_uniform_(ember.empty(300, 200), a=0.1, mode=mode, nonlinearity="leaky_relu")
    fan = 200 if mode == "fan_in" else 300
    bound = math.sqrt(2.0 / (1 + 0.01)) * math.sqrt(3.0 / fan)
    lo, hi, mean, std = _stats(w)
    assert -bound <= lo and hi <= bound
    assert hi > 0.99 * bound and lo < -0.99 * bound  # the whole interval is used
    assert abs(mean) < 0.01 * bound
    assert abs(std - bound / math.sqrt(3)) < 0.02 * bound


def test_kaiming_normal_and_xavier_moments():
    w = init.kaiming_normal_(ember.empty(400, 250), nonlinearity="relu")
    assert abs(_stats(w)[3] - math.sqrt(2.0 / 250)) < 0.01 * math.sqrt(2.0 / 250) * 3
    w = init.xavier_uniform_(ember.empty(300, 100), gain=2.0)
    a = 2.0 * math.sqrt(6.0 / 400)
    lo, hi, _, std = _stats(w)
    assert -a <= lo and hi <= a and abs(std - a / math.sqrt(3)) < 0.02 * a
    w = init.xavier_normal_(ember.empty(300, 100))
    assert abs(_stats(w)[3] - math.sqrt(2.0 / 400)) < 0.03 * math.sqrt(2.0 / 400)


def test_uniform_normal_constant_eye_dirac():
    lo, hi, mean, _ = _stats(init.uniform_(ember.empty(10000), -2.0, 3.0))
    assert -2.0 <= lo and hi <= 3.0 and abs(mean - 0.5) < 0.05
    _, _, mean, std = _stats(init.normal_(ember.empty(20000), 1.5, 0.5))
    assert abs(mean - 1.5) < 0.02 and abs(std - 0.5) < 0.02
    assert float(init.constant_(ember.empty(3), 2.5).sum()) == 7.5
    assert float(init.ones_(ember.empty(2, 2)).sum()) == 4.0
    assert float(init.zeros_(ember.ones(2, 2)).sum()) == 0.0
    np.testing.assert_array_equal(init.eye_(ember.empty(2, 3)).numpy(), np.eye(2, 3))
    d = init.dirac_(ember.empty(4, 2, 3, 3)).numpy()
    td = torch.nn.init.dirac_(torch.empty(4, 2, 3, 3)).numpy()
    np.testing.assert_array_equal(d, td)
    with pytest.raises(ember.errors.ShapeError, match="eye_: only 2-D"):
        init.eye_(ember.empty(3))


def test_trunc_normal_respects_bounds():
    w = init.trunc_normal_(ember.empty(20000), mean=0.5, std=1.0, a=0.0, b=1.0)
    lo, hi, mean, _ = _stats(w)
    assert 0.0 <= lo and hi <= 1.0 and abs(mean - 0.5) < 0.01
    with pytest.raises(ValueError, match="need a < b"):
        init.trunc_normal_(ember.empty(2), a=1.0, b=0.0)


@pytest.mark.parametrize("shape", [(4, 4), (3, 6), (6, 3), (4, 2, 3)])
def test_orthogonal(shape):
    w = init.orthogonal_(ember.empty(*shape), gain=1.5).numpy().reshape(shape[0], -1)
    small = min(w.shape)
    gram = w @ w.T if w.shape[0] == small else w.T @ w
    np.testing.assert_allclose(gram, 2.25 * np.eye(small), atol=1e-5)


def test_reproducible_under_manual_seed_and_generator():
    def draw():
        return [init.kaiming_uniform_(ember.empty(3, 4)).numpy().copy(),
                init.normal_(ember.empty(5)).numpy().copy(),
                init.orthogonal_(ember.empty(3, 3)).numpy().copy(),
                nn.Linear(4, 3).weight.detach().numpy().copy()]

    ember.manual_seed(42)
    a = draw()
    ember.manual_seed(42)
    b = draw()
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    ember.manual_seed(43)
    assert not np.array_equal(draw()[0], a[0])
    g1, g2 = ember.Generator().manual_seed(7), ember.Generator().manual_seed(7)
    np.testing.assert_array_equal(init.uniform_(ember.empty(4), generator=g1).numpy(),
                                  init.uniform_(ember.empty(4), generator=g2).numpy())


def test_default_layer_initialisations_follow_torch():
    lin = nn.Linear(50, 400)
    bound = 1 / math.sqrt(50)
    lo, hi, _, std = _stats(lin.weight)
    assert -bound <= lo and hi <= bound and abs(std - bound / math.sqrt(3)) < 0.03 * bound
    lo, hi, _, _ = _stats(lin.bias)
    assert -bound <= lo and hi <= bound
    emb = nn.Embedding(300, 50, padding_idx=3)
    _, _, mean, std = _stats(emb.weight)
    assert abs(std - 1.0) < 0.03 and float(emb.weight[3].abs().sum()) == 0.0
    mha = nn.MultiheadAttention(16, 4)
    assert float(mha.in_proj_bias.abs().sum()) == 0.0 and float(mha.out_proj.bias.abs().sum()) == 0
    a = math.sqrt(6.0 / (16 + 48))
    assert float(mha.in_proj_weight.abs().max()) <= a
    bn = nn.BatchNorm1d(3)
    assert bn.weight.tolist() == [1.0] * 3 and bn.bias.tolist() == [0.0] * 3
    assert init.kaiming_uniform_(ember.empty(0, 3)).shape == (0, 3)
