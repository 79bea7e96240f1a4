"""Two revisions' results compared (pipeline/experiments.py) on constructed sides: which pairs may be compared, and the
verdict being the architectures' own. The DVC path (revisions, experiments, the cache) is tested end to end in
test_pipeline.py."""

import dataclasses

import numpy as np
import pytest

from pipeline.comparison import compare_architectures
from pipeline.errors import PipelineError
from pipeline.experiments import ScoredRevision, changed_params, compare_revisions, why_not_comparable, versus_lines
from tests.conftest import typed_small_params

LABELS = np.array([1, 0] * 10_000)


def side(name: str, scores: dict[str, dict[int, np.ndarray]], reviews: str = "raw-md5", **overrides) -> ScoredRevision:
    params = typed_small_params(**({"train.seeds": [42, 43, 44]} | overrides))
    digests = {kind: str(hash(tuple(np.concatenate(list(seeds.values()))))) for kind, seeds in scores.items()}
    return ScoredRevision(name, params, reviews, LABELS, scores, digests)


def probabilities(accuracies: list[float], seed: int) -> dict[int, np.ndarray]:
    """Per seed, probabilities right on the first round(accuracy * n) reviews of a shuffled order."""
    rng = np.random.default_rng(seed)
    scored = {}
    for index, accuracy in enumerate(accuracies):
        right = np.zeros(len(LABELS), bool)
        right[rng.permutation(len(LABELS))[: round(accuracy * len(LABELS))]] = True
        scored[42 + index] = np.where(right == LABELS.astype(bool), 0.9, 0.1)
    return scored


SELF = probabilities([0.90, 0.91, 0.905], seed=1)
SEEDS = list(range(42, 52))


def test_the_verdict_per_architecture_is_the_one_the_architectures_get():
    baseline = side("HEAD", {"self": SELF, "mha": probabilities([0.80, 0.81, 0.805], seed=2)})
    candidate = side("workspace", {"self": SELF, "mha": probabilities([0.88, 0.885, 0.89], seed=3)},
                     **{"model.heads": 4})
    found = compare_revisions(baseline, candidate)
    assert found["self"] is None  # the same models on both sides: nothing to compare
    assert found["mha"] == compare_architectures(LABELS, {"candidate": candidate.scores["mha"],
                                                          "baseline": baseline.scores["mha"]}, 0.005, 20)
    assert found["mha"]["outcome"] == "better_beyond_margin" and found["mha"]["winner"] == "candidate"
    assert changed_params(baseline.params, candidate.params) == {"model.heads": (2, 4)}
    lines = versus_lines(baseline, candidate, found)
    assert lines[0] == "workspace against HEAD: model.heads 2 -> 4"
    assert lines[1] == "Self-attention: the same models on both sides (the change left its stages alone)"
    assert lines[2].startswith("Multi-head attention: HEAD 80.50% over 3 seeds, workspace 88.50% over 3 seeds; "
                               "workspace is better by more than the 0.50-point margin over 3 seeds: workspace minus "
                               "HEAD +8.00 points [")
    assert "P(workspace better by more than 0.50) = 1.00" in lines[2]


def test_a_change_that_moves_nothing_is_a_tie_the_verdict_calls_equivalent():
    accuracies = [0.900, 0.901, 0.899, 0.9005, 0.8995, 0.9002, 0.8998, 0.9001, 0.8999, 0.9]
    baseline = side("HEAD", {"self": SELF, "mha": probabilities(accuracies, seed=4)}, **{"train.seeds": SEEDS})
    candidate = side("workspace", {"self": SELF, "mha": probabilities(accuracies[::-1], seed=5)},
                     **{"train.seeds": SEEDS, "model.dropout": 0.2})
    tie = compare_revisions(baseline, candidate)["mha"]
    assert tie["outcome"] == "equivalent" and tie["winner"] is None and tie["difference"] == pytest.approx(0)
    assert -0.005 < tie["ci_low"] < 0 < tie["ci_high"] < 0.005 and tie["p_equivalent"] > 0.99
    assert "Practically equivalent over 10 seeds (within +-0.50 points): workspace minus HEAD +0.00 points [" in (
        versus_lines(baseline, candidate, {"mha": tie})[1])


@pytest.mark.parametrize("change, reviews, reason", [
    ({"tokenize.eval_max_len": 100}, "raw-md5",
     "they read the test reviews to different lengths (tokenize.eval_max_len 128 vs 100)"),
    ({"data.limit": 200}, "other-md5", "they were scored on different test reviews (data.limit 300 vs 200)"),
    ({}, "other-md5", "they were scored on different test reviews (the download stage wrote other reviews)"),
])
def test_sides_scored_on_other_test_reviews_are_refused_naming_the_difference(change, reviews, reason):
    scores = {"self": SELF, "mha": SELF}
    with pytest.raises(PipelineError) as refused:
        compare_revisions(side("HEAD", scores), side("exp-1", scores, reviews, **change))
    assert str(refused.value) == (f"cannot compare exp-1 with HEAD: {reason}; compare revisions that score the same "
                                  f"test reviews to the same tokenize.eval_max_len")


def test_the_same_test_reviews_under_other_params_are_comparable():
    scores = {"self": SELF, "mha": SELF}
    flipped = dataclasses.replace(side("exp-1", scores), labels=1 - LABELS)
    assert "different test reviews" in why_not_comparable(side("HEAD", scores), flipped)
    # the model, the training, the vocabulary or the validation split (data.seed, for IMDB's fixed test split)
    # leave the test reviews as they were
    assert why_not_comparable(side("HEAD", scores), side("exp-1", scores, **{
        "tokenize.vocab_size": 300, "train.lr": 0.01, "data.seed": 7, "data.val_fraction": 0.2})) is None
