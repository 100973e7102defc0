"""An LSTM language model with the module names of PyTorch's word-language-model example
(``encoder``, ``rnn``, ``decoder``), so its checkpoints load one to one."""

from __future__ import annotations

from ... import nn
from ._common import ZooError, check_dropout, check_positive

__all__ = ["LSTMLanguageModel", "lstm_lm"]


class LSTMLanguageModel(nn.Module):
    """Embedding, a stacked LSTM, a linear decoder to the vocabulary, dropout between them.

    Args:
        num_tokens: the vocabulary size.
        embedding_dim: the size of each token's embedding.
        hidden_size: the LSTM's hidden size.
        num_layers: stacked LSTM layers.
        dropout: dropout on the embeddings, between LSTM layers and before the decoder.
        tie_weights: share the embedding matrix with the decoder (needs
            ``embedding_dim == hidden_size``).
        batch_first: take ``(batch, seq)`` tokens instead of ``(seq, batch)``.

    Shape:
        tokens ``(seq, batch)`` (int64) -> logits ``(seq, batch, num_tokens)`` and the final
        ``(h, c)``, each ``(num_layers, batch, hidden_size)``.

    Example:
        >>> import ember
        >>> from ember.zoo import lstm_lm
        >>> model = lstm_lm(num_tokens=50, embedding_dim=16, hidden_size=16, num_layers=2)
        >>> logits, (h, c) = model(ember.randint(0, 50, (7, 3)))
        >>> logits.shape, h.shape
        ((7, 3, 50), (2, 3, 16))
    """

    def __init__(self, num_tokens: int, embedding_dim: int = 200, hidden_size: int = 200,
                 num_layers: int = 2, dropout: float = 0.2, tie_weights: bool = False,
                 batch_first: bool = False) -> None:
        super().__init__()
        check_positive("LSTMLanguageModel", num_tokens=num_tokens, embedding_dim=embedding_dim,
                       hidden_size=hidden_size, num_layers=num_layers)
        check_dropout("LSTMLanguageModel", dropout)
        self.num_tokens, self.hidden_size, self.num_layers = num_tokens, hidden_size, num_layers
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(num_tokens, embedding_dim)
        self.rnn = nn.LSTM(embedding_dim, hidden_size, num_layers,
                           dropout=dropout if num_layers > 1 else 0.0, batch_first=batch_first)
        self.decoder = nn.Linear(hidden_size, num_tokens)
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -0.1, 0.1)
        if tie_weights:
            if embedding_dim != hidden_size:
                raise ZooError(f"LSTMLanguageModel: tie_weights needs embedding_dim == "
                               f"hidden_size, got {embedding_dim} and {hidden_size}")
            self.decoder.weight = self.encoder.weight

    def forward(self, tokens, hidden=None):
        output, hidden = self.rnn(self.drop(self.encoder(tokens)), hidden)
        return self.decoder(self.drop(output)), hidden


def lstm_lm(**kwargs) -> LSTMLanguageModel:
    """An LSTM language model; keyword arguments as ``LSTMLanguageModel``."""
    return LSTMLanguageModel(**kwargs)
