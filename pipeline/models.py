"""The two classifiers under comparison, read top to bottom.

Both embed words (randomly initialised), run an RNN over them, let an attention layer mix the RNN
states, mean-pool the non-padding positions and map the pooled vector to one logit. They differ only in
the middle: a bidirectional RNN with a single self-attention head, or an LSTM with multi-head attention.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from pipeline.files import atomic_path
from pipeline.text import PAD_ID


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model; stored beside its weights."""

    kind: str  # "self" or "mha"
    vocab_size: int
    embed_dim: int
    hidden_dim: int
    rnn: str  # the self-attention model's RNN cell: "lstm" or "gru"
    heads: int  # the multi-head model's attention heads
    dropout: float


def padding_mask(ids: torch.Tensor) -> torch.Tensor:
    """True where `ids` holds padding."""
    return ids == PAD_ID


def lengths_of(ids: torch.Tensor) -> torch.Tensor:
    return (~padding_mask(ids)).sum(dim=1).clamp(min=1)


def reverse_within_lengths(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Each sequence's first `length` steps in reverse order; the padding after them stays in place."""
    positions = torch.arange(x.size(1), device=x.device).unsqueeze(0)
    source = lengths.unsqueeze(1) - 1 - positions
    source = torch.where(source >= 0, source, positions)
    return x.gather(1, source.unsqueeze(-1).expand_as(x))


class BidirectionalRNN(nn.Module):
    """A forward and a backward RNN over a padded batch, states concatenated.

    The backward RNN reads each review reversed within its own length, so padding (always at the end)
    never reaches a real token's state in either direction. This is exact like packed sequences, and
    several times faster on CPU, where PyTorch's packed RNN path is slow.
    """

    def __init__(self, cell: type[nn.RNNBase], input_dim: int, hidden_dim: int):
        super().__init__()
        self.forward_rnn = cell(input_dim, hidden_dim, batch_first=True)
        self.backward_rnn = cell(input_dim, hidden_dim, batch_first=True)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        forward_states, _ = self.forward_rnn(x)
        backward_states, _ = self.backward_rnn(reverse_within_lengths(x, lengths))
        return torch.cat([forward_states, reverse_within_lengths(backward_states, lengths)], dim=-1)


def masked_mean(states: torch.Tensor, pad: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    keep = (~pad).unsqueeze(-1).to(states.dtype)
    return (states * keep).sum(dim=1) / lengths.unsqueeze(-1).to(states.dtype)


class SelfAttention(nn.Module):
    """Single-head scaled dot-product self-attention: every position scores every other; padding masked."""

    def __init__(self, dim: int):
        super().__init__()
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, pad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scores = self.query(x) @ self.key(x).transpose(1, 2) / math.sqrt(x.size(-1))
        scores = scores.masked_fill(pad.unsqueeze(1), float("-inf"))
        weights = scores.softmax(dim=-1)  # (batch, query, key)
        return weights @ self.value(x), weights


class SelfAttentionClassifier(nn.Module):
    """embedding -> bidirectional LSTM/GRU -> self-attention -> mean pool -> dropout -> dense."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        width = 2 * config.hidden_dim
        self.embedding = nn.Embedding(config.vocab_size, config.embed_dim, padding_idx=PAD_ID)
        cell = {"lstm": nn.LSTM, "gru": nn.GRU}[config.rnn]
        self.rnn = BidirectionalRNN(cell, config.embed_dim, config.hidden_dim)
        self.attention = SelfAttention(width)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(width, 1)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_with_attention(ids, lengths)[0]

    def forward_with_attention(self, ids, lengths=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (batch,) and attention weights (batch, query, key)."""
        lengths = lengths_of(ids) if lengths is None else lengths
        pad = padding_mask(ids)
        states = self.rnn(self.embedding(ids), lengths)
        attended, weights = self.attention(states, pad)
        pooled = masked_mean(states + attended, pad, lengths)
        return self.classifier(self.dropout(pooled)).squeeze(-1), weights


class MultiHeadAttentionClassifier(nn.Module):
    """embedding -> LSTM -> multi-head self-attention (`heads`) -> mean pool -> dropout -> dense."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embed_dim, padding_idx=PAD_ID)
        self.rnn = nn.LSTM(config.embed_dim, config.hidden_dim, batch_first=True)
        self.attention = nn.MultiheadAttention(config.hidden_dim, config.heads, batch_first=True)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.hidden_dim, 1)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_with_attention(ids, lengths, need_weights=False)[0]

    def forward_with_attention(self, ids, lengths=None, need_weights=True):
        """Logits (batch,) and per-head attention weights (batch, heads, query, key), or None."""
        lengths = lengths_of(ids) if lengths is None else lengths
        pad = padding_mask(ids)
        states, _ = self.rnn(self.embedding(ids))  # padding trails, so it never reaches a real token's state
        attended, weights = self.attention(
            states, states, states, key_padding_mask=pad, need_weights=need_weights, average_attn_weights=False
        )
        pooled = masked_mean(states + attended, pad, lengths)
        return self.classifier(self.dropout(pooled)).squeeze(-1), weights


def build_model(config: ModelConfig) -> nn.Module:
    model_class = {"self": SelfAttentionClassifier, "mha": MultiHeadAttentionClassifier}[config.kind]
    return model_class(config)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def save_checkpoint(model: nn.Module, path: Path) -> None:
    """Weights plus the config to rebuild them; a crash mid-write never leaves a valid-looking file."""
    with atomic_path(path) as partial:
        torch.save({"config": asdict(model.config), "state_dict": model.state_dict()}, partial)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> nn.Module:
    checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    model = build_model(ModelConfig(**checkpoint["config"]))
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval()
