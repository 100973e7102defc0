"""``DistributedDataParallel``: the same model on every rank, gradients averaged in buckets.

At construction every rank checks that its parameters match rank 0's (names, shapes,
dtypes), then takes rank 0's parameters and buffers. During backward a post-accumulate hook
on each parameter counts it as ready; when a bucket (about ``bucket_cap_mb`` of gradients)
is complete it is copied into one flat buffer and all-reduced on the communication thread
while backward goes on with the remaining layers. Buckets start in the same order on every
rank. When the last bucket has started, the hook waits for all of them and writes the
averaged gradients back into ``.grad``.
"""

from __future__ import annotations

import contextlib

import numpy as np

from ..autograd.grad_mode import is_grad_enabled
from ..backend import backend_of
from ..nn.module import Module
from ..tensor import Tensor
from .group import DistributedError, get_group

__all__ = ["DistributedDataParallel"]


class _Bucket:
    __slots__ = ("params", "offsets", "flat", "pending", "work", "index")

    def __init__(self, index: int, params: list, dtype, xp) -> None:
        self.index = index
        self.params = params
        self.offsets = []
        n = 0
        for p in params:
            self.offsets.append(n)
            n += p.data.size
        self.flat = xp.empty(n, dtype=dtype)  # on the parameters' device
        self.pending = len(params)
        self.work = None


def _describe_params(module: Module) -> list:
    rows = [["parameter", n, list(p.shape), str(p.data.dtype)]
            for n, p in module.named_parameters()]
    rows += [["buffer", n, list(b.shape), str(b.data.dtype)] for n, b in module.named_buffers()]
    return rows


def _compare(rows_by_rank: list, rank: int) -> str | None:
    ref = rows_by_rank[0]
    for r, rows in enumerate(rows_by_rank[1:], start=1):
        for a, b in zip(ref, rows):
            if a != b:
                if a[:2] != b[:2]:
                    return (f"rank 0 has {a[0]} '{a[1]}' where rank {r} has {b[0]} '{b[1]}' "
                            "(the models are built differently)")
                return (f"{a[0]} '{a[1]}' is shape {tuple(a[2])} {a[3]} on rank 0 but shape "
                        f"{tuple(b[2])} {b[3]} on rank {r}")
        if len(ref) != len(rows):
            longer, which = (ref, 0) if len(ref) > len(rows) else (rows, r)
            extra = longer[min(len(ref), len(rows))]
            return (f"rank {which} has {extra[0]} '{extra[1]}' that rank "
                    f"{r if which == 0 else 0} lacks ({len(ref)} tensors on rank 0, "
                    f"{len(rows)} on rank {r})")
    return None


