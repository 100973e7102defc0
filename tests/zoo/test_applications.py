"""ember.keras.applications: Keras's structure (layer names, parameter counts), numerical
agreement with a PyTorch VGG16, compile/fit with frozen layers, seed 004's script, errors."""

import numpy as np
import pytest
import torch

import ember
from ember.errors import ShapeError
from ember.keras.applications import VGG16, MobileNetV2, ResNet50
from ember.zoo import WeightsMismatchError

from . import reference as R


def test_parameter_counts_are_keras():
    # The totals Keras's documentation and model.summary() list for these models.
    assert VGG16(include_top=False).count_params() == 14_714_688
    assert ResNet50().count_params() == 25_636_712
    assert MobileNetV2().count_params() == 3_538_984


def test_layer_names_are_keras():
    names = [layer.name for layer in ResNet50(include_top=False, input_shape=(32, 32, 3)).layers]
    assert names[:6] == ["input_layer", "conv1_pad", "conv1_conv", "conv1_bn", "conv1_relu",
                         "pool1_pad"] or names[1:6] == ["conv1_pad", "conv1_conv", "conv1_bn",
                                                         "conv1_relu", "pool1_pad"]
    assert "conv4_block6_out" in names and names[-1] == "conv5_block3_out"
    mobile = [layer.name for layer in MobileNetV2(input_shape=(32, 32, 3)).layers]
    assert "expanded_conv_depthwise" in mobile and "block_16_project_BN" in mobile
    assert mobile[-3:] == ["out_relu", "global_average_pooling2d", "predictions"]


def test_vgg16_from_a_keras_weights_file_equals_pytorch(tmp_path):
    """A Keras-3 ``.weights.h5`` (HWIO kernels) loads through ``weights=path``; the features
    equal a PyTorch VGG16's with the same weights."""
    h5py = pytest.importorskip("h5py")
    torch.manual_seed(0)
    ref = R.randomize(R.VGG(16, False, hidden=8))
    convs = [m for m in ref.features if isinstance(m, torch.nn.Conv2d)]
    names = [f"block{b}_conv{i}" for b, n in enumerate([2, 2, 3, 3, 3], 1)
             for i in range(1, n + 1)]
    path = str(tmp_path / "vgg16_notop.weights.h5")
    with h5py.File(path, "w") as f:
        for name, conv in zip(names, convs, strict=True):
            group = f.create_group(f"layers/{name}/vars")
            group.attrs["name"] = name
            group.create_dataset("0", data=conv.weight.detach().permute(2, 3, 1, 0).numpy())
            group.create_dataset("1", data=conv.bias.detach().numpy())
    model = VGG16(weights=path, include_top=False, input_shape=(32, 32, 3))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = ref.features(x).permute(0, 2, 3, 1).numpy()
    out = model.predict(ember.from_numpy(x.permute(0, 2, 3, 1).contiguous().numpy()), verbose=0)
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-4,
                               atol=1e-4 * np.abs(expected).max())


def write_keras_h5(path, layers, modules):
    """A Keras-3 ``.weights.h5``: each Keras layer's variables from the matching torch module."""
    h5py = pytest.importorskip("h5py")
    assert len(layers) == len(modules)
    with h5py.File(path, "w") as f:
        for layer, module in zip(layers, modules, strict=True):
            group = f.create_group(f"layers/{layer.name}/vars")
            group.attrs["name"] = layer.name
            for i, arr in enumerate(R.keras_arrays(module)):
                group.create_dataset(str(i), data=arr)


def weighted(model):
    return [layer for layer in model.layers if layer.weights]


def test_resnet50_from_a_keras_weights_file_equals_pytorch(tmp_path):
    torch.manual_seed(0)
    ref = R.randomize(R.KerasResNet50(classes=10))
    model = ResNet50(input_shape=(32, 32, 3), classes=10)
    path = str(tmp_path / "resnet50.weights.h5")
    write_keras_h5(path, weighted(model), ref.keras_order())
    model = ResNet50(input_shape=(32, 32, 3), classes=10, weights=path)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = ref(x).numpy()
    out = model.predict(ember.from_numpy(x.permute(0, 2, 3, 1).contiguous().numpy()), verbose=0)
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-4, atol=1e-6)


def test_mobilenet_v2_from_a_keras_weights_file_equals_pytorch(tmp_path):
    # At odd sizes (33 -> 17 -> 9 -> 5 -> 3) Keras's padding of the stride-2 convolutions is
    # symmetric, so Keras's MobileNetV2 is torchvision's with batch-norm epsilon 1e-3.
    torch.manual_seed(0)
    ref = R.MobileNetV2(10)
    for m in ref.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eps = 1e-3
    R.randomize(ref)
    modules = [m for m in ref.modules()
               if isinstance(m, (torch.nn.Conv2d, torch.nn.BatchNorm2d, torch.nn.Linear))]
    model = MobileNetV2(input_shape=(33, 33, 3), classes=10)
    path = str(tmp_path / "mobilenet_v2.weights.h5")
    write_keras_h5(path, weighted(model), modules)
    model = MobileNetV2(input_shape=(33, 33, 3), classes=10, weights=path)
    x = torch.randn(2, 3, 33, 33)
    with torch.no_grad():
        expected = torch.softmax(ref(x), dim=1).numpy()
    out = model.predict(ember.from_numpy(x.permute(0, 2, 3, 1).contiguous().numpy()), verbose=0)
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-4, atol=1e-6)


def test_a_weights_file_for_another_model_is_refused(tmp_path):
    path = str(tmp_path / "mobilenet.weights.safetensors")
    MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, include_top=False).save_weights(path)
    with pytest.raises(WeightsMismatchError, match="(?s)do not fit Functional.*nothing was loaded"
                                                  ".*unexpected, in the source only"):
        VGG16(weights=path, include_top=False, input_shape=(32, 32, 3))


