"""ember: a small deep-learning framework on NumPy, with PyTorch's names.

Example:
    >>> import ember
    >>> x = ember.randn(4, 3, requires_grad=True)
    >>> loss = (x @ ember.ones(3, 2)).relu().mean()
    >>> loss.backward()
    >>> x.grad.shape
    (4, 3)
"""

from __future__ import annotations

from . import (
    autograd,
    data,  # noqa: E402
    dtypes,
    io,  # noqa: E402
    linalg,
    nn,  # noqa: E402
    ops,
    optim,  # noqa: E402
)
from .autograd import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from .device import device
from .dtypes import (
    DType,
    bfloat16,
    float16,
    float32,
    float64,
    int8,
    int16,
    int32,
    int64,
    result_type,
    uint8,
)
from .dtypes import bool_ as bool  # noqa: A001 - PyTorch's name
from .io import load, save  # noqa: E402
from . import graph, static, onnx  # noqa: E402
from . import zoo  # noqa: E402 - model zoo, shipped weights, weight import
from . import vision  # noqa: E402 - torchvision.ops: nms, roi_align, deform_conv2d
from . import distributed  # noqa: E402 - MPI/NCCL data parallelism (mpi4py imported on init)
from .graph import jit  # noqa: E402
from . import amp, backends, cuda  # noqa: E402 - GPU (CuPy, loaded lazily) and mixed precision
from .memory_format import (  # noqa: E402
    channels_last,
    contiguous_format,
    memory_format,
    preserve_format,
)
from . import profiler, utils  # noqa: E402 - profiler, summary, benchmark_device
from .interop import from_dlpack  # noqa: E402 - also attaches DLPack/NumPy protocols
from .ops import *  # noqa: F403 - the op functions are ember's top-level API
from .ops import __dict__ as _ops_dict
from .random import (
    Generator,
    default_generator,
    get_rng_state,
    initial_seed,
    manual_seed,
    seed,
    set_rng_state,
)
from .tensor import Tensor

__version__ = "0.1.0"

half = float16
float = float32  # noqa: A001
double = float64
long = int64
int = int32  # noqa: A001
short = int16

_public_ops = [k for k in _ops_dict if not k.startswith("_")]


def is_tensor(obj) -> bool:
    """True for ember tensors."""
    return isinstance(obj, Tensor)


def numel(x) -> int:
    return x.numel()
