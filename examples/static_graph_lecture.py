"""The CS231n lecture-8 TensorFlow walk-through, run by ember's static-graph API.

Two versions from the lecture (seeds 000 §7 and 002): a two-layer ReLU net written with
placeholders, variables, ``tf.gradients`` and ``assign`` updates; then the same net with
``tf.layers.dense`` (Xavier initialisation), ``tf.losses.mean_squared_error`` and an
optimiser's ``minimize``. Each trains inside ``with tf.Session() as sess`` by
``sess.run([loss, updates], feed_dict=values)``, and each is checked against the same net
trained in eager ember from the same initial weights: the losses are equal at every step.

    python examples/static_graph_lecture.py          # the lecture's sizes, 50 steps
    python examples/static_graph_lecture.py --quick  # small sizes, a few steps
"""

from __future__ import annotations

import argparse

import numpy as np

import ember
import ember.static as tf


def manual_version(N, D, H, steps, learning_rate=1e-5):
    """The lecture's first program: explicit gradients and assignments. Returns the static
    graph's losses and eager ember's losses for the same net."""
    tf.reset_default_graph()
    ember.manual_seed(0)
    x = tf.placeholder(tf.float32, shape=(N, D))
    y = tf.placeholder(tf.float32, shape=(N, D))
    w1 = tf.Variable(tf.random_normal((D, H)))
    w2 = tf.Variable(tf.random_normal((H, D)))

    h = tf.maximum(tf.matmul(x, w1), 0)
    y_pred = tf.matmul(h, w2)
    diff = y_pred - y
    loss = tf.reduce_mean(tf.reduce_sum(diff ** 2, axis=1))

    grad_w1, grad_w2 = tf.gradients(loss, [w1, w2])
    new_w1 = w1.assign(w1 - learning_rate * grad_w1)
    new_w2 = w2.assign(w2 - learning_rate * grad_w2)
    updates = tf.group(new_w1, new_w2)

    rng = np.random.default_rng(0)
    values = {x: rng.standard_normal((N, D)).astype(np.float32),
              y: rng.standard_normal((N, D)).astype(np.float32)}
    static_losses = []
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(steps):
            loss_val, _ = sess.run([loss, updates], feed_dict=values)
            static_losses.append(float(loss_val))

    # the same net, eager
    xe, ye = ember.from_numpy(values[x]), ember.from_numpy(values[y])
    v1 = w1.initial.clone().requires_grad_()
    v2 = w2.initial.clone().requires_grad_()
    eager_losses = []
    for _ in range(steps):
        le = ((ember.maximum(xe @ v1, 0) @ v2 - ye) ** 2).sum(dim=1).mean()
        v1.grad = v2.grad = None
        le.backward()
        with ember.no_grad():
            v1.copy_(v1 - learning_rate * v1.grad)
            v2.copy_(v2 - learning_rate * v2.grad)
        eager_losses.append(le.item())
    return static_losses, eager_losses


def layers_version(N, D, H, steps, learning_rate=1e0):
    """The lecture's second program: tf.layers, a Xavier initialiser, tf.losses and
    GradientDescentOptimizer.minimize. Returns static and eager losses."""
    tf.reset_default_graph()
    ember.manual_seed(1)
    x = tf.placeholder(tf.float32, shape=(None, D))
    y = tf.placeholder(tf.float32, shape=(None, D))

    init = tf.contrib.layers.xavier_initializer()
    h = tf.layers.dense(inputs=x, units=H, activation=tf.nn.relu, kernel_initializer=init)
    y_pred = tf.layers.dense(inputs=h, units=D, kernel_initializer=init)
    loss = tf.losses.mean_squared_error(y_pred, y)

    optimizer = tf.train.GradientDescentOptimizer(learning_rate)
    updates = optimizer.minimize(loss)

    rng = np.random.default_rng(1)
    values = {x: rng.standard_normal((N, D)).astype(np.float32),
              y: rng.standard_normal((N, D)).astype(np.float32)}
    static_losses = []
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(steps):
            loss_val, _ = sess.run([loss, updates], feed_dict=values)
            static_losses.append(float(loss_val))

    # the same net, eager, from the static graph's initial weights
    params = [v.initial.clone().requires_grad_() for v in tf.trainable_variables()]
    k1, b1, k2, b2 = params
    xe, ye = ember.from_numpy(values[x]), ember.from_numpy(values[y])
    eager_losses = []
    for _ in range(steps):
        for p in params:
            p.grad = None
        pred = ember.relu(xe @ k1 + b1) @ k2 + b2
        le = ((pred - ye) ** 2).mean()
        le.backward()
        with ember.no_grad():
            for p in params:
                p -= learning_rate * p.grad
        eager_losses.append(le.item())
    return static_losses, eager_losses


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a few steps")
    args = parser.parse_args(argv)
    N, D, H, steps = (8, 20, 10, 5) if args.quick else (64, 1000, 100, 50)
    for name, run in (("placeholders + gradients + assign", manual_version),
                      ("layers.dense + losses + minimize", layers_version)):
        static, eager = run(N, D, H, steps)
        print(f"{name}: loss {static[0]:.4f} -> {static[-1]:.4f} over {steps} steps")
        if static != eager:
            worst = max(abs(a - b) / abs(b) for a, b in zip(static, eager))
            print(f"  static and eager losses differ (largest relative difference {worst:.2e})")
            return 1
        print("  the static graph's losses equal eager ember's at every step")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
