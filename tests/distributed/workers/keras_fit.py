"""Keras fit: ``python keras_fit.py OUT.npz`` in one process, or under mpirun (data-parallel).

argv: OUT [backup_dir [interrupt_after_steps]]. Saves rank 0's final weights and history.
"""

import json
import os
import sys

import numpy as np

import ember
from ember import keras


def say(*parts):
    os.write(1, (" ".join(map(str, parts)) + "\n").encode())


out = sys.argv[1]
backup = sys.argv[2] if len(sys.argv) > 2 else None
interrupt = int(sys.argv[3]) if len(sys.argv) > 3 else 0
rng = np.random.default_rng(0)
x = rng.standard_normal((100, 6)).astype(np.float32)
y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)
ember.manual_seed(3)
model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(16, activation="relu"),
                          keras.layers.Dense(3)])
model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])


class Interrupt(keras.callbacks.Callback):
    def __init__(self, after):
        super().__init__()
        self.after, self.seen = after, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.after:
            self.model.interrupted = self.model.stop_training = True


cbs = []
if interrupt:
    cbs.append(Interrupt(interrupt))
if backup:
    cbs.append(keras.callbacks.BackupAndRestore(backup, delete_checkpoint=False))
if out.endswith("loader.npz"):  # a DataLoader whose DistributedSampler shards the data
    data = ember.data.TensorDataset(ember.from_numpy(x), ember.from_numpy(y))
    try:
        ember.distributed.DistributedSampler(data)  # before init: one replica
        model.fit(ember.data.DataLoader(data, batch_size=10, sampler=ember.distributed.
                                        DistributedSampler(data)), verbose=0)
    except ember.distributed.DistributedError as e:
        assert "create it after ember.distributed.init_process_group()" in str(e), e
        say("OK sampler made before init refused")
    sampler = ember.distributed.DistributedSampler(data, seed=1)
    loader = ember.data.DataLoader(data, batch_size=10, sampler=sampler)
    hist = model.fit(loader, epochs=2, callbacks=cbs, verbose=2)
    assert sampler.epoch == 1
else:  # batch 15 of 90 training samples: 6 batches halved into 7 and 8 rows (weighted)
    hist = model.fit(x, y, batch_size=15, epochs=3, validation_split=0.1, shuffle=True,
                     callbacks=cbs, verbose=2)
weights = model.get_weights()
rank = ember.distributed.get_rank()
if ember.distributed.is_initialized():
    sums = ember.distributed.all_gather_object([float(np.abs(w).sum()) for w in weights])
    assert all(s == sums[0] for s in sums), sums  # every rank holds the same weights
if rank == 0:
    np.savez(out, *weights)
    with open(out + ".json", "w") as f:
        json.dump(hist.history, f)
say("FIT DONE rank", rank, "interrupted", model.interrupted)
