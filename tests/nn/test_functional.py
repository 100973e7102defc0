"""The primitives of ember.nn.functional: PyTorch comparison (float32 and float64, forward
and gradients), float64 finite-difference gradchecks and double-backward checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import ember
import ember.nn.functional as F
from ember.autograd import gradcheck, gradgradcheck

R = np.random.default_rng(7)


def rn(*shape, scale=1.5):
    return R.standard_normal(shape) * scale


# id, ember fn, torch fn, list of float inputs, double-backward check
FUNCS = [
    ("relu", F.relu, TF.relu, [rn(3, 4)], True),
    ("threshold", lambda x: F.threshold(x, 0.1, 2.0), lambda x: TF.threshold(x, 0.1, 2.0),
     [rn(3, 4)], True),
    ("prelu", F.prelu, TF.prelu, [rn(2, 3, 4), rn(3)], True),
    ("gelu", F.gelu, TF.gelu, [rn(3, 4)], True),
    ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"),
     lambda x: TF.gelu(x, approximate="tanh"), [rn(3, 4)], True),
    ("silu", F.silu, TF.silu, [rn(3, 4, scale=4)], True),
    ("softplus", lambda x: F.softplus(x, beta=2.0, threshold=3.0),
     lambda x: TF.softplus(x, beta=2.0, threshold=3.0), [rn(3, 4)], True),
    ("softplus_large", F.softplus, TF.softplus, [rn(3, 4, scale=30)], False),
    ("leaky_relu", lambda x: F.leaky_relu(x, 0.3), lambda x: TF.leaky_relu(x, 0.3),
     [rn(3, 4)], True),
    ("elu", lambda x: F.elu(x, 0.8), lambda x: TF.elu(x, 0.8), [rn(3, 4)], True),
    ("selu", F.selu, TF.selu, [rn(3, 4)], True),
    ("hardtanh", lambda x: F.hardtanh(x, -0.7, 0.9), lambda x: TF.hardtanh(x, -0.7, 0.9),
     [rn(3, 4)], True),
    ("relu6", F.relu6, TF.relu6, [rn(3, 4, scale=5)], True),
    ("mish", F.mish, TF.mish, [rn(3, 4)], True),
    ("logsigmoid", F.logsigmoid, TF.logsigmoid, [rn(3, 4, scale=10)], True),
    ("softmax_dim1", lambda x: F.softmax(x, 1), lambda x: TF.softmax(x, 1), [rn(2, 5, 3)],
     True),
    ("softmax_large", lambda x: F.softmax(x, -1), lambda x: TF.softmax(x, -1),
     [rn(3, 4, scale=300)], False),
    ("log_softmax", lambda x: F.log_softmax(x, 0), lambda x: TF.log_softmax(x, 0),
     [rn(4, 3)], True),
    ("log_softmax_large", lambda x: F.log_softmax(x, 1), lambda x: TF.log_softmax(x, 1),
     [rn(3, 6, scale=500)], False),
    ("softmin", lambda x: F.softmin(x, 1), lambda x: TF.softmin(x, 1), [rn(3, 4)], True),
    ("linear", F.linear, TF.linear, [rn(3, 5), rn(4, 5), rn(4)], True),
    ("linear_3d_nobias", F.linear, TF.linear, [rn(2, 3, 5), rn(4, 5)], True),
    ("bilinear", F.bilinear, TF.bilinear, [rn(3, 2), rn(3, 4), rn(5, 2, 4), rn(5)], False),
    ("batch_norm_train", lambda x, w, b: F.batch_norm(x, None, None, w, b, True, 0.1, 1e-3),
     lambda x, w, b: TF.batch_norm(x, None, None, w, b, True, 0.1, 1e-3),
     [rn(4, 3, 2, 3), rn(3), rn(3)], True),
    ("batch_norm_train_2d_noaffine", lambda x: F.batch_norm(x, None, None, training=True),
     lambda x: TF.batch_norm(x, None, None, training=True), [rn(5, 4)], True),
    ("layer_norm", lambda x, w, b: F.layer_norm(x, (3, 4), w, b),
     lambda x, w, b: TF.layer_norm(x, (3, 4), w, b), [rn(2, 3, 4), rn(3, 4), rn(3, 4)], True),
    ("layer_norm_noaffine", lambda x: F.layer_norm(x, (5,), eps=1e-2),
     lambda x: TF.layer_norm(x, (5,), eps=1e-2), [rn(3, 5)], True),
    ("layer_norm_whole", lambda x, w: F.layer_norm(x, (2, 3), w),
     lambda x, w: TF.layer_norm(x, (2, 3), w), [rn(2, 3), rn(2, 3)], True),
    ("group_norm", lambda x, w, b: F.group_norm(x, 2, w, b),
     lambda x, w, b: TF.group_norm(x, 2, w, b), [rn(2, 4, 3), rn(4), rn(4)], True),
    ("normalize", lambda x: F.normalize(x, dim=1), lambda x: TF.normalize(x, dim=1),
     [rn(3, 4)], True),
    ("sdpa", F.scaled_dot_product_attention, TF.scaled_dot_product_attention,
     [rn(2, 3, 4), rn(2, 5, 4), rn(2, 5, 3)], True),
    ("sdpa_causal", lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
     lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, is_causal=True),
     [rn(2, 4, 3), rn(2, 4, 3), rn(2, 4, 2)], False),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,efn,tfn,inputs,gg", FUNCS, ids=[f[0] for f in FUNCS])
def test_matches_torch(name, efn, tfn, inputs, gg, dtype):
    e_in = [ember.tensor(a.astype(dtype), requires_grad=True) for a in inputs]
    t_in = [torch.tensor(a.astype(dtype), requires_grad=True) for a in inputs]
    e_out, t_out = efn(*e_in), tfn(*t_in)
    rtol = 1e-5 if dtype == "float32" else 1e-10
    scale = max(1.0, float(t_out.detach().abs().max()))
    np.testing.assert_allclose(e_out.detach().numpy(), t_out.detach().numpy(), rtol=rtol,
                               atol=rtol * scale)
    g = R.standard_normal(t_out.shape).astype(dtype)
    e_out.backward(ember.tensor(g))
    t_out.backward(torch.tensor(g))
    for i, (a, b) in enumerate(zip(e_in, t_in)):
        scale = max(1.0, float(b.grad.abs().max()))
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=rtol, atol=rtol * scale,
                                   err_msg=f"gradient of input {i}")


def _small(inputs):
    return [ember.tensor(a[tuple(slice(0, 3) for _ in a.shape)] / 1.5, requires_grad=True)
            for a in inputs]


@pytest.mark.parametrize("name,efn,tfn,inputs,gg", FUNCS, ids=[f[0] for f in FUNCS])
def test_gradcheck(name, efn, tfn, inputs, gg):
    args = [ember.tensor(a, requires_grad=True) for a in inputs]
    assert gradcheck(efn, args)
    if gg:
        assert gradgradcheck(efn, args)


def test_activation_values_at_kinks_match_torch():
    x = np.array([-1.0, 0.0, 1.0, 6.0, -3.0, 3.0])
    for efn, tfn in [(F.hardtanh, TF.hardtanh), (F.relu6, TF.relu6),
                     (F.leaky_relu, TF.leaky_relu), (F.elu, TF.elu),
                     (F.hardswish, TF.hardswish), (F.hardsigmoid, TF.hardsigmoid)]:
        e, t = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        efn(e).sum().backward()
        tfn(t).sum().backward()
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-7, atol=1e-8)


def test_relu_inplace_writes_the_input():
    x = ember.tensor([-1.0, 2.0])
    y = F.relu(x, inplace=True)
    assert y is x and x.tolist() == [0.0, 2.0]


def test_softmax_stays_finite_for_huge_logits():
    x = ember.tensor([[1000.0, 0.0, -1000.0]])
    assert np.isfinite(F.softmax(x, 1).numpy()).all()
    assert np.isfinite(F.log_softmax(x, 1).numpy()).all()
    np.testing.assert_allclose(F.log_softmax(x, 1).numpy(), [[0.0, -1000.0, -2000.0]])


def test_softmax_legacy_dim_and_scalar():
    x = ember.tensor([[1.0, 2.0], [3.0, 5.0]])
    np.testing.assert_allclose(F.softmax(x).numpy(), TF.softmax(torch.tensor(x.numpy()), 1),
                               rtol=1e-6)
    assert F.softmax(ember.tensor(3.0), 0).item() == 1.0


# ----------------------------------------------------------------------------- dropout


def test_dropout_statistics_and_scaling():
    ember.manual_seed(0)
    x = ember.ones(200, 500)
    y = F.dropout(x, 0.3)
    kept = (y.numpy() != 0).mean()
    assert abs(kept - 0.7) < 0.01
    np.testing.assert_allclose(np.unique(y.numpy()), [0.0, 1.0 / 0.7], rtol=1e-6)
    assert F.dropout(x, 0.3, training=False) is x
    assert float(F.dropout(x, 1.0).abs().sum()) == 0.0


def test_dropout_gradient_uses_the_same_mask():
    ember.manual_seed(3)
    x = ember.randn(50, 40, dtype=ember.float64, requires_grad=True)
    y = F.dropout(x, 0.4)
    y.sum().backward()
    mask = y.detach().numpy() / x.detach().numpy()
    np.testing.assert_allclose(x.grad.numpy(), mask, rtol=1e-12)


def test_dropout_gradcheck():
    def fn(x):
        ember.manual_seed(4)  # the same mask on every evaluation
        return F.dropout(x, 0.4)

    x = ember.randn(4, 5, dtype=ember.float64, requires_grad=True)
    assert gradcheck(fn, [x])
    assert gradgradcheck(fn, [x])


def test_dropout_reproducible_under_manual_seed():
    x = ember.ones(10, 10)
    ember.manual_seed(11)
    a = F.dropout(x, 0.5).numpy().copy()
    ember.manual_seed(11)
    b = F.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(a, b)
    gen = ember.Generator().manual_seed(11)
    c = F.dropout(x, 0.5, generator=gen).numpy()
    np.testing.assert_array_equal(a, c)


def test_dropout2d_zeroes_whole_channels():
    ember.manual_seed(1)
    y = F.dropout2d(ember.ones(8, 16, 3, 3), 0.5).numpy()
    per_channel = y.reshape(8, 16, 9)
    assert ((per_channel == 0).all(-1) | (per_channel == 2.0).all(-1)).all()
    assert 0 < (per_channel == 0).all(-1).sum() < 128
    y1 = F.dropout1d(ember.ones(4, 6, 5), 0.5).numpy()
    assert ((y1 == 0).all(-1) | (y1 == 2.0).all(-1)).all()


def test_dropout_errors():
    with pytest.raises(ValueError, match="between 0 and 1, but got 1.5"):
        F.dropout(ember.ones(3), 1.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        ember.nn.Dropout(-0.1)
    with pytest.raises(ember.errors.ShapeError, match="dropout3d: expected a 4-D"):
        F.dropout3d(ember.ones(2, 3), 0.5)


# ----------------------------------------------------------------------------- embedding


def test_embedding_gradient_accumulates_repeated_rows_and_skips_padding():
    w = R.standard_normal((7, 3))
    idx = np.array([[1, 4, 1, 6], [0, 1, 4, 6]])
    g = R.standard_normal((2, 4, 3))
    for pad in [None, 1, 4]:
        e = ember.tensor(w, requires_grad=True)
        t = torch.tensor(w, requires_grad=True)
        F.embedding(ember.tensor(idx), e, padding_idx=pad).backward(ember.tensor(g))
        TF.embedding(torch.tensor(idx), t, padding_idx=pad).backward(torch.tensor(g))
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-12)


def test_embedding_gradcheck_and_double_backward():
    idx = ember.tensor([[2, 0, 2], [1, 1, 3]])
    w = ember.randn(4, 2, dtype=ember.float64, requires_grad=True)
    assert gradcheck(lambda w: F.embedding(idx, w) ** 2, [w])
    # the padding row's forward values are real but get no gradient, so only the second
    # derivative (of the padded first derivative) is consistent with finite differences
    assert gradgradcheck(lambda w: F.embedding(idx, w, padding_idx=1) ** 2, [w])


def test_embedding_max_norm_matches_torch():
    w = R.standard_normal((6, 4)) * 3
    idx = np.array([0, 2, 2, 5])
    e, t = ember.tensor(w), torch.tensor(w)
    out_e = F.embedding(ember.tensor(idx), e, max_norm=1.5, norm_type=3.0)
    out_t = TF.embedding(torch.tensor(idx), t, max_norm=1.5, norm_type=3.0)
    np.testing.assert_allclose(out_e.numpy(), out_t.numpy(), rtol=1e-6)
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-6)  # renormalised in place


def test_embedding_errors():
    w = ember.randn(5, 2)
    with pytest.raises(ember.errors.EmberIndexError, match="index 5 is out of range for an "
                       "embedding with 5 rows"):
        F.embedding(ember.tensor([0, 5]), w)
    with pytest.raises(ember.errors.EmberIndexError, match="index -1"):
        F.embedding(ember.tensor([-1]), w)
    with pytest.raises(ember.errors.DTypeError, match="indices must be an integer tensor, "
                       "got float32"):
        F.embedding(ember.tensor([0.0]), w)
    with pytest.raises(ember.errors.DTypeError, match=r"Embedding\(5, 2\): indices must"):
        ember.nn.Embedding(5, 2)(ember.tensor([1.0]))


# ----------------------------------------------------------------------------- errors


def test_functional_errors():
    with pytest.raises(ember.errors.DTypeError, match="gelu: expected a floating-point input, "
                       "got int64"):
        F.gelu(ember.tensor([1, 2]))
    with pytest.raises(ember.errors.ShapeError, match="softmax: dim 2 is out of range"):
        F.softmax(ember.ones(2, 3), 2)
    with pytest.raises(ember.errors.ShapeError, match=r"linear: the input's last dimension "
                       r"must equal weight.shape\[1\] = 3"):
        F.linear(ember.ones(2, 4), ember.ones(5, 3))
    with pytest.raises(ember.errors.DTypeError, match="linear: expected the input and the "
                       "parameters to have one dtype, got float64, float32"):
        F.linear(ember.ones(2, 3, dtype=ember.float64), ember.ones(5, 3))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(ember.ones(1, 3), None, None, training=True)
    with pytest.raises(ValueError, match="running_mean and running_var are needed"):
        F.batch_norm(ember.ones(2, 3), None, None, training=False)
    with pytest.raises(ember.errors.ShapeError, match=r"layer_norm: expected input with "
                       r"trailing dimensions \(4,\)"):
        F.layer_norm(ember.ones(2, 3), (4,))
    with pytest.raises(ember.errors.ShapeError, match="group_norm: expected input"):
        F.group_norm(ember.ones(2, 5, 3), 2)
    with pytest.raises(ValueError, match="gelu: approximate must be"):
        F.gelu(ember.ones(2), approximate="fast")
