"""The process group: who this process is in a job launched by MPI, and how it talks.

``init_process_group`` reads rank and world size from the MPI launcher (``mpirun``/``mpiexec``
of MPICH or Open MPI, ``srun`` under Slurm) and opens a backend: ``"mpi"`` (mpi4py, CPU
arrays) or ``"nccl"`` (CuPy's NCCL bindings, GPU arrays; its unique id travels over MPI).

Collectives of the MPI backend run on one communication thread per process, in the order
they were issued (the same order on every rank, as MPI requires); the caller waits on a
``Work`` handle with a deadline, so a rank that died makes the others raise
``DistributedTimeoutError`` naming the collective instead of hanging forever.
"""

from __future__ import annotations

import atexit
import datetime
import os
import sys
import threading
import time

from ..errors import EmberError

DEFAULT_TIMEOUT = 1800.0  # seconds, as PyTorch's default process-group timeout

_LAUNCH_VARS = ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "MPI_LOCALRANKID",
                "SLURM_PROCID", "HYDRA_CONTROL_FD")

LAUNCH_HINT = ("launch one process per device with MPI, e.g. `mpirun -n 2 python train.py` "
               "(or `srun -n 2 python train.py` under Slurm); install the launcher with "
               "`pip install mpi4py mpich` (or use your cluster's MPI)")


class DistributedError(EmberError, RuntimeError):
    """A distributed operation that cannot run (bad arguments, mismatch across ranks …)."""


class DistributedTimeoutError(DistributedError, TimeoutError):
    """A collective did not complete on this rank within the process group's timeout."""


def launched_by_mpi() -> bool:
    """True when this process was started by an MPI launcher (mpirun, mpiexec, srun)."""
    env = os.environ
    if any(v in env for v in _LAUNCH_VARS[:4]):
        return True
    return "SLURM_PROCID" in env and "SLURM_STEP_ID" in env and "PMI_FD" in env


def _seconds(timeout) -> float:
    if timeout is None:
        return float(os.environ.get("EMBER_DIST_TIMEOUT", DEFAULT_TIMEOUT))
    if isinstance(timeout, datetime.timedelta):
        timeout = timeout.total_seconds()
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
        raise DistributedError(f"init_process_group: timeout must be a positive number of "
                               f"seconds or a datetime.timedelta, got {timeout!r}")
    return float(timeout)


def mismatch_error(name: str, keys: list):
    """The ShapeError for ranks whose ``name|shape|dtype|extra`` keys differ, naming each."""
    from ..errors import ShapeError

    parts = []
    for r, key in enumerate(keys):
        coll, shape, dtype, extra = key.split("|", 3)
        parts.append(f"rank {r}: {coll} shape {shape} {dtype}" + (f" ({extra})" if extra else ""))
    return ShapeError(f"{name}: the ranks passed different tensors or called different "
                      f"collectives ({'; '.join(parts)}). Every rank must call the same "
                      "collective, in the same order, on tensors of the same shape and dtype")


class Work:
    """A handle on a collective in flight: ``wait()`` blocks until it is done (or times out).

    Returned by every collective called with ``async_op=True``.
    """

    __slots__ = ("name", "what", "group", "deadline", "_event", "_exc", "_result", "_fn",
                 "_done_cb")

    def __init__(self, group, name: str, what: str, fn, done_cb=None) -> None:
        self.group, self.name, self.what = group, name, what
        self.deadline = time.monotonic() + group.timeout
        self._event = threading.Event()
        self._exc = None
        self._result = None
        self._fn = fn
        self._done_cb = done_cb

    def _run(self) -> None:
        try:
            self._result = self._fn()
        except BaseException as e:  # handed to the waiting thread
            self._exc = e
        self._fn = None
        self._event.set()

    def is_completed(self) -> bool:
        """True once the operation has finished on this rank (successfully or not)."""
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the operation is done; raise ``DistributedTimeoutError`` past its deadline.

        Args:
            timeout: seconds to wait from now instead of the group's deadline.
        """
        remaining = self.deadline - time.monotonic() if timeout is None else timeout
        if not self._event.wait(max(remaining, 0.0)):
            raise self.group._timed_out(self)
        if self._exc is not None:
            raise self._exc
        if self._done_cb is not None:
            cb, self._done_cb = self._done_cb, None
            cb()
        return True

    def result(self):
        """Wait, then return the operation's result (``None`` for in-place collectives)."""
        self.wait()
        return self._result


class ProcessGroup:
    """The ranks of one job and the backend connecting them (see ``init_process_group``)."""

    def __init__(self, backend: str, rank: int, world_size: int, timeout: float,
                 check_shapes: bool) -> None:
        self.backend = backend
        self.rank = rank
        self.world_size = world_size
        self.timeout = timeout
        self.check_shapes = check_shapes
        self.broken = None  # the error that broke the group (a timeout); later calls re-raise

    def _timed_out(self, work: Work) -> DistributedTimeoutError:
        err = DistributedTimeoutError(
            f"{work.name} timed out after {self.timeout:g} s on rank {self.rank} of "
            f"{self.world_size} ({work.what}): not every rank joined it. Another rank has "
            "probably died or is stuck (look at its output), or the ranks called different "
            "collectives. The process group is unusable now; restart the job (resume from the "
            "last checkpoint). Raise the limit with init_process_group(timeout=...) if a rank "
            "is just slow"
        )
        if self.broken is None:
            self.broken = err
            _ABORT_AT_EXIT[0] = True
        return err

    def _check_usable(self, name: str) -> None:
        if self.broken is not None:
            raise DistributedError(f"{name}: the process group is broken by an earlier "
                                   f"failure ({self.broken}); restart the job")