def test_input_tensor_and_pooling():
    from ember.keras import Input

    inputs = Input(shape=(40, 40, 3))
    model = MobileNetV2(include_top=False, input_tensor=inputs, alpha=0.35, pooling="max")
    assert model.input is inputs and model.output.shape == (None, 1280)
    x = ember.rand(2, 40, 40, 3)
    features = MobileNetV2(include_top=False, input_shape=(40, 40, 3), alpha=0.35)
    features.load_state_dict(model.state_dict())
    full = np.asarray(features.predict(x, verbose=0))
    np.testing.assert_allclose(np.asarray(model.predict(x, verbose=0)), full.max(axis=(1, 2)),
                               rtol=1e-6)


def test_weights_path_round_trip(tmp_path):
    _ = ember.manual_seed(0)
    model = MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, classes=5)
    path = str(tmp_path / "mobilenet.weights.safetensors")
    model.save_weights(path)
    again = MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, classes=5, weights=path)
    x = ember.randn(2, 32, 32, 3)
    np.testing.assert_array_equal(np.asarray(again.predict(x, verbose=0)),
                                  np.asarray(model.predict(x, verbose=0)))


def test_frozen_base_trains_only_the_head():
    from ember.keras.layers import Dense

    _ = ember.manual_seed(0)
    base = ResNet50(include_top=False, input_shape=(32, 32, 3), pooling="avg")
    for layer in base.layers:
        layer.trainable = False
    out = Dense(3, activation="softmax")(base.output)
    model = ember.keras.Model(inputs=base.input, outputs=out)
    assert model.trainable_weights and all(
        not w.requires_grad for layer in base.layers for w in layer.weights)
    before = {n: p.numpy().copy() for n, p in base.state_dict().items()}
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(ember.randn(8, 32, 32, 3), ember.randint(0, 3, (8,)), epochs=1, batch_size=4,
              verbose=0)
    after = base.state_dict()
    # Frozen batch norm stays in inference mode: its moving statistics do not move either.
    assert all(np.array_equal(before[n], after[n].numpy()) for n in before)


def test_seed_004_transfer_learning_script(tmp_path):
    """Seed 004's script with its imports changed, a small input and a local weights file."""
    weights = str(tmp_path / "vgg16_base.weights.safetensors")
    VGG16(weights=None, include_top=False, input_shape=(32, 32, 3)).save_weights(weights)

    from ember.keras.applications.vgg16 import VGG16 as SeedVGG16

    from ember.keras.layers import Dense, Flatten
    from ember.keras.models import Model

    base_model = SeedVGG16(weights=weights, include_top=False, input_shape=(32, 32, 3))
    for layer in base_model.layers:
        layer.trainable = False
    x = base_model.output
    x = Flatten()(x)
    x = Dense(256, activation='relu')(x)
    output = Dense(10, activation='softmax')(x)
    model = Model(inputs=base_model.input, outputs=output)
    model.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'])

    _ = ember.manual_seed(0)
    images = ember.rand(16, 32, 32, 3)
    labels = ember.one_hot(ember.randint(0, 10, (16,)), 10).float()
    conv = base_model.get_layer("block1_conv1").conv.weight.numpy().copy()
    head = model.layers[-1].weights[0].detach().numpy().copy()
    history = model.fit(images, labels, epochs=2, batch_size=8, verbose=0)
    assert len(history.history["loss"]) == 2
    np.testing.assert_array_equal(base_model.get_layer("block1_conv1").conv.weight.numpy(), conv)
    assert not np.array_equal(model.layers[-1].weights[0].detach().numpy(), head)


# ------------------------------------------------------------------ bad input
def test_include_top_with_a_shape_the_head_cannot_take():
    with pytest.raises(ShapeError, match=r"VGG16: include_top=True takes input_shape "
                                         r"\(224, 224, 3\), got \(32, 32, 3\)"):
        VGG16(include_top=True, input_shape=(32, 32, 3))
    with pytest.raises(ShapeError, match="include_top=True needs a fixed input size"):
        ResNet50(include_top=True, input_shape=(None, None, 3))


@pytest.mark.parametrize("kwargs,error,match", [
    ({"weights": "imagenet"}, ValueError, "ember never downloads"),
    ({"weights": "/no/such/vgg16.h5"}, FileNotFoundError, "'/no/such/vgg16.h5' does not exist"),
    ({"input_shape": (16, 16, 3), "include_top": False}, ShapeError, "at least 32x32"),
    ({"input_shape": (32, 32), "include_top": False}, ShapeError, r"\(height, width, channels\)"),
    ({"pooling": "mean", "include_top": False}, ValueError, "pooling must be None, 'avg' or 'max'"),
    ({"classes": 0}, ValueError, "classes must be a positive integer"),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        VGG16(**kwargs)


def test_save_load_model_and_onnx_export(tmp_path):
    import ember.onnx
    from ember.keras.models import load_model

    ort = pytest.importorskip("onnxruntime")
    _ = ember.manual_seed(0)
    model = MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, classes=4)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.save(str(tmp_path / "mobilenet.keras"))
    again = load_model(str(tmp_path / "mobilenet.keras"))
    x = ember.rand(2, 32, 32, 3)
    expected = np.asarray(model.predict(x, verbose=0))
    assert again.name == "mobilenetv2_0.35_32"
    np.testing.assert_array_equal(np.asarray(again.predict(x, verbose=0)), expected)
    proto = ember.onnx.export(again.eval(), x)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {proto.graph.input[0].name: x.numpy()})
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-6)
