"""CUDA graph capture of a compiled ``ember.jit`` function (``ember.jit(fn, cuda_graph=True)``).

A jit-compiled training step is one flat Python function over device arrays; on a GPU most of
its time for small models is kernel-launch overhead. After ``warmup`` ordinary calls, the
function is captured once on a side stream into a ``cupy.cuda.Graph``, and later calls copy
the new inputs into the captured input buffers and launch the graph: one launch per step.

As in PyTorch, allocations made while capturing come from a private memory pool that only the
graph uses, so replays can reuse the same addresses safely; one warm-up run in that pool
(the states saved before and restored after it) fills it, so the capture allocates nothing
new. The capture is redone when a
state array (a parameter, a ``.grad``) has moved to another address since. Graphs whose ops
draw random numbers (dropout) are not captured, since every replay would draw the same mask;
a capture that fails (an op that synchronises with the host) falls back to ordinary calls
with a warning naming the error.
"""

from __future__ import annotations

import warnings

from ..errors import DeviceError


def graph_backend(tensors):
    """The backend of the tensors a traced function reads (the CPU's if it reads none)."""
    from ..backend import backend_of, get_backend

    for t in tensors:
        return backend_of(t.data)
    return get_backend("cpu")


class GraphedFunction:
    """``fn(*inputs, *states)`` replayed as a CUDA graph after ``warmup`` direct calls."""

    def __init__(self, fn, n_inputs: int, backend, graph, warmup: int = 2) -> None:
        if not getattr(backend, "multi_device", False):
            raise DeviceError("jit(cuda_graph=True): the function's tensors are on the CPU; "
                              "CUDA graphs capture GPU work. Move the model and inputs to "
                              "'cuda', or drop cuda_graph=True")
        self.fn = fn
        self.n = n_inputs
        self.cp = backend.cp
        self.warmup = warmup
        self.calls = 0
        self.graph = None
        self.disabled = None
        random_ops = sorted({n.op.name for n in graph.nodes if getattr(n.op, "random", False)})
        if random_ops:
            self.disabled = (f"the graph draws random numbers ({', '.join(random_ops)}): "
                             "every replay would repeat them")
            warnings.warn(f"jit(cuda_graph=True): not capturing: {self.disabled}",
                          RuntimeWarning, stacklevel=3)

    def __call__(self, *args):
        if self.disabled is not None or self.calls < self.warmup:
            self.calls += 1
            return self.fn(*args)
        ptrs = self._state_ptrs(args)
        if self.graph is None or ptrs != self.ptrs:
            self.captures = getattr(self, "captures", 0) + 1
            if self.captures > 3:  # states keep moving (e.g. a .grad the graph reads)
                self.disabled = "state arrays move between calls, so every call would recapture"
                warnings.warn(f"jit(cuda_graph=True): giving up on the CUDA graph: "
                              f"{self.disabled}", RuntimeWarning, stacklevel=2)
                self.graph = None
                return self.fn(*args)
            try:
                self._capture(args, ptrs)
            except Exception as exc:  # noqa: BLE001 - any capture failure: run uncaptured
                self.disabled = f"{type(exc).__name__}: {exc}"
                self.graph = None
                warnings.warn("jit(cuda_graph=True): capture failed, running without a CUDA "
                              f"graph ({self.disabled})", RuntimeWarning, stacklevel=2)
                return self.fn(*args)
        for dst, src in zip(self.inputs, args[:self.n]):
            if hasattr(dst, "data") and dst.data.ptr != src.data.ptr:
                dst[...] = src
        self.graph.launch(self.cp.cuda.get_current_stream())
        return self.result

    def _state_ptrs(self, args) -> tuple:
        return tuple(a.data.ptr if hasattr(a, "data") and hasattr(a.data, "ptr") else id(a)
                     for a in args[self.n:])

    def _capture(self, args, ptrs) -> None:
        """Warm the private pool with one run (state restored after it), then capture.

        The warm-up run allocates and frees this step's blocks in the private pool, so the
        capture (same sizes, same order) is served from cached blocks and calls no cudaMalloc.
        The run updates the states in place, so they are saved before and restored after.
        """
        cp = self.cp
        inputs = [cp.array(a, copy=True) if isinstance(a, cp.ndarray) else a
                  for a in args[:self.n]]
        states = [a for a in args[self.n:] if isinstance(a, cp.ndarray)]
        saved = [a.copy() for a in states]
        pool = cp.cuda.MemoryPool()  # the graph's private pool: never shared, never freed
        side = cp.cuda.Stream(non_blocking=True)
        side.wait_event(cp.cuda.get_current_stream().record())
        with cp.cuda.using_allocator(pool.malloc), side:
            warm = self.fn(*inputs, *args[self.n:])
            del warm
            for a, c in zip(states, saved):
                a[...] = c
            side.synchronize()
            side.begin_capture()
            try:
                result = self.fn(*inputs, *args[self.n:])
            finally:
                graph = side.end_capture()
        del saved
        cp.cuda.get_current_stream().wait_event(side.record())
        self.pool, self.inputs, self.result, self.graph, self.ptrs = (
            pool, inputs, result, graph, ptrs)
