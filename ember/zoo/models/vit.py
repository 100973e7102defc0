"""Vision Transformer (Dosovitskiy et al., 2020) with torchvision's module names
(``conv_proj``, ``class_token``, ``encoder.layers.encoder_layer_N``, ``heads.head``)."""

from __future__ import annotations

import math
from collections import OrderedDict

from ... import nn
from ...errors import ShapeError
from ...ops.creation import zeros
from ...ops.shape import concat
from ._common import ZooError, check_dropout, check_positive

__all__ = ["VisionTransformer", "EncoderBlock", "vit_tiny", "vit_b_16"]


class MLPBlock(nn.Sequential):
    """Linear, GELU, dropout, linear, dropout (children ``0`` ... ``4``)."""

    def __init__(self, dim: int, mlp_dim: int, dropout: float) -> None:
        super().__init__(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Dropout(dropout),
                         nn.Linear(mlp_dim, dim), nn.Dropout(dropout))


class EncoderBlock(nn.Module):
    """A pre-norm transformer block: ``x + attention(ln_1(x))``, then ``x + mlp(ln_2(x))``."""

    def __init__(self, num_heads: int, hidden_dim: int, mlp_dim: int, dropout: float,
                 attention_dropout: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.ln_1 = nn.LayerNorm(hidden_dim, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(hidden_dim, num_heads,
                                                    dropout=attention_dropout, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.ln_2 = nn.LayerNorm(hidden_dim, eps=1e-6)
        self.mlp = MLPBlock(hidden_dim, mlp_dim, dropout)

    def forward(self, x):
        y = self.ln_1(x)
        y = self.self_attention(y, y, y, need_weights=False)[0]
        x = x + self.dropout(y)
        return x + self.mlp(self.ln_2(x))


class Encoder(nn.Module):
    """Position embedding, dropout, the blocks, a final layer norm ``ln``."""

    def __init__(self, seq_length: int, num_layers: int, num_heads: int, hidden_dim: int,
                 mlp_dim: int, dropout: float, attention_dropout: float) -> None:
        super().__init__()
        self.pos_embedding = nn.Parameter(_empty(seq_length, hidden_dim))
        nn.init.normal_(self.pos_embedding, std=0.02)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.Sequential(OrderedDict(
            (f"encoder_layer_{i}", EncoderBlock(num_heads, hidden_dim, mlp_dim, dropout,
                                                attention_dropout))
            for i in range(num_layers)))
        self.ln = nn.LayerNorm(hidden_dim, eps=1e-6)

    def forward(self, x):
        return self.ln(self.layers(self.dropout(x + self.pos_embedding)))


def _empty(seq_length: int, hidden_dim: int):
    return zeros(1, seq_length, hidden_dim)


class VisionTransformer(nn.Module):
    """A ViT: patches embedded by a strided convolution, a class token, a transformer
    encoder, a linear head on the class token.

    Args:
        image_size: the (square) input size; a multiple of ``patch_size``.
        patch_size: the side of each patch.
        num_layers, num_heads, hidden_dim, mlp_dim: the encoder's depth and widths.
        dropout: dropout after the embedding, attention and MLP blocks.
        attention_dropout: dropout on the attention weights.
        num_classes: the size of the output.
        in_channels: channels of the input images.

    Shape:
        ``(N, in_channels, image_size, image_size)`` -> ``(N, num_classes)`` (logits).

    Example:
        >>> import ember
        >>> from ember.zoo import vit_tiny
        >>> vit_tiny(num_classes=10)(ember.randn(2, 3, 32, 32)).shape
        (2, 10)
    """

    def __init__(self, image_size: int, patch_size: int, num_layers: int, num_heads: int,
                 hidden_dim: int, mlp_dim: int, dropout: float = 0.0,
                 attention_dropout: float = 0.0, num_classes: int = 1000,
                 in_channels: int = 3) -> None:
        super().__init__()
        check_positive("VisionTransformer", image_size=image_size, patch_size=patch_size,
                       num_layers=num_layers, num_heads=num_heads, hidden_dim=hidden_dim,
                       mlp_dim=mlp_dim, num_classes=num_classes, in_channels=in_channels)
        check_dropout("VisionTransformer", dropout)
        check_dropout("VisionTransformer", attention_dropout)
        if image_size % patch_size:
            raise ZooError(f"VisionTransformer: image_size {image_size} is not a multiple of "
                           f"patch_size {patch_size}")
        if hidden_dim % num_heads:
            raise ZooError(f"VisionTransformer: hidden_dim {hidden_dim} is not divisible by "
                           f"num_heads {num_heads}")
        self.image_size, self.patch_size, self.hidden_dim = image_size, patch_size, hidden_dim
        self.conv_proj = nn.Conv2d(in_channels, hidden_dim, kernel_size=patch_size,
                                   stride=patch_size)
        self.class_token = nn.Parameter(_empty(1, hidden_dim))
        seq_length = (image_size // patch_size) ** 2 + 1
        self.encoder = Encoder(seq_length, num_layers, num_heads, hidden_dim, mlp_dim, dropout,
                               attention_dropout)
        self.heads = nn.Sequential(OrderedDict(head=nn.Linear(hidden_dim, num_classes)))
        fan_in = in_channels * patch_size * patch_size
        nn.init.trunc_normal_(self.conv_proj.weight, std=math.sqrt(1 / fan_in))
        nn.init.zeros_(self.conv_proj.bias)
        nn.init.zeros_(self.heads.head.weight)
        nn.init.zeros_(self.heads.head.bias)

    def forward(self, x):
        n, _, h, w = x.shape
        if (h, w) != (self.image_size, self.image_size):
            raise ShapeError(f"VisionTransformer was built for {self.image_size}x"
                             f"{self.image_size} images, got {h}x{w} (input shape "
                             f"{tuple(x.shape)}); resize the input or build the model with "
                             f"image_size={h}")
        x = self.conv_proj(x).reshape(n, self.hidden_dim, -1).permute(0, 2, 1)
        x = concat([self.class_token.expand(n, -1, -1), x], dim=1)
        return self.heads(self.encoder(x)[:, 0])


def vit_tiny(**kwargs) -> VisionTransformer:
    """A small ViT for 32x32 images: patches of 4, 6 layers, 4 heads, width 128, MLP 256.

    Keyword arguments override any ``VisionTransformer`` argument.
    """
    cfg = {"image_size": 32, "patch_size": 4, "num_layers": 6, "num_heads": 4,
           "hidden_dim": 128, "mlp_dim": 256}
    return VisionTransformer(**{**cfg, **kwargs})


def vit_b_16(**kwargs) -> VisionTransformer:
    """ViT-B/16 (torchvision's ``vit_b_16``): 224x224, patches of 16, 12 layers of width 768."""
    cfg = {"image_size": 224, "patch_size": 16, "num_layers": 12, "num_heads": 12,
           "hidden_dim": 768, "mlp_dim": 3072}
    return VisionTransformer(**{**cfg, **kwargs})
