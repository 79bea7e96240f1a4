"""Faithfulness measures (pipeline/erasure.py) on hand-made reviews and models whose answers are known."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from pipeline.erasure import (
    as_split,
    balanced_sample,
    erase,
    measure_faithfulness,
    measure_ranking,
    positive_probabilities,
    tokens_for,
)
from pipeline.faithfulness_report import faithfulness_results
from pipeline.models import ModelConfig, build_model
from pipeline.text import PAD_ID, UNK_ID, EncodedSplit

CPU = torch.device("cpu")
FRACTIONS = (0.01, 0.05, 0.1, 0.2, 0.5)
KEY = 7  # the one token the model below reads


class ReadsOneToken(nn.Module):
    """Positive exactly when the review holds token KEY, whatever else it holds; its pooling weighs KEY alone."""

    config = SimpleNamespace(hops=1)

    def __init__(self, vocab: int = 20):
        super().__init__()
        self.embedding = nn.Embedding(vocab, 1, padding_idx=PAD_ID)
        with torch.no_grad():
            self.embedding.weight.zero_()
            self.embedding.weight[KEY] = 1.0

    def forward(self, ids, lengths=None):
        return self.forward_with_attention(ids, lengths)[0]

    def forward_with_attention(self, ids, lengths=None, need_weights=True):
        reads = self.embedding(ids).squeeze(-1)  # 1 at KEY, 0 elsewhere
        weights = (ids == KEY).float() + 1e-3 * (ids != PAD_ID).float()
        weights = weights / weights.sum(dim=1, keepdim=True)
        return 8 * reads.sum(dim=1) - 4, {"pooling": weights[:, None, :]}


def split_of(reviews: list[list[int]]) -> EncodedSplit:
    split = as_split([np.array(review, dtype=np.int32) for review in reviews])
    return EncodedSplit(split.ids, split.lengths, np.array([i % 2 for i in range(len(reviews))]))


def test_erasing_closes_up_the_review_and_an_emptied_review_is_one_unknown_word():
    ids = np.array([5, 6, 7, 8], dtype=np.int32)
    order = np.array([2, 0, 3, 1])
    assert erase(ids, order, 1, keep=False).tolist() == [5, 6, 8]
    assert erase(ids, order, 2, keep=True).tolist() == [5, 7]  # kept in their own order
    assert erase(ids, order, 4, keep=False).tolist() == [UNK_ID]
    assert erase(ids[:1], np.array([0]), 1, keep=False).tolist() == [UNK_ID]  # a one-token review, k = 1%
    # a review shorter than 1 / fraction still loses (or keeps) one token; no fraction takes more than all
    assert [tokens_for(f, 3) for f in FRACTIONS] == [1, 1, 1, 1, 2]
    assert tokens_for(0.5, 1) == 1 and tokens_for(1.0, 7) == 7 and tokens_for(0.2, 10) == 2


def test_erased_reviews_score_as_if_each_were_alone_whatever_their_neighbours_lengths():
    """The padding mask of a batch of erased reviews of mixed lengths is each review's own."""
    torch.manual_seed(0)
    model = build_model(ModelConfig("mha", 30, 8, 8, "lstm", 2, 2, 0.0, 0.0, True)).eval()
    reviews = [np.array(r, dtype=np.int32) for r in ([3, 4, 5, 6, 7, 8, 9], [UNK_ID], [10, 11], [12] * 40)]
    split = as_split(reviews)
    assert split.lengths.tolist() == [7, 1, 2, 40] and (split.ids[1, 1:] == PAD_ID).all()
    together = positive_probabilities(model, reviews, CPU, "fp32")
    alone = [positive_probabilities(model, [review], CPU, "fp32")[0] for review in reviews]
    np.testing.assert_allclose(together, alone, rtol=1e-5)


