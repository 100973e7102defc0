"""The ONNX project's backend node tests, run through ember's importer: no op may pass fewer
cases than the committed baseline (tests/onnx/node_baseline.json, written by
tests/onnx/node_runner.py --write)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("onnx")
sys.path.insert(0, str(Path(__file__).parent))

import node_runner  # noqa: E402


def test_every_op_passes_at_least_its_baseline():
    baseline = json.loads(node_runner.BASELINE.read_text())["ops"]
    implemented = {op for op, c in baseline.items() if c["pass"] > 0}
    counts = node_runner.run(only_ops=implemented)
    drops = {op: (counts.get(op, {}).get("pass", 0), baseline[op]["pass"])
             for op in implemented if counts.get(op, {}).get("pass", 0) < baseline[op]["pass"]}
    assert not drops, f"ops passing fewer ONNX node tests than the baseline (now, before): {drops}"
    assert sum(c["pass"] for c in counts.values()) >= 1000
