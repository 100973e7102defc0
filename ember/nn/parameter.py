"""``Parameter``: a tensor that a ``Module`` registers as one of its learnable weights.

Assigning a ``Parameter`` to a module attribute registers it, so it appears in
``module.parameters()`` and in the state dict. A parameter is a leaf tensor that requires
gradients (unless told otherwise); operations on it return plain tensors.

Example:
    >>> import ember
    >>> w = ember.nn.Parameter(ember.zeros(2))
    >>> w.requires_grad, w.is_leaf
    (True, True)
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor

__all__ = ["Parameter", "Buffer"]


class Parameter(Tensor):
    """A learnable tensor of a module: a leaf that requires grad.

    Args:
        data: a tensor (its memory is shared), an array or nested lists; ``None`` gives an
            empty float32 tensor.
        requires_grad: whether the parameter requires gradients (default True).

    Example:
        >>> import ember
        >>> p = ember.nn.Parameter(ember.ones(2))
        >>> p
        Parameter containing:
        tensor([1., 1.], requires_grad=True)
    """

    __slots__ = ()

    def __init__(self, data=None, requires_grad: bool = True) -> None:
        if data is None:
            arr, version = np.empty((0,), dtype=np.float32), None
        elif isinstance(data, Tensor):
            arr, version = data.data, data._version
        else:
            from ..ops.creation import tensor

            arr, version = tensor(data).data, None
        super().__init__(arr, False)
        if version is not None:
            self._version = version
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo: dict) -> Parameter:
        if id(self) in memo:
            return memo[id(self)]
        out = Parameter(Tensor(self.data.copy()), self._rg)
        if self.grad is not None:
            out.grad = Tensor(self.grad.data.copy())
        memo[id(self)] = out
        return out


class Buffer(Tensor):
    """A tensor that, assigned to a module attribute, registers as a (persistent) buffer.

    Args:
        data: a tensor (memory shared) or array-like.
        persistent: whether the buffer is part of the state dict.

    Example:
        >>> import ember
        >>> m = ember.nn.Module()
        >>> m.count = ember.nn.Buffer(ember.zeros(1))
        >>> list(m.state_dict())
        ['count']
    """

    __slots__ = ("persistent",)

    def __init__(self, data, *, persistent: bool = True) -> None:
        if isinstance(data, Tensor):
            super().__init__(data.data, False)
            self._version = data._version
        else:
            from ..ops.creation import tensor

            super().__init__(tensor(data).data, False)
        self.persistent = persistent
