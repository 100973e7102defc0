"""Each zoo architecture against a PyTorch reference with torchvision's names: the reference's
state dict, saved with ``torch.save``, loads through the .pth importer and the outputs agree."""

import numpy as np
import pytest
import torch

import ember
from ember import zoo
from ember.zoo import ZooError

from . import reference as R


def load_reference(model, ref, tmp_path):
    """Save ``ref``'s state dict as a .pth file and load it into ``model`` (strict)."""
    path = tmp_path / "reference.pth"
    torch.save(ref.state_dict(), path)
    report = zoo.load_weights(model, str(path))
    assert not (report.missing or report.unexpected or report.mis_shaped)
    return model.eval()


def assert_close(out, ref):
    ref = ref.detach().numpy()
    scale = float(np.abs(ref).max())
    assert scale > 0
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-4, atol=1e-4 * scale)


def compare(model, ref, x, tmp_path):
    torch.manual_seed(0)
    R.randomize(ref)
    load_reference(model, ref, tmp_path)
    with ember.no_grad():
        out = model(ember.from_numpy(x.numpy()))
    with torch.no_grad():
        expected = ref(x)
    assert_close(out, expected)


def image(n=1, c=3, size=32, seed=0):
    return torch.randn(n, c, size, size, generator=torch.Generator().manual_seed(seed))


def test_lenet5(tmp_path):
    compare(zoo.lenet5(num_classes=7, in_channels=2), R.LeNet5(7, 2), image(3, 2), tmp_path)


@pytest.mark.parametrize("depth", [11, 13, 16, 19])
@pytest.mark.parametrize("bn", [False, True])
def test_vgg(depth, bn, tmp_path):
    name = f"vgg{depth}" + ("_bn" if bn else "")
    c = 1 if depth == 11 else 3
    model = zoo.get_model(name, num_classes=10, hidden=32, init_weights=False, in_channels=c)
    compare(model, R.VGG(depth, bn, num_classes=10, hidden=32, in_channels=c), image(c=c),
            tmp_path)


@pytest.mark.parametrize("depth", [18, 34, 50, 101])
def test_resnet(depth, tmp_path):
    block, layers = R.RESNETS[depth]
    if depth == 18:  # one input channel, a batch of 2 at 40x40
        model, ref, x = zoo.resnet18(num_classes=4, in_channels=1), \
            R.ResNet(block, layers, 4, 1), image(2, 1, 40)
    else:
        model, ref, x = zoo.get_model(f"resnet{depth}", num_classes=10), \
            R.ResNet(block, layers, 10), image()
    compare(model, ref, x, tmp_path)


@pytest.mark.parametrize("width", [1.0, 0.5])
def test_mobilenet_v2(width, tmp_path):
    compare(zoo.mobilenet_v2(num_classes=10, width_mult=width), R.MobileNetV2(10, width),
            image(2), tmp_path)


def test_vit(tmp_path):
    cfg = dict(image_size=32, patch_size=8, num_layers=2, num_heads=4, hidden_dim=32,
               mlp_dim=64, num_classes=10)
    compare(zoo.VisionTransformer(**cfg), R.VisionTransformer(**cfg), image(2), tmp_path)


def test_vit_tiny_loads_reference(tmp_path):
    ref = R.VisionTransformer(32, 4, 6, 4, 128, 256, num_classes=10)
    compare(zoo.vit_tiny(num_classes=10), ref, image(1), tmp_path)


def test_lstm_lm(tmp_path):
    model = zoo.lstm_lm(num_tokens=30, embedding_dim=12, hidden_size=16, num_layers=2)
    ref = R.RNNModel(30, 12, 16, 2)
    torch.manual_seed(0)
    load_reference(model, ref.eval(), tmp_path)
    tokens = torch.randint(0, 30, (9, 3), generator=torch.Generator().manual_seed(1))
    with ember.no_grad():
        out, (h, c) = model(ember.from_numpy(tokens.numpy()))
    with torch.no_grad():
        expected, (h_ref, c_ref) = ref(tokens)
    assert_close(out, expected)
    assert_close(h, h_ref)
    assert_close(c, c_ref)


def test_lstm_lm_tied_weights_share_the_matrix():
    model = zoo.lstm_lm(num_tokens=20, embedding_dim=8, hidden_size=8, tie_weights=True)
    assert model.decoder.weight is model.encoder.weight
    with pytest.raises(ZooError, match="tie_weights needs embedding_dim == hidden_size"):
        zoo.lstm_lm(num_tokens=20, embedding_dim=8, hidden_size=16, tie_weights=True)


@pytest.mark.parametrize("name,count", [
    ("resnet18", 11_689_512), ("resnet50", 25_557_032), ("mobilenet_v2", 3_504_872),
    ("lenet5", 61_706)])
def test_parameter_counts_match_torchvision(name, count):
    # The counts torchvision's documentation lists (LeNet-5: 6*26 + 16*151 + 120*401 + ...).
    assert sum(p.numel() for p in zoo.get_model(name).parameters()) == count


