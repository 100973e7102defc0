"""``autocast``: run chosen ops in float16/bfloat16, others in float32, per op, as PyTorch does.

Autocast stands between callers and ``apply`` through the dispatch hook
(``ember.autograd.dispatch``): one hook per thread, installed while any autocast block is
open, reads the innermost block's settings. For each op on a tensor of the block's device
type it applies the op's policy:

- ``lower``: float32 inputs are cast to the low dtype (matmul, linear, convolution, LSTM/GRU);
- ``fp32``: float16/bfloat16 inputs are cast to float32 (reductions, softmax, losses, norms,
  pointwise functions that lose accuracy: the CUDA list; the CPU list is PyTorch's shorter
  one, so that ``autocast("cpu", bfloat16)`` makes the same decisions as ``torch.autocast``);
- ``promote``: floating inputs are cast to the widest of them (concatenation, index_put …);
- other ops run on whatever dtypes they get.

float64 tensors are never cast. Casts of leaf tensors that require grad (the weights) are
cached for the outermost block, so a weight used by several ops is cast once per forward;
the cast is an ordinary differentiable op, so gradients reach the float32 weights (the
"master weights") in float32.
"""

from __future__ import annotations

import functools
import threading

import numpy as np

from .. import dtypes as _dt
from ..autograd.dispatch import pop_hook, push_hook
from ..backend import _BY_TYPE
from ..tensor import Tensor

# Lower precision on both device types (PyTorch's CUDA and CPU lists, by ember op name).
_LOWER = frozenset({"matmul", "linear", "conv2d", "conv_transpose2d", "conv2d_weight", "conv3d",
                    "conv_transpose3d", "conv3d_weight",
                    "einsum", "lstm_cell", "gru_cell", "lstm_layer", "lstm"})
# float32 under CUDA autocast (torch/csrc/autograd/autocast_mode.cpp, CUDA fp32 list).
_FP32_CUDA = frozenset({
    "exp", "expm1", "log", "log10", "log2", "log1p", "reciprocal", "rsqrt", "tan", "pow",
    "softplus", "layer_norm", "vector_norm", "logsumexp", "sum", "prod", "cumsum", "cumprod",
    "softmax", "log_softmax", "nll_loss", "cross_entropy", "binary_cross_entropy",
})  # batch_norm is on neither list: it takes float16 input with float32 statistics
# float32 under CPU autocast (PyTorch's CPU fp32 list: losses and linear algebra).
_FP32_CPU = frozenset({
    "prod", "nll_loss", "cross_entropy", "binary_cross_entropy", "det", "slogdet", "inv",
    "solve", "cholesky", "qr", "svd", "svdvals", "eig", "eigh", "eigvalsh", "pinv",
})
_PROMOTE = frozenset({"concat", "index_put", "scatter_add"})

POLICIES = {"cuda": (_LOWER, _FP32_CUDA, _PROMOTE), "cpu": (_LOWER, _FP32_CPU, _PROMOTE)}


class _Local(threading.local):
    def __init__(self) -> None:
        self.stack: list = []  # (device_type, np dtype, enabled) per open block
        self.cache: dict = {}  # id(leaf) -> (leaf, version, np dtype, cast tensor)


_local = _Local()


def _low_dtype(dtype):
    d = _dt.to_dtype(dtype)
    if d.name not in ("float16", "bfloat16"):
        raise TypeError(f"autocast: dtype must be ember.float16 or ember.bfloat16, got {d.name}")
    return d


class autocast:  # noqa: N801 - PyTorch's name; used as a block or a decorator
    """Mixed precision for the ops inside a block: low precision where it is safe and fast.

    Args:
        device_type: ``"cuda"`` or ``"cpu"``; only tensors on that device type are cast.
        dtype: ``ember.float16`` or ``ember.bfloat16`` (default: float16 on CUDA, bfloat16 on
            the CPU, as PyTorch).
        enabled: False turns autocast off inside the block (blocks nest).
        cache_enabled: cache the casts of weights (leaves that require grad) in the block.

    Example:
        >>> import ember
        >>> lin = ember.nn.Linear(4, 2)
        >>> with ember.amp.autocast("cpu", dtype=ember.bfloat16):
        ...     y = lin(ember.randn(3, 4))
        ...     p = ember.nn.functional.softmax(y.float(), dim=1)
        >>> y.dtype, p.dtype, lin.weight.dtype
        (ember.bfloat16, ember.float32, ember.float32)
    """

    def __init__(self, device_type: str = "cuda", dtype=None, enabled: bool = True,
                 cache_enabled: bool = True) -> None:
        if device_type not in POLICIES:
            raise ValueError(f"autocast: device_type must be 'cuda' or 'cpu', got "
                             f"{device_type!r}")
        if dtype is None:
            dtype = _dt.float16 if device_type == "cuda" else _dt.bfloat16
        self.device_type = device_type
        self.dtype = _low_dtype(dtype)
        self.enabled = bool(enabled)
        self.cache_enabled = bool(cache_enabled)

    def __enter__(self):
        if self.device_type == "cuda" and self.dtype.name == "bfloat16" and self.enabled:
            _check_cuda_bf16()
        st = _local.stack
        if not st:
            push_hook(_hook)
        st.append((self.device_type, self.dtype.np, self.enabled, self.cache_enabled))
        return self

    def __exit__(self, *exc):
        st = _local.stack
        st.pop()
        if not st:
            pop_hook(_hook)
            _local.cache.clear()
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with autocast(self.device_type, self.dtype, self.enabled, self.cache_enabled):
                return fn(*args, **kwargs)

        return wrapper


