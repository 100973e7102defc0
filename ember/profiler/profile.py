"""``ember.profiler.profile``: record every op of a block, forward and backward.

Three taps, each free when no profiler runs:

* the dispatch hook (``ember.autograd.dispatch``): every ``apply`` -- each op's forward, and
  under ``create_graph=True`` the recorded ops of a backward -- passes through ``_on_op``;
* the autograd engine checks ``state.profiler`` once per node and hands the vjp to
  ``run_vjp``, which times it (a plain backward runs vjps on raw arrays, outside ``apply``);
* ``nn.Module.__call__`` runs a module's forward through ``module_forward`` (the module path
  ops are recorded under), and ``DataLoader.__iter__`` wraps its iterator in
  ``data_iterator`` (the time the loop waits for batches).

Only the thread that entered the block is recorded (the hooks are thread-local, as autograd's
state is). Costs (FLOPs, bytes) come from each op's ``cost`` declaration and are computed
when a report asks for them, not while recording.
"""

from __future__ import annotations

import os
import threading
import time

from ..autograd.dispatch import pop_hook, push_hook
from ..autograd.grad_mode import state
from ..backend import _BY_TYPE, try_backend
from ..errors import DeviceError
from ..tensor import Tensor
from .report import Report

__all__ = ["profile", "ProfilerActivity", "record_function"]

_now = time.perf_counter_ns


class ProfilerActivity:
    """What to profile, as in ``torch.profiler``: ``CPU`` (host ops) and ``CUDA`` (GPU ops,
    timed with device synchronisation)."""

    CPU = "cpu"
    CUDA = "cuda"


def _spec(a):
    if isinstance(a, Tensor):
        d = a.data
        return (d.shape, d.dtype)
    if a.__class__ in _BY_TYPE:  # a raw backend array (vjp arguments in a plain backward)
        return (a.shape, a.dtype)
    return None


def _noop(device=None) -> None:
    return None


def _nbytes(a) -> int:
    return (a.data if isinstance(a, Tensor) else a).nbytes


def _specs(values) -> tuple:
    return tuple(map(_spec, values))


class _TimedIterator:
    """A DataLoader iterator whose ``__next__`` time is recorded as data wait."""

    __slots__ = ("_it", "_prof")

    def __init__(self, it, prof) -> None:
        self._it = it
        self._prof = prof

    def __iter__(self):
        return self

    def __next__(self):
        t0 = _now()
        try:
            return next(self._it)
        finally:
            self._prof._data.append((t0, _now()))

    def __getattr__(self, name):
        return getattr(self._it, name)


class record_function:  # noqa: N801 - used as a block, like torch.profiler.record_function
    """Label a region of code in the profile's trace (a no-op when nothing is profiling).

    Example:
        >>> import ember
        >>> with ember.profiler.profile(peaks={"gflops": 50, "gbs": 10}) as prof:
        ...     with ember.profiler.record_function("preprocess"):
        ...         y = ember.ones(4).exp()
        >>> [e["name"] for e in prof.chrome_trace()["traceEvents"]]
        ['exp', 'preprocess']
    """

    def __init__(self, name: str) -> None:
        self.name = str(name)
        self._prof = None

    def __enter__(self):
        self._prof = state.profiler
        self._t0 = _now()
        return self

    def __exit__(self, *exc):
        if self._prof is not None:
            self._prof._ranges.append((self.name, self._t0, _now()))
        return False


