"""Data-parallel ``fit`` for ``ember.keras`` models (used by ``Model.fit`` and ``ember train``).

When a process group of several ranks exists (or the process was launched by MPI with more
than one rank, and ``EMBER_DISTRIBUTED`` is not ``0``), ``fit`` trains data-parallel: every
rank draws the same global batch order (rank 0's random state is adopted at each epoch), takes
its contiguous share of each global batch, and a ``DistributedDataParallel`` reducer averages
the gradients during backward. Each rank's loss is weighted by its share of the global batch,
so uneven shares still give the gradient of the global batch's mean loss, and the result
matches one process training on the same batches. After each step the ranks add up their
metrics' totals (one small all-reduce), so the progress bar, the epoch logs and the metric
state in a checkpoint cover the global batch, and callbacks decide alike everywhere; a stop
request (Ctrl-C, a callback) on any rank stops every rank after the same batch. Only rank 0
prints and writes files: on the other ranks the progress bar and file-writing callbacks are
silenced, and ``BackupAndRestore`` only restores. Every rank reads the checkpoint when resuming.
"""

from __future__ import annotations

import os

import numpy as np

from .. import random as _random
from ..tensor import Tensor
from .ddp import DistributedDataParallel
from .group import _GROUP, DistributedError, init_process_group, launched_by_mpi
from .sampler import DistributedSampler

__all__ = ["DataParallelFit", "data_parallel_for", "launched_world_size"]

_WRITERS = ("ProgbarLogger", "ModelCheckpoint", "CSVLogger", "TensorBoard")
_HOOKS = [n for n in ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
                      "on_train_batch_begin", "on_train_batch_end", "on_test_begin",
                      "on_test_end", "on_test_batch_begin", "on_test_batch_end")]


def launched_world_size() -> int:
    """The number of ranks the MPI launcher started (1 when not launched by MPI)."""
    env = os.environ
    for var in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "SLURM_NTASKS"):
        if var in env and launched_by_mpi():
            return int(env[var])
    return 1


def data_parallel_for(model) -> DataParallelFit | None:
    """The data-parallel helper for ``model.fit``, or None when training in one process."""
    group = _GROUP[0]
    if group is None:
        if os.environ.get("EMBER_DISTRIBUTED", "1") == "0" or launched_world_size() < 2:
            return None
        group = init_process_group("mpi")
    if group.world_size < 2:
        return None
    return DataParallelFit(model, group)


def _rows(obj, lo: int, hi: int):
    if obj is None:
        return None
    if isinstance(obj, (list, tuple)):
        return type(obj)(_rows(o, lo, hi) for o in obj)
    if isinstance(obj, dict):
        return {k: _rows(v, lo, hi) for k, v in obj.items()}
    return obj[lo:hi]


def _first(obj):
    while isinstance(obj, (list, tuple, dict)):
        obj = next(iter(obj.values())) if isinstance(obj, dict) else obj[0]
    return obj


def _noop(*args, **kwargs):
    return None


