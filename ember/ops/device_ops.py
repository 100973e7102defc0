"""Moving tensors between devices (differentiable: the gradient moves back)."""

from __future__ import annotations

from ..autograd.node import apply
from ..backend import backend_of, get_backend
from ..device import device as _device
from ..tensor import Tensor
from .registry import Op, copy_cost, register


@register
class ToDevice(Op):
    uses_input_values = False  # the vjp needs only shapes

    cost = copy_cost

    def forward(xp, x, device):
        return get_backend(device).move_in(x, device)  # cuda:N: the backend picks the GPU

    def vjp(F, g, out, x, device):
        if isinstance(x, Tensor):
            source = x.device
        else:
            b = backend_of(x)
            source = b.device_of(x) if b.multi_device else b.device
        return (F.to_device(g, device=str(source)),)


def to_device(x, device):
    """``x`` on ``device`` (the same tensor if it is already there)."""
    d = _device(device)
    if x.device == d:
        return x
    return apply(ToDevice, x, device=str(d))
