"""ember.static, the lecture's TF-1 API: the walk-through, optimisers, feeds and errors."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import ember
import ember.static as tf
from ember.graph import FeedError

_EXAMPLE = Path(__file__).parents[2] / "examples" / "static_graph_lecture.py"


def _lecture():
    spec = importlib.util.spec_from_file_location("static_graph_lecture", _EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(autouse=True)
def fresh_graph():
    tf.reset_default_graph()
    yield
    tf.reset_default_graph()


@pytest.mark.parametrize("version", ["manual_version", "layers_version"])
def test_lecture_walkthrough_loss_falls_exactly_as_eager(version):
    static, eager = getattr(_lecture(), version)(64, 1000, 100, 8)
    assert static == eager  # bit for bit, every step
    assert static[-1] < static[0]


def test_lecture_example_script_quick():
    assert _lecture().main(["--quick"]) == 0


def _quadratic(opt, steps=4):
    x = tf.placeholder(tf.float32, shape=(None, 2), name="x")
    w = tf.Variable(np.array([[1.0], [-2.0]], dtype=np.float32), name="w")
    loss = tf.reduce_mean((tf.matmul(x, w) - 1.0) ** 2)
    update = opt.minimize(loss)
    data = np.array([[1.0, 2.0], [0.5, -1.0], [3.0, 0.0]], dtype=np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(steps):
            sess.run(update, feed_dict={x: data})
        return w.eval_numpy(), data


def _grad(w, data):
    r = data @ w - 1.0
    return 2.0 * data.T @ r / len(data)


def test_momentum_optimizer_follows_tensorflow_formulas():
    got, data = _quadratic(tf.train.MomentumOptimizer(0.05, 0.9, use_nesterov=True))
    w = np.array([[1.0], [-2.0]])
    acc = np.zeros_like(w)
    for _ in range(4):
        g = _grad(w, data)
        acc = 0.9 * acc + g
        w = w - 0.05 * (g + 0.9 * acc)
    np.testing.assert_allclose(got, w, rtol=1e-5)


def test_adam_optimizer_follows_tensorflow_formulas():
    got, data = _quadratic(tf.train.AdamOptimizer(0.1))
    w = np.array([[1.0], [-2.0]])
    m = v = np.zeros_like(w)
    for t in range(1, 5):
        g = _grad(w, data)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        w = w - 0.1 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t) * m / (np.sqrt(v) + 1e-8)
    np.testing.assert_allclose(got, w, rtol=1e-5)


def test_fetch_structures_and_one_compile_per_fetch_list():
    x = tf.placeholder(tf.float32, shape=(None,))
    s, m = tf.reduce_sum(x), tf.reduce_mean(x)
    with tf.Session() as sess:
        assert float(sess.run(s, {x: [1.0, 2.0]})) == 3.0
        a, b = sess.run((s, m), {x: [1.0, 2.0]})
        assert (float(a), float(b)) == (3.0, 1.5)
        assert {k: float(v) for k, v in sess.run({"s": s, "m": m}, {x: [4.0]}).items()} == {
            "s": 4.0, "m": 4.0}
        assert sess.run([tf.group(), s], {x: [1.0]})[0] is None
        sess.run(s, {x: [1.0, 2.0, 3.0]})  # a new batch size: same compiled fetch list
        assert len(sess._compiled) == 3  # (s,), (s, m) for the tuple and the dict, (op, s)


def test_feed_errors_name_the_placeholder():
    x = tf.placeholder(tf.float32, shape=(None, 3), name="images")
    y = tf.placeholder(tf.int64, shape=(None,), name="labels")
    out = tf.reduce_sum(x) + tf.cast(tf.reduce_sum(y), tf.float32)
    with tf.Session() as sess:
        with pytest.raises(FeedError, match=r"'images' expects shape \(\?, 3\), was fed "
                                            r"shape \(2, 4\)"):
            sess.run(out, {x: np.zeros((2, 4)), y: [1]})
        with pytest.raises(FeedError, match="'labels' expects int64, was fed float64"):
            sess.run(out, {x: np.zeros((2, 3)), y: [1.5]})
        with pytest.raises(FeedError, match="'images', 'labels'"):
            sess.run(out)


def test_uninitialized_variable_is_reported():
    w = tf.Variable(tf.zeros((2,)), name="w")
    with tf.Session() as sess:
        with pytest.raises(tf.FailedPreconditionError, match="uninitialized value w"):
            sess.run(w * 2.0)


def test_graphs_are_separate():
    g = tf.Graph()
    with g.as_default():
        v = tf.Variable(1.0)
    assert v.graph is g and tf.get_default_graph() is not g
    assert tf.global_variables() == []


def test_dense_needs_a_known_input_size():
    x = tf.placeholder(tf.float32, shape=(None, None))
    with pytest.raises(ValueError, match="last dimension of the input"):
        tf.layers.dense(x, 3)


def test_session_graph_is_static_and_fused():
    x = tf.placeholder(tf.float32, shape=(4, 3))
    w = tf.Variable(ember.ones(3, 2))
    loss = tf.reduce_mean(tf.nn.relu(tf.matmul(x, w)) ** 2)
    step = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run([loss, step], {x: np.ones((4, 3))})
        fn = list(sess._compiled.values())[-1]
        assert "fused" in [n.op.name for n in fn.compiled.graph.nodes]
        assert fn.compiled.stats["memory"]["in_place_updates"] == 1
