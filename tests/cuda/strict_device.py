"""A stand-in GPU for CPU machines: NumPy arrays that refuse to mix with host arrays, as CuPy's do.

CuPy raises ``TypeError`` when a NumPy array meets a CuPy array in an operation. An op whose
forward or gradient builds a host array (``np.zeros`` where ``xp.zeros`` was meant, a NumPy
random mask, a NumPy index) therefore works on the CPU and breaks on the GPU. ``StrictArray``
reproduces that rule on the CPU: a ufunc or array function that receives both a
``StrictArray`` and a plain ``ndarray`` (of any dimension) raises; results of operations on
``StrictArray`` s are ``StrictArray`` s again. ``strict_cuda()`` registers it as the "cuda"
backend for a block, so the op table can run "on CUDA" here.
"""

from __future__ import annotations

import contextlib

import numpy as np


class HostDeviceMixError(TypeError):
    pass


def _host(x) -> bool:
    return isinstance(x, np.ndarray) and not isinstance(x, StrictArray)


def _plain(x):
    if isinstance(x, StrictArray):
        return x.view(np.ndarray)
    if isinstance(x, (list, tuple)):
        return type(x)(_plain(v) for v in x)
    return x


def _wrap(x):
    if isinstance(x, np.ndarray):
        return x.view(StrictArray)
    if isinstance(x, np.generic):  # CuPy returns 0-d device arrays, not host scalars
        return np.asarray(x).view(StrictArray)
    if isinstance(x, tuple):
        return tuple(_wrap(v) for v in x)
    if isinstance(x, list):
        return [_wrap(v) for v in x]
    return x


def _any_host(objs) -> bool:
    for o in objs:
        if _host(o):
            return True
        if isinstance(o, (list, tuple)) and _any_host(o):
            return True
    return False


class StrictArray(np.ndarray):
    """A "device" array: NumPy underneath, but never mixed with host ndarrays."""

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        if _any_host(inputs) or (out is not None and _any_host(out)):
            raise HostDeviceMixError(f"{ufunc.__name__}.{method}: a host NumPy array met a "
                                     "device array (CuPy would raise here)")
        if out is not None:
            kwargs["out"] = tuple(_plain(o) for o in out)
        for k in ("where",):
            if k in kwargs:
                if _host(kwargs[k]):
                    raise HostDeviceMixError(f"{ufunc.__name__}: host 'where' mask")
                kwargs[k] = _plain(kwargs[k])
        res = getattr(ufunc, method)(*(_plain(i) for i in inputs), **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _wrap(res)

    def __array_function__(self, func, types, args, kwargs):
        if _any_host(args) or _any_host(kwargs.values()):
            raise HostDeviceMixError(f"{func.__name__}: a host NumPy array met a device array "
                                     "(CuPy would raise here)")
        res = func(*(_plain(a) for a in args), **{k: _plain(v) for k, v in kwargs.items()})
        return _wrap(res)

    def get(self) -> np.ndarray:
        """The host copy (CuPy's ``.get()``)."""
        return np.array(self.view(np.ndarray))


class _StrictXP:
    """NumPy's namespace whose functions make ``StrictArray`` s (a CuPy stand-in)."""

    __name__ = "strict"  # as cupy.__name__ differs from numpy's (caches key on it)

    def __getattr__(self, name):
        obj = getattr(np, name)
        if isinstance(obj, np.ufunc) or not callable(obj) or isinstance(obj, type):
            return obj

        def call(*args, **kwargs):
            return _wrap(obj(*args, **kwargs))

        call.__name__ = name
        return call

    @property
    def ogrid(self):
        return _Grid(np.ogrid)

    @property
    def mgrid(self):
        return _Grid(np.mgrid)

    @property
    def linalg(self):
        return _Sub(np.linalg)

    @property
    def lib(self):
        return np.lib

    @property
    def random(self):
        return _Sub(np.random)


class _Grid:
    def __init__(self, grid):
        self._grid = grid

    def __getitem__(self, key):
        return _wrap(self._grid[key])


class _Sub:
    def __init__(self, mod):
        self._mod = mod

    def __getattr__(self, name):
        obj = getattr(self._mod, name)
        if not callable(obj):
            return obj

        def call(*args, **kwargs):
            return _wrap(obj(*(_plain(a) for a in args), **kwargs))

        return call


@contextlib.contextmanager
def strict_cuda():
    """Register ``StrictArray`` as the "cuda" backend for the block."""
    import ember
    from ember import backend as B

    backend = B.Backend("strict", _StrictXP(), StrictArray)
    backend.device = ember.device("cuda:0")
    saved = dict(B._BY_DEVICE_TYPE)
    B.register_backend(backend, "cuda")
    try:
        yield backend
    finally:
        B._BY_TYPE.pop(StrictArray, None)
        B._BY_DEVICE_TYPE.clear()
        B._BY_DEVICE_TYPE.update(saved)
        from ember.autograd import engine

        engine._RAW_BY_TYPE.pop(StrictArray, None)
