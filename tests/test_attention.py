import numpy as np
import pytest
import torch

from pipeline.attention import attention_example, pick_examples, token_weights
from pipeline.models import ModelConfig, build_model


def model(kind: str):
    torch.manual_seed(0)
    config = ModelConfig(kind, vocab_size=30, embed_dim=8, hidden_dim=8, rnn="lstm", hops=3, heads=2, dropout=0.1,
                         hop_penalty=0.0, mha_bidirectional=False)
    return build_model(config)


def test_token_weights_give_one_distribution_per_hop_or_head_over_the_reviews_tokens():
    ids = np.array([5, 6, 7, 8, 9, 10])
    self_weights = token_weights(model("self"), ids, "fp32")
    mha_weights = token_weights(model("mha"), ids, "fp32")
    assert list(self_weights) == ["pooling"] and list(mha_weights) == ["attention", "pooling"]
    assert self_weights["pooling"].shape == mha_weights["pooling"].shape == (3, 6)  # one row per hop
    assert mha_weights["attention"].shape == (2, 6)  # one row per head
    for rows in (self_weights["pooling"], *mha_weights.values()):  # heads: a mean of per-query distributions
        assert np.allclose(rows.sum(axis=1), 1, atol=1e-5)
    again = token_weights(model("self"), ids, "fp32")
    assert np.array_equal(again["pooling"], self_weights["pooling"])  # eval: no dropout


def test_mha_token_weights_are_the_explicit_attention_averaged_over_queries_and_the_pooling_hops():
    network = model("mha").eval()
    ids = np.array([3, 4, 5, 6])
    _, weights = network.forward_with_attention(torch.from_numpy(ids[None]))
    rows = token_weights(network, ids, "fp32")
    assert np.allclose(rows["attention"], weights["attention"][0].mean(dim=1).detach().numpy())
    assert np.allclose(rows["pooling"], weights["pooling"][0].detach().numpy())


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
                                {"self": 0.9, "mha": 0.2}, "fp32")
    assert len(example.weights["self"]["pooling"]) == len(example.weights["mha"]["pooling"]) == 3
    assert len(example.weights["mha"]["attention"]) == 2
    assert sum(example.weights["mha"]["attention"][1]) == pytest.approx(1, abs=1e-4)
