"""Transfer-learning tools: freeze/unfreeze, frozen BatchNorm, parameter groups (a fine-tuning
step equal to PyTorch's), replace_head on the zoo models, cached feature extraction."""

import numpy as np
import pytest
import torch

import ember
from ember import nn, zoo
from ember.keras import layers, models
from ember.zoo import extract_features, freeze, param_groups, replace_head, unfreeze


def small_net():
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Flatten(), nn.Linear(4 * 4 * 4, 5))


def torch_net():
    return torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.BatchNorm2d(4),
                               torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(64, 5))


def copy_from_torch(model, ref):
    model.load_state_dict({k: ember.from_numpy(v.detach().numpy().copy())
                           for k, v in ref.state_dict().items()})


def test_freeze_by_pattern_module_and_parameter():
    net = small_net()
    assert freeze(net, "0") == ["0.weight", "0.bias"]
    assert not net[0].weight.requires_grad and net[4].weight.requires_grad
    assert freeze(net, net[1]) == ["1.weight", "1.bias"]
    assert freeze(net, "*.bias") == ["0.bias", "1.bias", "4.bias"]
    assert [n for n, p in net.named_parameters() if p.requires_grad] == ["4.weight"]
    assert unfreeze(net) == ["0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "4.bias"]
    assert all(p.requires_grad for p in net.parameters())


def test_freeze_errors():
    net = small_net()
    with pytest.raises(ValueError, match=r"freeze: no module or parameter of Sequential matches "
                                         r"'features\.\*' \(module names look like: 0, 1"):
        freeze(net, "features.*")
    with pytest.raises(ValueError, match="not part of the model"):
        freeze(net, nn.Linear(2, 2))
    with pytest.raises(TypeError, match="expected modules or name patterns, got int"):
        unfreeze(net, 3)


def test_frozen_batchnorm_stays_in_eval_mode_through_train():
    net = small_net()
    with ember.no_grad():
        net.train()(ember.randn(8, 2, 4, 4))  # running statistics away from 0 and 1
    freeze(net, "0", "1")
    mean = net[1].running_mean.detach().numpy().copy()
    net.train()
    assert net.training and net[4].training and not net[1].training
    x = ember.randn(6, 2, 4, 4)
    out = net(x)
    np.testing.assert_array_equal(net[1].running_mean.detach().numpy(), mean)  # not updated
    expected = net.eval()(x)
    np.testing.assert_array_equal(out.detach().numpy(), expected.detach().numpy())
    assert type(net[1]).__name__ == "BatchNorm2d" and isinstance(net[1], nn.BatchNorm2d)
    unfreeze(net, "1")
    assert not net[1].training  # follows the model (in eval now) again
    net.train()
    net(x)
    assert net[1].training
    assert not np.array_equal(net[1].running_mean.detach().numpy(), mean)


def test_bn_eval_false_leaves_batchnorm_training():
    net = small_net()
    freeze(net, bn_eval=False)
    assert net.train()[1].training


def test_fine_tuning_step_matches_pytorch():
    """Frozen conv + BN (eval), head and BN's affine in groups with different learning rates:
    two SGD steps equal PyTorch's with the same settings."""
    torch.manual_seed(0)
    ref = torch_net()
    with torch.no_grad():
        ref.train()(torch.randn(8, 2, 4, 4))
    net = small_net()
    copy_from_torch(net, ref)
    freeze(net, "0", "1")
    ref[0].requires_grad_(False)
    ref[1].requires_grad_(False)
    unfreeze(net, "1.weight")
    ref[1].weight.requires_grad_(True)
    groups = param_groups(net, {"1.*": 1e-3}, default={"lr": 0.1, "momentum": 0.5})
    assert [len(g["params"]) for g in groups] == [1, 2]
    opt = ember.optim.SGD(groups, lr=0.01)
    ref_opt = torch.optim.SGD([{"params": [ref[1].weight], "lr": 1e-3},
                               {"params": list(ref[4].parameters()), "lr": 0.1,
                                "momentum": 0.5}], lr=0.01)
    x = torch.randn(6, 2, 4, 4)
    y = torch.tensor([0, 1, 2, 3, 4, 0])
    net.train()
    ref.train()
    ref[1].eval()
    for _ in range(2):
        loss = nn.functional.cross_entropy(net(ember.from_numpy(x.numpy())),
                                           ember.from_numpy(y.numpy()))
        opt.zero_grad()
        loss.backward()
        opt.step()
        ref_loss = torch.nn.functional.cross_entropy(ref(x), y)
        ref_opt.zero_grad()
        ref_loss.backward()
        ref_opt.step()
        np.testing.assert_allclose(loss.item(), ref_loss.item(), rtol=1e-5)
    assert net[0].weight.grad is None
    for k, v in ref.state_dict().items():
        np.testing.assert_allclose(net.state_dict()[k].numpy(), v.numpy(), rtol=1e-5,
                                   atol=1e-6, err_msg=k)


def test_param_groups_errors_and_frozen():
    net = small_net()
    freeze(net, "0")
    with pytest.raises(ValueError, match="no trainable parameter of Sequential matches '0.*'"):
        param_groups(net, {"0.*": 0.1})
    groups = param_groups(net, {"0.*": 0.1}, include_frozen=True)
    assert len(groups[0]["params"]) == 2 and "lr" not in groups[1]


@pytest.mark.parametrize("name,kwargs,attr,size", [
    ("resnet18", {}, "fc", 32), ("vgg11", {"hidden": 16}, "classifier.6", 32),
    ("mobilenet_v2", {"width_mult": 0.5}, "classifier.1", 32), ("lenet5", {}, "fc3", 32),
    ("vit_tiny", {}, "heads.head", 32)])
def test_replace_head_on_zoo_models(name, kwargs, attr, size):
    info = zoo.model_info(name)
    model = zoo.get_model(name, **kwargs)
    freeze(model)
    old = model.get_submodule(attr)
    head = replace_head(model, 3)
    assert model.get_submodule(attr) is head and head is not old
    assert head.in_features == old.in_features and head.out_features == 3
    assert [n for n, p in model.named_parameters() if p.requires_grad] == [f"{attr}.weight",
                                                                           f"{attr}.bias"]
    channels = getattr(info, "in_channels", None) or (1 if name == "lenet5" else 3)
    with ember.no_grad():
        out = model.eval()(ember.randn(2, channels, size, size))
    assert out.shape == (2, 3)


def test_replace_head_errors():
    with pytest.raises(ValueError, match="no Linear layer"):
        replace_head(nn.Sequential(nn.Conv2d(1, 2, 3)), 3)
    with pytest.raises(ValueError, match="positive int"):
        replace_head(small_net(), 0)
    k = models.Sequential([layers.Dense(2, input_shape=(3,))])
    with pytest.raises(TypeError, match="base.output"):
        replace_head(k, 3)


def test_keras_trainable_and_layer_names():
    model = models.Sequential([layers.Conv2D(4, 3, name="block1_conv1", input_shape=(6, 6, 1)),
                               layers.BatchNormalization(name="block1_bn"),
                               layers.Flatten(name="flat"), layers.Dense(2, name="fc")])
    frozen = freeze(model, "block1_*")
    assert len(frozen) == 4  # conv kernel and bias, BN gamma and beta
    assert not model.get_layer("block1_conv1").trainable
    assert not model.get_layer("block1_bn").trainable and model.get_layer("fc").trainable
    assert len(model.trainable_weights) == 2
    unfreeze(model, "block1_bn")
    assert model.get_layer("block1_bn").trainable


def test_extract_features_and_cache(tmp_path):
    base = small_net()[:4]
    calls = []
    base.register_forward_hook(lambda m, a, out: calls.append(len(a[0])))
    x = ember.randn(10, 2, 4, 4)
    base.train()
    feats = extract_features(base, x, batch_size=4)
    assert calls == [4, 4, 2] and base.training  # batched, and the mode is restored
    with ember.no_grad():
        np.testing.assert_array_equal(feats.numpy(), base.eval()(x).numpy())
    cache = tmp_path / "feats.safetensors"
    calls.clear()
    first = extract_features(base, x, cache=cache)
    again = extract_features(base, x, cache=cache)
    assert calls == [10]  # the second call read the cache
    np.testing.assert_array_equal(first.numpy(), again.numpy())
    with ember.no_grad():
        base[0].weight.add_(1.0)
    changed = extract_features(base, x, cache=cache)  # other weights: recomputed
    assert calls == [10, 10] and not np.array_equal(changed.numpy(), first.numpy())
    ds = ember.data.TensorDataset(x, ember.arange(10))
    out = extract_features(base, ds)
    assert len(out) == 10 and out[3][0].shape == (64,) and out[3][1].item() == 3
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        extract_features(base, x, batch_size=0)
