"""Collectives on ember tensors: all_reduce, broadcast, all_gather, reduce_scatter, send/recv.

Each works in place on the tensors it is given, as in PyTorch, on every rank of the process
group. With ``async_op=True`` it returns a ``Work`` handle at once (``wait()`` blocks until
done); otherwise it returns ``None`` after the operation finished on this rank. Every call
runs under the group's timeout, and by default checks that every rank passed the same shape
and dtype.
"""

from __future__ import annotations

import enum

from ..backend import backend_of
from ..errors import ShapeError
from ..tensor import Tensor
from .group import DistributedError, get_group

__all__ = ["ReduceOp", "all_reduce", "broadcast", "all_gather", "all_gather_into_tensor",
           "reduce_scatter", "reduce_scatter_tensor", "barrier", "send", "recv", "isend",
           "irecv", "all_gather_object"]


class ReduceOp(enum.Enum):
    """How ``all_reduce``/``reduce_scatter`` combine the ranks' values."""

    SUM = "sum"
    AVG = "mean"
    MAX = "max"
    MIN = "min"
    PRODUCT = "product"


ReduceOp.MEAN = ReduceOp.AVG

_OPS = {"sum": "sum", "mean": "mean", "avg": "mean", "max": "max", "min": "min",
        "product": "product", "prod": "product"}


def _op(op, name: str) -> str:
    if isinstance(op, ReduceOp):
        return op.value
    if isinstance(op, str) and op.lower() in _OPS:
        return _OPS[op.lower()]
    raise DistributedError(f"{name}: unknown reduction {op!r}; use ReduceOp.SUM, AVG, MAX, MIN "
                           "or PRODUCT (or 'sum', 'mean', 'max', 'min', 'product')")


def _array(t, name: str, what: str = "tensor"):
    if not isinstance(t, Tensor):
        raise DistributedError(f"{name}: {what} must be an ember Tensor, got "
                               f"{type(t).__name__}")
    t._version[0] += 1  # written in place
    return t.data


def _rank(r, name: str, what: str, group) -> int:
    if not isinstance(r, int) or isinstance(r, bool) or not 0 <= r < group.world_size:
        raise DistributedError(f"{name}: {what} must be a rank in 0..{group.world_size - 1}, "
                               f"got {r!r}")
    return r


def _finish(work, async_op: bool):
    if async_op:
        return work
    work.wait()
    return None


def all_reduce(tensor: Tensor, op=ReduceOp.SUM, group=None, async_op: bool = False):
    """Combine ``tensor`` across all ranks, in place: every rank ends with the same result.

    Args:
        tensor: the tensor to reduce; it receives the result.
        op: ``ReduceOp.SUM`` (default), ``AVG`` (mean), ``MAX``, ``MIN`` or ``PRODUCT``.
        group: the process group (default: the one ``init_process_group`` made).
        async_op: return a ``Work`` handle instead of waiting.

    Raises:
        ShapeError: on every rank, when the ranks passed different shapes or dtypes.
        DistributedTimeoutError: when some rank did not join within the group's timeout.

    Example (under ``mpirun -n 2`` each rank would end with ``tensor([3.])``; here, in one
    process, there is no group to reduce over):
        >>> import ember
        >>> import ember.distributed as dist
        >>> t = ember.tensor([1.0 + dist.get_rank()])
        >>> try:
        ...     dist.all_reduce(t, op=dist.ReduceOp.SUM)
        ... except dist.DistributedError as e:
        ...     print(str(e).split(";")[0])
        all_reduce: no process group
    """
    g = group or get_group("all_reduce")
    arr = _array(tensor, "all_reduce")
    return _finish(g.all_reduce(arr, _op(op, "all_reduce"), inline=not async_op), async_op)


def broadcast(tensor: Tensor, src: int = 0, group=None, async_op: bool = False):
    """Copy rank ``src``'s ``tensor`` into ``tensor`` on every other rank.

    Args:
        tensor: rank ``src``'s data to send, the other ranks' buffer to receive into.
        src: the sending rank.
        async_op: return a ``Work`` handle instead of waiting.
    """
    g = group or get_group("broadcast")
    arr = _array(tensor, "broadcast")
    return _finish(g.broadcast(arr, _rank(src, "broadcast", "src", g)), async_op)


def all_gather(tensor_list: list, tensor: Tensor, group=None, async_op: bool = False):
    """Fill ``tensor_list[r]`` with rank ``r``'s ``tensor`` on every rank.

    Args:
        tensor_list: ``world_size`` tensors of ``tensor``'s shape and dtype (outputs).
        tensor: this rank's contribution.
        async_op: return a ``Work`` handle (the list is filled when it is waited on).
    """
    g = group or get_group("all_gather")
    arr = tensor.data if isinstance(tensor, Tensor) else _array(tensor, "all_gather")
    if not isinstance(tensor_list, (list, tuple)) or len(tensor_list) != g.world_size:
        raise DistributedError(f"all_gather: tensor_list must be a list of world_size="
                               f"{g.world_size} tensors, got {type(tensor_list).__name__}"
                               + (f" of length {len(tensor_list)}"
                                  if hasattr(tensor_list, "__len__") else ""))
    outs = [_array(t, "all_gather", "each tensor_list entry") for t in tensor_list]
    for i, o in enumerate(outs):
        if o.shape != arr.shape or o.dtype != arr.dtype:
            raise ShapeError(f"all_gather: tensor_list[{i}] is shape {tuple(o.shape)} {o.dtype} "
                             f"but the input is shape {tuple(arr.shape)} {arr.dtype}; give "
                             "outputs of the input's shape and dtype")
    xp = _xp(arr)
    stacked = xp.empty((g.world_size,) + arr.shape, dtype=arr.dtype)

    def scatter_back():
        for o, s in zip(outs, stacked):
            o[...] = s

    work = g.all_gather(stacked, arr)
    work._done_cb = scatter_back
    return _finish(work, async_op)


