"""The two classifiers under comparison, read top to bottom.

Both embed words (randomly initialised, with dropout so that rare words are not simply memorised), run
an RNN over them, let attention decide which states matter, and map one vector per review to one logit.
They differ in the middle:
- self-attention: a bidirectional RNN, then self-attentive pooling in `hops` hops (each one learned weight per
  token);
- multi-head attention: an LSTM (one-directional by default; `mha_bidirectional` gives it the self-attention
  model's encoder, so that the two differ in attention only), then Transformer-style scaled dot-product attention in
  `heads` heads (every token attends to every token), added to the LSTM states.
Both then pool the states into one vector per review the same way, by self-attentive pooling in `hops` hops, whose
training loss may add Lin et al.'s penalty (`hop_penalty`) for hops that weigh the same tokens.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from pipeline.files import atomic_path
from pipeline.text import PAD_ID


def set_up_vector_math() -> None:
    """Let MKL's vector math library, which torch's CPU tanh, exp, log, sqrt, ... call, set itself up on one thread.

    Its first call in a process, when torch splits the work across threads, races with its own setup: in 5 of 70
    processes on a 2-core Xeon, one thread's share of the first tanh came out wrong in the fifth digit, and the same
    seed trained another model (docs/performance.md, "Same seed, same numbers"). One call on one thread first leaves
    nothing to race."""
    torch.exp(torch.zeros(8))


set_up_vector_math()  # every path that builds or loads a model imports this module first


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model; stored beside its weights."""

    kind: str  # "self" or "mha"
    vocab_size: int
    embed_dim: int
    hidden_dim: int
    rnn: str  # the self-attention model's RNN cell: "lstm" or "gru"
    hops: int  # both models' self-attentive pooling hops
    heads: int  # the multi-head model's attention heads
    dropout: float
    hop_penalty: float  # coefficient of Lin et al.'s penalty on hops that overlap, added to the training loss
    mha_bidirectional: bool  # the multi-head model's LSTM reads both ways, as the self-attention model's RNN does


def padding_mask(ids: torch.Tensor) -> torch.Tensor:
    """True where `ids` holds padding."""
    return ids == PAD_ID


def lengths_of(ids: torch.Tensor) -> torch.Tensor:
    return (~padding_mask(ids)).sum(dim=1).clamp(min=1)


