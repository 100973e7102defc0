"""``Embedding``: a lookup table of learned vectors indexed by integers.

Example:
    >>> import ember
    >>> emb = ember.nn.Embedding(10, 3)
    >>> emb(ember.tensor([[1, 2], [4, 9]])).shape
    (2, 2, 3)
"""

from __future__ import annotations

from ...autograd.grad_mode import no_grad
from ...autograd.node import apply
from ...errors import DTypeError
from ...ops import creation
from ...ops import nn_ops as F
from ...tensor import Tensor
from .. import init
from ..module import Module, layer_error
from ..parameter import Parameter

__all__ = ["Embedding"]


class Embedding(Module):
    """A table of ``num_embeddings`` vectors of size ``embedding_dim``, looked up by index.

    Args:
        num_embeddings: the number of rows.
        embedding_dim: the size of each vector.
        padding_idx: this row starts at zero and gets no gradient.
        max_norm: rows looked up are renormalised in place to at most this norm.
        norm_type: the p of the norm for ``max_norm``.

    Shape:
        input (*) integers in ``[0, num_embeddings)`` -> output (*, embedding_dim).

    The weights start as N(0, 1), as in PyTorch.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, sparse: bool = False,
                 _weight: Tensor | None = None, _freeze: bool = False, device=None,
                 dtype=None) -> None:
        super().__init__()
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} must be within "
                                 f"[{-num_embeddings}, {num_embeddings})")
            padding_idx = padding_idx % num_embeddings
        self.padding_idx = padding_idx
        self.max_norm = max_norm
        self.norm_type = norm_type
        if sparse:
            raise ValueError("Embedding: sparse=True needs sparse gradients, which ember does "
                             "not have; use the default dense gradient (sparse=False)")
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse
        if _weight is None:
            self.weight = Parameter(creation.empty(num_embeddings, embedding_dim, dtype=dtype,
                                                   device=device), requires_grad=not _freeze)
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise layer_error(self, f"_weight must have shape ({num_embeddings}, "
                                  f"{embedding_dim}), got {tuple(_weight.shape)}")
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        """N(0, 1) weights, with the padding row zeroed."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0.0

    def forward(self, input):
        if input.data.dtype.kind not in "iu":
            raise DTypeError(f"{self._get_name()}({self.extra_repr()}): indices must be an "
                             f"integer tensor, got {input.dtype.name}. Convert with .long()")
        if self.max_norm is not None or self.scale_grad_by_freq:
            return F.embedding(input, self.weight, self.padding_idx, self.max_norm,
                               self.norm_type, self.scale_grad_by_freq)
        return apply(F.Embedding, self.weight, input, padding_idx=self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        return s

    @classmethod
    def from_pretrained(cls, embeddings: Tensor, freeze: bool = True,
                        padding_idx: int | None = None, max_norm: float | None = None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        sparse: bool = False) -> Embedding:
        """An Embedding holding (a copy-free view of) ``embeddings`` (rows x dim).

        Example:
            >>> import ember
            >>> emb = ember.nn.Embedding.from_pretrained(ember.eye(3))
            >>> emb(ember.tensor([1]))
            tensor([[0., 1., 0.]])
        """
        if embeddings.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D, got shape "
                             f"{tuple(embeddings.shape)}")
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse,
                   _weight=embeddings, _freeze=freeze)