_GROUP: list = [None]
_ABORT_AT_EXIT = [False]


@atexit.register
def _exit_without_finalize() -> None:  # pragma: no cover - runs at interpreter exit
    # A timed-out collective leaves the communication thread inside MPI; MPI_Finalize would
    # then crash or hang, so leave the process at once (the launcher sees a failure).
    if _ABORT_AT_EXIT[0]:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)


def init_process_group(backend: str = "mpi", *, timeout=None, check_shapes: bool = True,
                       device_id: int | None = None) -> ProcessGroup:
    """Join the job this process was launched in; call once per process before any collective.

    Args:
        backend: ``"mpi"`` (CPU tensors, any MPI) or ``"nccl"`` (CUDA tensors, one GPU per
            process; needs CuPy).
        timeout: seconds (or a ``datetime.timedelta``) a collective may wait for the other
            ranks before raising ``DistributedTimeoutError``; default 1800 or
            ``$EMBER_DIST_TIMEOUT``.
        check_shapes: verify before each collective that every rank passed the same shape and
            dtype (one tiny extra message); turn off once a program is known to be right.
        device_id: the GPU for ``"nccl"``; default the node-local rank modulo the GPU count.

    Raises:
        DistributedError: outside an MPI launch (the message says how to launch), an unknown
            backend, mpi4py or CuPy missing.

    Example:
        >>> import ember.distributed as dist
        >>> dist.is_initialized()
        False
    """
    if _GROUP[0] is not None:
        raise DistributedError("init_process_group: already initialized in this process; call "
                               "destroy_process_group() first to start again")
    if backend not in ("mpi", "nccl"):
        raise DistributedError(f"init_process_group: unknown backend {backend!r}; use 'mpi' "
                               "(CPU) or 'nccl' (GPU)")
    seconds = _seconds(timeout)
    if not launched_by_mpi():
        raise DistributedError("init_process_group: this process was not started by an MPI "
                               f"launcher (no PMI_RANK/OMPI_COMM_WORLD_RANK in the environment): "
                               f"{LAUNCH_HINT}")
    _share_cores()
    comm = _mpi_world()
    if backend == "mpi":
        from .mpi import MPIProcessGroup

        group = MPIProcessGroup(comm, seconds, check_shapes)
    else:
        from .nccl import NCCLProcessGroup

        group = NCCLProcessGroup(comm, seconds, check_shapes, device_id)
    _GROUP[0] = group
    return group


def _share_cores() -> None:
    """Give each of the ranks on this machine its share of the cores for BLAS threads.

    Several ranks each running a full-width BLAS thread pool oversubscribe the machine; as
    torchrun does, limit them unless the user chose (OMP_NUM_THREADS and the like).
    """
    env = os.environ
    if any(v in env for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")):
        return
    local = int(env.get("MPI_LOCALNRANKS", env.get("OMPI_COMM_WORLD_LOCAL_SIZE",
                                                   env.get("SLURM_NTASKS_PER_NODE", "1"))))
    if local <= 1:
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(max(1, (os.cpu_count() or 1) // local))


def _mpi_world():
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise DistributedError("init_process_group: mpi4py is not installed: `pip install "
                               "mpi4py mpich` (or build mpi4py against your cluster's MPI)") from e
    return MPI.COMM_WORLD.Dup()


def destroy_process_group() -> None:
    """Leave the process group (stops the communication thread); ``init`` may be called again."""
    group, _GROUP[0] = _GROUP[0], None
    if group is not None:
        group.shutdown()


def is_initialized() -> bool:
    """True between ``init_process_group`` and ``destroy_process_group``."""
    return _GROUP[0] is not None


def is_available() -> bool:
    """True when mpi4py can be imported (the MPI backend can be used)."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


def get_group(name: str = "get_group") -> ProcessGroup:
    """The current process group; raises, saying how to start one, when there is none."""
    group = _GROUP[0]
    if group is None:
        raise DistributedError(f"{name}: no process group; call "
                               "ember.distributed.init_process_group() first (in a process "
                               f"launched by MPI: {LAUNCH_HINT})")
    return group


def get_rank() -> int:
    """This process's rank, 0 … world size − 1 (0 when no group is initialized)."""
    group = _GROUP[0]
    return 0 if group is None else group.rank


def get_world_size() -> int:
    """The number of processes in the job (1 when no group is initialized)."""
    group = _GROUP[0]
    return 1 if group is None else group.world_size


def is_main_process() -> bool:
    """True on rank 0 (and when not distributed): the process that prints and saves."""
    return get_rank() == 0
