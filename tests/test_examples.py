"""Every script in examples/ runs to completion; key outputs are checked."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

EXPECTED = {
    "seed_tensor_ops.py": [
        "reflect:   [[3.0, 2.0, 1.0, 2.0, 3.0, 2.0, 1.0]]",
        "symmetric: [[2.0, 1.0, 1.0, 2.0, 3.0, 3.0, 2.0]]",
        "constant:  [[0.0, 0.0, 1.0, 2.0, 3.0, 0.0, 0.0]]",
        "eig values: [2.0, 5.0]",
        "svd rebuilds m: True",
        "solve: [0.1, 0.6]",
        "add_n: [-6.75, 1.5, 12.0]",
    ],
}


# scripts that print "accuracy ...: <value>" last, and the least they must reach with --quick
MIN_ACCURACY = {"lstm_sequence_task.py": 0.95}


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_example_runs(script):
    r = subprocess.run([sys.executable, str(EXAMPLES / script), "--quick"], capture_output=True,
                       text=True, timeout=300, cwd=EXAMPLES.parent)
    assert r.returncode == 0, r.stderr[-3000:]
    for line in EXPECTED.get(script, []):
        assert line in r.stdout, f"{line!r} not in the output of {script}:\n{r.stdout}"
    if script in MIN_ACCURACY:
        last = r.stdout.strip().splitlines()[-1]
        assert float(last.rsplit(":", 1)[1]) >= MIN_ACCURACY[script], last
