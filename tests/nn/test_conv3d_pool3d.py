"""3-d convolution and pooling against PyTorch: functional forms (outputs, every gradient and
max-pool indices) in float32 and float64, float64 gradchecks, layers with copied weights, and
the errors for a wrong rank, indivisible groups and a kernel larger than the padded input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
import ember.nn as nn
import ember.nn.functional as F
from ember.autograd import gradcheck, gradgradcheck
from ember.errors import ShapeError

TF = torch.nn.functional
pytestmark = pytest.mark.filterwarnings("ignore:Using padding=.same.:UserWarning")
TOL = {"float32": dict(rtol=1e-5, atol=1e-5), "float64": dict(rtol=1e-10, atol=1e-10)}


def _run(efn, tfn, arrays, dtype, indices=False):
    """efn/tfn on the same inputs: outputs (and indices), then every input's gradient."""
    arrays = [a.astype(dtype) for a in arrays]
    e_in = [ember.tensor(a, requires_grad=True) for a in arrays]
    t_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    e_out, t_out = efn(*e_in), tfn(*t_in)
    if indices:
        np.testing.assert_array_equal(e_out[1].numpy(), t_out[1].numpy())
        e_out, t_out = e_out[0], t_out[0]
    assert tuple(e_out.shape) == tuple(t_out.shape)
    np.testing.assert_allclose(e_out.detach().numpy(), t_out.detach().numpy(), **TOL[dtype])
    g = np.random.default_rng(9).standard_normal(tuple(t_out.shape)).astype(dtype)
    (e_out * ember.tensor(g)).sum().backward()
    (t_out * torch.tensor(g)).sum().backward()
    for e, t in zip(e_in, t_in):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), **TOL[dtype])


def _randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


DTYPES = ["float32", "float64"]
CONV = [dict(), dict(stride=2, padding=1), dict(stride=(1, 2, 3), padding=(2, 0, 1),
                                                  dilation=(2, 1, 2), groups=2),
        dict(padding="same", dilation=(1, 2, 1), groups=2), dict(padding="valid", groups=4)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", CONV, ids=["plain", "strided", "dilated_grouped", "same",
                                          "depthwise"])