class DistributedDataParallel(Module):
    """Wrap ``module`` so that backward averages its gradients across all ranks.

    Each rank feeds its own share of every batch (see ``DistributedSampler``); after
    ``loss.backward()`` every rank holds the gradients of the mean loss over all shares, so
    the optimisers stay in step. BatchNorm statistics stay per rank unless the model uses
    ``SyncBatchNorm``; buffers (running statistics) are copied from rank 0 at each forward
    when ``broadcast_buffers`` is on.

    Args:
        module: the model (the same architecture on every rank).
        bucket_cap_mb: gradient megabytes per all-reduce bucket (the first bucket is capped at
            1 MB so communication starts early).
        broadcast_buffers: copy rank 0's buffers to the other ranks at every forward.
        find_unused_parameters: after each forward, find the parameters the output does not
            depend on and count them as ready (their gradient is zero); needed when parts of
            the model are skipped.
        overlap: start each bucket's all-reduce as soon as it is ready (default); False waits
            for the whole backward and then reduces every bucket (for comparison).
        group: the process group (default: the initialized one).

    Raises:
        DistributedError: when the ranks' models differ (naming the parameter and shapes).

    Example (in a script started by ``mpirun -n 2``; here there is no process group):
        >>> import ember
        >>> import ember.distributed as dist
        >>> try:
        ...     model = dist.DistributedDataParallel(ember.nn.Linear(4, 2))
        ... except dist.DistributedError as e:
        ...     print(str(e).split(";")[0])
        DistributedDataParallel: no process group
    """

    def __init__(self, module: Module, *, bucket_cap_mb: float = 25.0,
                 broadcast_buffers: bool = True, find_unused_parameters: bool = False,
                 overlap: bool = True, group=None) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise DistributedError(f"DistributedDataParallel: module must be an ember.nn.Module, "
                                   f"got {type(module).__name__}")
        if not bucket_cap_mb > 0:
            raise DistributedError(f"DistributedDataParallel: bucket_cap_mb must be positive, "
                                   f"got {bucket_cap_mb!r}")
        self.module = module
        d = self.__dict__
        d["_group"] = g = group or get_group("DistributedDataParallel")
        d["broadcast_buffers"] = bool(broadcast_buffers)
        d["find_unused_parameters"] = bool(find_unused_parameters)
        d["overlap"] = bool(overlap)
        d["_sync"] = True
        d["_armed"] = False
        d["_buckets"] = []
        d["_where"] = {}
        d["_next"] = 0
        d["_fired"] = 0
        d["_unused"] = set()
        d["_ready"] = set()
        d["_done"] = False
        d["_handles"] = []
        if g.world_size == 1:
            return
        problem = _compare(g.all_gather_object(_describe_params(module),
                                               "DistributedDataParallel"), g.rank)
        if problem is not None:
            raise DistributedError(f"DistributedDataParallel: the ranks' models differ: {problem}. "
                                   "Every rank must build the same model (same code and "
                                   "arguments) before wrapping it")
        self._broadcast_from_rank0([p for p in module.parameters()] + list(module.buffers()))
        self._build_buckets(bucket_cap_mb)

    # ------------------------------------------------------------------ setup
    def _broadcast_from_rank0(self, tensors: list) -> None:
        """Copy rank 0's values into ``tensors`` on every rank, one message per dtype."""
        by_dtype: dict = {}
        for t in tensors:
            if t is not None and t.data.size:
                by_dtype.setdefault(t.data.dtype.str, []).append(t)
        works = []
        for group in by_dtype.values():
            xp = backend_of(group[0].data).xp
            flat = xp.concatenate([t.data.reshape(-1) for t in group])
            works.append((group, flat, self._group.broadcast(flat, 0)))
        for group, flat, work in works:
            work.wait()
            if self._group.rank != 0:
                off = 0
                for t in group:
                    n = t.data.size
                    t.data[...] = flat[off:off + n].reshape(t.data.shape)
                    t._version[0] += 1
                    off += n

    def _build_buckets(self, cap_mb: float) -> None:
        params = [p for p in self.module.parameters() if p.requires_grad]
        cap, first_cap = int(cap_mb * 2**20), min(int(cap_mb * 2**20), 2**20)
        buckets, current, size, dtype = [], [], 0, None
        xp = backend_of(params[0].data).xp if params else np
        for p in reversed(params):  # backward meets the last layers first
            limit = first_cap if not buckets else cap
            if current and (p.data.dtype != dtype or size + p.data.nbytes > limit):
                buckets.append(_Bucket(len(buckets), current, dtype, xp))
                current, size = [], 0
            current.append(p)
            dtype = p.data.dtype
            size += p.data.nbytes
        if current:
            buckets.append(_Bucket(len(buckets), current, dtype, xp))
        self._buckets[:] = buckets
        for b in buckets:
            for i, p in enumerate(b.params):
                self._where[id(p)] = (b, i)
                self._handles.append(p.register_post_accumulate_grad_hook(self._grad_ready))

    # ------------------------------------------------------------------ iteration
    def forward(self, *args, **kwargs):
        if self._buckets:
            self._start_iteration()
        if self.broadcast_buffers and self._group.world_size > 1:
            bufs = list(self.module.buffers())
            if bufs:
                self._broadcast_from_rank0(bufs)
        out = self.module(*args, **kwargs)
        if self._armed and self.find_unused_parameters:
            self._mark_unused(out)
        return out

    def _start_iteration(self) -> None:
        d = self.__dict__
        if self._armed and self._fired:  # the last backward did not complete every bucket
            missing = [n for n, p in self.module.named_parameters()
                       if id(p) in self._where and self._where[id(p)][0].pending
                       and p.grad is None]
            names = ", ".join(missing[:5]) or "(see the model's forward)"
            d["_armed"] = False
            raise DistributedError(
                "DistributedDataParallel: the last backward did not produce gradients for "
                f"every parameter ({names}), so their all-reduce never ran. Pass "
                "find_unused_parameters=True if parts of the model are skipped in forward")
        for b in self._buckets:
            b.pending = len(b.params)
            b.work = None
        d["_next"] = 0
        d["_fired"] = 0
        d["_unused"] = set()
        d["_ready"] = set()
        d["_done"] = False
        d["_armed"] = self._sync and is_grad_enabled()

    def _mark_unused(self, out) -> None:
        reached = set()
        stack = [t._node for t in _tensors(out) if t._node is not None]
        seen = set()
        for t in _tensors(out):
            if t._node is None:
                reached.add(id(t))
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            for e in node.edges:
                if type(e) is tuple:
                    stack.append(e[0])
                elif e is not None:
                    reached.add(id(e))
        fired = self._fired
        for p in self.module.parameters():
            if id(p) in self._where and id(p) not in reached:
                self._unused.add(id(p))
                self._grad_ready(p)
        self.__dict__["_fired"] = fired

    def _grad_ready(self, p) -> None:
        if not self._armed:
            if self._done:  # after this iteration's all-reduce: the gradient would stay local
                self._twice(p)
            return
        self.__dict__["_fired"] += 1
        if id(p) in self._ready:
            self._twice(p)
        self._ready.add(id(p))
        b = self._where[id(p)][0]
        b.pending -= 1
        if b.pending:
            return
        buckets = self._buckets
        if self.overlap:
            while self._next < len(buckets) and buckets[self._next].pending == 0:
                self._launch(buckets[self._next])
                self.__dict__["_next"] += 1
            if self._next == len(buckets):
                self._finish()
        elif all(x.pending == 0 for x in buckets):
            for x in buckets:
                self._launch(x)
            self.__dict__["_next"] = len(buckets)
            self._finish()

    def _twice(self, p) -> None:
        d = self.__dict__
        d["_armed"] = d["_done"] = False
        name = next((n for n, q in self.module.named_parameters() if q is p), "?")
        raise DistributedError(
            f"DistributedDataParallel: parameter '{name}' received a gradient twice after one "
            "forward (two backward passes?), so it would not be averaged over the ranks. Run "
            "one backward per forward (sum the losses first), or wrap the extra backward "
            "passes in no_sync()")

    def _launch(self, b: _Bucket) -> None:
        flat = b.flat
        for p, off in zip(b.params, b.offsets):
            n = p.data.size
            if p.grad is None or id(p) in self._unused:
                flat[off:off + n] = 0
            else:
                flat[off:off + n] = p.grad.data.reshape(-1)
        b.work = self._group.all_reduce(
            flat, "mean", check=False,
            name=f"all_reduce of DistributedDataParallel gradient bucket {b.index}")

    def _finish(self) -> None:
        for b in self._buckets:
            b.work.wait()
            flat = b.flat
            for p, off in zip(b.params, b.offsets):
                view = flat[off:off + p.data.size].reshape(p.data.shape)
                g = p.grad
                if g is None and id(p) in self._unused and not view.any():
                    continue  # unused on every rank: leave .grad alone, as PyTorch does
                if g is None or not getattr(g.data.flags, "writeable", True) or \
                        g.data.shape != view.shape:
                    p.grad = Tensor(view.copy())
                else:
                    g.data[...] = view
                    g._version[0] += 1
            b.work = None
        self.__dict__["_armed"] = False
        self.__dict__["_done"] = True

    @contextlib.contextmanager
    def no_sync(self):
        """Accumulate gradients locally inside the block; the next backward outside reduces them.

        Example:
            >>> # for micro in batches[:-1]:
            >>> #     with ddp.no_sync(): loss_fn(ddp(micro)).backward()
            >>> # loss_fn(ddp(batches[-1])).backward()   # all-reduces the accumulated sum
        """
        prev = self._sync
        self.__dict__["_sync"] = False
        try:
            yield
        finally:
            self.__dict__["_sync"] = prev

    def remove_hooks(self) -> None:
        """Unregister the gradient hooks (the wrapper then no longer synchronises)."""
        for h in self._handles:
            h.remove()
        self._handles.clear()
        self._buckets.clear()

    def extra_repr(self) -> str:
        return (f"world_size={self._group.world_size}, buckets={len(self._buckets)}, "
                f"overlap={self.overlap}")


def _tensors(out):
    if isinstance(out, Tensor):
        yield out
    elif isinstance(out, (list, tuple)):
        for o in out:
            yield from _tensors(o)
    elif isinstance(out, dict):
        for o in out.values():
            yield from _tensors(o)
