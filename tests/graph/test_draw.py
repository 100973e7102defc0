"""ember.graph.draw: DOT for graphs and autograd histories; SVG/PNG through Graphviz."""

from __future__ import annotations

import shutil

import pytest

import ember
from ember.graph import draw, jit, trace


def test_graph_dot_has_ops_values_updates_and_grads():
    w = ember.ones(3, requires_grad=True)

    def step(x):
        w.grad = None
        loss = (x * w).relu().sum()
        loss.backward()
        with ember.no_grad():
            w.sub_(0.1 * w.grad)
        return loss

    f = jit(step)
    f(ember.ones(3))
    dot = draw(f)
    assert dot.startswith("digraph ember {") and dot.rstrip().endswith("}")
    for text in ('label="relu"', "update", ".grad", 'label="output 0"', "float32[3]"):
        assert text in dot
    assert "subgraph cluster_" in draw(f.compiled.graph)  # fused nodes drawn as clusters


def test_tensor_forward_and_backward():
    x = ember.randn(2, 3, requires_grad=True)
    y = (x.exp() * 2.0).sum()
    fwd = draw(y)
    assert all(op in fwd for op in ("exp", "mul", "sum", "leaf (2, 3)"))
    bwd = draw(y, backward=True)
    assert "broadcast_to" in bwd or "mul" in bwd
    with pytest.raises(ValueError, match="no recorded history"):
        draw(ember.ones(2).sum(), backward=True)


def test_labels_are_escaped():
    g = trace(lambda x: x.reshape(3, 1), ember.ones(3))
    g.inputs[0].name = 'a "quoted" name'
    assert '\\"quoted\\"' in draw(g)


def test_writes_dot_and_refuses_unknown_formats(tmp_path):
    g = trace(lambda x: x + 1.0, ember.ones(2))
    draw(g, tmp_path / "g.dot")
    assert (tmp_path / "g.dot").read_text().startswith("digraph")
    with pytest.raises(ValueError, match="unknown format"):
        draw(g, tmp_path / "g.jpeg")
    with pytest.raises(TypeError, match="expected a Graph"):
        draw(42)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_renders_with_graphviz(tmp_path, fmt):
    g = trace(lambda x: (x @ x.T).tanh(), ember.ones(2, 2))
    draw(g, tmp_path / f"g.{fmt}")
    data = (tmp_path / f"g.{fmt}").read_bytes()
    assert data.startswith(b"\x89PNG") if fmt == "png" else b"<svg" in data
    assert (tmp_path / "g.dot").exists()


def test_without_graphviz_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="needs Graphviz"):
        draw(trace(lambda x: -x, ember.ones(1)), tmp_path / "g.svg")
    assert (tmp_path / "g.dot").exists()
