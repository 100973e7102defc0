"""``BackupAndRestore``: continue an interrupted ``fit`` exactly where it stopped."""

from __future__ import annotations

import os

from .base import Callback

__all__ = ["BackupAndRestore"]

FILENAME = "checkpoint.safetensors"


class BackupAndRestore(Callback):
    """Save the whole training state to ``backup_dir`` and restore it when ``fit`` restarts.

    The state (weights, optimiser, random generators, position in the epoch, metric totals,
    history, other callbacks' counters) is one safetensors file written atomically by
    ``ember.io.save``; a resumed ``fit`` redraws the interrupted epoch's shuffle, skips the
    batches already done and ends with the same weights as an uninterrupted run.

    Args:
        backup_dir: the folder for ``checkpoint.safetensors``.
        save_freq: ``"epoch"``, or a number of batches between saves.
        delete_checkpoint: remove the backup once training finishes.

    A ``fit`` stopped with ``model.interrupted = model.stop_training = True`` (what ``ember
    train`` does on Ctrl-C) ends after the current batch and saves a mid-epoch backup.
    """

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint: bool = True) -> None:
        super().__init__()
        if save_freq != "epoch" and (not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(f"BackupAndRestore: save_freq must be 'epoch' or a positive number "
                             f"of batches, got {save_freq!r}")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq, self.delete_checkpoint = save_freq, bool(delete_checkpoint)
        self.path = os.path.join(self.backup_dir, FILENAME)
        self.restored = False
        self._batches = 0

    def on_train_begin(self, logs=None) -> None:
        from ...io import load

        self.restored = False
        if os.path.exists(self.path):
            self.model._load_train_state(load(self.path))
            self.restored = True

    def save(self) -> None:
        """Write the current training state now."""
        from ...io import save

        os.makedirs(self.backup_dir, exist_ok=True)
        save(self.model._train_state(), self.path)

    def on_train_batch_end(self, batch, logs=None) -> None:
        if self.save_freq != "epoch":
            self._batches += 1
            if self._batches % self.save_freq == 0:
                self.save()

    def on_epoch_end(self, epoch, logs=None) -> None:
        if self.save_freq == "epoch":
            self.save()

    def on_train_end(self, logs=None) -> None:
        if self.model.interrupted:
            self.save()
        elif self.delete_checkpoint:
            if os.path.exists(self.path):
                os.remove(self.path)
        else:
            self.save()
