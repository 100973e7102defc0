"""LeNet-5 (LeCun et al., 1998) with ReLU and max pooling, as in PyTorch's tutorial network."""

from __future__ import annotations

from ... import nn
from ...errors import ShapeError
from ...nn import functional as F
from ._common import ZooError, check_dropout, check_positive

__all__ = ["LeNet5", "lenet5"]


class LeNet5(nn.Module):
    """LeNet-5: two 5x5 convolutions with pooling, then three fully connected layers.

    The parameter names (``conv1``, ``conv2``, ``fc1``, ``fc2``, ``fc3``) are those of
    PyTorch's tutorial LeNet, so its state dicts load one to one.

    Args:
        num_classes: the size of the output.
        in_channels: channels of the input images.
        dropout: dropout before ``fc2`` and ``fc3`` (0 disables it, as in the original).

    Shape:
        ``(N, in_channels, 32, 32)`` -> ``(N, num_classes)`` (logits).

    Example:
        >>> import ember
        >>> from ember.zoo import LeNet5
        >>> LeNet5()(ember.randn(2, 1, 32, 32)).shape
        (2, 10)
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        check_positive("LeNet5", num_classes=num_classes, in_channels=in_channels)
        check_dropout("LeNet5", dropout)
        self.conv1 = nn.Conv2d(in_channels, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        if x.ndim != 4 or tuple(x.shape[2:]) != (32, 32):
            raise ShapeError(f"LeNet5 takes (N, C, 32, 32) images, got shape {tuple(x.shape)}; "
                             "resize or pad the input to 32x32 (8x8 digits: repeat each pixel "
                             "4 times along both axes)")
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        x = F.relu(self.fc2(self.dropout(x)))
        return self.fc3(self.dropout(x))


def lenet5(pretrained: bool = False, **kwargs) -> LeNet5:
    """A LeNet-5; ``pretrained=True`` loads the weights ember ships, trained on digits.

    The shipped weights were trained on scikit-learn's 8x8 digits, each pixel repeated 4x4
    times to make 32x32 images (see ``ember zoo info lenet5`` for the model card).

    Args:
        pretrained: load the shipped weights (offline; 10 classes, 1 input channel).
        **kwargs: ``num_classes``, ``in_channels``, ``dropout`` (see ``LeNet5``).

    Example:
        >>> import ember
        >>> model = ember.zoo.lenet5(pretrained=True).eval()
        >>> model(ember.zeros(1, 1, 32, 32)).shape
        (1, 10)
    """
    if pretrained and (kwargs.get("num_classes", 10), kwargs.get("in_channels", 1)) != (10, 1):
        raise ZooError(f"lenet5: the shipped weights have 10 classes and 1 input channel, got "
                       f"num_classes={kwargs.get('num_classes', 10)}, in_channels="
                       f"{kwargs.get('in_channels', 1)}; load them with the defaults, then "
                       "swap the last layer with ember.zoo.replace_head(model, num_classes)")
    model = LeNet5(**kwargs)
    if pretrained:
        from ..pretrained import load_shipped

        load_shipped(model, "lenet5")
    return model