def reverse_within_lengths(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Each sequence's first `length` steps in reverse order; the padding after them stays in place.

    Whole rows of the flattened (batch * steps, features) tensor are picked, one index per step: 2.3x faster
    forward and backward on CPU than a `gather` with an index per feature."""
    batch, steps = x.shape[:2]
    positions = torch.arange(steps, device=x.device).unsqueeze(0)
    source = lengths.unsqueeze(1) - 1 - positions
    source = torch.where(source >= 0, source, positions) + steps * torch.arange(batch, device=x.device).unsqueeze(1)
    return x.reshape(batch * steps, -1).index_select(0, source.reshape(-1)).view_as(x)


class RNN(nn.Module):
    """An LSTM or GRU over a padded batch of reviews, one-directional or bidirectional (the two directions' states
    concatenated).

    Padding (always at the end) never reaches a real token's state in either direction, exactly as with packed
    sequences. On a GPU the batch is packed and cuDNN runs both directions in one call. On the CPU, where PyTorch's
    packed path is several times slower, each direction runs over the padded batch, the backward one reading every
    review reversed within its own length. Both paths use the same weights, one `nn.LSTM`/`nn.GRU`'s, so a model
    trained on a GPU predicts on a CPU.
    """

    def __init__(self, cell: type[nn.RNNBase], input_dim: int, hidden_dim: int, bidirectional: bool):
        super().__init__()
        self.rnn = cell(input_dim, hidden_dim, batch_first=True, bidirectional=bidirectional)
        self.width = hidden_dim * (2 if bidirectional else 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if not self.rnn.bidirectional:
            return self.rnn(x)[0]  # padding trails the review: it reaches no real token's state
        return self.packed(x, lengths) if x.is_cuda else self.direction_by_direction(x, lengths)

    def packed(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Both directions in one call over the packed batch (`lengths` on the host: packing needs them there)."""
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        return pad_packed_sequence(self.rnn(packed)[0], batch_first=True, total_length=x.size(1))[0]

    def direction_by_direction(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        lengths = lengths.to(x.device)  # a no-op on the CPU, this path's home
        forward_states = self.direction(x, "")
        backward_states = self.direction(reverse_within_lengths(x, lengths), "_reverse")
        return torch.cat([forward_states, reverse_within_lengths(backward_states, lengths)], dim=-1)

    def direction(self, x: torch.Tensor, suffix: str) -> torch.Tensor:
        """One direction's states over the padded batch, with that direction's weights of the bidirectional RNN: the
        op `nn.LSTM` / `nn.GRU` themselves call, given one direction's weights."""
        weights = [getattr(self.rnn, f"{name}_l0{suffix}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        start = x.new_zeros(1, x.size(0), self.rnn.hidden_size)
        if isinstance(self.rnn, nn.LSTM):
            return torch.lstm(x, (start, start), weights, True, 1, 0.0, self.training, False, True)[0]
        return torch.gru(x, start, weights, True, 1, 0.0, self.training, False, True)[0]


class SelfAttention(nn.Module):
    """Structured self-attentive pooling (Lin et al. 2017): every state scores itself through a small MLP,
    once per hop, and each hop's softmax-weighted sum of the states is one slice of the review's vector.

    One weight per token and hop, so the weights read directly as what the model looked at; linear in
    length. Several hops can follow several aspects of a review (plot, acting, the verdict at the end): on
    full IMDB 4 hops gained about 0.8 points over one, at the same speed.
    """

    def __init__(self, dim: int, hops: int):
        super().__init__()
        self.project = nn.Linear(dim, dim)
        self.score = nn.Linear(dim, hops, bias=False)

    def forward(self, states: torch.Tensor, pad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scores = self.score(torch.tanh(self.project(states))).transpose(1, 2)  # (batch, hops, steps)
        weights = scores.masked_fill(pad.unsqueeze(1), float("-inf")).softmax(dim=-1)
        return (weights @ states).flatten(1), weights


def hop_penalty(weights: torch.Tensor) -> torch.Tensor:
    """Lin et al. 2017's penalty ||A A^T - I||_F^2 of each review, A its (hops, tokens) pooling weights.

    0 when each hop puts all its weight on one token and no two hops on the same. Its off-diagonal terms grow as
    hops weigh the same tokens (to hops^2 - hops when all put all their weight on one), so adding it to the loss pushes
    the hops apart; its diagonal terms, (1 - a hop's squared norm)^2, pull each hop onto a single token."""
    gram = weights @ weights.transpose(1, 2)
    return (gram - torch.eye(gram.size(-1), device=gram.device)).pow(2).sum(dim=(1, 2))


def hop_overlap(weights: torch.Tensor) -> torch.Tensor:
    """How much weight two hops put on the same tokens, sum over tokens of the smaller of the two, averaged over every
    pair of hops: per review, from 0 (no two hops share a token) to 1 (all hops weigh the tokens alike). (batch, hops,
    tokens) -> (batch,); needs two hops or more."""
    first, second = torch.triu_indices(weights.size(1), weights.size(1), offset=1, device=weights.device)
    return torch.minimum(weights[:, first], weights[:, second]).sum(dim=-1).mean(dim=-1)


class SelfAttentionClassifier(nn.Module):
    """embedding -> dropout -> bidirectional LSTM/GRU -> self-attentive pooling (`hops`) -> dropout -> dense."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embed_dim, padding_idx=PAD_ID)
        cell = {"lstm": nn.LSTM, "gru": nn.GRU}[config.rnn]
        self.rnn = RNN(cell, config.embed_dim, config.hidden_dim, bidirectional=True)
        self.pooling = SelfAttention(self.rnn.width, config.hops)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.hops * self.rnn.width, 1)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_with_attention(ids, lengths)[0]

    def forward_with_attention(self, ids, lengths=None, need_weights=True):
        """Logits (batch,) and the pooling's weights, one per hop and token (batch, hops, steps); `need_weights` is
        the multi-head model's (this model's only weights are the pooling's, which cost nothing extra)."""
        lengths = lengths_of(ids) if lengths is None else lengths
        states = self.rnn(self.dropout(self.embedding(ids)), lengths)
        pooled, weights = self.pooling(states, padding_mask(ids))
        return self.classifier(self.dropout(pooled)).squeeze(-1), {"pooling": weights}


class MultiHeadSelfAttention(nn.Module):
    """Transformer-style attention: `heads` heads of width dim / heads, each scoring every position.

    Training and evaluation go through PyTorch's fused attention kernel, which never materialises the
    (query, key) score matrix and runs 2-3x faster on CPU than nn.MultiheadAttention; the explicit
    softmax runs only when the weights are asked for.
    """

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.in_proj = nn.Linear(dim, 3 * dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, pad: torch.Tensor, need_weights: bool = False):
        batch, steps, dim = x.shape
        query, key, value = (
            part.view(batch, steps, self.heads, dim // self.heads).transpose(1, 2)
            for part in self.in_proj(x).chunk(3, dim=-1)
        )
        keep = ~pad[:, None, None, :]  # (batch, 1, 1, key): broadcast over heads and queries
        if need_weights:
            scores = query @ key.transpose(-2, -1) / math.sqrt(query.size(-1))
            weights = scores.masked_fill(~keep, float("-inf")).softmax(dim=-1)  # (batch, heads, query, key)
            mixed = weights @ value
        else:
            weights, mixed = None, F.scaled_dot_product_attention(query, key, value, attn_mask=keep)
        return self.out_proj(mixed.transpose(1, 2).reshape(batch, steps, dim)), weights


class MultiHeadAttentionClassifier(nn.Module):
    """embedding -> dropout -> LSTM -> multi-head self-attention (`heads`) -> self-attentive pooling (`hops`) -> dropout
    -> dense.

    The pooling is the self-attention model's, so that the two models differ only in what feeds it. Against mean and max
    pooling of the same states it scored about 0.1 points more on average over 25 training runs (README, Results on
    IMDB), within the seeds' spread, at the same speed."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embed_dim, padding_idx=PAD_ID)
        self.rnn = RNN(nn.LSTM, config.embed_dim, config.hidden_dim, bidirectional=config.mha_bidirectional)
        self.attention = MultiHeadSelfAttention(self.rnn.width, config.heads)
        self.pooling = SelfAttention(self.rnn.width, config.hops)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.hops * self.rnn.width, 1)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_with_attention(ids, lengths, need_weights=False)[0]

    def forward_with_attention(self, ids, lengths=None, need_weights=True):
        """Logits (batch,) and the weights of both attention layers: the heads' (batch, heads, query, key), left
        out without `need_weights`, and the pooling's (batch, hops, steps).

        The padding mask (from `ids`) keeps padding out of the attention and the pooling."""
        pad = padding_mask(ids)
        lengths = lengths_of(ids) if lengths is None else lengths
        states = self.rnn(self.dropout(self.embedding(ids)), lengths)
        attended, head_weights = self.attention(states, pad, need_weights)
        pooled, pooling_weights = self.pooling(states + attended, pad)
        weights = {"attention": head_weights} if need_weights else {}
        return self.classifier(self.dropout(pooled)).squeeze(-1), weights | {"pooling": pooling_weights}


def build_model(config: ModelConfig) -> nn.Module:
    model_class = {"self": SelfAttentionClassifier, "mha": MultiHeadAttentionClassifier}[config.kind]
    return model_class(config)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def parameters_by_part(model: nn.Module) -> dict[str, int]:
    """Trainable parameters of each top-level part (embedding, rnn, attention, classifier)."""
    parts = {name: count_parameters(child) for name, child in model.named_children()}
    return {name: count for name, count in parts.items() if count}


def save_checkpoint(model: nn.Module, path: Path) -> None:
    """Weights plus the config to rebuild them; a crash mid-write never leaves a valid-looking file."""
    with atomic_path(path) as partial:
        torch.save({"config": asdict(model.config), "state_dict": model.state_dict()}, partial)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> nn.Module:
    checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    model = build_model(ModelConfig(**checkpoint["config"]))
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval()