def test_conv3d_matches_torch(kw, dtype):
    g = kw.get("groups", 1)
    arrays = [_randn(2, 4, 5, 6, 5), _randn(4, 4 // g, 3, 2, 3, seed=1), _randn(4, seed=2)]
    _run(lambda x, w, b: F.conv3d(x, w, b, **kw), lambda x, w, b: TF.conv3d(x, w, b, **kw),
         arrays, dtype)


CONV_T = [dict(), dict(stride=2, padding=1, output_padding=1),
          dict(stride=(3, 1, 2), padding=(1, 0, 1), output_padding=(2, 0, 1), dilation=(1, 2, 1),
               groups=2), dict(dilation=2, padding=2, groups=4)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", CONV_T, ids=["plain", "strided", "mixed_grouped", "depthwise"])
def test_conv_transpose3d_matches_torch(kw, dtype):
    g = kw.get("groups", 1)
    arrays = [_randn(2, 4, 3, 4, 3), _randn(4, 6 // g if g < 4 else 1, 3, 2, 3, seed=1),
              _randn((6 // g if g < 4 else 1) * g, seed=2)]
    _run(lambda x, w, b: F.conv_transpose3d(x, w, b, **kw),
         lambda x, w, b: TF.conv_transpose3d(x, w, b, **kw), arrays, dtype)


def test_conv3d_unbatched_and_no_bias():
    _run(lambda x, w: F.conv3d(x, w, stride=2), lambda x, w: TF.conv3d(x, w, stride=2),
         [_randn(3, 5, 4, 4), _randn(2, 3, 2, 2, 2, seed=1)], "float64")
    _run(lambda x, w: F.conv_transpose3d(x, w), lambda x, w: TF.conv_transpose3d(x, w),
         [_randn(3, 2, 3, 2), _randn(3, 2, 2, 2, 2, seed=1)], "float64")


def test_conv3d_gradcheck_and_double_backward():
    rng = np.random.default_rng(3)

    def t(*shape):
        return ember.tensor(rng.standard_normal(shape), requires_grad=True)

    kw = dict(stride=(2, 1, 1), padding=(1, 0, 1), dilation=(1, 1, 2), groups=2)
    x, w, b = t(1, 2, 4, 3, 4), t(2, 1, 2, 2, 2), t(2)
    assert gradcheck(lambda x, w, b: F.conv3d(x, w, b, **kw), (x, w, b))
    assert gradgradcheck(lambda x, w, b: F.conv3d(x, w, b, **kw), (x, w, b))
    y, wt = t(1, 2, 2, 3, 2), t(2, 1, 2, 2, 2)
    kt = dict(stride=2, padding=(0, 1, 0), output_padding=(1, 0, 1), groups=2)
    assert gradcheck(lambda y, w, b: F.conv_transpose3d(y, w, b, **kt), (y, wt, b))


MAX = [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
       dict(kernel_size=(2, 3, 2), stride=(1, 2, 3), padding=(1, 1, 0), dilation=(2, 1, 2))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", MAX, ids=["plain", "ceil_padded", "dilated"])
def test_max_pool3d_matches_torch(kw, dtype):
    x = _randn(2, 3, 6, 7, 5)
    x[0, 0, :2, :2, :2] = 1.0  # a tied window: the first maximum in (d, h, w) order wins
    _run(lambda x: F.max_pool3d(x, **kw, return_indices=True),
         lambda x: TF.max_pool3d(x, **kw, return_indices=True), [x], dtype, indices=True)


def test_max_pool3d_all_ties_and_unbatched():
    _run(lambda x: F.max_pool3d(x, 2, return_indices=True),
         lambda x: TF.max_pool3d(x, 2, return_indices=True), [np.zeros((1, 2, 4, 4, 4))],
         "float64", indices=True)
    _run(lambda x: F.max_pool3d(x, 2, 1), lambda x: TF.max_pool3d(x, 2, 1),
         [_randn(2, 3, 4, 3)], "float64")


AVG = [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
       dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
       dict(kernel_size=(2, 3, 2), stride=(1, 2, 3), padding=(1, 1, 0), divisor_override=5)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", AVG, ids=["plain", "ceil_padded", "exclude_pad", "divisor"])
def test_avg_pool3d_matches_torch(kw, dtype):
    _run(lambda x: F.avg_pool3d(x, **kw), lambda x: TF.avg_pool3d(x, **kw),
         [_randn(2, 3, 6, 7, 5)], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [1, (2, 3, 4), (4, 5, 2), (None, 3, 2)],
                         ids=["global", "uneven", "mixed", "keep_depth"])
def test_adaptive_pools_3d_match_torch(size, dtype):
    x = _randn(2, 3, 6, 7, 5)
    _run(lambda x: F.adaptive_avg_pool3d(x, size), lambda x: TF.adaptive_avg_pool3d(x, size),
         [x], dtype)
    _run(lambda x: F.adaptive_max_pool3d(x, size, True),
         lambda x: TF.adaptive_max_pool3d(x, size, True), [x], dtype, indices=True)


def test_pools_3d_gradcheck():
    x = ember.tensor(_randn(1, 2, 4, 5, 4), requires_grad=True)
    assert gradcheck(lambda x: F.max_pool3d(x, 2, stride=(1, 2, 1), padding=1), (x,))
    assert gradcheck(lambda x: F.avg_pool3d(x, 3, 2, 1, ceil_mode=True,
                                            count_include_pad=False), (x,))
    assert gradcheck(lambda x: F.adaptive_avg_pool3d(x, (3, 2, 3)), (x,))
    assert gradcheck(lambda x: F.adaptive_max_pool3d(x, (3, 2, 3)), (x,))


LAYERS = [
    (lambda m: m.Conv3d(4, 6, (3, 2, 3), stride=(2, 1, 1), padding=1, groups=2), (2, 4, 5, 4, 5)),
    (lambda m: m.Conv3d(2, 3, 3, padding="same", bias=False), (1, 2, 4, 4, 4)),
    (lambda m: m.Conv3d(2, 3, 3, padding=1, padding_mode="reflect"), (1, 2, 4, 4, 4)),
    (lambda m: m.ConvTranspose3d(4, 2, 3, stride=2, padding=1, output_padding=1, groups=2),
     (2, 4, 3, 2, 3)),
    (lambda m: m.MaxPool3d(3, stride=2, padding=1, ceil_mode=True), (2, 3, 5, 6, 7)),
    (lambda m: m.AvgPool3d(2, count_include_pad=False, padding=1), (2, 3, 5, 6, 7)),
    (lambda m: m.AdaptiveAvgPool3d((2, None, 3)), (2, 3, 5, 6, 7)),
    (lambda m: m.AdaptiveMaxPool3d(2), (2, 3, 5, 6, 7)),
]


@pytest.mark.parametrize("build,shape", LAYERS,
                         ids=["conv", "conv_same", "conv_reflect", "conv_t", "max", "avg",
                              "adaptive_avg", "adaptive_max"])
def test_layers_match_torch(build, shape):
    em, tm = build(nn), build(torch.nn).double()
    assert repr(em) == repr(tm)
    for name, p in tm.named_parameters():
        getattr(em, name).data[...] = p.detach().numpy().astype(np.float32)
    tm = tm.float()
    _run(em, tm, [_randn(*shape)], "float32")


def test_conv3d_default_init_bounds():
    m = nn.Conv3d(4, 6, (3, 2, 2))
    bound = 1 / np.sqrt(4 * 3 * 2 * 2)
    assert m.weight.shape == (6, 4, 3, 2, 2) and np.abs(m.weight.detach().numpy()).max() <= bound
    assert np.abs(m.bias.detach().numpy()).max() <= bound
    assert nn.ConvTranspose3d(4, 6, 2, groups=2).weight.shape == (4, 3, 2, 2, 2)


def test_errors_name_the_op_and_the_shapes():
    x, w = ember.ones(1, 4, 5, 5, 5), ember.ones(2, 4, 3, 3, 3)
    with pytest.raises(ShapeError, match=r"conv3d.*5-d input \(N, C, D, H, W\).*got 3-d"):
        F.conv3d(ember.ones(4, 5, 5), w)
    with pytest.raises(ShapeError, match=r"conv3d.*expected a 5-d weight"):
        F.conv3d(x, ember.ones(2, 4, 3, 3))
    with pytest.raises(ShapeError, match=r"conv3d.*6 channels \(weight \(2, 2, 3, 3, 3\), "
                       r"groups 3\), got 4"):
        F.conv3d(x, ember.ones(2, 2, 3, 3, 3), groups=3)
    with pytest.raises(ShapeError, match=r"conv3d.*kernel \(3, 7, 3\).*padded input "
                       r"\(5, 5, 5\)"):
        F.conv3d(x, ember.ones(2, 4, 3, 7, 3))
    with pytest.raises(ShapeError, match=r"conv_transpose3d.*in_channels 4 is not divisible "
                       r"by groups 3"):
        F.conv_transpose3d(x, ember.ones(4, 1, 2, 2, 2), groups=3)
    with pytest.raises(ShapeError, match=r"max_pool3d.*kernel \(6, 6, 6\).*padded input "
                       r"\(5, 5, 5\)"):
        F.max_pool3d(x, 6)
    with pytest.raises(ShapeError, match=r"avg_pool3d.*5-d input.*got 3-d"):
        F.avg_pool3d(ember.ones(4, 5, 5), 2)
    with pytest.raises(ShapeError, match=r"adaptive_max_pool3d.*5-d input.*got 3-d"):
        F.adaptive_max_pool3d(ember.ones(4, 5, 5), 2)
    with pytest.raises(ValueError, match=r"Conv3d.*divisible by groups"):
        nn.Conv3d(4, 6, 3, groups=4)
    with pytest.raises(ShapeError, match=r"Conv3d.*5-d input \(N, C, D, H, W\).*\(4, 5, 5\)"):
        nn.Conv3d(4, 2, 3)(ember.ones(4, 5, 5))
    with pytest.raises(ShapeError, match=r"Conv3d.*expected input with 3 channels"):
        nn.Conv3d(3, 2, 3)(x)
    with pytest.raises(ShapeError, match=r"MaxPool3d.*5-d input.*\(4, 5, 5\)"):
        nn.MaxPool3d(2)(ember.ones(4, 5, 5))
    with pytest.raises(ShapeError, match=r"MaxPool3d.*kernel \(6, 6, 6\).*\(5, 5, 5\)"):
        nn.MaxPool3d(6)(x)
