"""Utilities around training: ``ember.utils.tensorboard`` (event files for TensorBoard),
``summary`` (per-layer shapes, parameters, FLOPs, activation memory) and
``benchmark_device`` (the machine's measured matmul GFLOP/s and memory bandwidth).

Subpackages are imported on use, so ``import ember`` does not pay for them.
"""

from .benchmark import benchmark_device  # noqa: E402
from .summary import summary  # noqa: E402
