"""``DevicePrefetcher``: batches copied to the GPU on a side stream, one step ahead.

With ``DataLoader(pin_memory=True)`` the loader's batches sit in page-locked host memory, from
which the GPU copies asynchronously. This iterator starts the copy of batch ``i + 1`` on its
own stream before handing out batch ``i``, so the transfer overlaps the training step that
consumes batch ``i`` instead of stalling it.

Ordering: each destination array is allocated on the current stream, and the side stream
waits for the current stream's work before writing into it (the pool may hand out memory that
pending work still reads). Before a batch is handed out, the host waits for its copy (issued a
step earlier, so normally finished): only then may the pinned host memory be reused.

On a machine without CUDA the prefetcher passes batches through unchanged after a one-time
warning, as ``pin_memory=True`` does.
"""

from __future__ import annotations

from ..backend import try_backend
from ..tensor import Tensor


class DevicePrefetcher:
    """Iterate ``loader`` with every CPU tensor of each batch moved to ``device`` ahead of use.

    Args:
        loader: any iterable of batches (tensors, or tuples/lists/dicts of them).
        device: the CUDA device (``"cuda"``, ``"cuda:1"``).

    Example:
        >>> import numpy as np, ember
        >>> from ember.cuda.prefetch import DevicePrefetcher
        >>> ds = ember.data.ArrayDataset(np.ones((4, 2), np.float32))
        >>> loader = ember.data.DataLoader(ds, batch_size=2)
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     n = sum(1 for _ in DevicePrefetcher(loader))
        >>> n
        2
    """

    def __init__(self, loader, device="cuda") -> None:
        self.loader = loader
        self.device = device

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        backend, why = try_backend("cuda")
        if backend is None:
            from ..backend.cupy_backend import warn_once

            warn_once("prefetcher", f"DevicePrefetcher: CUDA is not available ({why}); "
                      "batches stay on the CPU")
            yield from self.loader
            return
        cp = backend.cp
        side = cp.cuda.Stream(non_blocking=True)
        pending = None
        for batch in self.loader:
            nxt = self._start(backend, side, batch)
            if pending is not None:
                yield self._finish(cp, pending)
            pending = nxt
        if pending is not None:
            yield self._finish(cp, pending)

    def _start(self, backend, side, batch):
        cp = backend.cp
        side.wait_event(cp.cuda.get_current_stream().record())
        keep: list = []  # the host arrays, alive until their copies are done

        def move(obj):
            if isinstance(obj, Tensor):
                if obj.device.type != "cpu":
                    return obj
                keep.append(obj.data)
                return Tensor(backend.upload_async(obj.data, side, self.device))
            if isinstance(obj, dict):
                return {k: move(v) for k, v in obj.items()}
            if isinstance(obj, tuple) and hasattr(obj, "_fields"):
                return type(obj)(*(move(v) for v in obj))
            if isinstance(obj, (list, tuple)):
                return type(obj)(move(v) for v in obj)
            return obj

        moved = move(batch)
        return moved, side.record(), keep

    @staticmethod
    def _finish(cp, pending):
        moved, event, keep = pending
        event.synchronize()  # the copy is done: the pinned host memory may be reused
        cp.cuda.get_current_stream().wait_event(event)
        keep.clear()
        return moved