def _check_cuda_bf16() -> None:
    from ..backend import _BY_DEVICE_TYPE
    from ..errors import DTypeError

    b = _BY_DEVICE_TYPE.get("cuda")
    if b is not None and not b.bf16:
        raise DTypeError(f"autocast: bfloat16 is not supported on CUDA: {b.bf16_why}; use "
                         "dtype=ember.float16 with a GradScaler")


def is_autocast_enabled(device_type: str = "cuda") -> bool:
    """Whether the innermost open autocast block for ``device_type`` casts."""
    for dev, _, enabled, _ in reversed(_local.stack):
        if dev == device_type:
            return enabled
    return False


def get_autocast_dtype(device_type: str = "cuda"):
    """The low dtype of the innermost autocast block for ``device_type`` (None if none)."""
    for dev, dt, _, _ in reversed(_local.stack):
        if dev == device_type:
            return _dt.from_numpy_dtype(dt)
    return None


def _settings(device_type):
    for dev, dt, enabled, cache in reversed(_local.stack):
        if dev == device_type:
            return dt if enabled else None, cache
    return None, False


_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)


def _cast(t: Tensor, target, cache: bool) -> Tensor:
    from ..ops import astype

    if cache and t._rg and t._node is None:  # a weight: cast once per outermost block
        key = id(t)
        hit = _local.cache.get(key)
        if hit is not None and hit[0] is t and hit[1] == t._version[0] and hit[2] == target:
            return hit[3]
        out = astype(t, _dt.from_numpy_dtype(target), copy=False)
        _local.cache[key] = (t, t._version[0], target, out)
        return out
    return astype(t, _dt.from_numpy_dtype(target), copy=False)


def _hook(op, args, attrs, call):
    name = op.name
    dev = None
    for a in args:
        if isinstance(a, Tensor):
            dev = _BY_TYPE[a.data.__class__].device.type
            break
    if dev is None:
        return call(op, args, attrs)
    low, cache = _settings(dev)
    if low is None:
        return call(op, args, attrs)
    lower, fp32, promote = POLICIES[dev]
    if name in lower:
        args = tuple(_cast(a, low, cache) if isinstance(a, Tensor) and a.data.dtype == _F32
                     else a for a in args)
    elif name in fp32:
        args = tuple(_cast(a, _F32, False) if isinstance(a, Tensor) and
                     a.data.dtype.kind in "fV" and a.data.dtype.itemsize == 2 else a
                     for a in args)
    elif name in promote:
        floats = [a.dtype for a in args if isinstance(a, Tensor) and a.dtype.is_floating_point]
        if len({d.name for d in floats}) > 1:
            wide = floats[0]
            for d in floats[1:]:
                wide = _dt.result_type(wide, d)
            args = tuple(_cast(a, wide.np, False) if isinstance(a, Tensor) and
                         a.dtype.is_floating_point and a.dtype is not wide else a
                         for a in args)
    return call(op, args, attrs)


def fp32_inputs(*tensors):
    """``tensors`` with float16/bfloat16 ones cast to float32 when an autocast block for their
    device type is open (the composite losses call this: PyTorch runs losses in float32)."""
    out = []
    for t in tensors:
        if isinstance(t, Tensor) and t.data.dtype.itemsize == 2 and t.data.dtype.kind in "fV":
            low, _ = _settings(_BY_TYPE[t.data.__class__].device.type)
            if low is not None:
                t = _cast(t, _F32, False)
        out.append(t)
    return tuple(out)


def autocast_active(t: Tensor) -> bool:
    """Whether an enabled autocast block for ``t``'s device type is open in this thread."""
    if not _local.stack:
        return False
    return _settings(_BY_TYPE[t.data.__class__].device.type)[0] is not None
