"""Callbacks: progress bar, History.plot, EarlyStopping, ReduceLROnPlateau, schedulers,
checkpoints, CSV and TensorBoard files, and BackupAndRestore's exact resume."""

import io
import struct

import numpy as np
import pytest

import ember
from ember import keras
from ember.keras import callbacks, layers
from ember.keras.callbacks.tensorboard import crc32c


def small_model(seed=0, lr=0.05):
    ember.manual_seed(seed)
    model = keras.Sequential([layers.Dense(8, activation="relu", input_shape=(4,)),
                              layers.Dropout(0.2), layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def data(n=90, seed=0):
    r = np.random.default_rng(seed)
    y = r.integers(0, 3, n)
    return (r.standard_normal((3, 4))[y] * 3 + r.standard_normal((n, 4))).astype(np.float32), y


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_one_line_per_epoch_off_a_terminal(capsys):
    x, y = data()
    small_model().fit(x, y, epochs=2, batch_size=30, validation_split=0.2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
    line = lines[1]
    assert line.startswith("3/3 [==============================] - ")
    for part in ("ms/step", " - loss: ", " - accuracy: ", "samples/s", " - val_loss: ",
                 " - val_accuracy: "):
        assert part in line
    small_model().fit(x, y, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""


def test_progress_bar_redraws_in_place_on_a_terminal():
    x, y = data()
    stream = Tty()
    small_model().fit(x, y, epochs=1, batch_size=10,
                      callbacks=[callbacks.ProgbarLogger(stream=stream)])
    text = stream.getvalue()
    assert text.count("\r") >= 2 and "ETA: " in text and text.endswith("\n")
    assert "9/9 [==============================]" in text


def test_history_plot_writes_a_png(tmp_path):
    x, y = data()
    h = small_model().fit(x, y, epochs=2, validation_split=0.2, verbose=0)
    fig = h.plot(tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    assert len(fig.axes[0].lines) == 2  # train and validation


def test_early_stopping_stops_after_patience_and_restores_best_weights():
    model = small_model()
    values = iter([1.0, 0.5, 0.6, 0.7, 0.8, 0.9])
    snapshots = []

    class Fake(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = next(values)
            snapshots.append(model.get_weights())

    stop = callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    x, y = data()
    h = model.fit(x, y, epochs=6, verbose=0, callbacks=[Fake(), stop])
    assert h.epoch == [0, 1, 2, 3] and stop.stopped_epoch == 3 and stop.best_epoch == 1
    for a, b in zip(model.get_weights(), snapshots[1]):
        np.testing.assert_array_equal(a, b)


def test_reduce_lr_on_plateau_and_learning_rate_scheduler():
    model = small_model(lr=0.1)
    plateau = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=10)
    x, y = data()
    h = model.fit(x, y, epochs=3, verbose=0, callbacks=[plateau])
    # the logged rate is the one the epoch ran with (Keras): cut after epochs 2 and 3
    assert h.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.05])
    assert model.optimizer.learning_rate == pytest.approx(0.025)
    model = small_model(lr=0.1)
    sched = callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))
    h = model.fit(x, y, epochs=3, verbose=0, callbacks=[sched])
    assert h.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.1 / 3])


def test_model_checkpoint_and_csv_logger(tmp_path):
    x, y = data()
    model = small_model()
    ckpt = callbacks.ModelCheckpoint(str(tmp_path / "m-{epoch:02d}.keras"), monitor="loss",
                                     save_best_only=True)
    csv_path = tmp_path / "log.csv"
    model.fit(x, y, epochs=3, verbose=0, callbacks=[ckpt, callbacks.CSVLogger(csv_path)])
    saved = sorted(p.name for p in tmp_path.glob("*.keras"))
    assert saved == ["m-01.keras", "m-02.keras", "m-03.keras"]  # the loss falls every epoch
    rows = csv_path.read_text().splitlines()
    assert rows[0] == "epoch,accuracy,loss" and len(rows) == 4
    loaded = keras.models.load_model(tmp_path / "m-03.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    model.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.CSVLogger(csv_path, append=True)])
    assert len(csv_path.read_text().splitlines()) == 5


def _records(path):
    """Parse TFRecords, checking both masked CRC-32C values of each."""
    def masked(c):
        return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF

    data, out, i = path.read_bytes(), [], 0
    while i < len(data):
        header = data[i:i + 8]
        (n,) = struct.unpack("<Q", header)
        assert struct.unpack("<I", data[i + 8:i + 12])[0] == masked(crc32c(header))
        payload = data[i + 12:i + 12 + n]
        assert struct.unpack("<I", data[i + 12 + n:i + 16 + n])[0] == masked(crc32c(payload))
        out.append(payload)
        i += 16 + n
    return out


def test_tensorboard_writes_valid_event_records(tmp_path):
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    assert crc32c(b"") == 0
    x, y = data()
    small_model().fit(x, y, epochs=2, validation_split=0.2, verbose=0,
                      callbacks=[callbacks.TensorBoard(tmp_path)])
    train = list((tmp_path / "train").glob("events.out.tfevents.*"))
    val = list((tmp_path / "validation").glob("events.out.tfevents.*"))
    assert len(train) == 1 and len(val) == 1
    recs = _records(train[0])
    assert len(recs) == 3 and b"brain.Event:2" in recs[0]
    assert b"epoch_loss" in recs[1] and b"epoch_accuracy" in recs[1]
    # Event.step (field 2, varint) of the second epoch's record is 1
    assert recs[2][9:11] == b"\x10\x01"
    assert b"epoch_loss" in _records(val[0])[1]


def test_backup_and_restore_resumes_mid_epoch_exactly(tmp_path):
    x, y = data(100)

    def run(callbacks_list, epochs=3):
        model = small_model(seed=1)
        model.fit(x, y, epochs=epochs, batch_size=16, verbose=0, validation_split=0.1,
                  callbacks=callbacks_list)
        return model

    full = run([callbacks.BackupAndRestore(tmp_path / "a")])

    class Interrupt(callbacks.Callback):
        def __init__(self, after):
            super().__init__()
            self.after, self.seen = after, 0

        def on_train_batch_end(self, batch, logs=None):
            self.seen += 1
            if self.seen == self.after:
                self.model.interrupted = self.model.stop_training = True

    cut = run([Interrupt(9), callbacks.BackupAndRestore(tmp_path / "b")])
    assert cut.interrupted and (tmp_path / "b" / "checkpoint.safetensors").exists()
    resumed = run([callbacks.BackupAndRestore(tmp_path / "b")])
    for a, b in zip(full.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert resumed.history.history == full.history.history
    assert not (tmp_path / "a" / "checkpoint.safetensors").exists()  # deleted when done