class DataParallelFit:
    """Shards batches, arms the gradient reducer, averages logs and silences ranks > 0."""

    def __init__(self, model, group) -> None:
        self.model, self.group = model, group
        self.rank, self.world = group.rank, group.world_size
        self.reducer = DistributedDataParallel(model, broadcast_buffers=False, group=group)
        self.scale = 1.0
        self.before: dict = {}
        self.presharded = False

    # ------------------------------------------------------------------ per fit
    def silence(self, callbacks: list) -> None:
        """On ranks > 0: no printing, no files; BackupAndRestore only restores."""
        if self.rank == 0:
            return
        for cb in callbacks:
            name = type(cb).__name__
            if name == "BackupAndRestore":
                cb.save = _noop
                cb.on_train_end = _noop
            elif name in _WRITERS or getattr(cb, "rank_zero_only", False):
                for hook in _HOOKS:
                    setattr(cb, hook, _noop)

    def use_data(self, data) -> None:
        """A loader whose sampler is a DistributedSampler already gives each rank its share."""
        loader = getattr(data, "loader", None)
        sampler = getattr(loader, "sampler", None)
        self.presharded = isinstance(sampler, DistributedSampler)
        self.sampler = sampler if self.presharded else None
        if self.presharded and (sampler.num_replicas, sampler.rank) != (self.world, self.rank):
            self.close()
            raise DistributedError(
                f"fit: the DataLoader's DistributedSampler splits the data for rank "
                f"{sampler.rank} of {sampler.num_replicas}, but this is rank {self.rank} of "
                f"{self.world}; create it after ember.distributed.init_process_group() (or pass "
                "num_replicas and rank)")

    def epoch_begin(self, epoch: int) -> None:
        """Every rank adopts rank 0's random state, so the shuffled order is the same."""
        state = self.group.all_gather_object(_random.get_rng_state(), "fit (random state)")[0]
        _random.set_rng_state(state)
        if self.sampler is not None:
            self.sampler.set_epoch(epoch)

    def shard(self, bx, by, bw):
        """This rank's rows of a global batch (None when it has fewer rows than ranks)."""
        n = _first(bx).shape[0]
        if self.presharded:
            self.scale = 1.0
            return bx, by, bw
        if n < self.world:
            return None
        lo, hi = n * self.rank // self.world, n * (self.rank + 1) // self.world
        self.scale = (hi - lo) * self.world / n
        return _rows(bx, lo, hi), _rows(by, lo, hi), _rows(bw, lo, hi)

    # ------------------------------------------------------------------ per step
    def start_step(self) -> None:
        """Arm the gradient reducer; note the metric totals before this step's update."""
        self.reducer._start_iteration()
        model = self.model
        before = dict(getattr(model, "_pending_metric_states", None) or {})  # restored totals
        before.update({m.name: m.get_state() for m in model.metrics})
        self.before = before

    def scale_loss(self, loss: Tensor) -> Tensor:
        return loss if self.scale == 1.0 else loss * self.scale

    def sync_metrics(self, logs: dict) -> dict:
        """Add every rank's metric updates of this step; returns the global logs."""
        metrics = self.model.metrics
        layout, base, delta = [], [], []
        for m in metrics:
            state, prev = m.get_state(), self.before.get(m.name)
            for k in sorted(state):
                now = np.atleast_1d(np.asarray(state[k], dtype=np.float64))
                was = np.zeros_like(now) if prev is None else \
                    np.atleast_1d(np.asarray(prev[k], dtype=np.float64))
                layout.append((m, k, now.size, isinstance(state[k], list)))
                base.append(was)
                delta.append(now - was)
        if not layout:
            return logs
        total = np.concatenate(delta)
        self.group.host_all_reduce(total, "sum")
        total += np.concatenate(base)
        states: dict = {}
        off = 0
        for m, k, size, is_list in layout:
            vals = total[off:off + size]
            states.setdefault(m, {})[k] = vals.tolist() if is_list else float(vals[0])
            off += size
        for m, st in states.items():
            m.set_state(st)
        out = dict(logs)
        out.update({m.name: m.result() for m in metrics})
        return out

    def agree_stop(self) -> bool:
        """Whether any rank asked to stop (the flags become the OR over ranks); one message."""
        model = self.model
        flags = np.array([model.stop_training, model.interrupted], dtype=np.float64)
        self.group.host_all_reduce(flags, "max")
        model.stop_training = bool(flags[0]) or model.stop_training
        model.interrupted = bool(flags[1]) or model.interrupted
        return bool(flags[0])

    def sync_buffers(self) -> None:
        """Rank 0's buffers (BatchNorm running statistics) on every rank, before validation."""
        bufs = list(self.model.buffers())
        if bufs:
            self.reducer._broadcast_from_rank0(bufs)

    def close(self) -> None:
        self.reducer.remove_hooks()