def test_a_model_that_reads_one_token_loses_everything_when_that_token_goes_first():
    model = ReadsOneToken()
    reviews = [[3, 4, KEY, 5, 6, 8, 9, 10], [3, 4, 5], [KEY], [11, 12, KEY, 13]]
    test = split_of(reviews)
    measured = measure_faithfulness(model, test, np.arange(len(reviews)), FRACTIONS, 3, 0, CPU, "fp32")
    drop = torch.sigmoid(torch.tensor(4.0)).item() - torch.sigmoid(torch.tensor(-4.0)).item()
    attention = measured.measures["attention"]
    holding = [0, 2, 3]  # the reviews with KEY: positive, until KEY is erased
    np.testing.assert_allclose(attention.comprehensiveness[holding], drop, rtol=1e-6)  # the largest drop there is
    np.testing.assert_allclose(attention.sufficiency[holding], 0, atol=1e-6)  # KEY alone suffices
    assert attention.flips[holding].tolist() == [[1, 1]] * 3
    assert np.allclose(attention.comprehensiveness[1], 0) and attention.flips[1].tolist() == [0, 0]  # nothing to lose
    gradient, random = measured.measures["gradient"], measured.measures["random"]
    np.testing.assert_allclose(gradient.comprehensiveness, attention.comprehensiveness, rtol=1e-6)  # it finds KEY too
    assert (random.comprehensiveness <= attention.comprehensiveness + 1e-9).all()
    assert random.comprehensiveness[0].mean() < drop / 2  # in 8 tokens, a random order seldom starts with KEY
    summary = measured.summary()
    assert summary["attention_comprehensiveness"] > summary["random_comprehensiveness"]
    assert summary["attention_flip_top1"] == 0.75


def test_the_random_baseline_is_reproducible_under_its_seed_and_changes_with_it():
    torch.manual_seed(0)
    model = build_model(ModelConfig("self", 40, 8, 8, "lstm", 2, 2, 0.0, 0.0, False)).eval()
    rng = np.random.default_rng(1)
    test = split_of([list(rng.integers(2, 40, size=rng.integers(3, 30))) for _ in range(12)])
    rows = np.arange(12)
    first, again, other = (measure_faithfulness(model, test, rows, FRACTIONS, 2, seed, CPU, "fp32")
                           for seed in (5, 5, 6))
    for field in ("comprehensiveness", "sufficiency", "flips"):
        np.testing.assert_array_equal(getattr(first.measures["random"], field),
                                      getattr(again.measures["random"], field))
        np.testing.assert_array_equal(getattr(first.measures["attention"], field),
                                      getattr(other.measures["attention"], field))  # the seed draws random orders only
    assert not np.array_equal(first.measures["random"].comprehensiveness, other.measures["random"].comprehensiveness)


def test_a_variant_asked_twice_is_scored_once_and_both_answers_agree():
    model = ReadsOneToken()
    reviews = [np.array([3, KEY, 4], dtype=np.int32)]
    full = positive_probabilities(model, reviews, CPU, "fp32")
    measured = measure_ranking(model, reviews, [np.array([1, 0, 2])], full, (0.01, 0.34), CPU, "fp32")
    # 1% and 34% of 3 tokens are both one token, as is the top-1 flip: one erased review serves all three
    assert measured.comprehensiveness[0, 0] == measured.comprehensiveness[0, 1]
    assert measured.flips[0].tolist() == [1, 1]


def test_the_sample_is_class_balanced_reproducible_and_shrinks_to_a_small_split():
    labels = np.array([0] * 30 + [1] * 70)
    rows = balanced_sample(labels, 40, seed=3)
    assert len(rows) == 40 and labels[rows].sum() == 20 and (np.diff(rows) > 0).all()
    assert balanced_sample(labels, 40, seed=3).tolist() == rows.tolist()
    assert labels[balanced_sample(labels, 80, seed=3)].tolist().count(0) == 30  # every negative, then positives
    assert len(balanced_sample(labels, 500, seed=3)) == 100


def test_gaps_over_seeds_go_through_the_accuracy_verdicts_rule():
    model = ReadsOneToken()
    rng = np.random.default_rng(0)
    reviews = [list(rng.integers(2, 20, size=12)) + ([KEY] if i % 2 else []) for i in range(40)]
    test = split_of(reviews)
    rows = np.arange(40)
    per_seed = {seed: measure_faithfulness(model, test, rows, FRACTIONS, 2, seed, CPU, "fp32") for seed in (1, 2, 3)}
    results = faithfulness_results({"self": per_seed, "mha": per_seed}, margin=0.02, max_seeds=20)
    gap = results["self"]["attention_vs_random"]
    assert gap["compared"] == ["attention", "random"] and gap["outcome"] == "better_beyond_margin"
    assert gap["winner"] == "attention" and gap["ci_low"] > 0.02
    assert results["self"]["attention_vs_gradient"]["difference"] == pytest.approx(0, abs=1e-9)
    assert results["self_vs_mha"]["attention_vs_random"]["difference"] == pytest.approx(0, abs=1e-12)
    assert results["reviews"] == 40 and set(results["self"]["seeds"]) == {"1", "2", "3"}
