"""ember.zoo.load_weights: name mappings, layout conversion, reports and loud failures, from
.pth, safetensors, Keras 3 / Keras 2 HDF5 and ONNX sources."""

import h5py
import numpy as np
import pytest
import torch

import ember
import ember.onnx
from ember.keras import layers, models
from ember.zoo import WeightsMismatchError, load_weights

RNG = np.random.default_rng(0)


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def conv_hwio_same(x, k, b):
    """Keras semantics, written directly: channels-last 'same' conv with an (h, w, in, out)
    kernel (an independent reference for the layout conversion)."""
    kh, kw = k.shape[:2]
    xp = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    n, h, w, _ = x.shape
    out = np.zeros((n, h, w, k.shape[3]), np.float64)
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("nhwc,co->nhwo", xp[:, i:i + h, j:j + w], k[i, j])
    return out + b


class TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4 * 5 * 5, 6)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).flatten(1))


class EmberNet(ember.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = ember.nn.Conv2d(3, 4, 3, padding=1)
        self.bn = ember.nn.BatchNorm2d(4)
        self.fc = ember.nn.Linear(4 * 5 * 5, 6)

    def forward(self, x):
        return self.fc(self.bn(self.conv(x)).relu().flatten(1))


def trained_torch_net():
    torch.manual_seed(0)
    ref = TorchNet()
    with torch.no_grad():  # non-trivial running statistics
        ref.train()(torch.randn(8, 3, 5, 5))
    return ref.eval()


def test_pth_file_gives_equal_outputs_and_a_report(tmp_path):
    ref = trained_torch_net()
    path = tmp_path / "net.pth"
    torch.save(ref.state_dict(), path)
    model = EmberNet().eval()
    report = load_weights(model, path)
    assert sorted(report.matched) == sorted(ref.state_dict())
    assert report.unexpected == report.missing == report.mis_shaped == report.converted == []
    x = torch.randn(2, 3, 5, 5)
    np.testing.assert_allclose(model(ember.from_numpy(x.detach().numpy())).detach().numpy(),
                               ref(x).detach().numpy(), rtol=1e-5, atol=1e-5)


def test_checkpoint_wrapper_and_ddp_prefix(tmp_path):
    ref = trained_torch_net()
    path = tmp_path / "ckpt.pt"
    torch.save({"epoch": 4, "state_dict": {"module." + k: v for k, v in
                                           ref.state_dict().items()}}, path)
    model = EmberNet()
    with pytest.raises(WeightsMismatchError, match="mapping='ddp'"):
        load_weights(model, path)
    report = load_weights(model, path, mapping="ddp")
    assert report.mapping == "ddp" and len(report.matched) == len(ref.state_dict())
    np.testing.assert_array_equal(model.fc.weight.detach().numpy(), ref.fc.weight.detach().numpy())


def test_mismatch_lists_every_key_and_copies_nothing(tmp_path):
    ref = trained_torch_net()
    state = dict(ref.state_dict())
    state["fc.weight"] = torch.zeros(6, 99)
    state["head.extra"] = torch.zeros(3)
    del state["bn.bias"]
    model = EmberNet()
    before = model.conv.weight.detach().numpy().copy()
    with pytest.raises(WeightsMismatchError) as err:
        load_weights(model, state)
    text = str(err.value)
    assert "unexpected, in the source only (1): head.extra" in text
    assert "missing, in the model only (1): bn.bias" in text
    assert "fc.weight <- fc.weight: (6, 99) vs (6, 100)" in text
    assert "nothing was loaded" in text
    np.testing.assert_array_equal(model.conv.weight.detach().numpy(), before)
    report = load_weights(model, state, strict=False)  # e.g. a head of another size
    assert report.unexpected == ["head.extra"] and report.missing == ["bn.bias"]
    assert report.unmatched == ["head.extra", "bn.bias"]
    assert [m[0] for m in report.mis_shaped] == ["fc.weight"]
    np.testing.assert_array_equal(model.conv.weight.detach().numpy(),
                                  ref.conv.weight.detach().numpy())


def test_missing_path_and_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="no weights file at .*nope.pth"):
        load_weights(EmberNet(), tmp_path / "nope.pth")
    with pytest.raises(ValueError, match="unknown mapping 'tf'"):
        load_weights(EmberNet(), {}, mapping="tf")
    with pytest.raises(ValueError, match="layout must be"):
        load_weights(EmberNet(), {}, layout="caffe")
    with pytest.raises(TypeError, match="expected a path or a dict"):
        load_weights(EmberNet(), [1, 2])
    a = ember.zeros(6)
    with pytest.raises(WeightsMismatchError, match="both map to 'fc.bias'"):
        load_weights(EmberNet(), {"x": a, "y": a}, mapping={"x": "fc.bias", "y": "fc.bias"},
                     strict=False)


