"""``ember.keras.callbacks``: hooks into ``fit`` with Keras's names.

Example:
    >>> from ember.keras import callbacks
    >>> stop = callbacks.EarlyStopping(monitor="val_loss", patience=3)
    >>> stop.mode
    'min'
"""

from __future__ import annotations

from .backup import BackupAndRestore
from .base import Callback, CallbackList, History, LambdaCallback
from .progbar import ProgbarLogger
from .standard import (
                       CSVLogger,
                       EarlyStopping,
                       LearningRateScheduler,
                       ModelCheckpoint,
                       ReduceLROnPlateau,
                       TerminateOnNaN,
)
from .tensorboard import TensorBoard

__all__ = ["Callback", "CallbackList", "History", "LambdaCallback", "ProgbarLogger",
           "EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau", "LearningRateScheduler",
           "CSVLogger", "TerminateOnNaN", "TensorBoard", "BackupAndRestore"]
