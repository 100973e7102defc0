"""Interop with the Python array ecosystem: DLPack, NumPy's protocols, notebook reprs.

This package attaches the protocol methods to ``Tensor`` (as ``ember/ops/methods.py``
attaches the operators): ``__dlpack__``, ``__dlpack_device__``, ``__array_ufunc__``,
``__array_function__``, ``_repr_html_`` (and ``Module._repr_html_``). ``ember.from_dlpack``
is the import side. See ``docs/interop.md``.
"""

from __future__ import annotations

from ..nn.module import Module
from ..tensor import Tensor
from .dlpack import from_dlpack, tensor_dlpack, tensor_dlpack_device
from .html import module_html, tensor_html
from .numpy_protocols import FUNCTIONS, UFUNCS, tensor_array_function, tensor_array_ufunc

Tensor.__dlpack__ = tensor_dlpack
Tensor.__dlpack_device__ = tensor_dlpack_device
Tensor.__array_ufunc__ = tensor_array_ufunc
Tensor.__array_function__ = tensor_array_function
Tensor._repr_html_ = tensor_html
Module._repr_html_ = module_html

__all__ = ["FUNCTIONS", "UFUNCS", "from_dlpack"]
