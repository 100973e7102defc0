"""Data-parallel training across processes: MPI on CPUs, NCCL on GPUs.

Launch one process per device with the usual MPI launcher (``mpirun -n 4 python train.py``,
``srun`` under Slurm); each process calls ``init_process_group`` and wraps its model in
``DistributedDataParallel``. See docs/distributed.md.

Example:
    >>> import ember.distributed as dist
    >>> dist.get_world_size(), dist.get_rank()
    (1, 0)
"""

from __future__ import annotations

from .collectives import (
    ReduceOp,
    all_gather,
    all_gather_into_tensor,
    all_gather_object,
    all_reduce,
    barrier,
    broadcast,
    irecv,
    isend,
    recv,
    reduce_scatter,
    reduce_scatter_tensor,
    send,
)
from .ddp import DistributedDataParallel
from .group import (
    DistributedError,
    DistributedTimeoutError,
    ProcessGroup,
    Work,
    destroy_process_group,
    get_rank,
    get_world_size,
    init_process_group,
    is_available,
    is_initialized,
    is_main_process,
    launched_by_mpi,
)
from .sampler import DistributedSampler
from .sync_batchnorm import SyncBatchNorm

__all__ = [
    "ReduceOp", "all_gather", "all_gather_into_tensor", "all_gather_object", "all_reduce",
    "barrier", "broadcast", "irecv", "isend", "recv", "reduce_scatter",
    "reduce_scatter_tensor", "send", "DistributedDataParallel", "DistributedError",
    "DistributedTimeoutError", "ProcessGroup", "Work", "destroy_process_group", "get_rank",
    "get_world_size", "init_process_group", "is_available", "is_initialized",
    "is_main_process", "launched_by_mpi", "DistributedSampler", "SyncBatchNorm",
]