def test_vgg16_names_and_shapes_are_torchvisions():
    model = zoo.vgg16(hidden=64, init_weights=False)
    params = dict(model.named_parameters())
    # Keras lists 14,714,688 parameters for VGG16 without its top: the same convolutions.
    assert sum(p.numel() for p in model.features.parameters()) == 14_714_688
    assert params["features.28.weight"].shape == (512, 512, 3, 3)
    assert params["classifier.0.weight"].shape == (64, 25088)
    assert params["classifier.6.bias"].shape == (1000,)


@pytest.mark.parametrize("name", ["lenet5", "resnet18", "mobilenet_v2", "vit_tiny", "vgg11"])
def test_dropout_is_used_in_training_mode_only(name):
    _ = ember.manual_seed(0)
    kwargs = {"hidden": 8} if name == "vgg11" else {"width_mult": 0.35} \
        if name == "mobilenet_v2" else {"num_layers": 1} if name == "vit_tiny" else {}
    model = zoo.get_model(name, dropout=0.5, **kwargs)
    if name == "vit_tiny":  # its head starts at zero, as torchvision's
        ember.nn.init.normal_(model.heads.head.weight)
    if name == "lenet5":
        x = ember.randn(2, 1, 32, 32)
    else:
        x = ember.randn(2, 3, 32, 32)
    model.eval()
    with ember.no_grad():
        assert np.array_equal(model(x).numpy(), model(x).numpy())
    model.train()
    with ember.no_grad():
        assert not np.allclose(model(x).numpy(), model(x).numpy())


# ------------------------------------------------------------------ bad input
def test_unknown_model_lists_known_ones():
    with pytest.raises(ZooError, match="no model named 'resnet9'; known models: lenet5"):
        zoo.get_model("resnet9")


@pytest.mark.parametrize("build,match", [
    (lambda: zoo.resnet18(num_classes=0), "ResNet: num_classes must be a positive integer"),
    (lambda: zoo.vgg11(dropout=1.5), r"VGG: dropout must be a probability in \[0, 1\)"),
    (lambda: zoo.lenet5(in_channels=2.0), "LeNet5: in_channels must be a positive integer"),
    (lambda: zoo.mobilenet_v2(width_mult=0), "width_mult must be a positive number"),
    (lambda: zoo.vit_tiny(patch_size=5), "image_size 32 is not a multiple of patch_size 5"),
    (lambda: zoo.vit_tiny(num_heads=3), "hidden_dim 128 is not divisible by num_heads 3"),
])
def test_bad_arguments(build, match):
    with pytest.raises(ZooError, match=match):
        build()


def test_wrong_input_size_names_the_model():
    with pytest.raises(ember.errors.ShapeError, match=r"LeNet5 takes \(N, C, 32, 32\)"):
        zoo.lenet5()(ember.zeros(1, 1, 28, 28))
    with pytest.raises(ember.errors.ShapeError, match="built for 32x32 images, got 64x64"):
        zoo.vit_tiny()(ember.zeros(1, 3, 64, 64))


# ------------------------------------------------------------------ training mode, gradients
@pytest.mark.parametrize("name", ["vit", "mobilenet_v2", "lstm_lm"])
def test_training_gradients_equal_pytorch(name, tmp_path):
    """float64, training mode (batch statistics, dropout off): every parameter's gradient."""
    torch.manual_seed(0)
    if name == "vit":
        cfg = dict(image_size=16, patch_size=4, num_layers=2, num_heads=2, hidden_dim=16,
                   mlp_dim=32, num_classes=5)
        model, ref, x = zoo.VisionTransformer(**cfg), R.VisionTransformer(**cfg), image(3, 3, 16)
    elif name == "mobilenet_v2":
        model, ref, x = zoo.mobilenet_v2(num_classes=5, width_mult=0.35, dropout=0.0), \
            R.MobileNetV2(5, 0.35), image(8)  # 3 samples on 1x1 maps: BN ill-conditioned
        ref.classifier[0].p = 0.0
    else:
        model, ref = zoo.lstm_lm(num_tokens=20, embedding_dim=6, hidden_size=8, dropout=0.0), \
            R.RNNModel(20, 6, 8, 2, dropout=0.0)
        x = torch.randint(0, 20, (5, 3), generator=torch.Generator().manual_seed(2))
    R.randomize(ref)
    load_reference(model, ref, tmp_path)
    model.double().train()
    ref.double().train()
    xd = x.double() if x.is_floating_point() else x
    out_ref = ref(xd)
    out_ref = out_ref[0] if isinstance(out_ref, tuple) else out_ref
    weights = torch.randn(out_ref.shape, generator=torch.Generator().manual_seed(3),
                          dtype=torch.float64)
    (out_ref * weights).sum().backward()
    out = model(ember.from_numpy(xd.numpy()))
    out = out[0] if isinstance(out, tuple) else out
    (out * ember.from_numpy(weights.numpy())).sum().backward()
    grads = dict(model.named_parameters())
    # Biases followed by batch norm have a zero gradient: compare against the largest one.
    scale = max(float(p.grad.abs().max()) for p in ref.parameters())
    for n, p in ref.named_parameters():
        np.testing.assert_allclose(grads[n].grad.numpy(), p.grad.numpy(), rtol=1e-7,
                                   atol=1e-10 * scale, err_msg=n)
