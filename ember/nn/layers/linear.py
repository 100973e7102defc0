"""Linear layers: ``Identity``, ``Linear``, ``Bilinear``.

Example:
    >>> import ember
    >>> layer = ember.nn.Linear(4, 2)
    >>> layer(ember.randn(3, 4)).shape
    (3, 2)
"""

from __future__ import annotations

import math

from ...autograd.node import apply
from ...ops import creation
from ...ops import nn_ops as F
from .. import init
from ..module import Module, layer_error
from ..parameter import Parameter

__all__ = ["Identity", "Linear", "Bilinear"]


class Identity(Module):
    """Returns its input unchanged (arguments are accepted and ignored).

    Example:
        >>> import ember
        >>> ember.nn.Identity(54, unused="x")(ember.ones(2)).shape
        (2,)
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()

    def forward(self, input):
        return input


class Linear(Module):
    """``y = x @ weight.T + bias``.

    Args:
        in_features: size of each input sample (the last dimension).
        out_features: size of each output sample.
        bias: whether to learn an additive bias.
        device, dtype: where and how the parameters are created.

    Shape:
        input (*, in_features) -> output (*, out_features).

    Weights start as PyTorch's: kaiming-uniform with ``a = sqrt(5)`` (U(-1/sqrt(in),
    1/sqrt(in))), and the bias U(-1/sqrt(in), 1/sqrt(in)).

    Example:
        >>> import ember
        >>> ember.nn.Linear(20, 30)
        Linear(in_features=20, out_features=30, bias=True)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device=None, dtype=None) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(creation.empty(out_features, in_features, dtype=dtype,
                                               device=device))
        if bias:
            self.bias = Parameter(creation.empty(out_features, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw the weights again from the default initialisation."""
        init._default_weight_and_bias_(self.weight, self.bias)

    def forward(self, input):
        params = self._parameters
        weight = params["weight"]
        shape = input.data.shape
        if not shape or shape[-1] != self.in_features:
            raise layer_error(self, f"expected input with last dimension {self.in_features}, "
                              f"got shape {tuple(shape)}")
        if input.data.dtype != weight.data.dtype:
            F._check_same_dtype(self._get_name(), input, weight)
        return apply(F.Linear, input, weight, params["bias"])

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Bilinear(Module):
    """``y = x1^T A x2 + b`` for each output feature.

    Args:
        in1_features, in2_features: sizes of the two inputs.
        out_features: size of the output.
        bias: whether to learn an additive bias.

    Shape:
        input1 (*, in1), input2 (*, in2) -> (*, out).

    Example:
        >>> import ember
        >>> m = ember.nn.Bilinear(3, 2, 4)
        >>> m(ember.randn(5, 3), ember.randn(5, 2)).shape
        (5, 4)
    """

    def __init__(self, in1_features: int, in2_features: int, out_features: int,
                 bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        self.in1_features = in1_features
        self.in2_features = in2_features
        self.out_features = out_features
        self.weight = Parameter(creation.empty(out_features, in1_features, in2_features,
                                               dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(creation.empty(out_features, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """U(-1/sqrt(in1), 1/sqrt(in1)) for weight and bias, as PyTorch."""
        bound = 1 / math.sqrt(self.weight.shape[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        if input1.shape[-1:] != (self.in1_features,) or input2.shape[-1:] != (self.in2_features,):
            raise layer_error(self, f"expected inputs with last dimensions {self.in1_features} "
                              f"and {self.in2_features}, got shapes {tuple(input1.shape)} and "
                              f"{tuple(input2.shape)}")
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")