def all_gather_into_tensor(output: Tensor, input: Tensor, group=None,  # noqa: A002
                           async_op: bool = False):
    """Concatenate every rank's ``input`` along dim 0 into ``output`` (world_size x as long).

    Shape:
        input ``(N, *)``, output ``(world_size * N, *)``.
    """
    g = group or get_group("all_gather_into_tensor")
    arr = input.data if isinstance(input, Tensor) else _array(input, "all_gather_into_tensor")
    out = _array(output, "all_gather_into_tensor", "output")
    want = (arr.shape[0] * g.world_size,) + arr.shape[1:] if arr.ndim else (g.world_size,)
    if out.shape != want or out.dtype != arr.dtype:
        raise ShapeError(f"all_gather_into_tensor: output is shape {tuple(out.shape)} "
                         f"{out.dtype}; for input {tuple(arr.shape)} {arr.dtype} on "
                         f"{g.world_size} ranks it must be {want} {arr.dtype}")
    return _finish(g.all_gather(out.reshape((g.world_size,) + arr.shape)
                                if out.flags.c_contiguous else out, arr), async_op)


def reduce_scatter_tensor(output: Tensor, input: Tensor, op=ReduceOp.SUM,  # noqa: A002
                          group=None, async_op: bool = False):
    """Reduce ``input`` across ranks and give rank ``r`` the ``r``-th chunk of dim 0.

    Shape:
        input ``(world_size * N, *)``, output ``(N, *)``.
    """
    g = group or get_group("reduce_scatter_tensor")
    arr = input.data if isinstance(input, Tensor) else _array(input, "reduce_scatter_tensor")
    out = _array(output, "reduce_scatter_tensor", "output")
    if arr.ndim == 0 or arr.shape[0] != out.shape[0] * g.world_size or \
            arr.shape[1:] != out.shape[1:] or out.dtype != arr.dtype:
        raise ShapeError(f"reduce_scatter_tensor: input is shape {tuple(arr.shape)} "
                         f"{arr.dtype} and output {tuple(out.shape)} {out.dtype}; on "
                         f"{g.world_size} ranks the input's dim 0 must be world_size times the "
                         "output's, the other dims and the dtype equal")
    return _finish(g.reduce_scatter(out, arr, _op(op, "reduce_scatter")), async_op)


def reduce_scatter(output: Tensor, input_list: list, op=ReduceOp.SUM, group=None,
                   async_op: bool = False):
    """Reduce ``input_list[r]`` across ranks into ``output`` on rank ``r``."""
    g = group or get_group("reduce_scatter")
    out = output.data if isinstance(output, Tensor) else _array(output, "reduce_scatter")
    if not isinstance(input_list, (list, tuple)) or len(input_list) != g.world_size:
        raise DistributedError(f"reduce_scatter: input_list must hold world_size="
                               f"{g.world_size} tensors")
    for i, t in enumerate(input_list):
        if not isinstance(t, Tensor) or t.shape != out.shape or t.data.dtype != out.dtype:
            raise ShapeError(f"reduce_scatter: input_list[{i}] must be a tensor of the "
                             f"output's shape {tuple(out.shape)} {out.dtype}")
    xp = _xp(out)
    stacked = xp.stack([t.data for t in input_list])
    output._version[0] += 1
    return _finish(g.reduce_scatter(out, stacked, _op(op, "reduce_scatter")), async_op)


def barrier(group=None, async_op: bool = False):
    """Wait until every rank has reached this call."""
    g = group or get_group("barrier")
    return _finish(g.barrier(), async_op)


def isend(tensor: Tensor, dst: int, group=None, tag: int = 0):
    """Start sending ``tensor`` to rank ``dst``; returns a ``Work`` handle."""
    g = group or get_group("send")
    if not isinstance(tensor, Tensor):
        raise DistributedError(f"send: tensor must be an ember Tensor, got {type(tensor).__name__}")
    _rank(dst, "send", "dst", g)
    if dst == g.rank:
        raise DistributedError(f"send: dst is this rank ({dst}); send to another rank")
    return g.send(tensor.data, dst, tag)


def irecv(tensor: Tensor, src: int | None = None, group=None, tag: int = 0):
    """Start receiving into ``tensor`` from rank ``src`` (any rank if None); returns a handle.

    The handle's ``result()`` is the rank the message came from.
    """
    g = group or get_group("recv")
    arr = _array(tensor, "recv")
    if src is not None:
        _rank(src, "recv", "src", g)
    return g.recv(arr, src, tag)


def send(tensor: Tensor, dst: int, group=None, tag: int = 0) -> None:
    """Send ``tensor`` to rank ``dst`` (returns once it is safe to modify ``tensor``)."""
    isend(tensor, dst, group, tag).wait()


def recv(tensor: Tensor, src: int | None = None, group=None, tag: int = 0) -> int:
    """Receive into ``tensor`` from rank ``src`` (any rank if None); returns the sender's rank."""
    return irecv(tensor, src, group, tag).result()


def all_gather_object(obj, group=None) -> list:
    """Every rank's JSON-serialisable ``obj`` (numbers, strings, lists, dicts), in rank order."""
    g = group or get_group("all_gather_object")
    if g.world_size == 1:
        return [obj]
    return g.all_gather_object(obj, "all_gather_object")


def _xp(arr):
    return backend_of(arr).xp
