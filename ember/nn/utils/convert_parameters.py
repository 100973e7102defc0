"""``parameters_to_vector`` and ``vector_to_parameters``: all parameters as one flat vector.

Example:
    >>> import ember
    >>> a, b = ember.ones(2, 2), ember.zeros(3)
    >>> v = ember.nn.utils.parameters_to_vector([a, b])
    >>> v
    tensor([1., 1., 1., 1., 0., 0., 0.])
    >>> ember.nn.utils.vector_to_parameters(v * 2, [a, b])
    >>> a
    tensor([[2., 2.],
            [2., 2.]])
"""

from __future__ import annotations

from collections.abc import Iterable

from ...autograd.grad_mode import no_grad
from ...errors import DeviceError, ShapeError
from ...ops.shape import concat, reshape
from ...tensor import Tensor

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def _check(params, name: str) -> list[Tensor]:
    if isinstance(params, Tensor):
        params = [params]
    params = list(params)
    device = None
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"{name}: parameter {i} is a {type(p).__name__}, not a tensor")
        if device is None:
            device = p.device
        elif p.device != device:
            raise DeviceError(f"{name}: found two parameters on different devices ({device} "
                              f"and {p.device} at position {i}); move them to one device")
    return params


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """Flatten and concatenate the parameters into one 1-d tensor (differentiable).

    Shape:
        Output: ``(N,)`` with ``N`` the total number of elements.
    """
    params = _check(parameters, "parameters_to_vector")
    if not params:
        raise ValueError("parameters_to_vector: got no parameters")
    return concat([reshape(p, -1) for p in params])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of the 1-d ``vec`` into the parameters, in place.

    ``vec`` must have exactly as many elements as the parameters together. The copy is not
    recorded by autograd.
    """
    if not isinstance(vec, Tensor):
        raise TypeError(f"vector_to_parameters: expected an ember Tensor for vec, got "
                        f"{type(vec).__name__}")
    params = _check(parameters, "vector_to_parameters")
    total = sum(p.numel() for p in params)
    if vec.ndim != 1 or vec.numel() != total:
        raise ShapeError(
            f"vector_to_parameters: vec has shape {tuple(vec.shape)} but the parameters have "
            f"{total} elements together; pass a 1-d tensor of {total} elements"
        )
    start = 0
    with no_grad():
        for p in params:
            n = p.numel()
            p.data[...] = vec.data[start:start + n].reshape(p.shape).astype(p.data.dtype,
                                                                            copy=False)
            p._version[0] += 1
            start += n
