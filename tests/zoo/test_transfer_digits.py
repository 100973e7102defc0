"""examples/transfer_digits.py: a frozen base pre-trained on digits 0-4 plus a new head beats
the same network trained from scratch on the same few images of digits 5-9."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "transfer_digits.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("transfer_digits", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("seed", [0, 1])
def test_transfer_beats_scratch(example, seed, capsys):
    result = example.run(quick=True, seed=seed, shots=5)
    # 871 test images: one accuracy's standard error is under 1.7 points, a difference's
    # under 2.4; a margin of 5 points at each of two seeds is not luck
    assert result["test_images"] == 871
    assert result["transfer"] >= result["scratch"] + 0.05, result
    assert result["transfer"] > 0.45, result  # chance is 0.2
    assert "transfer accuracy:" in capsys.readouterr().out
