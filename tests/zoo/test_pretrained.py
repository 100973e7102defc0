"""Shipped weights: they load offline, score their model card's accuracy, and their card's
command reproduces them; ``ember zoo list/info``."""

import io
import shlex
import subprocess
import sys

import numpy as np
import pytest

import ember
from ember import zoo
from ember.cli import main as ember_main
from ember.zoo import pretrained
from ember.zoo.models import ZooError

CARD_KEYS = {"name", "architecture", "data", "seed", "test_accuracy", "test_samples",
             "training", "input", "command"}


@pytest.mark.parametrize("name", sorted(pretrained.SHIPPED))
def test_shipped_weights_score_their_card_accuracy(name):
    card = pretrained.model_card(name)
    assert CARD_KEYS <= set(card) and card["data"]["dataset"] == "digits"
    assert card["test_samples"] == 359 and card["test_accuracy"] > 0.9
    assert pretrained.evaluate_shipped(name) == card["test_accuracy"]


def test_lenet5_pretrained_predicts_digits():
    model = zoo.lenet5(pretrained=True).eval()
    x, y = pretrained.digits_splits()["test"]
    with ember.no_grad():
        pred = model(ember.from_numpy(pretrained.digits_to_lenet(x[:50]))).argmax(dim=1)
    assert (pred.numpy() == y[:50]).mean() > 0.9
    fresh = zoo.lenet5()
    assert not np.array_equal(fresh.conv1.weight.detach().numpy(),
                              model.conv1.weight.detach().numpy())


def test_seed_cnn_pretrained_is_a_keras_model():
    model = zoo.get_model("seed_cnn", pretrained=True)
    assert isinstance(model, ember.keras.Model) and model.count_params() == 72_842
    x, y = pretrained.digits_splits()["test"]
    assert (np.asarray(model.predict(x[:50], verbose=0)).argmax(axis=1) == y[:50]).mean() > 0.9


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(pretrained.SHIPPED))
def test_card_command_reproduces_the_accuracy(name, tmp_path):
    card = pretrained.model_card(name)
    argv = shlex.split(card["command"].replace("DIR", str(tmp_path)))
    assert argv[:3] == ["python", "-m", "ember.zoo.pretrained"]
    # The card's command exactly, in a fresh process (as a user would run it).
    done = subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True,
                          check=True)
    assert f"{name}: test accuracy" in done.stdout
    again = pretrained.model_card(name, tmp_path)
    # The same seed and data give the same run; allow one test digit for BLAS rounding.
    assert abs(again["test_accuracy"] - card["test_accuracy"]) <= 1 / card["test_samples"]
    assert pretrained.evaluate_shipped(name, tmp_path) == again["test_accuracy"]


def test_reproduce_command_runs_as_a_module():
    done = subprocess.run([sys.executable, "-m", "ember.zoo.pretrained", "--help"],
                          capture_output=True, text=True, check=True)
    assert "--out" in done.stdout and "lenet5" in done.stdout


def test_missing_weights_and_unknown_names(tmp_path):
    with pytest.raises(FileNotFoundError, match="shipped weights .*lenet5.safetensors are "
                                                "missing; .*python -m ember.zoo.pretrained"):
        pretrained.load_shipped(zoo.lenet5(), "lenet5", tmp_path)
    with pytest.raises(ZooError, match="no shipped weights named 'resnet18'; ember ships: "
                                       "lenet5, seed_cnn"):
        pretrained.model_card("resnet18")


def test_get_model_pretrained_without_shipped_weights():
    with pytest.raises(ZooError, match="ships no pretrained weights for 'resnet50' .*lenet5, "
                                       "seed_cnn.*ember.zoo.load_weights"):
        zoo.get_model("resnet50", pretrained=True)
    assert isinstance(zoo.get_model("lenet5", pretrained=False), zoo.LeNet5)
    assert zoo.get_model("resnet18", pretrained=False, num_classes=3).fc.out_features == 3


def test_pretrained_lenet5_with_other_classes_is_refused():
    with pytest.raises(ZooError, match="shipped weights have 10 classes and 1 input channel, "
                                       "got num_classes=5.*replace_head"):
        zoo.lenet5(pretrained=True, num_classes=5)


def test_registry_counts_are_the_built_models():
    for name in ("lenet5", "seed_cnn", "resnet18", "mobilenet_v2", "vit_tiny"):
        model = zoo.get_model(name)
        count = model.count_params() if name == "seed_cnn" else sum(
            p.numel() for p in model.parameters())
        assert count == zoo.model_info(name).params


# ------------------------------------------------------------------ CLI
def run_cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        code = ember_main(list(argv))
    finally:
        sys.stdout, sys.stderr = old
    return code, out.getvalue(), err.getvalue()


def test_cli_zoo_list():
    code, out, _ = run_cli("zoo", "list")
    assert code == 0
    rows = {line.split()[0] for line in out.splitlines()[1:]}
    assert rows == set(zoo.list_models())
    assert "138,357,544" in out


def test_cli_zoo_info_shows_the_model_card():
    code, out, _ = run_cli("zoo", "info", "lenet5")
    card = pretrained.model_card("lenet5")
    assert code == 0
    assert f"accuracy:  {card['test_accuracy']:.4f} on 359 test samples" in out
    assert "reproduce: python -m ember.zoo.pretrained lenet5 --out DIR" in out


def test_cli_zoo_info_unknown_model():
    code, _, err = run_cli("zoo", "info", "alexnet")
    assert code == 2
    assert "ember zoo info: error: ember.zoo: no model named 'alexnet'; known models:" in err
