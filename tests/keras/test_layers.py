"""Keras layers against PyTorch with copied weights (float64), shape rules, and errors."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import ember
from ember.errors import ShapeError
from ember.keras import activations, initializers, layers

from .helpers import check_close, copy_into, run_both, to_torch

rng = np.random.default_rng(0)
F64 = {"dtype": "float64"}


def randn(*shape):
    return rng.standard_normal(shape)


def nhwc(fn):
    """A channels-first torch function applied to channels-last input and back."""
    return lambda x: fn(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


def tf_same_pads(size, k, s, d=1):
    span = (k - 1) * d + 1
    total = max((math.ceil(size / s) - 1) * s + span - size, 0)
    return total // 2, total - total // 2


# ---------------------------------------------------------------------- dense and core
def test_dense_matches_linear_with_activation():
    layer = layers.Dense(5, activation="tanh", **F64)
    layer.build((None, 4))
    ref = torch.nn.Linear(4, 5).double()
    copy_into(ref, layer.linear)
    run_both(layer, lambda x: torch.tanh(ref(x)), randn(3, 4))


def test_dense_on_3d_input_acts_on_last_axis():
    layer = layers.Dense(2, **F64)
    out = layer(ember.tensor(randn(2, 3, 4)))
    assert out.shape == (2, 3, 2) and layer.compute_output_shape((None, 3, 4)) == (None, 3, 2)


@pytest.mark.parametrize("name", ["relu", "sigmoid", "softmax", "elu", "selu", "gelu",
                                  "softplus", "swish", "relu6", "hard_sigmoid", "leaky_relu"])
def test_activations_match_torch(name):
    ref = {"relu": torch.relu, "sigmoid": torch.sigmoid, "softmax": lambda x: x.softmax(-1),
           "elu": TF.elu, "selu": TF.selu, "gelu": TF.gelu, "softplus": TF.softplus,
           "swish": TF.silu, "relu6": TF.relu6, "hard_sigmoid": lambda x: TF.relu6(x + 3) / 6,
           "leaky_relu": lambda x: TF.leaky_relu(x, 0.2)}[name]
    run_both(layers.Activation(name), ref, randn(3, 5) * 3)


def test_unknown_activation_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown activation 'rellu'; known activations: elu"):
        layers.Dense(3, activation="rellu")


def test_flatten_reshape_rescaling_zero_padding():
    x = randn(2, 3, 4, 5)
    run_both(layers.Flatten(), lambda t: t.reshape(2, -1), x)
    run_both(layers.Flatten(data_format="channels_first"),
             lambda t: t.permute(0, 2, 3, 1).reshape(2, -1), x)
    run_both(layers.Reshape((4, -1)), lambda t: t.reshape(2, 4, 15), x)
    run_both(layers.Rescaling(0.5, offset=-1.0), lambda t: t * 0.5 - 1.0, x)
    run_both(layers.ZeroPadding2D(((1, 2), (0, 3))),
             lambda t: TF.pad(t, (0, 0, 0, 3, 1, 2)), x)


def test_dropout_only_while_training():
    x = ember.ones(200, 50)
    layer = layers.Dropout(0.4)
    assert bool((layer(x) == x).all())
    y = layer(x, training=True).numpy()
    kept = y != 0
    assert 0.5 < kept.mean() < 0.7
    np.testing.assert_allclose(y[kept], 1 / 0.6, rtol=1e-6)


def test_embedding_matches_torch_and_casts_float_ids():
    layer = layers.Embedding(10, 3, **F64)
    ids = np.array([[1, 2, 9], [0, 0, 4]])
    out = layer(ember.tensor(ids))
    ref = torch.nn.Embedding(10, 3).double()
    copy_into(ref, layer.embedding)
    check_close(out, ref(torch.from_numpy(ids)))
    check_close(layer(ember.tensor(ids.astype(np.float32))), out)
    w = layer.embedding.weight.detach().numpy()
    assert np.abs(w).max() <= 0.05  # Keras's RandomUniform(-0.05, 0.05)


# ---------------------------------------------------------------------- convolutions
@pytest.mark.parametrize("padding,strides,size", [("valid", 1, 7), ("same", 1, 7),
                                                  ("same", 2, 8), ("same", 2, 7),
                                                  ("valid", 2, 9)])
def test_conv2d_channels_last_matches_torch_with_tf_padding(padding, strides, size):
    layer = layers.Conv2D(4, 3, strides=strides, padding=padding, activation="relu", **F64)
    layer.build((None, size, size, 2))
    ref = torch.nn.Conv2d(2, 4, 3, stride=strides).double()
    copy_into(ref, layer.conv)
    pads = tf_same_pads(size, 3, strides) if padding == "same" else (0, 0)

    def torch_fn(x):
        x = x.permute(0, 3, 1, 2)
        x = TF.pad(x, (pads[0], pads[1], pads[0], pads[1]))
        return torch.relu(ref(x)).permute(0, 2, 3, 1)

    out = run_both(layer, torch_fn, randn(2, size, size, 2))
    assert out.shape[1:3] == (math.ceil(size / strides),) * 2 or padding == "valid"
    assert layer.compute_output_shape((None, size, size, 2)) == (None,) + tuple(out.shape[1:])


def test_conv2d_channels_first_and_dilation_groups():
    layer = layers.Conv2D(4, (3, 2), dilation_rate=2, groups=2, data_format="channels_first",
                          use_bias=False, **F64)
    layer.build((None, 2, 9, 8))
    ref = torch.nn.Conv2d(2, 4, (3, 2), dilation=2, groups=2, bias=False).double()
    copy_into(ref, layer.conv)
    run_both(layer, ref, randn(2, 2, 9, 8))


def test_conv1d_causal_matches_left_padded_torch():
    layer = layers.Conv1D(3, 3, padding="causal", dilation_rate=2, **F64)
    layer.build((None, 10, 2))
    ref = torch.nn.Conv1d(2, 3, 3, dilation=2).double()
    copy_into(ref, layer.conv)
    out = run_both(layer, lambda x: ref(TF.pad(x.permute(0, 2, 1), (4, 0))).permute(0, 2, 1),
                   randn(2, 10, 2))
    assert out.shape == (2, 10, 3)


@pytest.mark.parametrize("k,s,padding,expect", [(3, 2, "same", 10), (4, 2, "same", 10),
                                                (1, 2, "same", 10), (3, 2, "valid", 11),
                                                (1, 3, "valid", 15), (5, 1, "same", 5)])
def test_conv2d_transpose_output_sizes_follow_keras(k, s, padding, expect):
    layer = layers.Conv2DTranspose(3, k, strides=s, padding=padding, **F64)
    out = layer(ember.tensor(randn(1, 5, 5, 2)))
    assert out.shape == (1, expect, expect, 3)
    assert layer.compute_output_shape((None, 5, 5, 2)) == (None, expect, expect, 3)


def test_conv2d_transpose_matches_torch():
    layer = layers.Conv2DTranspose(3, 3, strides=2, padding="same", **F64)
    layer.build((None, 4, 4, 2))
    ref = torch.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1).double()
    copy_into(ref, layer.conv)
    run_both(layer, nhwc(ref), randn(2, 4, 4, 2))


# ---------------------------------------------------------------------- pooling
@pytest.mark.parametrize("size,pool,strides", [(7, 2, None), (6, 3, 2), (5, 2, 1)])
def test_max_pooling_same_pads_with_minus_infinity(size, pool, strides):
    s = strides or pool
    pads = tf_same_pads(size, pool, s)
    layer = layers.MaxPooling2D(pool, strides=strides, padding="same")
    x = randn(2, size, size, 3) - 10.0  # all negative: zero padding would win the max

    def torch_fn(t):
        t = TF.pad(t.permute(0, 3, 1, 2), (pads[0], pads[1], pads[0], pads[1]),
                   value=-math.inf)
        return TF.max_pool2d(t, pool, s).permute(0, 2, 3, 1)

    out = run_both(layer, torch_fn, x)
    assert out.shape[1] == math.ceil(size / s)


def test_average_pooling_same_excludes_padding_from_the_count():
    layer = layers.AveragePooling2D(2, padding="same")
    x = randn(1, 3, 3, 1)
    out = layer(ember.tensor(x)).numpy()[0, :, :, 0]
    xs = x[0, :, :, 0]
    expect = [[xs[0:2, 0:2].mean(), xs[0:2, 2:3].mean()],
              [xs[2:3, 0:2].mean(), xs[2:3, 2:3].mean()]]
    np.testing.assert_allclose(out, expect, rtol=1e-12)
    run_both(layers.AveragePooling2D(2), nhwc(lambda t: TF.avg_pool2d(t, 2)), randn(2, 6, 6, 3))


def test_pooling_1d_and_global_pooling():
    run_both(layers.MaxPooling1D(2), lambda t: TF.max_pool1d(t.permute(0, 2, 1), 2)
             .permute(0, 2, 1), randn(2, 9, 3))
    run_both(layers.GlobalAveragePooling2D(), lambda t: t.mean(dim=(1, 2)), randn(2, 4, 5, 3))
    run_both(layers.GlobalMaxPooling2D(keepdims=True), lambda t: t.amax(dim=(1, 2),
                                                                       keepdim=True),
             randn(2, 4, 5, 3))
    run_both(layers.GlobalAveragePooling1D(), lambda t: t.mean(dim=1), randn(2, 7, 3))


# ---------------------------------------------------------------------- normalisation
def test_batch_normalization_matches_torch_with_keras_momentum():
    layer = layers.BatchNormalization(momentum=0.9, epsilon=1e-3, **F64)
    layer.build((None, 5, 5, 3))
    ref = torch.nn.BatchNorm2d(3, eps=1e-3, momentum=0.1).double()
    with torch.no_grad():
        ref.weight.uniform_(0.5, 1.5)
        ref.bias.uniform_(-1, 1)
    layer.bn.load_state_dict({k: ember.tensor(v.numpy()) for k, v in ref.state_dict().items()})
    x = randn(4, 5, 5, 3) * 2 + 1
    run_both(layer, nhwc(ref), x, training=True)
    check_close(layer.bn.running_mean, ref.running_mean)
    check_close(layer.bn.running_var, ref.running_var)
    ref.eval()
    run_both(layer, nhwc(ref), x)  # inference: moving statistics
    assert layer.count_params() == 12 and len(layer.non_trainable_weights) == 2


def test_frozen_batch_normalization_runs_in_inference_mode():
    layer = layers.BatchNormalization(**F64)
    x = ember.tensor(randn(8, 3) * 3 + 2)
    layer(x, training=True)
    layer.trainable = False
    before = layer.bn.running_mean.numpy().copy()
    out = layer(x, training=True)
    np.testing.assert_array_equal(layer.bn.running_mean.numpy(), before)
    check_close(out, layer(x, training=False))


def test_layer_normalization_matches_torch():
    layer = layers.LayerNormalization(**F64)
    layer.build((None, 4, 6))
    ref = torch.nn.LayerNorm(6, eps=1e-3).double()
    with torch.no_grad():
        ref.weight.uniform_(0.5, 1.5)
        ref.bias.uniform_(-1, 1)
    layer.norm.load_state_dict({k: ember.tensor(v.numpy()) for k, v in ref.state_dict().items()})
    run_both(layer, ref, randn(2, 4, 6))


# ---------------------------------------------------------------------- recurrent
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_recurrent_layers_match_torch(kind):
    layer = getattr(layers, kind)(5, return_sequences=True, return_state=True, **F64)
    layer.build((None, 6, 3))
    ref = {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU, "SimpleRNN": torch.nn.RNN}[kind](
        3, 5, batch_first=True).double()
    copy_into(ref, layer.rnn)
    x = randn(2, 6, 3)
    out = layer(ember.tensor(x))
    t_out, t_state = ref(torch.from_numpy(x))
    check_close(out[0], t_out)
    states = t_state if isinstance(t_state, tuple) else (t_state,)
    assert len(out) == 1 + len(states)
    for mine, theirs in zip(out[1:], states):
        check_close(mine, theirs[0])
    last = getattr(layers, kind)(5, **F64)
    last.build((None, 6, 3))
    last.rnn.load_state_dict(layer.rnn.state_dict())
    run_both(last, lambda t: ref(t)[0][:, -1], x)


def test_lstm_keras_initialisation_and_backwards_reading():
    layer = layers.LSTM(4, go_backwards=True, **F64)
    layer.build((None, 5, 3))
    b = layer.rnn.bias_ih_l0.detach().numpy()
    np.testing.assert_array_equal(b, np.r_[np.zeros(4), np.ones(4), np.zeros(8)])
    u = layer.rnn.weight_hh_l0.detach().numpy()  # orthogonal recurrent kernel: columns orthonormal
    np.testing.assert_allclose(u.T @ u, np.eye(4), atol=1e-6)  # drawn in float32
    ref = torch.nn.LSTM(3, 4, batch_first=True).double()
    copy_into(ref, layer.rnn)
    run_both(layer, lambda t: ref(t.flip(1))[0][:, -1], randn(2, 5, 3))


def test_lstm_initial_state_and_input_dropout_mask_shared_over_time():
    layer = layers.LSTM(4, dropout=0.5, return_sequences=True, **F64)
    x = ember.ones(3, 6, 2)
    h0, c0 = ember.zeros(3, 4, dtype=ember.float64), ember.zeros(3, 4, dtype=ember.float64)
    check_close(layer(x, initial_state=[h0, c0]), layer(x))
    with pytest.raises(ValueError, match="takes 2 initial state"):
        layer(x, initial_state=[h0])
    with pytest.raises(ValueError, match="activation must be one of"):
        layers.LSTM(4, activation="relu")


def test_bidirectional_matches_torch_bidirectional_lstm():
    layer = layers.Bidirectional(layers.LSTM(4, return_sequences=True, **F64))
    layer.build((None, 5, 3))
    ref = torch.nn.LSTM(3, 4, batch_first=True, bidirectional=True).double()
    sd = {}
    for k, v in layer.forward_layer.rnn.state_dict().items():
        sd[k] = to_torch(v)
    for k, v in layer.backward_layer.rnn.state_dict().items():
        sd[k + "_reverse"] = to_torch(v)
    ref.load_state_dict(sd)
    run_both(layer, lambda t: ref(t)[0], randn(2, 5, 3))
    assert layer.compute_output_shape((None, 5, 3)) == (None, 5, 8)
    summed = layers.Bidirectional(layers.GRU(3), merge_mode="sum")
    assert summed(ember.ones(2, 5, 3)).shape == (2, 3)


# ---------------------------------------------------------------------- merge
def test_merge_layers():
    a, b = randn(2, 3), randn(2, 3)
    ta, tb = ember.tensor(a), ember.tensor(b)
    check_close(layers.Add()([ta, tb]), a + b)
    check_close(layers.Subtract()([ta, tb]), a - b)
    check_close(layers.Multiply()([ta, tb]), a * b)
    check_close(layers.Average()([ta, tb]), (a + b) / 2)
    check_close(layers.Maximum()([ta, tb]), np.maximum(a, b))
    check_close(layers.Concatenate()([ta, ember.tensor(randn(2, 4))]).shape, (2, 7))
    with pytest.raises(ShapeError, match=r"cannot concatenate shapes \[\(None, 3\), \(None, 4\)\] "
                                         "along axis 0"):
        layers.Concatenate(axis=0).compute_output_shape([(None, 3), (None, 4)])
    with pytest.raises(ShapeError, match="all inputs must have the same shape"):
        layers.Add().compute_output_shape([(None, 3), (None, 4)])


# ---------------------------------------------------------------------- shape rules
SHAPE_CASES = [
    (lambda: layers.Dense(3), (2, 5, 4)),
    (lambda: layers.Conv2D(4, 3, strides=2, padding="same"), (2, 9, 7, 2)),
    (lambda: layers.Conv2D(4, (2, 3), padding="valid", dilation_rate=2), (2, 9, 7, 2)),
    (lambda: layers.Conv1D(2, 4, strides=3), (2, 11, 3)),
    (lambda: layers.Conv2DTranspose(2, 3, strides=3), (2, 4, 5, 1)),
    (lambda: layers.MaxPooling2D(3, strides=2, padding="same"), (2, 8, 5, 2)),
    (lambda: layers.AveragePooling1D(2, padding="same"), (2, 7, 3)),
    (lambda: layers.GlobalMaxPooling1D(), (2, 7, 3)),
    (lambda: layers.Flatten(), (2, 3, 4)),
    (lambda: layers.Reshape((-1, 2)), (2, 3, 4)),
    (lambda: layers.Embedding(5, 3), (2, 7)),
    (lambda: layers.LSTM(3, return_sequences=True), (2, 6, 4)),
    (lambda: layers.GRU(3, return_state=True), (2, 6, 4)),
    (lambda: layers.BatchNormalization(axis=1), (2, 3, 4)),
    (lambda: layers.ZeroPadding2D(2), (1, 3, 4, 1)),
]


@pytest.mark.parametrize("make,shape", SHAPE_CASES)
def test_compute_output_shape_equals_the_real_output(make, shape):
    layer = make()
    x = ember.zeros(*shape, dtype=ember.int64) if isinstance(layer, layers.Embedding) \
        else ember.randn(*shape)
    out = layer(x)
    predicted = layer.compute_output_shape((None,) + shape[1:])
    real = [(None,) + tuple(o.shape[1:]) for o in out] if isinstance(out, list) else \
        (None,) + tuple(out.shape[1:])
    assert predicted == real


def test_shape_errors_name_the_layer_and_the_incoming_shape():
    conv = layers.Conv2D(8, 3, name="conv_a")
    with pytest.raises(ShapeError, match=r"layer 'conv_a' \(Conv2D\) cannot take input of shape "
                                         r"\(None, 64\): expects 4-D input \(batch, height, "
                                         r"width, channels\), got 2-D"):
        conv(_sym((None, 64)))
    pool = layers.MaxPooling2D(2, name="pool_a")
    with pytest.raises(ShapeError, match=r"'pool_a' \(MaxPooling2D\) cannot take input of shape "
                                         r"\(None, 1, 1, 4\): the pool_size \(2, 2\) is larger"):
        pool(_sym((None, 1, 1, 4)))
    dense = layers.Dense(3, name="dense_a")
    dense(ember.ones(2, 4))
    with pytest.raises(ShapeError, match=r"'dense_a' \(Dense\) cannot take input of shape "
                                         r"\(None, 5\)"):
        dense(ember.ones(2, 5))
    with pytest.raises(ShapeError, match="cannot reshape 12 values per sample to"):
        layers.Reshape((5, -1))(_sym((None, 3, 4)))


def _sym(shape):
    from ember.keras import Input

    return Input(shape=shape[1:])


def test_initializers_follow_keras_formulas():
    w = ember.nn.Parameter(ember.empty(400, 300))
    initializers.get("glorot_uniform")(w)
    limit = math.sqrt(6 / 700)
    wn = w.detach().numpy()
    assert np.abs(wn).max() <= limit and np.abs(wn).max() > 0.99 * limit
    initializers.get("he_normal")(w)
    std = math.sqrt(2 / 300)  # truncated at 2 sigma of the pre-truncation std
    wn = w.detach().numpy()
    assert np.abs(wn).max() <= 2 * std / 0.87962566103423978 + 1e-7
    assert abs(wn.std() - std) < 0.02 * std
    with pytest.raises(ValueError, match="unknown initializer 'glorot'; known initializers"):
        initializers.get("glorot")
    dense = layers.Dense(3, kernel_initializer="ones", bias_initializer="zeros")
    dense.build((None, 2))
    assert dense.linear.weight.detach().numpy().tolist() == [[1.0, 1.0]] * 3


def test_activation_records_logits_only_for_its_own_output():
    x = ember.randn(2, 3)
    p = activations.softmax(x)
    assert activations.logits_of(p, "softmax") is x
    assert activations.logits_of(p * 1.0, "softmax") is None
    assert activations.logits_of(p, "sigmoid") is None


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear", "bicubic"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_upsampling2d_matches_torch_interpolate(interpolation, data_format):
    x = np.random.default_rng(0).standard_normal((2, 4, 5, 3)).astype("float32")
    layer = layers.UpSampling2D((2, 3), data_format=data_format, interpolation=interpolation)
    t = torch.tensor(x)
    t = t.permute(0, 3, 1, 2) if data_format == "channels_last" else t
    ref = TF.interpolate(t, scale_factor=(2, 3), mode=interpolation)
    ref = ref.permute(0, 2, 3, 1) if data_format == "channels_last" else ref
    y = layer(ember.tensor(x))
    np.testing.assert_allclose(y.numpy(), ref.numpy(), rtol=1e-5, atol=1e-5)
    assert layer.compute_output_shape((None, 4, 5, 3)) == (
        (None, 8, 15, 3) if data_format == "channels_last" else (None, 4, 10, 9))
    assert layers.get("UpSampling2D") is layers.UpSampling2D
    assert layers.UpSampling2D(**{k: v for k, v in layer.get_config().items()
                                  if k in ("size", "data_format", "interpolation")}).size \
        == (2, 3)
