"""Saved graphs: JSON + safetensors, loadable in a fresh process with ember alone, and safe
against truncated, newer-version and hostile files."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import ember
import ember.graph
from ember.graph import FeedError, GraphFormatError, jit
from ember.graph.serialize import read_safetensors, write_safetensors

nn = ember.nn


def _model():
    ember.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3), nn.Softmax(dim=1))


def _saved(tmp_path):
    m = _model()
    f = jit(m)
    x = ember.randn(4, 5)
    f(x)
    f.save(tmp_path / "g")
    return m, x, tmp_path / "g"


def test_round_trip_gives_eager_outputs(tmp_path):
    m, x, path = _saved(tmp_path)
    g = ember.graph.load(path)
    np.testing.assert_array_equal(g(x).numpy(), m(x).detach().numpy())
    assert sorted(g.state_dict()) == ["0.bias", "0.weight", "2.bias", "2.weight"]


def test_runs_in_a_fresh_process_with_ember_alone(tmp_path):
    m, x, path = _saved(tmp_path)
    np.save(tmp_path / "x.npy", x.numpy())
    code = ("import sys, numpy as np, ember, ember.graph\n"
            "assert 'torch' not in sys.modules\n"
            f"g = ember.graph.load({str(path)!r})\n"
            f"y = g(ember.from_numpy(np.load({str(tmp_path / 'x.npy')!r})))\n"
            f"np.save({str(tmp_path / 'y.npy')!r}, y.numpy())\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), m(x).detach().numpy())


def test_saved_training_step_keeps_training(tmp_path):
    ember.manual_seed(1)
    m = nn.Linear(3, 1)
    x, y = ember.randn(8, 3), ember.randn(8, 1)

    def step(x, y):
        m.weight.grad = m.bias.grad = None
        loss = ((m(x) - y) ** 2).mean()
        loss.backward()
        with ember.no_grad():
            for p in m.parameters():
                p -= 0.1 * p.grad
        return loss

    f = jit(step)
    f(x, y)
    f.save(tmp_path / "step")
    g = ember.graph.load(tmp_path / "step")
    losses_saved = [g(x, y).item() for _ in range(3)]
    losses_live = [f(x, y).item() for _ in range(3)]
    assert losses_saved == losses_live and losses_saved[2] < losses_saved[0]


def test_wrong_input_shape_or_dtype_names_the_input(tmp_path):
    _, x, path = _saved(tmp_path)
    g = ember.graph.load(path)
    with pytest.raises(FeedError, match=r"input .input. expects shape \(4, 5\) float32, got "
                                        r"\(2, 5\) float32"):
        g(ember.randn(2, 5))
    with pytest.raises(FeedError, match="float64"):
        g(x.double())
    with pytest.raises(FeedError, match="expected 1 input tensors, got 0"):
        g()


def _edit(path, fn):
    doc = json.loads((path / "graph.json").read_text())
    fn(doc)
    (path / "graph.json").write_text(json.dumps(doc))


def test_newer_version_is_refused(tmp_path):
    _, _, path = _saved(tmp_path)
    _edit(path, lambda d: d.update(version=99))
    with pytest.raises(GraphFormatError, match="version 99 is newer"):
        ember.graph.load(path)


def test_truncated_files_are_refused(tmp_path):
    _, _, path = _saved(tmp_path)
    raw = (path / "tensors.safetensors").read_bytes()
    (path / "tensors.safetensors").write_bytes(raw[:len(raw) // 2])
    with pytest.raises(GraphFormatError, match="truncated"):
        ember.graph.load(path)
    _, _, path = _saved(tmp_path / "b")
    text = (path / "graph.json").read_text()
    (path / "graph.json").write_text(text[:len(text) // 2])
    with pytest.raises(GraphFormatError, match="not valid JSON"):
        ember.graph.load(path)


def test_hostile_files_run_no_code(tmp_path):
    _, _, path = _saved(tmp_path)
    _edit(path, lambda d: d["nodes"][0].update(op="__import__('os').system"))
    with pytest.raises(GraphFormatError, match="ops not in this ember's registry"):
        ember.graph.load(path)
    _, _, path = _saved(tmp_path / "b")
    _edit(path, lambda d: d["nodes"][1]["args"].__setitem__(0, {"v": 999}))
    with pytest.raises(GraphFormatError, match="undefined value 999"):
        ember.graph.load(path)
    _, _, path = _saved(tmp_path / "c")
    _edit(path, lambda d: d["nodes"][0]["attrs"].update(x={"__class__": "os.system"}))
    with pytest.raises(GraphFormatError, match="unknown encoded object"):
        ember.graph.load(path)
    _, _, path = _saved(tmp_path / "d")
    _edit(path, lambda d: d["states"][0].update(shape=[1000, 1000]))
    with pytest.raises(GraphFormatError, match="the graph says"):
        ember.graph.load(path)
    _, _, path = _saved(tmp_path / "e")
    (path / "graph.json").write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(GraphFormatError):
        ember.graph.load(path)


def test_safetensors_round_trip_and_bad_offsets(tmp_path):
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([True, False]),
              "c": np.array(7, dtype=np.int64)}
    write_safetensors(tmp_path / "t.safetensors", arrays)
    back = read_safetensors(tmp_path / "t.safetensors")
    for k, a in arrays.items():
        np.testing.assert_array_equal(back[k], a)
        assert back[k].dtype == a.dtype
    from safetensors.numpy import load_file  # the reference reader agrees

    for k, a in load_file(str(tmp_path / "t.safetensors")).items():
        np.testing.assert_array_equal(a, arrays[k])
    raw = bytearray((tmp_path / "t.safetensors").read_bytes())
    raw[:8] = (10**12).to_bytes(8, "little")
    (tmp_path / "bad.safetensors").write_bytes(bytes(raw))
    with pytest.raises(GraphFormatError, match="truncated or corrupt"):
        read_safetensors(tmp_path / "bad.safetensors")


def test_missing_directory_says_what_is_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="graph.json"):
        ember.graph.load(tmp_path / "nothing")
