"""Memory formats (PyTorch's ``torch.channels_last``): how a 4-d tensor's elements lie in memory.

An (N, C, H, W) tensor is indexed the same way in either format; ``channels_last`` stores it
as (N, H, W, C), the layout tensor cores (cuDNN's NHWC kernels) and ember's CPU convolution
kernels work in. Convolutions, pooling and batch norm keep the format of their input, so
converting the input (and the model's weights, ``model.to(memory_format=...)``) once puts
a whole network in it.

Example:
    >>> import ember
    >>> x = ember.randn(2, 3, 4, 5).contiguous(memory_format=ember.channels_last)
    >>> x.shape, x.is_contiguous(memory_format=ember.channels_last)
    ((2, 3, 4, 5), True)
    >>> x.is_contiguous()
    False
"""

from __future__ import annotations

from .errors import ShapeError


class memory_format:  # noqa: N801 - PyTorch's name
    """A memory format: ``ember.contiguous_format``, ``ember.channels_last`` or
    ``ember.preserve_format``."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"ember.{self.name}"


contiguous_format = memory_format("contiguous_format")
channels_last = memory_format("channels_last")
preserve_format = memory_format("preserve_format")


def _check(fmt, where: str) -> None:
    if not isinstance(fmt, memory_format):
        raise TypeError(f"{where}: memory_format must be ember.contiguous_format, "
                        f"ember.channels_last or ember.preserve_format, got {fmt!r}")


def is_contiguous(t, memory_format: memory_format = contiguous_format) -> bool:
    """Whether ``t``'s memory is packed in ``memory_format``."""
    _check(memory_format, "is_contiguous")
    d = t.data
    if memory_format is channels_last:
        return d.ndim == 4 and d.transpose(0, 2, 3, 1).flags.c_contiguous
    return bool(d.flags.c_contiguous)


def contiguous(t, memory_format: memory_format = contiguous_format):
    """``t`` with its memory packed in ``memory_format`` (``t`` itself if it already is).

    Differentiable: the copy is made of ember ops (a permutation, a copy, the inverse
    permutation), so gradients flow through it.
    """
    _check(memory_format, "contiguous")
    if memory_format is preserve_format or is_contiguous(t, memory_format):
        return t
    from .ops import clone, permute

    if memory_format is channels_last:
        if t.ndim != 4:
            raise ShapeError(f"contiguous: channels_last needs a 4-d (N, C, H, W) tensor, got "
                             f"shape {tuple(t.shape)}; use it for images and conv weights")
        return permute(clone(permute(t, (0, 2, 3, 1))), (0, 3, 1, 2))
    return clone(t)  # a C-ordered copy
