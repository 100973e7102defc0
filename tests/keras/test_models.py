"""Sequential, functional and subclassed models: building, training, summary, saving, errors."""

import io

import numpy as np
import pytest
import torch

import ember
from ember import keras
from ember.errors import ShapeError
from ember.keras import layers

from .helpers import copy_into

rng = np.random.default_rng(0)


def seed_cnn(input_shape=(28, 28, 1)):
    """The seed 004 CNN (W2)."""
    model = keras.Sequential()
    model.add(layers.Conv2D(32, (3, 3), activation="relu", input_shape=input_shape))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Conv2D(64, (3, 3), activation="relu"))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Conv2D(64, (3, 3), activation="relu"))
    model.add(layers.Flatten())
    model.add(layers.Dense(64, activation="relu"))
    model.add(layers.Dense(10, activation="softmax"))
    return model


def blobs(n=120, classes=3, dim=4, seed=0):
    r = np.random.default_rng(seed)
    centers = r.standard_normal((classes, dim)) * 3
    y = r.integers(0, classes, n)
    return (centers[y] + r.standard_normal((n, dim))).astype(np.float32), y


# ---------------------------------------------------------------------- summary and building
def test_seed_cnn_summary_matches_keras_table():
    keras.backend.clear_session()
    out = io.StringIO()
    seed_cnn().summary(print_fn=lambda s: print(s, file=out))
    text = out.getvalue()
    for row in ["conv2d (Conv2D)", "(None, 26, 26, 32)", "320", "(None, 13, 13, 32)",
                "conv2d_1 (Conv2D)", "(None, 11, 11, 64)", "18,496", "(None, 3, 3, 64)",
                "36,928", "flatten (Flatten)", "(None, 576)", "dense_1 (Dense)", "650",
                "Total params: 93,322 (364.54 KB)", "Trainable params: 93,322 (364.54 KB)",
                "Non-trainable params: 0 (0.00 B)"]:
        assert row in text, row


def test_keras_models_are_ember_modules():
    model = seed_cnn()
    assert isinstance(model, ember.nn.Module) and isinstance(model.layers[0], ember.nn.Module)
    names = [n for n, _ in model.named_parameters()]
    assert names[:2] == ["0.conv.weight", "0.conv.bias"] and len(names) == 10
    assert sum(p.numel() for p in model.parameters()) == model.count_params() == 93322


def test_sequential_without_input_shape_builds_from_first_batch():
    model = keras.Sequential([layers.Dense(4, activation="relu"), layers.Dense(2)])
    assert not model.built
    with pytest.raises(ValueError, match="has not been built yet"):
        model.summary()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((8, 3)), np.ones((8, 2)), verbose=0)
    assert model.built and model.count_params() == 4 * 3 + 4 + 4 * 2 + 2


def test_sequential_checks_shapes_when_layers_are_added():
    model = keras.Sequential([layers.Dense(16, input_shape=(8,))])
    with pytest.raises(ShapeError, match=r"layer 'bad_conv' \(Conv2D\) cannot take input of "
                                         r"shape \(None, 16\): expects 4-D input"):
        model.add(layers.Conv2D(3, 3, name="bad_conv"))
    with pytest.raises(ShapeError, match=r"model '.*' expects input of shape \(None, 8\), "
                                         r"got \(2, 9\)"):
        model(ember.ones(2, 9))
    with pytest.raises(TypeError, match="wrap an ember.nn.Module with"):
        model.add(ember.nn.Linear(16, 2))


def test_functional_model_with_two_inputs_and_shared_layer():
    a, b = keras.Input(shape=(3,)), keras.Input(shape=(3,))
    shared = layers.Dense(4, activation="tanh")
    merged = layers.Concatenate()([shared(a), shared(b)])
    out = layers.Dense(1)(merged)
    model = keras.Model(inputs=[a, b], outputs=out)
    assert isinstance(model, keras.models.Functional)
    x1, x2 = ember.randn(5, 3), ember.randn(5, 3)
    y = model([x1, x2])
    h = ember.concat([shared(x1), shared(x2)], dim=-1)
    np.testing.assert_allclose(y.detach().numpy(), model.layers[-1](h).detach().numpy(),
                               rtol=1e-6)
    assert model.count_params() == 3 * 4 + 4 + 8 + 1
    with pytest.raises(ValueError, match="takes 2 input"):
        model(x1)


