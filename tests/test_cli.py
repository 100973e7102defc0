"""The `ember` command's demo trains for real: the loss falls and accuracy is high."""

import io
import subprocess
import sys

from ember import cli


def test_demo_loss_falls_and_accuracy_is_high():
    out = io.StringIO()
    acc = cli.demo(steps=400, seed=0, out=out)
    losses = [float(line.split("loss")[1].split()[0]) for line in out.getvalue().splitlines()
              if line.startswith("step")]
    assert losses[-1] < losses[0] / 5
    assert acc > 0.95


def test_python_dash_m_ember_info_runs():
    r = subprocess.run([sys.executable, "-m", "ember", "info"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and "ember 0.1.0" in r.stdout


def test_info_says_whether_onednn_runs():
    import io

    import ember
    from ember.cli import info

    buf = io.StringIO()
    info(buf)
    line = next(ln for ln in buf.getvalue().splitlines() if ln.startswith("oneDNN:"))
    if ember.backends.onednn.is_available():
        assert line.startswith("oneDNN: 3.")
    else:
        assert "not used" in line
    ember.backends.onednn.enabled = False
    try:
        buf = io.StringIO()
        info(buf)
        assert "oneDNN: switched off" in buf.getvalue()
    finally:
        ember.backends.onednn.enabled = True


# ---------------------------------------------------------------------- ember train and friends
import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import ember  # noqa: E402


def ember_cmd(*args, cwd, timeout=300):
    return subprocess.run([sys.executable, "-m", "ember", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


def final_weights(run_dir):
    return ember.io.load(os.path.join(run_dir, "checkpoint.safetensors"))["model"]


@pytest.fixture(scope="module")
def two_epoch_run(tmp_path_factory):
    """An uninterrupted 2-epoch run of the default job."""
    cwd = tmp_path_factory.mktemp("cli")
    r = ember_cmd("train", "--epochs", "2", "--out", "full", cwd=cwd)
    assert r.returncode == 0, r.stderr
    return cwd, r


@pytest.mark.slow
def test_ember_train_default_reaches_97_percent_and_writes_the_run_folder(tmp_path):
    r = ember_cmd("train", cwd=tmp_path)  # its speed is measured in bench/, not asserted
    assert r.returncode == 0, r.stderr
    run = tmp_path / "runs" / "digits-cnn"
    results = json.loads((run / "results.json").read_text())
    assert results["test_accuracy"] >= 0.97, results
    for name in ("config.toml", "checkpoint.safetensors", "model.keras", "metrics.csv",
                 "curves.png"):
        assert (run / name).exists(), name
    assert (run / "curves.png").read_bytes()[:4] == b"\x89PNG"
    rows = (run / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,loss,accuracy,val_loss,val_accuracy") and len(rows) == 13
    assert "Total params: 72,842" in r.stdout and "samples/s" in r.stdout
    assert f"test: loss {results['test_loss']:.4f}, accuracy" in r.stdout
    # the ONNX export next to the checkpoint gives the trained model's outputs in onnxruntime
    ort = pytest.importorskip("onnxruntime")
    from ember.keras.models import load_model

    x = np.random.default_rng(0).random((5, 8, 8, 1), dtype=np.float32)
    session = ort.InferenceSession(str(run / "model.onnx"))
    expected = np.asarray(load_model(str(run / "model.keras")).predict(x, verbose=0))
    np.testing.assert_allclose(session.run(None, {"input": x})[0], expected, rtol=1e-5,
                               atol=1e-6)


def test_train_prints_progress_and_summary(two_epoch_run):
    cwd, r = two_epoch_run
    lines = r.stdout.splitlines()
    assert "Epoch 2/2" in lines and "Model: \"digits_cnn\"" in lines
    bar = next(line for line in lines if line.startswith("41/41 ["))
    assert " - loss: " in bar and " - accuracy: " in bar and "samples/s" in bar
    assert os.path.exists(cwd / "full" / "curves.png")


def test_resume_after_a_stop_mid_epoch_gives_the_same_weights(two_epoch_run):
    cwd, _ = two_epoch_run
    r = ember_cmd("train", "--epochs", "2", "--out", "cut", "--stop-after-steps", "50", cwd=cwd)
    assert r.returncode == 130, r.stderr
    assert "ember train --resume cut" in r.stdout
    r = ember_cmd("train", "--resume", "cut", cwd=cwd)
    assert r.returncode == 0, r.stderr
    assert "Epoch 2/2 (resumed at batch 9)" in r.stdout
    full, cut = final_weights(cwd / "full"), final_weights(cwd / "cut")
    assert full.keys() == cut.keys()
    for k in full:
        np.testing.assert_array_equal(full[k].numpy(), cut[k].numpy())
    assert (cwd / "full" / "metrics.csv").read_text().split("\n")[0] == \
        (cwd / "cut" / "metrics.csv").read_text().split("\n")[0]
    r = ember_cmd("train", "--resume", "cut", cwd=cwd)
    assert r.returncode == 0 and "already finished its 2 epochs" in r.stdout


def test_ctrl_c_saves_a_checkpoint_and_resume_finishes_identically(two_epoch_run):
    cwd, _ = two_epoch_run
    proc = subprocess.Popen([sys.executable, "-m", "ember", "train", "--epochs", "2", "--out",
                             "sig"], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    for line in proc.stdout:
        if line.startswith("Epoch 1/2"):
            break
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted: finishing this batch and saving a checkpoint" in out
    assert "Traceback" not in err
    r = ember_cmd("train", "--resume", "sig", cwd=cwd)
    assert r.returncode == 0, r.stderr
    full, sig = final_weights(cwd / "full"), final_weights(cwd / "sig")
    for k in full:
        np.testing.assert_array_equal(full[k].numpy(), sig[k].numpy())


def test_evaluate_predict_and_summary_commands(two_epoch_run):
    cwd, _ = two_epoch_run
    r = ember_cmd("evaluate", "full", cwd=cwd)
    assert r.returncode == 0 and r.stdout.startswith("test (359 samples): loss ")
    r = ember_cmd("predict", "full", "--limit", "3", cwd=cwd)
    assert r.returncode == 0 and r.stdout.splitlines()[0].split() == ["sample", "predicted",
                                                                      "probability", "label"]
    assert len(r.stdout.splitlines()) == 5
    np.save(cwd / "two.npy", np.zeros((2, 64), np.float32))
    r = ember_cmd("predict", "full/model.keras", "two.npy", cwd=cwd)
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 3
    r = ember_cmd("summary", cwd=cwd)
    assert r.returncode == 0 and "Total params: 72,842 (284.54 KB)" in r.stdout


def test_command_errors_are_clear(tmp_path):
    r = ember_cmd("train", "--resume", "runs/missing", cwd=tmp_path)
    assert r.returncode == 2
    assert "error: no run folder runs/missing to resume" in r.stderr and "Traceback" not in r.stderr
    r = ember_cmd("train", "--resume", cwd=tmp_path)
    assert r.returncode == 2 and "no run to resume: runs/digits-cnn" in r.stderr
    (tmp_path / "a_file").write_text("x")
    r = ember_cmd("train", "--out", "a_file/run", cwd=tmp_path)
    assert r.returncode == 2 and "cannot write to the output folder a_file/run" in r.stderr
    (tmp_path / "bad.toml").write_text('name = "x"\n[train]\nepochs = = 3\n')
    r = ember_cmd("train", "bad.toml", cwd=tmp_path)
    assert r.returncode == 2 and "TOML syntax error" in r.stderr and "line 3, column" in r.stderr
    (tmp_path / "layer.toml").write_text('[model]\nlayers = [{ type = "Dense3D" }]\n')
    r = ember_cmd("summary", "layer.toml", cwd=tmp_path)
    assert r.returncode == 2 and "unknown layer type 'Dense3D'; known layers:" in r.stderr


def test_ember_bench_runs_the_repository_bench():
    r = ember_cmd("bench", "--help", cwd=os.getcwd(), timeout=120)
    assert r.returncode == 0 and "--rounds" in r.stdout
