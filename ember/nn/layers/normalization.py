"""Normalisation layers: ``BatchNorm1d/2d/3d``, ``LayerNorm``, ``GroupNorm``, ``RMSNorm``,
``LocalResponseNorm``.

Example:
    >>> import ember
    >>> bn = ember.nn.BatchNorm2d(3)
    >>> bn(ember.randn(4, 3, 5, 5)).shape
    (4, 3, 5, 5)
    >>> bn.num_batches_tracked
    tensor(1)
"""

from __future__ import annotations

from ...autograd.grad_mode import no_grad
from ...ops import creation, normalization_more
from ...ops import nn_ops as F
from .. import init
from ..module import Module, layer_error
from ..parameter import Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "GroupNorm", "RMSNorm",
           "LocalResponseNorm"]


class _BatchNorm(Module):
    _dims: tuple = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None,
                 dtype=None, bias: bool = True) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        self.use_bias = affine and bias
        if affine:
            self.weight = Parameter(creation.empty(num_features, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)
        if self.use_bias:
            self.bias = Parameter(creation.empty(num_features, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", creation.zeros(num_features, dtype=dtype,
                                                                device=device))
            self.register_buffer("running_var", creation.ones(num_features, dtype=dtype,
                                                              device=device))
            self.register_buffer("num_batches_tracked", creation.tensor(0, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches tracked."""
        if self.track_running_stats:
            with no_grad():
                self.running_mean.zero_()
                self.running_var.fill_(1.0)
                self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """Reset the running statistics; weight ones and bias zeros."""
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input):
        shape = input.data.shape
        if len(shape) not in self._dims:
            want = " or ".join(f"{d}-D" for d in self._dims)
            raise layer_error(self, f"expected {want} input, got shape {tuple(shape)}")
        if shape[1] != self.num_features:
            raise layer_error(self, f"expected input with {self.num_features} channels "
                              f"(dimension 1), got shape {tuple(shape)}")
        factor = 0.0 if self.momentum is None else self.momentum
        buffers = self._buffers
        training = self.training
        if training and self.track_running_stats:
            tracked = buffers["num_batches_tracked"]
            if tracked is not None:
                with no_grad():
                    tracked.add_(1)
                if self.momentum is None:
                    factor = 1.0 / float(tracked.data)
        use_running = not training or self.track_running_stats
        running_mean = buffers["running_mean"] if use_running else None
        running_var = buffers["running_var"] if use_running else None
        batch_stats = training or (running_mean is None and running_var is None)
        params = self._parameters
        return F.batch_norm(input, running_mean, running_var, params["weight"], params["bias"],
                            batch_stats, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.use_bias}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L) input, per channel C.

    In training mode each channel is normalised by the batch mean and (biased) variance,
    and the running statistics move towards the batch ones by ``momentum`` (with the
    unbiased variance; ``momentum=None`` keeps a cumulative average). In evaluation mode
    the running statistics normalise. Then ``y = x_hat * weight + bias``.

    Args:
        num_features: C.
        eps: added to the variance for stability.
        momentum: the weight of the new batch in the running statistics (or None).
        affine: whether to learn weight and bias.
        track_running_stats: whether to keep running statistics (otherwise batch
            statistics are used in evaluation too).
    """

    _dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W) input, per channel (see ``BatchNorm1d``)."""

    _dims = (4,)


class BatchNorm3d(_BatchNorm):
    """Batch normalisation over (N, C, D, H, W) input, per channel (see ``BatchNorm1d``)."""

    _dims = (5,)


class LayerNorm(Module):
    """Normalise over the trailing ``normalized_shape`` dimensions of each sample.

    Args:
        normalized_shape: an int or the shape of the trailing dimensions.
        eps: added to the variance for stability.
        elementwise_affine: learn a weight (ones) and bias (zeros) of ``normalized_shape``.
        bias: learn the bias (when ``elementwise_affine``).

    Example:
        >>> import ember
        >>> ember.nn.LayerNorm(5)
        LayerNorm((5,), eps=1e-05, elementwise_affine=True, bias=True)
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(creation.ones(*self.normalized_shape, dtype=dtype,
                                                  device=device))
            if bias:
                self.bias = Parameter(creation.zeros(*self.normalized_shape, dtype=dtype,
                                                     device=device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        """Weight ones, bias zeros."""
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input):
        _check_trailing(self, input)
        params = self._parameters
        return F.layer_norm(input, self.normalized_shape, params["weight"], params["bias"],
                            self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class GroupNorm(Module):
    """Normalise groups of ``num_channels / num_groups`` channels of each sample.

    Args:
        num_groups: the number of groups (must divide ``num_channels``).
        num_channels: C.
        eps: added to the variance for stability.
        affine: learn a per-channel weight (ones) and bias (zeros).
        bias: learn the bias (when ``affine``).

    Shape:
        input (N, C, *) -> same shape.
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, device=None, dtype=None, bias: bool = True) -> None:
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups})")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        if affine:
            self.weight = Parameter(creation.ones(num_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)
        if affine and bias:
            self.bias = Parameter(creation.zeros(num_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        """Weight ones, bias zeros."""
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input):
        shape = input.data.shape
        if len(shape) < 2 or shape[1] != self.num_channels:
            raise layer_error(self, f"expected input (N, {self.num_channels}, *), got shape "
                              f"{tuple(shape)}")
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, "
                f"affine={self.affine}, bias={self.bias is not None}")


class RMSNorm(Module):
    """Root-mean-square normalisation over the trailing ``normalized_shape`` dimensions.

    Args:
        normalized_shape: an int or the shape of the trailing dimensions.
        eps: added to the mean square; None for ``finfo(input.dtype).eps``.
        elementwise_affine: learn a weight (ones) of ``normalized_shape``.

    Shape:
        input (*, *normalized_shape) -> same shape.

    Example:
        >>> import ember
        >>> norm = ember.nn.RMSNorm(4)
        >>> norm(ember.randn(2, 3, 4)).shape
        (2, 3, 4)
    """

    def __init__(self, normalized_shape, eps: float | None = None,
                 elementwise_affine: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(creation.ones(*self.normalized_shape, dtype=dtype,
                                                  device=device))
        else:
            self.register_parameter("weight", None)

    def reset_parameters(self) -> None:
        """Weight ones."""
        if self.weight is not None:
            init.ones_(self.weight)

    def forward(self, input):
        _check_trailing(self, input)
        return normalization_more.rms_norm(input, self.normalized_shape, self.weight,
                                           self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class LocalResponseNorm(Module):
    """Normalise each channel by the squares of its ``size`` neighbouring channels.

    Args:
        size: channels in each window; alpha, beta, k: ``x / (k + alpha * mean) ** beta``.

    Shape:
        input (N, C, *) -> same shape.

    Example:
        >>> import ember
        >>> ember.nn.LocalResponseNorm(2)(ember.randn(1, 4, 3, 3)).shape
        (1, 4, 3, 3)
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75,
                 k: float = 1.0) -> None:
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input):
        return normalization_more.local_response_norm(input, self.size, self.alpha, self.beta,
                                                      self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


def _check_trailing(layer, input) -> None:
    """Raise naming ``layer`` unless ``input`` ends in ``layer.normalized_shape``."""
    k = len(layer.normalized_shape)
    shape = tuple(input.data.shape)
    if shape[len(shape) - k:] != layer.normalized_shape or len(shape) < k:
        raise layer_error(layer, f"expected input with trailing dimensions "
                          f"{layer.normalized_shape}, got shape {shape}")
