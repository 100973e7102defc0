"""Attention: ``MultiheadAttention``, ``TransformerEncoderLayer``, ``TransformerEncoder``.

The parameters follow PyTorch's layout (``in_proj_weight`` (3E, E), ``in_proj_bias``,
``out_proj``; or ``q_proj_weight``/``k_proj_weight``/``v_proj_weight`` when key and value
sizes differ), so a PyTorch state dict loads as is.

Example:
    >>> import ember
    >>> mha = ember.nn.MultiheadAttention(8, 2, batch_first=True)
    >>> x = ember.randn(3, 5, 8)
    >>> out, weights = mha(x, x, x)
    >>> out.shape, weights.shape
    ((3, 5, 8), (3, 5, 5))
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

from ...errors import DTypeError
from ...ops import creation
from ...ops import elementwise as ew
from ...ops import nn_ops as F
from ...ops import reduce as rd
from ...ops import shape as sh
from ...ops.linalg import matmul
from ...tensor import Tensor
from .. import init
from ..containers import ModuleList
from ..module import Module, layer_error
from ..parameter import Parameter
from .dropout import Dropout
from .linear import Linear
from .normalization import LayerNorm

__all__ = ["MultiheadAttention", "TransformerEncoderLayer", "TransformerEncoder"]


class NonDynamicallyQuantizableLinear(Linear):
    """The output projection of ``MultiheadAttention`` (PyTorch's class name)."""


def _additive_mask(mask: Tensor, like: Tensor, name: str, module: Module) -> Tensor:
    """A boolean mask (True = masked out) as 0/-inf in ``like``'s dtype; floats pass through."""
    kind = mask.data.dtype.kind
    if kind == "b":
        return ew.where(mask, float("-inf"), creation.zeros((), dtype=like.dtype))
    if kind != "f":
        raise DTypeError(f"{module._get_name()}: {name} must be boolean (True = not attended) "
                         f"or floating (added to the scores), got {mask.dtype.name}")
    return mask.to(like.dtype)


class MultiheadAttention(Module):
    """Attention over ``num_heads`` heads of size ``embed_dim // num_heads``.

    Args:
        embed_dim: E, the model size (query size).
        num_heads: the number of heads (must divide E).
        dropout: dropout on the attention weights while training.
        bias: learn input/output projection biases.
        add_bias_kv: append a learned key and value to the sequences.
        add_zero_attn: append a zero key and value.
        kdim, vdim: key and value sizes (default E).
        batch_first: inputs are (N, L, E) instead of (L, N, E).

    Forward:
        ``mha(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
        average_attn_weights=True, is_causal=False)`` returns ``(output, weights)``;
        masks are boolean (True: not attended) or float (added to the scores);
        ``key_padding_mask`` is (N, S), ``attn_mask`` (L, S) or (N * num_heads, L, S).
        ``weights`` is (N, L, S) averaged over heads, (N, H, L, S) otherwise, or None.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, device=None,
                 dtype=None) -> None:
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be positive and "
                             f"divisible by num_heads ({num_heads})")
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        kw = {"dtype": dtype, "device": device}
        if not self._qkv_same_embed_dim:
            self.q_proj_weight = Parameter(creation.empty(embed_dim, embed_dim, **kw))
            self.k_proj_weight = Parameter(creation.empty(embed_dim, self.kdim, **kw))
            self.v_proj_weight = Parameter(creation.empty(embed_dim, self.vdim, **kw))
            self.register_parameter("in_proj_weight", None)
        else:
            self.in_proj_weight = Parameter(creation.empty(3 * embed_dim, embed_dim, **kw))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(creation.empty(3 * embed_dim, **kw))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, **kw)
        if add_bias_kv:
            self.bias_k = Parameter(creation.empty(1, 1, embed_dim, **kw))
            self.bias_v = Parameter(creation.empty(1, 1, embed_dim, **kw))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def _projections(self):
        e = self.embed_dim
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            wq, wk, wv = w[:e], w[e:2 * e], w[2 * e:]
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        b = self.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else (b[:e], b[e:2 * e], b[2 * e:])
        return (wq, bq), (wk, bk), (wv, bv)

    def _check(self, query, key, value):
        batched = query.ndim == 3
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise layer_error(self, f"expected query, key and value all 3-D (batched) or all "
                              f"2-D (unbatched), got shapes {tuple(query.shape)}, "
                              f"{tuple(key.shape)}, {tuple(value.shape)}")
        for name, t, d in (("query", query, self.embed_dim), ("key", key, self.kdim),
                           ("value", value, self.vdim)):
            if t.shape[-1] != d:
                raise layer_error(self, f"expected {name} with last dimension {d}, got shape "
                                  f"{tuple(t.shape)}")
        if key.shape[:-1] != value.shape[:-1]:
            raise layer_error(self, f"key and value must have the same batch and sequence "
                              f"sizes, got {tuple(key.shape)} and {tuple(value.shape)}")
        return batched

    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = True,
                attn_mask=None, average_attn_weights: bool = True, is_causal: bool = False):
        batched = self._check(query, key, value)
        if not batched:  # (L, E) -> (1, L, E)
            query, key, value = (sh.unsqueeze(t, 0) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = sh.unsqueeze(key_padding_mask, 0)
        elif not self.batch_first:  # (L, N, E) -> (N, L, E)
            query, key, value = (sh.transpose(t, 0, 1) for t in (query, key, value))
        n, tgt_len, _ = query.shape
        (wq, bq), (wk, bk), (wv, bv) = self._projections()
        q = F.linear(query, wq, bq)
        k = F.linear(key, wk, bk)
        v = F.linear(value, wv, bv)
        if is_causal and attn_mask is None:
            from ...autograd.node import apply
            from ...ops.matrix import TriMask

            attn_mask = ew.logical_not(apply(TriMask, n=tgt_len, m=key.shape[1], k=0,
                                             lower=True))
        mask = self._merged_mask(attn_mask, key_padding_mask, q, n, tgt_len)
        if self.bias_k is not None:
            k = sh.concat([k, sh.broadcast_to(self.bias_k, (n, 1, self.embed_dim))], 1)
            v = sh.concat([v, sh.broadcast_to(self.bias_v, (n, 1, self.embed_dim))], 1)
            mask = None if mask is None else sh.pad(mask, (0, 1))
        h, d = self.num_heads, self.head_dim
        q = sh.permute(sh.reshape(q, (n, tgt_len, h, d)), (0, 2, 1, 3))
        k = sh.permute(sh.reshape(k, (n, -1, h, d)), (0, 2, 1, 3))
        v = sh.permute(sh.reshape(v, (n, -1, h, d)), (0, 2, 1, 3))
        if self.add_zero_attn:
            k = sh.concat([k, creation.zeros(n, h, 1, d, dtype=k.dtype, device=k.device)], 2)
            v = sh.concat([v, creation.zeros(n, h, 1, d, dtype=v.dtype, device=v.device)], 2)
            mask = None if mask is None else sh.pad(mask, (0, 1))
        scores = matmul(q * (1.0 / math.sqrt(d)), sh.transpose(k, -2, -1))  # (N, H, L, S)
        if mask is not None:
            scores = scores + mask
        attn = F.softmax(scores, dim=-1)
        if self.training and self.dropout > 0.0:
            attn = F.dropout(attn, self.dropout)
        out = sh.reshape(sh.permute(matmul(attn, v), (0, 2, 1, 3)), (n, tgt_len, self.embed_dim))
        out = self.out_proj(out)
        if not batched:
            out = sh.squeeze(out, 0)
        elif not self.batch_first:
            out = sh.transpose(out, 0, 1)
        if not need_weights:
            return out, None
        if average_attn_weights:
            attn = rd.mean(attn, 1)
        return out, (sh.squeeze(attn, 0) if not batched else attn)

    def _merged_mask(self, attn_mask, key_padding_mask, q, n, tgt_len):
        """attn_mask and key_padding_mask as one additive (N, H or 1, L, S) mask, or None."""
        mask = None
        if attn_mask is not None:
            mask = _additive_mask(attn_mask, q, "attn_mask", self)
            if mask.ndim == 2:
                mask = sh.reshape(mask, (1, 1) + tuple(mask.shape))
            elif mask.ndim == 3 and mask.shape[0] == n * self.num_heads:
                mask = sh.reshape(mask, (n, self.num_heads) + tuple(mask.shape[1:]))
            else:
                raise layer_error(self, f"attn_mask must be (L, S) or (N * num_heads, L, S) = "
                                  f"(.., {n * self.num_heads}, ...), got {tuple(attn_mask.shape)}")
            if mask.shape[-2] != tgt_len:
                raise layer_error(self, f"attn_mask has {mask.shape[-2]} target positions, the "
                                  f"query has {tgt_len}")
        if key_padding_mask is not None:
            if key_padding_mask.ndim != 2 or key_padding_mask.shape[0] != n:
                raise layer_error(self, f"key_padding_mask must be (N, S) with N={n}, got "
                                  f"{tuple(key_padding_mask.shape)}")
            pad = _additive_mask(key_padding_mask, q, "key_padding_mask", self)
            pad = sh.reshape(pad, (n, 1, 1, pad.shape[1]))
            mask = pad if mask is None else mask + pad
        return mask

    def extra_repr(self) -> str:
        return ""


def _activation(activation):
    if activation == "relu":
        return ew.relu
    if activation == "gelu":
        return F.gelu
    if callable(activation):
        return activation
    raise ValueError(f"TransformerEncoderLayer: activation should be 'relu', 'gelu' or a "
                     f"callable, got {activation!r}")


class TransformerEncoderLayer(Module):
    """Self-attention and a feed-forward block, each with a residual connection and norm.

    Args:
        d_model: the model size.
        nhead: the number of attention heads.
        dim_feedforward: the hidden size of the feed-forward block.
        dropout: dropout after attention, inside and after the feed-forward block.
        activation: ``"relu"``, ``"gelu"`` or a callable.
        layer_norm_eps: the norms' eps.
        batch_first: inputs are (N, S, E) instead of (S, N, E).
        norm_first: normalise before each block (pre-norm) instead of after.
        bias: learn biases in the linear layers and norms.

    Example:
        >>> import ember
        >>> layer = ember.nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
        >>> layer(ember.randn(3, 5, 8)).shape
        (3, 5, 8)
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: str | Callable = "relu",
                 layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = _activation(activation)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal: bool = False):
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerEncoder(Module):
    """A stack of ``num_layers`` copies of ``encoder_layer``, then an optional ``norm``.

    Example:
        >>> import ember
        >>> layer = ember.nn.TransformerEncoderLayer(8, 2, 16)
        >>> enc = ember.nn.TransformerEncoder(layer, num_layers=2)
        >>> enc(ember.randn(5, 3, 8)).shape
        (5, 3, 8)
    """

    def __init__(self, encoder_layer: Module, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True) -> None:
        super().__init__()
        self.layers = ModuleList([copy.deepcopy(encoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal: bool | None = None):
        out = src
        for layer in self.layers:
            out = layer(out, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                        is_causal=bool(is_causal))
        if self.norm is not None:
            out = self.norm(out)
        return out
