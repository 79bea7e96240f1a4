import numpy as np
import pytest
import torch

from pipeline.attention import attention_example, pick_examples, token_weights
from pipeline.models import ModelConfig, build_model


def model(kind: str):
    torch.manual_seed(0)
    config = ModelConfig(kind, vocab_size=30, embed_dim=8, hidden_dim=8, rnn="lstm", hops=3, heads=2, dropout=0.1)
    return build_model(config)


def test_token_weights_give_one_distribution_per_hop_or_head_over_the_reviews_tokens():
    ids = np.array([5, 6, 7, 8, 9, 10])
    self_weights = token_weights(model("self"), ids)
    head_weights = token_weights(model("mha"), ids)
    assert self_weights.shape == (3, 6) and head_weights.shape == (2, 6)
    assert np.allclose(self_weights.sum(axis=1), 1, atol=1e-5)
    assert np.allclose(head_weights.sum(axis=1), 1, atol=1e-5)  # a mean of per-query distributions
    assert np.array_equal(token_weights(model("self"), ids), self_weights)  # eval mode: no dropout noise


def test_mha_token_weights_are_the_explicit_attention_averaged_over_queries():
    network = model("mha").eval()
    ids = np.array([3, 4, 5, 6])
    _, weights = network.forward_with_attention(torch.from_numpy(ids[None]))
    assert np.allclose(token_weights(network, ids), weights[0].mean(dim=1).detach().numpy())


def test_examples_cover_each_kind_that_occurs_and_depend_only_on_the_seed():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 200)
    lengths = rng.integers(5, 300, 200)
    right = labels.astype(float)
    wrong_sometimes = np.where(rng.random(200) < 0.3, 1 - labels, labels).astype(float)
    picks = pick_examples(labels, lengths, {"self": right, "mha": wrong_sometimes}, seed=7, max_tokens=250)
    assert [case for case, _ in picks] == [
        "a short review both models got right", "a short review at least one model got wrong",
        "a long review both models got right", "a long review at least one model got wrong",
    ]
    short_right, short_wrong, long_right, long_wrong = (index for _, index in picks)
    drawable = lengths[lengths <= 250]  # longer reviews would make pictures pages long
    assert lengths[short_right] <= np.quantile(drawable, 0.25) and lengths[long_wrong] >= np.quantile(drawable, 0.75)
    assert max(lengths[index] for _, index in picks) <= 250
    assert wrong_sometimes[short_wrong] != labels[short_wrong] and wrong_sometimes[long_right] == labels[long_right]
    assert picks == pick_examples(labels, lengths, {"self": right, "mha": wrong_sometimes}, seed=7, max_tokens=250)
    assert picks != pick_examples(labels, lengths, {"self": right, "mha": wrong_sometimes}, seed=8, max_tokens=250)
    perfect = pick_examples(labels, lengths, {"self": right, "mha": right}, seed=7, max_tokens=250)
    assert [case for case, _ in perfect] == [
        "a short review both models got right", "a long review both models got right"]
    assert pick_examples(labels, lengths, {"self": right, "mha": right}, seed=7, max_tokens=4) == []


def test_an_example_records_tokens_probabilities_and_each_models_weights():
    ids = np.array([5, 6, 7])
    example = attention_example("case", 4, 1, ["a", "b", "c"], ids, {"self": model("self"), "mha": model("mha")},
                                {"self": 0.9, "mha": 0.2})
    assert len(example.weights["self"]) == 3 and len(example.weights["mha"]) == 2
    assert sum(example.weights["mha"][1]) == pytest.approx(1, abs=1e-4)
