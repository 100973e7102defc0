"""``ember.io``: checkpoints and weight files in the safetensors format, never pickle.

``save``/``load`` keep nested structures (state dicts, optimiser state, RNG state, epoch
counters); ``save_safetensors``/``load_safetensors`` read and write flat weight files that
other safetensors tools open too. Every write is atomic. ``load`` also reads PyTorch
``.pt``/``.pth`` files, without PyTorch and without running their code (``ember.io.pth``);
``ember.io.formats.read_weights`` reads Keras ``.h5`` and ONNX weights too.

Example:
    >>> import ember, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "ckpt.safetensors")
    >>> w = ember.randn(3, requires_grad=True)
    >>> opt = ember.optim.SGD([w], lr=0.1, momentum=0.9)
    >>> ember.io.save({"w": w, "opt": opt.state_dict(), "rng": ember.get_rng_state()}, path)
    >>> sorted(ember.io.load(path))
    ['opt', 'rng', 'w']
"""

from __future__ import annotations

from .checkpoint import load, load_safetensors, save, save_safetensors
from .pth import UnsafeCheckpointError, read_pth
from .safetensors_io import CheckpointError

__all__ = ["save", "load", "save_safetensors", "load_safetensors", "CheckpointError",
           "UnsafeCheckpointError", "read_pth"]
