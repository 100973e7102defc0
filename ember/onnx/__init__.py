"""ONNX interop: ``export`` ember models to ONNX (opset 17+) and ``load`` ONNX models back as
trainable ember modules. Needs the ``onnx`` package (``pip install onnx``).

Example:
    >>> import ember, ember.onnx
    >>> m = ember.nn.Linear(3, 2)
    >>> proto = ember.onnx.export(m, ember.ones(1, 3))
    >>> back = ember.onnx.load(proto)
    >>> bool(ember.allclose(back(ember.ones(1, 3)), m(ember.ones(1, 3))))
    True
"""

from __future__ import annotations

from .export import OPSET, export
from .load import OnnxModule, UnsupportedOnnxOps, load, supported_ops

__all__ = ["export", "load", "OnnxModule", "UnsupportedOnnxOps", "supported_ops", "OPSET"]