def test_dict_callable_and_composed_mappings():
    src = EmberNet()
    state = {k.replace("conv.", "features.0.").replace("fc.", "classifier."): v
             for k, v in src.state_dict().items()}
    state["aux.weight"] = ember.ones(2)
    dst = EmberNet()
    report = load_weights(dst, state, mapping={"features.0.": "conv.", "classifier.": "fc.",
                                               "aux.": None})
    assert report.unexpected == [] and len(report.matched) == len(src.state_dict())
    np.testing.assert_array_equal(dst.fc.weight.detach().numpy(), src.fc.weight.detach().numpy())
    state2 = {"module.net." + k: v for k, v in src.state_dict().items()}
    report = load_weights(EmberNet(), state2,
                          mapping=["ddp", lambda n: n[len("net."):]])
    assert report.mapping == "ddp then <lambda>" and not report.unexpected


def test_hf_style_prefix_and_gamma_beta():
    class Block(ember.nn.Module):
        def __init__(self):
            super().__init__()
            self.dense = ember.nn.Linear(4, 4)
            self.LayerNorm = ember.nn.LayerNorm(4)

    hf = {"bert.dense.weight": rand(4, 4), "bert.dense.bias": rand(4),
          "bert.LayerNorm.gamma": rand(4), "bert.LayerNorm.beta": rand(4)}
    model = Block()
    report = load_weights(model, hf, mapping="hf")
    assert sorted(report.matched) == ["LayerNorm.bias", "LayerNorm.weight", "dense.bias",
                                      "dense.weight"]
    np.testing.assert_array_equal(model.LayerNorm.weight.detach().numpy(),
                                  hf["bert.LayerNorm.gamma"])
    np.testing.assert_array_equal(model.dense.weight.detach().numpy(), hf["bert.dense.weight"])

    class Wrapped(ember.nn.Module):  # the other way: the model carries the prefix
        def __init__(self):
            super().__init__()
            self.bert = Block()

    bare = {k[len("bert."):]: v for k, v in hf.items()}
    wrapped = Wrapped()
    report = load_weights(wrapped, bare, mapping="hf")
    assert not report.unmatched and "bert.LayerNorm.weight" in report.matched


def test_safetensors_and_dtype_conversion_is_reported(tmp_path):
    src = EmberNet().half()
    path = tmp_path / "w.safetensors"
    ember.io.save_safetensors(src.state_dict(), path)
    model = EmberNet()
    report = load_weights(model, path)
    assert ("conv.weight", "float16 -> float32") in report.converted
    assert model.conv.weight.dtype == ember.float32
    np.testing.assert_array_equal(model.conv.weight.detach().numpy(),
                                  src.conv.weight.detach().numpy().astype(np.float32))


def test_onnx_initializers(tmp_path):
    def net():
        return ember.nn.Sequential(ember.nn.Conv2d(3, 4, 3), ember.nn.ReLU(),
                                   ember.nn.Flatten(), ember.nn.Linear(4 * 3 * 3, 2))

    src = net()
    path = tmp_path / "net.onnx"
    ember.onnx.export(src, ember.randn(1, 3, 5, 5), path)
    model = net()
    report = load_weights(model, path)
    assert sorted(report.matched) == ["0.bias", "0.weight", "3.bias", "3.weight"]
    x = ember.randn(2, 3, 5, 5)
    np.testing.assert_array_equal(model(x).detach().numpy(), src(x).detach().numpy())


# ------------------------------------------------------------------ Keras files
def keras_weights():
    return {"c1": [rand(3, 3, 2, 4), rand(4)],
            "bn": [rand(4), rand(4), rand(4), np.abs(rand(4)) + 0.5],
            "fc": [rand(4 * 4 * 4, 3), rand(3)]}


def keras_reference(w, x):
    """The Keras model's forward in NumPy, from its own layouts: conv (same) -> BN -> ReLU
    -> flatten (channels-last) -> dense."""
    y = conv_hwio_same(x, *w["c1"])
    gamma, beta, mean, var = w["bn"]
    y = np.maximum((y - mean) / np.sqrt(var + 1e-3) * gamma + beta, 0)
    return y.reshape(len(x), -1) @ w["fc"][0] + w["fc"][1]


