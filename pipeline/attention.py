"""What each model looked at: per-token attention weights for a few test reviews, picked reproducibly."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from pipeline.compute import autocast
from pipeline.decision import is_right


@dataclass(frozen=True)
class AttentionExample:
    case: str  # why this review was picked, e.g. "a short review both models got right"
    index: int  # row of the test split
    label: int
    tokens: list[str]  # as the models saw them: after truncation, unknown words as <unk>
    probabilities: dict[str, float]  # positive-class probability per model
    weights: dict[str, dict[str, list[list[float]]]]  # model -> layer ("attention", "pooling") -> a row per head/hop


def pick_examples(
    labels: np.ndarray, lengths: np.ndarray, probabilities: dict[str, np.ndarray], seed: int, max_tokens: int
) -> list[tuple[str, int]]:
    """One review of each kind (short or long, all models right or not), drawn with `seed`.

    Only reviews of at most `max_tokens` are drawn: a longer one's picture would run to pages. Among them,
    short is at most the 25th percentile of length, long at least the 75th; a kind nobody falls into (say,
    no mistakes on an easy corpus) is left out.
    """
    drawable = lengths <= max_tokens
    if not drawable.any():
        return []
    short = drawable & (lengths <= np.quantile(lengths[drawable], 0.25))
    long = drawable & (lengths >= np.quantile(lengths[drawable], 0.75))
    all_right = np.logical_and.reduce([is_right(p, labels) for p in probabilities.values()])
    cases = {
        "a short review both models got right": short & all_right,
        "a short review at least one model got wrong": short & ~all_right,
        "a long review both models got right": long & all_right,
        "a long review at least one model got wrong": long & ~all_right,
    }
    rng = np.random.default_rng(seed)
    return [(case, int(rng.choice(np.flatnonzero(mask)))) for case, mask in cases.items() if mask.any()]


@torch.inference_mode()
def classify_with_attention(model: nn.Module, ids: np.ndarray,
                            precision: str = "fp32") -> tuple[float, dict[str, np.ndarray]]:
    """One unpadded review's probability of positive and the (rows, tokens) weights of each attention layer, on the
    CPU in `precision` ('fp32' or 'bf16', see pipeline.compute).

    "pooling" (both models): one row per hop, the weights of the sum that reaches the classifier. "attention"
    (the multi-head model): one row per head, the weight each token receives averaged over all queries: how much
    the heads read from it."""
    model.eval()
    with autocast(precision, torch.device("cpu")):
        logits, weights = model.forward_with_attention(torch.from_numpy(ids[None]).long())
    probability = float(torch.sigmoid(logits.float())[0])
    # (batch, hops, tokens) as is; (batch, heads, query, key) -> (heads, key)
    return probability, {layer: (w[0] if w.dim() == 3 else w[0].mean(dim=1)).float().numpy()
                         for layer, w in weights.items()}


def token_weights(model: nn.Module, ids: np.ndarray, precision: str) -> dict[str, np.ndarray]:
    return classify_with_attention(model, ids, precision)[1]


def attention_example(
    case: str, index: int, label: int, tokens: list[str], ids: np.ndarray,
    models: dict[str, nn.Module], probabilities: dict[str, float], precision: str,
) -> AttentionExample:
    weights = {
        name: {layer: rows.round(5).tolist() for layer, rows in token_weights(model, ids, precision).items()}
        for name, model in models.items()
    }
    return AttentionExample(case, index, label, tokens, probabilities, weights)
