"""TOML training configs: the default, round trips, data formats and every error."""

import numpy as np
import pytest

from ember.keras import config
from ember.keras.config import ConfigError
from ember.keras.run import load_data

BASE = """
name = "tiny"
seed = 1
[data]
dataset = "digits"
[model]
input_shape = [8, 8, 1]
layers = [
  { type = "Flatten" },
  { type = "Dense", units = 16, activation = "relu" },
  { type = "Dense", units = 10, activation = "softmax" },
]
[train]
epochs = 1
"""


def test_default_config_is_the_seed_cnn_on_digits():
    cfg = config.load()
    model = config.build_model(cfg)
    assert [type(layer).__name__ for layer in model.layers] == [
        "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Conv2D", "Flatten", "Dense",
        "Dense"]
    assert model.output_shape == (None, 10) and model.count_params() == 72842
    assert cfg["train"]["optimizer"] == {"type": "adam", "learning_rate": 0.002}


def test_dumps_round_trips():
    for text in (config.DEFAULT_CONFIG, BASE):
        cfg = config.parse(text)
        assert config.parse(config.dumps(cfg)) == cfg


def test_digits_splits_are_seeded_and_disjoint():
    cfg = config.parse(BASE)
    a, b = load_data(cfg), load_data(cfg)
    np.testing.assert_array_equal(a["train"][0], b["train"][0])
    sizes = [len(a[k][0]) for k in ("train", "val", "test")]
    assert sizes == [1294, 144, 359] and a["train"][0].shape[1:] == (8, 8, 1)
    cfg["seed"] = 2
    assert not np.array_equal(load_data(cfg)["test"][1], a["test"][1])


def test_npz_and_csv_datasets(tmp_path):
    x = np.random.default_rng(0).random((50, 6)).astype(np.float32)
    y = (x.sum(1) > 3).astype(np.int64)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    text = BASE.replace('dataset = "digits"', f'dataset = "npz"\npath = "{tmp_path / "d.npz"}"')
    text = text.replace("input_shape = [8, 8, 1]", "input_shape = [6]")
    d = load_data(config.parse(text))
    assert d["train"][0].shape[1:] == (6,) and sum(len(d[k][0]) for k in d) == 50
    header = ",".join(f"f{i}" for i in range(6)) + ",label"
    np.savetxt(tmp_path / "d.csv", np.c_[x, y], delimiter=",", header=header, comments="")
    text = text.replace('dataset = "npz"', 'dataset = "csv"').replace("d.npz", "d.csv")
    d = load_data(config.parse(text))
    assert d["train"][0].shape[1:] == (6,) and set(np.unique(d["train"][1])) <= {0, 1}


def test_toml_syntax_error_gives_line_and_column():
    with pytest.raises(ConfigError, match=r"<config>: TOML syntax error: .*line 3, column"):
        config.parse('name = "x"\n[train]\nepochs == 3\n')


@pytest.mark.parametrize("change,message", [
    (("epochs = 1", "epoch = 1"), r"unknown key\(s\) epoch in \[train\]; allowed: batch_size"),
    (("epochs = 1", "epochs = 0"), r"\[train\] epochs must be an integer in \[1, \]"),
    (('dataset = "digits"', 'dataset = "imagenet"'), "known datasets: digits, npz, csv"),
    (('dataset = "digits"', 'dataset = "npz"'), 'needs path = "..."'),
    (("seed = 1", "seed = -1"), "seed must be an integer"),
    (("epochs = 1", 'epochs = 1\n[train.schedule]\ntype = "linear"'),
     "known schedules: cosine, exponential, plateau, step"),
])
def test_bad_values_are_reported(change, message):
    with pytest.raises(ConfigError, match=message):
        config.parse(BASE.replace(*change))


@pytest.mark.parametrize("change,message", [
    (('type = "Flatten"', 'type = "Flaten"'),
     r"model.layers\[0\]: unknown layer type 'Flaten'; known layers: Activation, Add, "),
    (("units = 16,", "unit = 16,"),
     r"model.layers\[1\] \(Dense\): Dense.* missing 1 required positional argument: 'units'"),
    (("units = 16,", "units = 16, padding = 'same',"),
     r"model.layers\[1\] \(Dense\): Dense: unexpected keyword argument\(s\) padding"),
    (('{ type = "Flatten" },', '{ type = "Flatten" },\n{ type = "MaxPooling2D" },'),
     r"model.layers\[1\] \(MaxPooling2D\): layer 'max_pooling2d.*' \(MaxPooling2D\) cannot "
     r"take input of shape \(None, 64\): expects 4-D input"),
])
def test_bad_layers_are_reported_with_position_and_shape(change, message):
    with pytest.raises(ConfigError, match=message):
        config.build_model(config.parse(BASE.replace(*change)))


def test_shape_mismatch_names_the_layer_and_incoming_shape():
    text = BASE.replace('{ type = "Flatten" },', '{ type = "Conv2D", filters = 4, '
                        'kernel_size = 9 },')
    with pytest.raises(ConfigError, match=r"model.layers\[0\] \(Conv2D\): layer 'conv2d.*' "
                                          r"\(Conv2D\) cannot take input of shape "
                                          r"\(None, 8, 8, 1\): the kernel \(9, 9\) is larger"):
        config.build_model(config.parse(text))


def test_unknown_optimizer_and_loss_list_the_known_ones():
    with pytest.raises(ConfigError, match=r"\[train.optimizer\]: unknown optimizer 'adan'; "
                                          "known optimizers: adagrad, adam, adamw, rmsprop, "
                                          "sgd"):
        config.build_model(config.parse(BASE + '[train.optimizer]\ntype = "adan"\n'))
    with pytest.raises(ConfigError, match=r"\[train\] loss: unknown loss 'xent'; known losses: "
                                          "binary_crossentropy, categorical_crossentropy"):
        config.build_model(config.parse(BASE.replace("epochs = 1",
                                                     'epochs = 1\nloss = "xent"')))
    with pytest.raises(ConfigError, match=r"\[train.optimizer\] \(sgd\): .*unexpected keyword "
                                          "argument 'lr'"):
        config.build_model(config.parse(BASE + '[train.optimizer]\ntype = "sgd"\nlr = 0.1\n'))


def test_missing_config_file():
    with pytest.raises(ConfigError, match="config file nope.toml does not exist"):
        config.load("nope.toml")