def keras_model():
    return models.Sequential([
        layers.Conv2D(4, 3, padding="same", name="c1", input_shape=(4, 4, 2)),
        layers.BatchNormalization(name="bn"), layers.ReLU(name="relu"),
        layers.Flatten(name="flat"), layers.Dense(3, name="fc")])


def write_keras3(path, w):
    with h5py.File(path, "w") as f:
        for cls, (name, arrays) in zip(["conv2d", "batch_normalization", "dense"], w.items()):
            group = f.create_group(f"layers/{cls}/vars")
            group.attrs["name"] = name
            for i, a in enumerate(arrays):
                group.create_dataset(str(i), data=a)
        f.create_group("layers/flatten/vars").attrs["name"] = "flat"
        f.create_group("optimizer/vars").create_dataset("0", data=np.zeros(3))


def write_keras2(path, w):
    roles = {"c1": ["kernel:0", "bias:0"], "fc": ["kernel:0", "bias:0"],
             "bn": ["gamma:0", "beta:0", "moving_mean:0", "moving_variance:0"]}
    with h5py.File(path, "w") as f:
        root = f.create_group("model_weights")
        root.attrs["layer_names"] = [n.encode() for n in ["c1", "bn", "relu", "flat", "fc"]]
        for name in ["c1", "bn", "relu", "flat", "fc"]:
            group = root.create_group(name)
            names = [f"{name}/{r}".encode() for r in roles.get(name, [])]
            group.attrs["weight_names"] = names
            for n, a in zip(names, w.get(name, [])):
                group.create_dataset(n.decode(), data=a)


@pytest.mark.parametrize("writer", [write_keras3, write_keras2], ids=["keras3", "keras2"])
def test_keras_h5_onto_an_ember_keras_model(tmp_path, writer):
    w = keras_weights()
    path = tmp_path / "m.weights.h5"
    writer(path, w)
    model = keras_model()
    report = load_weights(model, path)
    assert report.mapping == "keras" and report.layout == "keras"
    assert len(report.matched) == 8 and not report.missing and not report.unexpected
    assert ("0.conv.weight", "conv kernel HWIO -> OIHW") in report.converted
    assert ("4.linear.weight", "Dense kernel (in, out) -> (out, in)") in report.converted
    x = rand(2, 4, 4, 2)
    np.testing.assert_allclose(model.predict(x, verbose=0), keras_reference(w, x),
                               rtol=1e-4, atol=1e-4)


def test_keras_h5_onto_an_ember_nn_model_channels_first(tmp_path):
    """A Keras file onto a PyTorch-style (NCHW) model: an explicit name mapping, the layout
    conversion, and the Dense after Flatten reordered from (H, W, C) to (C, H, W) inputs."""
    w = keras_weights()
    path = tmp_path / "m.h5"
    write_keras2(path, w)
    net = ember.nn.Sequential(ember.nn.Conv2d(2, 4, 3, padding=1),
                              ember.nn.BatchNorm2d(4, eps=1e-3), ember.nn.ReLU(),
                              ember.nn.Flatten(), ember.nn.Linear(64, 3)).eval()
    names = {"c1/vars/0": "0.weight", "c1/vars/1": "0.bias", "bn/vars/0": "1.weight",
             "bn/vars/1": "1.bias", "bn/vars/2": "1.running_mean", "bn/vars/3": "1.running_var",
             "fc/vars/0": "4.weight", "fc/vars/1": "4.bias"}
    with pytest.raises(WeightsMismatchError, match="Keras names"):
        load_weights(net, path)
    report = load_weights(net, path, mapping=names, flatten_from={"4.weight": (4, 4, 4)})
    assert ("4.weight", "inputs flattened from channels-last (4, 4, 4)") in report.converted
    x = rand(2, 4, 4, 2)
    out = net(ember.from_numpy(x.transpose(0, 3, 1, 2).copy())).detach().numpy()
    np.testing.assert_allclose(out, keras_reference(w, x), rtol=1e-4, atol=1e-4)


def test_keras_depthwise_kernel():
    k = rand(3, 3, 2, 3)  # (h, w, channels, multiplier)
    conv = ember.nn.Conv2d(2, 6, 3, padding=1, groups=2, bias=False)
    report = load_weights(conv, {"weight": k}, layout="keras")
    assert report.converted == [("weight", "DepthwiseConv2D kernel (h, w, c, m) -> "
                                           "(c*m, 1, h, w)")]
    x = rand(1, 5, 5, 2)
    out = conv(ember.from_numpy(x.transpose(0, 3, 1, 2).copy())).detach().numpy()
    out = out.transpose(0, 2, 3, 1)
    for c in range(2):  # Keras: output channel c * m + j is input c convolved with k[..., c, j]
        ref = conv_hwio_same(x[..., c:c + 1], k[:, :, c:c + 1, :], 0)
        np.testing.assert_allclose(out[..., c * 3:(c + 1) * 3], ref, rtol=1e-4, atol=1e-5)


