"""Every layer matches PyTorch with copied weights: outputs, input/parameter gradients and
buffers, in float32 and float64, in training and evaluation mode, on odd shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from ember import nn

from .torch_compare import compare, copy_weights

R = np.random.default_rng(1234)


def randn(*shape):
    return R.standard_normal(shape) * 1.5 + 0.3


# (id, ember factory, torch factory, input factory)
CASES = [
    ("linear", lambda m: m.Linear(7, 5), lambda: [randn(3, 7)]),
    ("linear_nobias_3d", lambda m: m.Linear(7, 5, bias=False), lambda: [randn(2, 3, 7)]),
    ("linear_1d", lambda m: m.Linear(4, 3), lambda: [randn(4)]),
    ("bilinear", lambda m: m.Bilinear(3, 4, 5), lambda: [randn(6, 3), randn(6, 4)]),
    ("identity", lambda m: m.Identity(), lambda: [randn(2, 3)]),
    ("flatten", lambda m: m.Flatten(), lambda: [randn(2, 3, 4, 5)]),
    ("flatten_mid", lambda m: m.Flatten(1, 2), lambda: [randn(2, 3, 4, 5)]),
    ("unflatten", lambda m: m.Unflatten(1, (3, 4)), lambda: [randn(2, 12, 5)]),
    ("relu", lambda m: m.ReLU(), lambda: [randn(3, 5)]),
    ("leaky_relu", lambda m: m.LeakyReLU(0.2), lambda: [randn(3, 5)]),
    ("elu", lambda m: m.ELU(0.7), lambda: [randn(3, 5)]),
    ("gelu", lambda m: m.GELU(), lambda: [randn(3, 5)]),
    ("gelu_tanh", lambda m: m.GELU("tanh"), lambda: [randn(3, 5)]),
    ("silu", lambda m: m.SiLU(), lambda: [randn(3, 5)]),
    ("mish", lambda m: m.Mish(), lambda: [randn(3, 5)]),
    ("sigmoid", lambda m: m.Sigmoid(), lambda: [randn(3, 5)]),
    ("tanh", lambda m: m.Tanh(), lambda: [randn(3, 5)]),
    ("softmax", lambda m: m.Softmax(dim=1), lambda: [randn(3, 5, 2)]),
    ("log_softmax", lambda m: m.LogSoftmax(dim=-1), lambda: [randn(3, 5)]),
    ("softmin", lambda m: m.Softmin(dim=0), lambda: [randn(3, 5)]),
    ("softplus", lambda m: m.Softplus(2.0, 1.5), lambda: [randn(3, 5)]),
    ("hardtanh", lambda m: m.Hardtanh(-0.5, 1.2), lambda: [randn(3, 5)]),
    ("relu6", lambda m: m.ReLU6(), lambda: [randn(3, 5) * 4]),
    ("selu", lambda m: m.SELU(), lambda: [randn(3, 5)]),
    ("hardswish", lambda m: m.Hardswish(), lambda: [randn(3, 5) * 2]),
    ("logsigmoid", lambda m: m.LogSigmoid(), lambda: [randn(3, 5)]),
    ("softsign", lambda m: m.Softsign(), lambda: [randn(3, 5)]),
    ("tanhshrink", lambda m: m.Tanhshrink(), lambda: [randn(3, 5)]),
    ("threshold", lambda m: m.Threshold(0.1, 2.0), lambda: [randn(3, 5)]),
    ("prelu", lambda m: m.PReLU(), lambda: [randn(3, 5)]),
    ("prelu_channels", lambda m: m.PReLU(4, 0.1), lambda: [randn(2, 4, 3)]),
    ("embedding", lambda m: m.Embedding(11, 4), lambda: [R.integers(0, 11, (3, 5))]),
    ("embedding_pad", lambda m: m.Embedding(11, 4, padding_idx=2),
     lambda: [np.array([[2, 1, 2, 10], [0, 2, 1, 1]])]),
    ("batchnorm1d", lambda m: m.BatchNorm1d(5), lambda: [randn(7, 5)]),
    ("batchnorm1d_3d", lambda m: m.BatchNorm1d(3, momentum=0.3), lambda: [randn(4, 3, 6)]),
    ("batchnorm2d", lambda m: m.BatchNorm2d(3), lambda: [randn(4, 3, 5, 3)]),
    ("batchnorm2d_cumulative", lambda m: m.BatchNorm2d(2, momentum=None, eps=1e-3),
     lambda: [randn(3, 2, 4, 5)]),
    ("batchnorm2d_noaffine", lambda m: m.BatchNorm2d(3, affine=False), lambda: [randn(2, 3, 3, 3)]),
    ("batchnorm2d_nostats", lambda m: m.BatchNorm2d(3, track_running_stats=False),
     lambda: [randn(2, 3, 3, 4)]),
    ("batchnorm3d", lambda m: m.BatchNorm3d(2), lambda: [randn(2, 2, 3, 2, 3)]),
    ("layernorm", lambda m: m.LayerNorm(6), lambda: [randn(4, 6)]),
    ("layernorm_2d", lambda m: m.LayerNorm((3, 5), eps=1e-3), lambda: [randn(2, 4, 3, 5)]),
    ("layernorm_noaffine", lambda m: m.LayerNorm(5, elementwise_affine=False),
     lambda: [randn(3, 5)]),
    ("layernorm_nobias", lambda m: m.LayerNorm(5, bias=False), lambda: [randn(3, 5)]),
    ("groupnorm", lambda m: m.GroupNorm(3, 6), lambda: [randn(2, 6, 4, 3)]),
    ("groupnorm_1group", lambda m: m.GroupNorm(1, 4, affine=False), lambda: [randn(3, 4, 5)]),
    ("constantpad1d", lambda m: m.ConstantPad1d((2, 1), 3.5), lambda: [randn(2, 3, 5)]),
    ("constantpad2d", lambda m: m.ConstantPad2d((1, 2, 0, 3), -1.0), lambda: [randn(2, 3, 4, 5)]),
    ("zeropad2d", lambda m: m.ZeroPad2d(2), lambda: [randn(3, 4, 5)]),
    ("reflectionpad1d", lambda m: m.ReflectionPad1d((3, 1)), lambda: [randn(2, 3, 5)]),
    ("reflectionpad2d", lambda m: m.ReflectionPad2d((1, 2, 3, 0)), lambda: [randn(2, 2, 4, 5)]),
    ("replicationpad1d", lambda m: m.ReplicationPad1d(2), lambda: [randn(2, 3, 4)]),
    ("replicationpad2d", lambda m: m.ReplicationPad2d((2, 0, 1, 3)), lambda: [randn(1, 2, 3, 4)]),
    ("circularpad2d", lambda m: m.CircularPad2d((1, 2, 2, 1)), lambda: [randn(2, 2, 3, 4)]),
    ("circularpad1d", lambda m: m.CircularPad1d(2), lambda: [randn(2, 3, 4)]),
    ("dropout_eval_or_p0", lambda m: m.Dropout(0.0), lambda: [randn(3, 4)]),
    ("sequential", lambda m: m.Sequential(m.Linear(5, 6), m.BatchNorm1d(6), m.GELU(),
                                          m.Linear(6, 3), m.LogSoftmax(dim=1)),
     lambda: [randn(8, 5)]),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name,factory,inputs", CASES, ids=[c[0] for c in CASES])
def test_layer_matches_torch(name, factory, inputs, train, dtype):
    torch.manual_seed(0)
    t_mod = factory(torch.nn)
    e_mod = factory(nn)
    if "batchnorm" in name and not train:
        # eval mode with non-trivial running statistics: run two training batches first
        for _ in range(2):
            x = randn(*inputs()[0].shape)
            t_mod(torch.tensor(x, dtype=torch.float32))
        copy_stats = {k: v.clone() for k, v in t_mod.state_dict().items()}
        t_mod.load_state_dict(copy_stats)
    compare(e_mod, t_mod, inputs(), dtype=dtype, train=train)


def test_batchnorm_running_stats_over_steps():
    torch.manual_seed(0)
    t_mod, e_mod = torch.nn.BatchNorm2d(3, momentum=None).double(), nn.BatchNorm2d(
        3, momentum=None).double()
    for _ in range(4):
        x = randn(5, 3, 2, 3)
        t_mod(torch.tensor(x))
        e_mod(ember.tensor(x))
    np.testing.assert_allclose(e_mod.running_var.numpy(), t_mod.running_var.numpy(), rtol=1e-12)
    np.testing.assert_allclose(e_mod.running_mean.numpy(), t_mod.running_mean.numpy(),
                               rtol=1e-12)
    assert int(e_mod.num_batches_tracked) == 4


def test_multihead_attention_matches_torch_with_masks():
    torch.manual_seed(0)
    for kw in [dict(), dict(batch_first=True, kdim=4, vdim=3),
               dict(add_bias_kv=True, add_zero_attn=True, bias=False)]:
        t_mod = torch.nn.MultiheadAttention(8, 2, **kw).double()
        e_mod = nn.MultiheadAttention(8, 2, **kw).double()
        bf = kw.get("batch_first", False)
        n, tl, sl = 3, 5, 6
        q = randn(*((n, tl, 8) if bf else (tl, n, 8)))
        k = randn(*((n, sl, kw.get("kdim", 8)) if bf else (sl, n, kw.get("kdim", 8))))
        v = randn(*((n, sl, kw.get("vdim", 8)) if bf else (sl, n, kw.get("vdim", 8))))
        kpm = R.random((n, sl)) < 0.3
        kpm[:, 0] = False
        am = randn(tl, sl)
        for extra in [dict(key_padding_mask=kpm), dict(attn_mask=am),
                      dict(attn_mask=am < -1.0, key_padding_mask=kpm),
                      dict(need_weights=False), dict(average_attn_weights=False)]:
            e_kw = {a: ember.tensor(b) if isinstance(b, np.ndarray) else b
                    for a, b in extra.items()}
            t_kw = {a: torch.tensor(b) if isinstance(b, np.ndarray) else b
                    for a, b in extra.items()}
            copy_weights(e_mod, t_mod)
            eq = [ember.tensor(a, requires_grad=True) for a in (q, k, v)]
            tq = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
            e_out, e_w = e_mod(*eq, **e_kw)
            t_out, t_w = t_mod(*tq, **t_kw)
            np.testing.assert_allclose(e_out.detach().numpy(), t_out.detach().numpy(),
                                       rtol=1e-10, atol=1e-12)
            if t_w is None:
                assert e_w is None
            else:
                np.testing.assert_allclose(e_w.detach().numpy(), t_w.detach().numpy(),
                                           rtol=1e-10, atol=1e-12)
            g = randn(*t_out.shape)
            (e_out * ember.tensor(g)).sum().backward()
            (t_out * torch.tensor(g)).sum().backward()
            for a, b in zip(eq, tq):
                np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9,
                                           atol=1e-12)
            t_params = dict(t_mod.named_parameters())
            for name, p in e_mod.named_parameters():
                np.testing.assert_allclose(p.grad.numpy(), t_params[name].grad.numpy(),
                                           rtol=1e-9, atol=1e-12, err_msg=name)
            e_mod.zero_grad()
            t_mod.zero_grad()


def test_multihead_attention_unbatched_and_causal():
    torch.manual_seed(1)
    t_mod = torch.nn.MultiheadAttention(6, 3).double()
    e_mod = nn.MultiheadAttention(6, 3).double()
    copy_weights(e_mod, t_mod)
    x = randn(4, 6)
    e_out, e_w = e_mod(*(ember.tensor(x),) * 3)
    t_out, t_w = t_mod(*(torch.tensor(x),) * 3)
    np.testing.assert_allclose(e_out.detach().numpy(), t_out.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(e_w.detach().numpy(), t_w.detach().numpy(), rtol=1e-10)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(4, dtype=torch.float64)
    xb = randn(4, 2, 6)
    t_out = t_mod(*(torch.tensor(xb),) * 3, attn_mask=mask, is_causal=True)[0]
    e_out = e_mod(*(ember.tensor(xb),) * 3, is_causal=True)[0]
    np.testing.assert_allclose(e_out.detach().numpy(), t_out.detach().numpy(), rtol=1e-10)


@pytest.mark.parametrize("kw", [dict(), dict(norm_first=True, activation="gelu"),
                                dict(batch_first=True, bias=False)],
                         ids=["post_norm", "pre_norm_gelu", "batch_first_nobias"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_transformer_encoder_layer_matches_torch(kw, dtype):
    torch.manual_seed(0)
    t_mod = torch.nn.TransformerEncoderLayer(8, 2, 12, dropout=0.0, **kw)
    e_mod = nn.TransformerEncoderLayer(8, 2, 12, dropout=0.0, **kw)
    kpm = R.random((3, 5)) < 0.3
    kpm[:, 0] = False
    x = randn(3, 5, 8) if kw.get("batch_first") else randn(5, 3, 8)
    compare(e_mod, t_mod, [x], dtype=dtype, train=True,
            kwargs={"src_key_padding_mask": None})
    e_kw = {"src_key_padding_mask": ember.tensor(kpm)}
    t_kw = {"src_key_padding_mask": torch.tensor(kpm)}
    e_out = e_mod(ember.tensor(x.astype(dtype)), **e_kw)
    t_out = t_mod(torch.tensor(x.astype(dtype)), **t_kw)
    np.testing.assert_allclose(e_out.detach().numpy(), t_out.detach().numpy(),
                               rtol=1e-5 if dtype == "float32" else 1e-10, atol=1e-6)


def test_transformer_encoder_stack_matches_torch():
    torch.manual_seed(0)
    t_layer = torch.nn.TransformerEncoderLayer(8, 2, 12, dropout=0.0)
    t_mod = torch.nn.TransformerEncoder(t_layer, 2, norm=torch.nn.LayerNorm(8),
                                        enable_nested_tensor=False)
    e_mod = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 12, dropout=0.0), 2,
                                  norm=nn.LayerNorm(8))
    assert [n for n, _ in e_mod.named_parameters()] == [n for n, _ in t_mod.named_parameters()]
    compare(e_mod, t_mod, [randn(4, 3, 8)], dtype="float64", train=False)


def test_transformer_layer_dropout_is_reproducible():
    layer = nn.TransformerEncoderLayer(8, 2, 12, dropout=0.3, batch_first=True)
    x = ember.randn(2, 4, 8)
    ember.manual_seed(5)
    a = layer(x)
    ember.manual_seed(5)
    b = layer(x)
    c = layer(x)
    assert bool((a == b).all()) and not bool((a == c).all())
    layer.eval()
    assert bool((layer(x) == layer(x)).all())


def test_batchnorm_on_channels_last_memory_keeps_layout_and_matches_torch():
    x = np.ascontiguousarray(randn(3, 5, 4, 6).transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    g = np.ascontiguousarray(randn(3, 5, 4, 6).transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    e_mod, t_mod = nn.BatchNorm2d(5).double(), torch.nn.BatchNorm2d(5).double()
    ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ex.data = x.copy(order="K")  # keep the channels-last strides
    assert not ex.data.flags["C_CONTIGUOUS"]
    ey, ty = e_mod(ex), t_mod(tx)
    assert ey.data.strides == ex.data.strides  # the next convolution reads it without a copy
    ey.backward(ember.Tensor(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(ey.detach().numpy(), ty.detach().numpy(), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(e_mod.weight.grad.numpy(), t_mod.weight.grad.numpy(),
                               rtol=1e-10)


@pytest.mark.parametrize("shape", [(4, 7), (2, 3, 7)])
def test_linear_on_an_input_without_grad_still_trains_its_parameters(shape):
    torch.manual_seed(0)
    compare(nn.Linear(7, 5), torch.nn.Linear(7, 5), [randn(*shape)], grad_inputs=False)


@pytest.mark.parametrize("layer,pad", [(nn.SymmetricPad1d, (2, 1)),
                                       (nn.SymmetricPad2d, (1, 3, 2, 0)),
                                       (nn.SymmetricPad3d, 1)])
def test_symmetric_padding_matches_numpy_and_gradchecks(layer, pad):
    dims = {nn.SymmetricPad1d: 1, nn.SymmetricPad2d: 2, nn.SymmetricPad3d: 3}[layer]
    x = randn(2, *([3] * (dims + 1)))
    m = layer(pad)
    pads = m.padding
    width = [(0, 0)] * (x.ndim - dims) + [(pads[2 * i], pads[2 * i + 1])
                                          for i in reversed(range(dims))]
    np.testing.assert_array_equal(m(ember.tensor(x)).numpy(), np.pad(x, width, "symmetric"))
    xt = ember.tensor(x[:1, :1], requires_grad=True)
    assert ember.autograd.gradcheck(m, [xt])


def test_dropout_modules_in_train_and_eval():
    ember.manual_seed(0)
    x = ember.ones(100, 50)
    for layer in [nn.Dropout(0.25), nn.Dropout1d(0.25)]:
        y = layer(x.reshape(100, 50, 1) if isinstance(layer, nn.Dropout1d) else x).numpy()
        assert abs((y != 0).mean() - 0.75) < 0.05
        assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
        layer.eval()
        assert layer(x) is x
    assert repr(nn.Dropout2d(0.2)) == repr(torch.nn.Dropout2d(0.2))