def test_functional_graph_reuses_a_sequential_base_and_freezes_it():
    base = keras.Sequential([layers.Dense(8, activation="relu", input_shape=(4,)),
                             layers.Dense(6, activation="relu")])
    for layer in base.layers:
        layer.trainable = False
    x = layers.Dense(3, activation="softmax")(base.output)
    model = keras.Model(inputs=base.input, outputs=x)
    assert [type(layer).__name__ for layer in model.layers] == ["InputLayer", "Dense", "Dense",
                                                                "Dense"]
    before = [w.copy() for w in base.get_weights()]
    xs, ys = blobs(64)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    head_before = model.layers[-1].get_weights()[0].copy()
    model.fit(xs, ys, epochs=2, verbose=0)
    for w0, w1 in zip(before, base.get_weights()):
        np.testing.assert_array_equal(w0, w1)
    assert not np.array_equal(head_before, model.layers[-1].get_weights()[0])
    out = io.StringIO()
    model.summary(print_fn=lambda s: print(s, file=out))
    assert "Trainable params: 21 (84.00 B)" in out.getvalue()
    assert "Non-trainable params: 94 (376.00 B)" in out.getvalue()


def test_subclassed_model_trains_and_holds_a_plain_nn_module():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.body = ember.nn.Sequential(ember.nn.Linear(4, 16), ember.nn.ReLU())
            self.head = layers.Dense(3)

        def call(self, x, training=None):
            return self.head(self.body(x))

    model = Net()
    model.compile(optimizer=keras.optimizers.Adam(0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    x, y = blobs(150)
    history = model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    assert history.history["accuracy"][-1] > 0.9
    assert history.history["loss"][-1] < history.history["loss"][0] / 3
    out = io.StringIO()
    model.summary(print_fn=lambda s: print(s, file=out))
    assert "head (Dense)" not in out.getvalue() and "dense" in out.getvalue()
    with pytest.raises(NotImplementedError, match="subclassed model"):
        model.save("never.keras")


def test_module_wrapper_trains_a_pytorch_style_module_with_fit():
    net = ember.nn.Sequential(ember.nn.Linear(4, 16), ember.nn.ReLU(), ember.nn.Linear(16, 3))
    model = keras.Sequential([layers.ModuleWrapper(net)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=ember.nn.CrossEntropyLoss())
    x, y = blobs(150)
    h = model.fit(x, y, epochs=10, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0] / 3


# ---------------------------------------------------------------------- the training loop
def test_fit_equals_a_pytorch_loop_with_copied_weights():
    """Sequential + SGD(momentum) + cross-entropy over fixed batches = the same in PyTorch."""
    x, y = blobs(96)
    model = keras.Sequential([layers.Dense(8, activation="relu", input_shape=(4,)),
                              layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                  loss="sparse_categorical_crossentropy")
    ref = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    copy_into(ref[0], model.layers[0].linear)
    copy_into(ref[2], model.layers[1].linear)
    model.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0)
    opt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    for _ in range(3):
        for i in range(0, 96, 32):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(ref(torch.from_numpy(x[i:i + 32])),
                                                     torch.from_numpy(y[i:i + 32]))
            loss.backward()
            opt.step()
    np.testing.assert_allclose(model.layers[1].linear.weight.detach().numpy(),
                               ref[2].weight.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_softmax_output_with_crossentropy_uses_logits_exactly():
    model = keras.Sequential([layers.Dense(3, activation="softmax", input_shape=(2,),
                                           kernel_initializer="ones")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = np.array([[200.0, -200.0]], np.float32)  # softmax underflows to exactly 0 and 1
    w = model.layers[0].linear.weight
    with ember.no_grad():
        w.copy_(ember.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]))
    loss = model.evaluate(x, np.array([1]), verbose=0)
    assert loss == pytest.approx(400.0, rel=1e-6)  # not the clipped -log(1e-7) = 16.1


def test_validation_split_takes_the_last_samples_and_logs_val_metrics():
    x, y = blobs(100)
    model = keras.Sequential([layers.Dense(3, activation="softmax", input_shape=(4,))])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    h = model.fit(x, y, validation_split=0.2, epochs=1, verbose=0)
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    loss, acc = model.evaluate(x[80:], y[80:], verbose=0)
    assert h.history["val_loss"][0] == pytest.approx(loss, rel=1e-6)
    assert h.history["val_accuracy"][0] == pytest.approx(acc)


def test_class_weight_is_per_sample_weight():
    x, y = blobs(64)
    weights = {0: 1.0, 1: 3.0, 2: 0.5}
    results = []
    for kw in ({"class_weight": weights},
               {"sample_weight": np.array([weights[c] for c in y], np.float32)}):
        ember.manual_seed(3)
        model = keras.Sequential([layers.Dense(3, activation="softmax", input_shape=(4,))])
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=2, shuffle=False, verbose=0, **kw)
        results.append(model.get_weights())
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_fit_accepts_a_dataloader_and_evaluate_predict_formats():
    from ember.data import ArrayDataset, DataLoader

    x, y = blobs(64)
    loader = DataLoader(ArrayDataset(x, y), batch_size=16, shuffle=True)
    model = keras.Sequential([layers.Dense(3, activation="softmax", input_shape=(4,))])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy", "sparse_categorical_accuracy"])
    h = model.fit(loader, epochs=2, validation_data=loader, verbose=0)
    assert len(h.history["val_loss"]) == 2
    loss, acc, sacc = model.evaluate(x, y, verbose=0)
    assert acc == sacc
    d = model.evaluate(loader, return_dict=True, verbose=0)
    assert d["loss"] == pytest.approx(loss, rel=1e-5)
    p = model.predict(x, batch_size=10)
    assert p.shape == (64, 3) and isinstance(p, np.ndarray)
    assert np.allclose(p.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(model.predict_on_batch(x[:5]), p[:5], rtol=1e-6)
    assert len(model.train_on_batch(x[:8], y[:8])) == 3


def test_jit_compile_is_accepted_and_runs_eagerly():
    x, y = blobs(32)
    runs = []
    for jit in (False, True):
        ember.manual_seed(0)
        model = keras.Sequential([layers.Dense(3, input_shape=(4,))])
        model.compile(optimizer="adam", loss="mse", jit_compile=jit)
        model.fit(x, np.eye(3)[y], epochs=1, verbose=0, shuffle=False)
        runs.append((model.jit_compile, model.get_weights()))
    assert runs[1][0] is True
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------- bad input
def test_fit_errors_are_clear():
    model = keras.Sequential([layers.Dense(10, activation="softmax", input_shape=(4,))])
    with pytest.raises(RuntimeError, match="must be compiled first"):
        model.fit(np.ones((4, 4)), np.zeros(4))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ShapeError, match="x has 8 samples but y has 6"):
        model.fit(np.ones((8, 4)), np.zeros(6, np.int64), verbose=0)
    with pytest.raises(ValueError, match=r"expects integer class ids of shape \(None,\), got "
                                         r"labels of shape \(8, 10\), which look one-hot; use "
                                         "loss='categorical_crossentropy'"):
        model.fit(np.ones((8, 4)), np.eye(10)[np.arange(8)], verbose=0)
    with pytest.raises(ValueError, match=r"labels must be integer class ids in \[0, 10\)"):
        model.fit(np.ones((3, 4)), np.array([1, 10, 2]), verbose=0)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    with pytest.raises(ValueError, match="expects one-hot labels .* use "
                                         "loss='sparse_categorical_crossentropy'"):
        model.fit(np.ones((8, 4)), np.arange(8), verbose=0)
    with pytest.raises(ValueError, match="unknown optimizer 'adamm'; known optimizers: "
                                         "adagrad, adam, adamw, rmsprop, sgd"):
        model.compile(optimizer="adamm", loss="mse")
    with pytest.raises(ValueError, match="unknown loss 'mse2'; known losses: "):
        model.compile(optimizer="adam", loss="mse2")
    with pytest.raises(ValueError, match="unknown metric 'acuracy'; known metrics: acc, "):
        keras.metrics.get("acuracy")


# ---------------------------------------------------------------------- weights and saving
def test_get_set_weights_and_trainable_flags():
    a = seed_cnn((18, 18, 1))
    b = seed_cnn((18, 18, 1))
    b.set_weights(a.get_weights())
    x = ember.randn(2, 18, 18, 1)
    np.testing.assert_array_equal(a(x).detach().numpy(), b(x).detach().numpy())
    with pytest.raises(ValueError, match="expected 10 arrays"):
        b.set_weights(a.get_weights()[:3])
    with pytest.raises(ShapeError, match=r"weight 0 has shape \(32, 1, 3, 3\)"):
        b.layers[0].set_weights([np.zeros((3, 3)), np.zeros(32)])
    b.trainable = False
    assert b.trainable_weights == [] and len(b.non_trainable_weights) == 10


def test_save_and_load_model_round_trip_and_continue_training(tmp_path):
    x, y = blobs(64)
    inputs = keras.Input(shape=(4,))
    h = layers.Dense(8, activation="relu")(inputs)
    h = layers.BatchNormalization()(h)
    outputs = layers.Dense(3, activation="softmax")(layers.Dropout(0.1)(h))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    for m in (model, loaded):
        ember.manual_seed(7)
        m.fit(x, y, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    seq = seed_cnn((18, 18, 1))
    seq.save(tmp_path / "seq.keras")
    again = keras.models.load_model(tmp_path / "seq.keras")
    xi = ember.randn(2, 18, 18, 1)
    np.testing.assert_array_equal(seq(xi).detach().numpy(), again(xi).detach().numpy())
    seq.save_weights(tmp_path / "w.safetensors")
    fresh = seed_cnn((18, 18, 1))
    fresh.load_weights(tmp_path / "w.safetensors")
    np.testing.assert_array_equal(seq(xi).detach().numpy(), fresh(xi).detach().numpy())
    (tmp_path / "junk.keras").write_text("not a zip")
    with pytest.raises(ValueError, match="is not a model saved by model.save"):
        keras.models.load_model(tmp_path / "junk.keras")
    with pytest.raises(ValueError, match="names a weights file"):
        seq.save(tmp_path / "x.safetensors")


def test_encoder_decoder_and_nested_models_save_and_reload(tmp_path):
    enc_in, dec_in = keras.Input(shape=(5, 3)), keras.Input(shape=(4, 3))
    _, h, c = layers.LSTM(6, return_state=True)(enc_in)
    dec = layers.LSTM(6, return_sequences=True)(dec_in, initial_state=[h, c])
    seq2seq = keras.Model([enc_in, dec_in], layers.Dense(2)(dec))
    inner = keras.Sequential([layers.Dense(4, activation="relu", input_shape=(3,))])
    x, side = keras.Input(shape=(6, 3)), keras.Input(shape=(3,))
    pooled = layers.GlobalAveragePooling1D()(
        layers.Bidirectional(layers.GRU(5, return_sequences=True))(x))
    nested = keras.Model([x, side], layers.Dense(1)(layers.Concatenate()([pooled,
                                                                           inner(side)])))
    for model, inputs in ((seq2seq, [ember.randn(2, 5, 3), ember.randn(2, 4, 3)]),
                          (nested, [ember.randn(2, 6, 3), ember.randn(2, 3)])):
        model.save(tmp_path / "m.keras")
        again = keras.models.load_model(tmp_path / "m.keras")
        np.testing.assert_array_equal(model(inputs).detach().numpy(),
                                      again(inputs).detach().numpy())
    assert nested.count_params() == 300 + 16 + 15