def test_keras_file_errors(tmp_path):
    path = tmp_path / "empty.h5"
    with h5py.File(path, "w") as f:
        f.create_group("something")
    with pytest.raises(ember.io.CheckpointError, match="neither Keras 3"):
        load_weights(keras_model(), path)
    with pytest.raises(ValueError, match="mapping='keras' needs a built ember.keras model"):
        load_weights(EmberNet(), {"a/vars/0": rand(2)}, mapping="keras")


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def keras_rnn_reference(kind, x, kernel, recurrent, bias):
    """Keras's LSTM / GRU (reset_after) recurrences in NumPy, on Keras's own layouts."""
    h = np.zeros((len(x), recurrent.shape[0]))
    c = np.zeros_like(h)
    outputs = []
    for t in range(x.shape[1]):
        if kind == "LSTM":
            i, f, g, o = np.split(x[:, t] @ kernel + h @ recurrent + bias, 4, axis=1)
            c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
            h = sigmoid(o) * np.tanh(c)
        else:
            xz, xr, xh = np.split(x[:, t] @ kernel + bias[0], 3, axis=1)
            hz, hr, hh = np.split(h @ recurrent + bias[1], 3, axis=1)
            z, r = sigmoid(xz + hz), sigmoid(xr + hr)
            h = z * h + (1 - z) * np.tanh(xh + r * hh)
        outputs.append(h)
    return np.stack(outputs, 1)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_keras3_recurrent_layers(tmp_path, kind):
    gates = 4 if kind == "LSTM" else 3
    kernel, recurrent = rand(3, gates * 4) * 0.5, rand(4, gates * 4) * 0.5
    bias = rand(gates * 4) if kind == "LSTM" else rand(2, gates * 4)
    path = tmp_path / "rnn.weights.h5"
    with h5py.File(path, "w") as f:  # Keras 3 keeps a recurrent layer's variables in its cell
        f.create_group(f"layers/{kind.lower()}/vars").attrs["name"] = "rnn"
        cell = f.create_group(f"layers/{kind.lower()}/cell/vars")
        cell.attrs["name"] = f"{kind.lower()}_cell"
        for i, a in enumerate([kernel, recurrent, bias]):
            cell.create_dataset(str(i), data=a)
    model = models.Sequential([getattr(layers, kind)(4, return_sequences=True, name="rnn",
                                                     input_shape=(5, 3))])
    report = load_weights(model, path)
    assert len(report.matched) == 4 and not report.missing
    x = rand(2, 5, 3)
    np.testing.assert_allclose(model.predict(x, verbose=0),
                               keras_rnn_reference(kind, x, kernel, recurrent, bias),
                               rtol=1e-4, atol=1e-5)


def test_keras2_nested_base_model(tmp_path):
    """Keras 2 stores a nested model (a pretrained base inside the transfer model) as one
    group whose weight names name the inner layers; they map onto those layers."""
    w = keras_weights()
    path = tmp_path / "nested.h5"
    with h5py.File(path, "w") as f:
        root = f.create_group("model_weights")
        root.attrs["layer_names"] = [b"base", b"flat", b"fc"]
        base = root.create_group("base")
        names = ["c1/kernel:0", "c1/bias:0", "bn/gamma:0", "bn/beta:0", "bn/moving_mean:0",
                 "bn/moving_variance:0"]
        base.attrs["weight_names"] = [n.encode() for n in names]
        for n, a in zip(names, w["c1"] + w["bn"]):
            base.create_dataset(n, data=a)
        root.create_group("flat").attrs["weight_names"] = []
        fc = root.create_group("fc")
        fc.attrs["weight_names"] = [b"fc/kernel:0", b"fc/bias:0"]
        for n, a in zip(["fc/kernel:0", "fc/bias:0"], w["fc"]):
            fc.create_dataset(n, data=a)
    model = keras_model()
    report = load_weights(model, path)
    assert len(report.matched) == 8 and not report.unmatched
    x = rand(2, 4, 4, 2)
    np.testing.assert_allclose(model.predict(x, verbose=0), keras_reference(w, x),
                               rtol=1e-4, atol=1e-4)
