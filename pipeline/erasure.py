"""Does a model's decision rest on the tokens its attention weighs most? Erase them and see (DeYoung et al. 2020,
ERASER; Serrano & Smith 2019).

For a review x, its predicted class y and the top k% of its tokens r under a ranking:
- comprehensiveness p(y|x) - p(y|x without r): how much the decision loses when r is erased;
- sufficiency p(y|x) - p(y|r alone): how much it loses when only r is kept;
each at several k and averaged over them (AOPC), and the share of decisions that flip when the top 1 and top 5 tokens
are erased. Three rankings are measured, so that the attention's numbers have something to be read against:
- attention: the pooling's weights summed over hops (the weights that make the vector the classifier reads; the
  multi-head model's heads mix states before the pooling and rank no token by themselves);
- gradient: input x gradient, the embedding times the gradient of the predicted class's logit, summed over the
  embedding (Captum's LayerGradientXActivation on the embedding layer), tokens that push towards the prediction first;
- random: a fresh order per review, its measures averaged over several draws.
Beside them, Kendall's tau between each review's attention weights and its gradient importance, as Jain & Wallace
(2019) measure it: the absolute input x gradient (their gradient with respect to the one-hot input, the same number).

Tokens are erased, not masked: the rest of the review closes up and its length shrinks, so the padding mask stays
that of a shorter review. A review left with no token reads as one unknown word (`<unk>`): the model cannot read an
empty sequence, and `<unk>` is the input closest to nothing that it knows.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from captum.attr import LayerGradientXActivation
from scipy.stats import kendalltau
from torch import nn

from pipeline.compute import autocast
from pipeline.decision import predicted_labels
from pipeline.text import PAD_ID, UNK_ID, EncodedSplit
from pipeline.trained import FLIP_TOKENS, MEASURES, Faithfulness, RankingMeasures
from pipeline.training import Batches, predict

BATCH = 64  # reviews per batch of the attention and gradient passes


def balanced_sample(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Rows of `size` test reviews (all of them when the split is smaller), half of each class as far as the split
    allows, drawn with `seed`, in row order."""
    available = [np.flatnonzero(labels == label) for label in (0, 1)]
    negative = min(size // 2, len(available[0]))
    positive = min(size - negative, len(available[1]))
    negative = min(size - positive, len(available[0]))
    rng = np.random.default_rng(seed)
    return np.sort(np.concatenate([rng.choice(rows, count, replace=False)
                                   for rows, count in zip(available, (negative, positive))]))


def tokens_for(fraction: float, length: int) -> int:
    """How many of a review's `length` tokens make its top `fraction`: at least one, at most all."""
    return min(max(math.ceil(fraction * length - 1e-9), 1), length)


def erase(ids: np.ndarray, order: np.ndarray, count: int, keep: bool) -> np.ndarray:
    """The review `ids` without its first `count` tokens in `order` (keep=False) or with only them (keep=True), the
    remaining tokens in their original order; a review left empty is one `<unk>`."""
    chosen = np.zeros(len(ids), bool)
    chosen[order[:count]] = True
    left = ids[chosen if keep else ~chosen]
    return left if len(left) else np.array([UNK_ID], dtype=ids.dtype)


def as_split(reviews: list[np.ndarray]) -> EncodedSplit:
    """Unpadded reviews as one padded split (labels unused)."""
    lengths = np.array([len(review) for review in reviews], dtype=np.int32)
    ids = np.full((len(reviews), lengths.max(initial=1)), PAD_ID, dtype=np.int32)
    for row, review in enumerate(reviews):
        ids[row, : len(review)] = review
    return EncodedSplit(ids, lengths, np.zeros(len(reviews), dtype=np.int64))


def positive_probabilities(model: nn.Module, reviews: list[np.ndarray], device: torch.device,
                           precision: str) -> np.ndarray:
    return predict(model, Batches(as_split(reviews), device), precision).probabilities


def per_token(reviews: list[np.ndarray], device: torch.device,
              score: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> list[np.ndarray]:
    """Each review's values of `score(ids, lengths)`, a (batch, steps) tensor: one per token, batch by batch."""
    scores = [np.empty(0)] * len(reviews)
    for indices, (ids, lengths, _) in Batches(as_split(reviews), device).in_length_order(BATCH):
        scored = score(ids, lengths).float().detach().cpu().numpy()
        for row, index in enumerate(indices):
            scores[index] = scored[row, : len(reviews[index])]
    return scores


def attention_scores(model: nn.Module, reviews: list[np.ndarray], device: torch.device,
                     precision: str) -> list[np.ndarray]:
    """Each review's pooling weights summed over hops, one per token."""
    model.eval()

    def pooling(ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        with autocast(precision, device):
            return model.forward_with_attention(ids, lengths, need_weights=False)[1]["pooling"].float().sum(dim=1)

    with torch.inference_mode():
        return per_token(reviews, device, pooling)


def gradient_scores(model: nn.Module, reviews: list[np.ndarray], towards_positive: np.ndarray,
                    device: torch.device, precision: str) -> list[np.ndarray]:
    """Each token's input x gradient for the predicted class: positive where the token pushes towards it."""
    model.eval()
    explainer = LayerGradientXActivation(model, model.embedding)

    def input_x_gradient(ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        with autocast(precision, device):
            return explainer.attribute(ids, additional_forward_args=(lengths,)).float().sum(dim=-1)

    # cuDNN's RNN runs backward only in training mode: on a GPU this pass goes without cuDNN
    with torch.backends.cudnn.flags(enabled=False):
        scores = per_token(reviews, device, input_x_gradient)
    return [score if positive else -score for score, positive in zip(scores, towards_positive)]


def order_of(scores: np.ndarray) -> np.ndarray:
    """Token positions from the highest score to the lowest (earlier position first on a tie)."""
    return np.argsort(-scores, kind="stable")


def measure_ranking(model: nn.Module, reviews: list[np.ndarray], orders: list[np.ndarray], full: np.ndarray,
                    fractions: tuple[float, ...], device: torch.device, precision: str) -> RankingMeasures:
    """Every review with its top tokens erased and kept alone, scored in one pass; a variant needed twice (the top
    token erased, say, as a 1% fraction and as the first flip) is scored once."""
    variants: dict[tuple[int, bool, int], int] = {}
    erased = []

    def variant(review: int, keep: bool, count: int) -> int:
        key = (review, keep, count)
        if key not in variants:
            variants[key] = len(erased)
            erased.append(erase(reviews[review], orders[review], count, keep))
        return variants[key]

    layout = []
    for review, ids in enumerate(reviews):
        counts = [tokens_for(fraction, len(ids)) for fraction in fractions]
        layout.append(([variant(review, False, count) for count in counts],
                       [variant(review, True, count) for count in counts],
                       [variant(review, False, min(tokens, len(ids))) for tokens in FLIP_TOKENS]))
    scored = positive_probabilities(model, erased, device, precision)
    positive = predicted_labels(full).astype(bool)
    of_prediction = np.where(positive[:, None], scored[None, :], 1 - scored[None, :])  # (reviews, variants)
    before = np.where(positive, full, 1 - full)
    rows = np.arange(len(reviews))[:, None]
    removed, kept, flipped = (np.array([part[i] for part in layout]) for i in range(3))
    return RankingMeasures(before[:, None] - of_prediction[rows, removed],
                           before[:, None] - of_prediction[rows, kept],
                           (predicted_labels(scored[flipped]) != positive[:, None]).astype(float))


def kendall_taus(first: list[np.ndarray], second: list[np.ndarray]) -> np.ndarray:
    """Kendall's tau-b between two scorings of each review's tokens; NaN for a review of fewer than two tokens or
    a constant scoring."""
    taus = np.full(len(first), np.nan)
    for review, (a, b) in enumerate(zip(first, second)):
        if len(a) > 1 and np.ptp(a) > 0 and np.ptp(b) > 0:
            taus[review] = kendalltau(a, b).statistic
    return taus


def measure_faithfulness(model: nn.Module, test: EncodedSplit, rows: np.ndarray, fractions: tuple[float, ...],
                         random_draws: int, seed: int, device: torch.device, precision: str) -> Faithfulness:
    """The model's erasure measures on the test reviews `rows` under the attention, gradient and random rankings."""
    reviews = [test.ids[row, : test.lengths[row]] for row in rows]
    full = positive_probabilities(model, reviews, device, precision)
    attention = attention_scores(model, reviews, device, precision)
    gradient = gradient_scores(model, reviews, predicted_labels(full).astype(bool), device, precision)

    def measured(orders: list[np.ndarray]) -> RankingMeasures:
        return measure_ranking(model, reviews, orders, full, fractions, device, precision)

    draws = [measured([np.random.default_rng([seed, draw, row]).permutation(len(review))
                       for row, review in zip(rows, reviews)]) for draw in range(random_draws)]
    random = RankingMeasures(*(np.mean([getattr(d, field) for d in draws], axis=0) for field in MEASURES))
    measures = {"attention": measured([order_of(s) for s in attention]),
                "gradient": measured([order_of(s) for s in gradient]), "random": random}
    return Faithfulness(rows, np.asarray(fractions), measures, kendall_taus(attention, [abs(g) for g in gradient]))
