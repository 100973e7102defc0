"""BatchNormalization and LayerNormalization over ember.nn's normalisation modules.

Keras's ``momentum`` is the weight of the old moving average (0.99); ember.nn's (PyTorch's)
is the weight of the new batch statistic, so the layer passes ``1 - momentum``. As in
PyTorch, the moving variance is updated with the unbiased batch variance (Keras uses the
biased one); the normalisation itself uses the biased variance in both.
"""

from __future__ import annotations

from ... import nn
from ...errors import ShapeError
from ...nn import functional as F
from .. import initializers
from .base import Layer
from .core import check_ndim

__all__ = ["BatchNormalization", "LayerNormalization"]


def _axis(axis: int, ndim: int) -> int:
    a = axis + ndim if axis < 0 else axis
    if not 0 < a < ndim:
        raise ShapeError(f"axis {axis} is not a feature axis of a {ndim}-D input")
    return a


class BatchNormalization(Layer):
    """Normalise each feature (along ``axis``) by batch statistics while training and by
    moving averages at inference; then scale by ``gamma`` and shift by ``beta``.

    Wraps ``ember.nn.BatchNorm1d``'s parameters and running statistics. A layer with
    ``trainable = False`` runs in inference mode (Keras's rule for fine-tuning).

    Args:
        axis: the feature axis (-1, the channels of channels-last images).
        momentum: weight of the old moving average (Keras's convention), 0.99.
        epsilon: added to the variance, 1e-3.
        center, scale: whether to learn ``beta`` and ``gamma``.

    Example:
        >>> import ember
        >>> from ember.keras import layers
        >>> bn = layers.BatchNormalization()
        >>> y = bn(ember.randn(8, 4, 4, 3), training=True)
        >>> y.shape, bn.count_params()
        ((8, 4, 4, 3), 12)
    """

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, beta_initializer="zeros",
                 gamma_initializer="ones", **kwargs) -> None:
        super().__init__(**kwargs)
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)

    def build(self, input_shape) -> None:
        check_ndim(input_shape, min_ndim=2)
        c = input_shape[_axis(self.axis, len(input_shape))]
        if c is None:
            raise ShapeError("the size of the normalised axis must be known")
        affine = self.center and self.scale
        self.bn = nn.BatchNorm1d(c, eps=self.epsilon, momentum=1.0 - self.momentum,
                                 affine=affine)
        if affine:
            self.gamma_initializer(self.bn.weight)
            self.beta_initializer(self.bn.bias)
        else:
            from ...ops.creation import empty

            if self.scale:
                self.gamma = nn.Parameter(empty(c))
                self.gamma_initializer(self.gamma)
            if self.center:
                self.beta = nn.Parameter(empty(c))
                self.beta_initializer(self.beta)

    def call(self, inputs, training=None):
        training = (self.training if training is None else training) and self._trainable
        axis = _axis(self.axis, inputs.ndim)
        x = inputs if axis == 1 else inputs.movedim(axis, 1)
        bn = self.bn
        y = F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias,
                         training=bool(training), momentum=bn.momentum, eps=bn.eps)
        y = y if axis == 1 else y.movedim(1, axis)
        if bn.weight is None:
            shape = [1] * inputs.ndim
            shape[axis] = -1
            if self.scale:
                y = y * self.gamma.reshape(shape)
            if self.center:
                y = y + self.beta.reshape(shape)
        return y

    def compute_output_shape(self, input_shape):
        check_ndim(input_shape, min_ndim=2)
        c = input_shape[_axis(self.axis, len(input_shape))]
        if c != self.bn.num_features:
            raise ShapeError(f"this layer was built for {self.bn.num_features} features on "
                             f"axis {self.axis}")
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer)}


class LayerNormalization(Layer):
    """Normalise each sample over its last axes (``axis``), then scale and shift.

    Wraps ``ember.nn.LayerNorm``. ``axis`` must name trailing axes (-1, or e.g. [-2, -1]).

    Example:
        >>> import ember
        >>> from ember.keras import layers
        >>> y = layers.LayerNormalization()(ember.tensor([[1.0, 2.0, 3.0]]))
        >>> [round(v, 3) for v in y[0].tolist()]
        [-1.224, 0.0, 1.224]
    """

    def __init__(self, axis=-1, epsilon: float = 1e-3, center: bool = True, scale: bool = True,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.axis = [int(axis)] if isinstance(axis, int) else [int(a) for a in axis]
        self.epsilon = float(epsilon)
        self.center, self.scale = bool(center), bool(scale)

    def _normalized_shape(self, input_shape) -> tuple:
        check_ndim(input_shape, min_ndim=2)
        n = len(input_shape)
        axes = sorted(_axis(a, n) for a in self.axis)
        if axes != list(range(n - len(axes), n)):
            raise ShapeError(f"axis {self.axis} must be the trailing axes of the input")
        shape = tuple(input_shape[a] for a in axes)
        if None in shape:
            raise ShapeError("the sizes of the normalised axes must be known")
        return shape

    def build(self, input_shape) -> None:
        shape = self._normalized_shape(input_shape)
        affine = self.center or self.scale
        self.norm = nn.LayerNorm(shape, eps=self.epsilon, elementwise_affine=affine,
                                 bias=self.center)
        if affine and not self.scale:
            self.norm.weight.requires_grad_(False)

    def call(self, inputs):
        return self.norm(inputs)

    def compute_output_shape(self, input_shape):
        if self._normalized_shape(input_shape) != tuple(self.norm.normalized_shape):
            raise ShapeError(f"this layer was built for trailing shape "
                             f"{tuple(self.norm.normalized_shape)}")
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale}
