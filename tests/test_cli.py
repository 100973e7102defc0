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