class profile(Report):  # noqa: N801 - used as a block, like torch.profiler.profile
    """Context manager recording every op run in its block, forward and backward.

    Each record holds the op, forward or backward, wall time (device-synchronised on CUDA),
    the argument and output specs (shape, dtype) from which FLOPs and bytes are computed
    (each op's ``cost`` declaration), the module path it ran under and the memory it
    allocated: the bytes of the op's new output arrays (views allocate nothing; in backward,
    the input gradients it returns). Time spent waiting for a ``DataLoader`` is recorded
    beside.

    Args:
        activities: ``ProfilerActivity.CPU`` and/or ``ProfilerActivity.CUDA`` (or "cpu",
            "cuda"); default CPU, plus CUDA when ember has a GPU. Asking for CUDA on a machine
            without one raises ``DeviceError``.
        record_shapes: keep input shapes in the report (``key_averages(group_by_input_shape
            =True)``, the trace's args).
        profile_memory: record allocated bytes per op (0 when off).
        with_modules: record the ``nn.Module`` path of each op (``table(group_by="module")``).
        peaks: the machine's peaks for the roofline, ``{"gflops": ..., "gbs": ...}``;
            measured by ``ember.utils.benchmark_device`` on first use when not given.

    Example:
        >>> import ember
        >>> x = ember.randn(64, 32, requires_grad=True)
        >>> w = ember.randn(32, 16, requires_grad=True)
        >>> with ember.profiler.profile() as prof:
        ...     (x @ w).relu().sum().backward()
        >>> [(e.name, e.phase) for e in prof.events[:3]]
        [('matmul', 'forward'), ('relu', 'forward'), ('sum', 'forward')]
        >>> sorted((a.phase, a.flops) for a in prof.key_averages() if a.name == "matmul")
        [('backward', 131072), ('forward', 65536)]
    """

    def __init__(self, activities=None, *, record_shapes: bool = True,
                 profile_memory: bool = True, with_modules: bool = True,
                 peaks: dict | None = None) -> None:
        super().__init__()
        self.activities = self._check_activities(activities)
        self._gpu = "cuda" in self.activities
        self.record_shapes = bool(record_shapes)
        self.profile_memory = bool(profile_memory)
        self.with_modules = bool(with_modules)
        if peaks is not None:
            self.peaks = dict(peaks)
        self._mods: list = []  # the module stack: (module, path, type name)
        self._node_mod: dict = {}  # id(node) -> (path, type) of the module it ran under
        self._depth = 0  # > 0 while a recorded vjp runs: its inner ops belong to it
        self._sync: dict = {}  # array type -> backend.synchronize (CUDA) or None
        self._active = False
        self._thread = None
        self._hook = self._on_op  # one bound method: pop_hook finds it by identity

    @staticmethod
    def _check_activities(activities) -> tuple:
        if activities is None:
            gpu, _ = try_backend("cuda")
            return ("cpu", "cuda") if gpu is not None else ("cpu",)
        acts = []
        for a in activities:
            name = str(getattr(a, "value", a)).lower().rsplit(".", 1)[-1]
            if name not in ("cpu", "cuda"):
                raise ValueError(f"profile: unknown activity {a!r}; use ProfilerActivity.CPU "
                                 "or ProfilerActivity.CUDA")
            if name == "cuda":
                gpu, why = try_backend("cuda")
                if gpu is None:
                    raise DeviceError(
                        f"profile: CUDA activity requested but this machine has no usable "
                        f"GPU ({why}). Profile with activities=[ProfilerActivity.CPU]")
            acts.append(name)
        return tuple(dict.fromkeys(acts))

    # ------------------------------------------------------------------ the block
    def __enter__(self):
        if self._active:
            raise RuntimeError("profile: this profiler is already recording")
        if state.profiler is not None:
            raise RuntimeError("profile: another profiler is recording in this thread; "
                               "nest record blocks inside one profile instead")
        self._thread = threading.get_ident()
        self._active = True
        state.profiler = self
        push_hook(self._hook)
        self.start_ns = _now()
        return self

    def __exit__(self, *exc):
        self.stop_ns = _now()
        pop_hook(self._hook)
        state.profiler = None
        self._active = False
        self._node_mod.clear()
        self._mods.clear()
        return False

    # ------------------------------------------------------------------ taps
    def _synchronize(self, values) -> None:
        """Wait for the device of the first array among ``values`` (CUDA runs async)."""
        for v in values:
            cls = (v.data if isinstance(v, Tensor) else v).__class__
            if cls in _BY_TYPE:
                fn = self._sync.get(cls)
                if fn is None:
                    fn = self._sync[cls] = getattr(_BY_TYPE[cls], "synchronize", None) or _noop
                fn()
                return

    def _module(self):
        return self._mods[-1][1:] if self._mods else (None, None)

    def _on_op(self, op, args, attrs, call):
        if self._depth:  # an op inside a recorded vjp (create_graph): counted in that vjp
            return call(op, args, attrs)
        sync = self._gpu
        if sync:
            self._synchronize(args)
        t0 = _now()
        out = call(op, args, attrs)
        if sync:
            self._synchronize(args)
        t1 = _now()
        outs = out if isinstance(out, tuple) else (out,)
        mod = self._module()
        node = outs[0]._node
        if node is not None and self._mods:
            self._node_mod[id(node)] = mod
        alloc = 0 if op.is_view or not self.profile_memory else sum(o.data.nbytes for o in outs)
        self._ops.append((op, "forward", t0, t1, mod, _specs(args), _specs(outs), attrs,
                          None, alloc))
        return out

    def run_vjp(self, node, F, g, out, vals):
        """Run and time ``node``'s vjp (called by the autograd engine while profiling)."""
        op = node.op
        needs = tuple(e is not None for e in node.edges)
        sync = self._gpu
        if sync:
            self._synchronize(vals)
        self._depth += 1
        t0 = _now()
        try:
            if op.wants_needs:
                grads = op.vjp(F, g, out, *vals, needs=needs, **node.attrs)
            else:
                grads = op.vjp(F, g, out, *vals, **node.attrs)
            if sync:
                self._synchronize(grads)
        finally:
            t1 = _now()
            self._depth -= 1
        gs = g if isinstance(g, tuple) else (g,)
        alloc = sum(_nbytes(gi) for gi in grads if gi is not None) if self.profile_memory else 0
        mod = self._node_mod.get(id(node), (None, None))
        self._ops.append((op, "backward", t0, t1, mod, _specs(vals), _specs(gs), node.attrs,
                          needs, alloc))
        return grads

    def module_forward(self, module, args, kwargs):
        """Run ``module.forward`` with its path on the module stack (called by Module)."""
        mods = self._mods
        if not self.with_modules or threading.get_ident() != self._thread:
            return module.forward(*args, **kwargs)
        cls = type(module).__name__
        if mods:
            parent, ppath, _ = mods[-1]
            name = next((k for k, m in parent._modules.items() if m is module), cls)
            path = f"{ppath}.{name}"
        else:
            path = cls
        mods.append((module, path, cls))
        try:
            return module.forward(*args, **kwargs)
        finally:
            mods.pop()

    def data_iterator(self, it):
        """``it`` (a DataLoader iterator) timing each batch it is asked for."""
        if threading.get_ident() != self._thread:
            return it
        return _TimedIterator(it, self)

    @property
    def pid(self) -> int:
        return os.getpid()
