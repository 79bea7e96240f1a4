"""The verdict on the architectures: its outcomes, interval, probabilities and sequential error rates, on constructed
results whose answer is known."""

import math

import numpy as np
import pytest
from scipy.stats import ttest_ind

from benchmarks.decision_simulation import Setting, simulate, wrong_winner
from pipeline.comparison import (
    Evidence,
    architecture_scores,
    compare_architectures,
    decide,
    mean_interval,
    measure,
    next_look,
    outcome,
    seeds_needed,
    spread,
)
from pipeline.sequential import critical_value, look_error, two_sided_boundaries

MARGIN = 0.005  # 0.5 accuracy points


def right_answers(accuracies: list[float], reviews: int, rng: np.random.Generator) -> np.ndarray:
    """(seeds x reviews): each seed right on a random set of exactly round(accuracy * reviews) reviews."""
    rows = np.zeros((len(accuracies), reviews), dtype=bool)
    for row, accuracy in zip(rows, accuracies):
        row[rng.choice(reviews, round(accuracy * reviews), replace=False)] = True
    return rows


@pytest.mark.parametrize("low, high, expected", [
    (0.6, 1.0, "better_beyond_margin"), (-1.0, -0.6, "better_beyond_margin"),
    (0.5, 1.0, "better"),  # touching the margin is not beyond it
    (0.1, 0.6, "better"), (-0.7, -0.2, "better"),
    (0.1, 0.4, "equivalent"),  # inside the margin, even though it excludes zero
    (-0.5, 0.5, "equivalent"),  # the margin's edges belong to it
    (-0.1, 0.6, "not_resolved"), (-0.6, 0.6, "not_resolved"), (-0.51, 0.2, "not_resolved"),
])
def test_the_outcome_is_where_the_interval_lies_against_zero_and_the_margin(low, high, expected):
    assert outcome(low, high, 0.5) == expected


def test_the_interval_is_welchs_over_seeds_plus_the_test_term_at_the_looks_critical_value():
    rng = np.random.default_rng(2)
    first, second = [0.900, 0.893, 0.895, 0.897], [0.892, 0.894, 0.890]
    evidence = measure(right_answers(first, 400_000, rng), right_answers(second, 400_000, rng))
    found = decide(evidence, MARGIN, max_seeds=20)
    assert evidence.test_variance < found.seed_variance / 20  # a huge test set: the seeds' spread dominates
    welch = ttest_ind(first, second, equal_var=False)
    standard_error = math.sqrt(np.var(first, ddof=1) / 4 + np.var(second, ddof=1) / 3)
    c = critical_value(3, 20, 0.05, welch.df)  # the test term adds a little variance and some degrees of freedom
    assert found.seeds == 3 and found.difference == pytest.approx(np.mean(first) - np.mean(second))
    assert found.high - found.low == pytest.approx(2 * c * standard_error, rel=0.04)
    assert c > critical_value(20, 20, 0.05, math.inf) > 1.96  # every look pays for the others


def test_the_four_outcomes_and_the_winner_from_real_right_answers():
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 2, 20_000)

    def seeds_of(accuracies):
        return {42 + n: np.where(right, labels, 1 - labels).astype(float)
                for n, right in enumerate(right_answers(accuracies, labels.size, rng))}

    def verdict(first, second, margin=MARGIN):
        return compare_architectures(labels, {"self": seeds_of(first), "mha": seeds_of(second)}, margin, 20)

    clear = verdict([0.90, 0.905, 0.91, 0.90], [0.80, 0.81, 0.805, 0.80])
    assert clear["outcome"] == "better_beyond_margin" and clear["winner"] == "self" and clear["ci_low"] > MARGIN
    assert clear["p_self_better"] > 0.99 and clear["seeds_needed"] is None
    small = verdict([0.803, 0.804, 0.803, 0.804, 0.803, 0.804], [0.80, 0.801, 0.80, 0.801, 0.80, 0.801],
                    margin=0.02)
    assert small["outcome"] == "equivalent" and small["winner"] is None and small["p_equivalent"] > 0.99
    mha = verdict([0.80, 0.80, 0.801, 0.80, 0.801, 0.80], [0.83, 0.831, 0.83, 0.831, 0.83, 0.831], margin=0.03)
    assert mha["outcome"] == "better" and mha["winner"] == "mha" and -0.03 < mha["ci_high"] < 0
    tie = verdict([0.85, 0.87, 0.86], [0.86, 0.85, 0.87])
    assert tie["outcome"] == "not_resolved" and tie["winner"] is None and tie["ci_low"] < 0 < tie["ci_high"]
    assert tie["decidable"] and tie["p_self_better"] + tie["p_equivalent"] + tie["p_mha_better"] == pytest.approx(1)
    single = verdict([0.9], [0.8])
    assert single["outcome"] == "one_seed" and single["winner"] is None and single["ci_low"] is None
    assert single["p_equivalent"] is None and single["seeds_needed"] is None and single["seeds"] == 1


def test_the_probabilities_match_a_monte_carlo_draw_from_the_same_student_t():
    evidence = Evidence((0.902, 0.897, 0.899), (0.894, 0.897, 0.893), 3e-6, 2e-6, 25_000)
    found = decide(evidence, MARGIN, 20)
    variance = sum(value for value, _ in evidence.terms())
    freedom = variance**2 / sum(value**2 / dof for value, dof in evidence.terms())
    draws = evidence.difference + math.sqrt(variance) * np.random.default_rng(0).standard_t(freedom, 400_000)
    assert found.above == pytest.approx(np.mean(draws > MARGIN), abs=0.003)
    assert found.below == pytest.approx(np.mean(draws < -MARGIN), abs=0.003)
    assert found.inside == pytest.approx(np.mean(np.abs(draws) <= MARGIN), abs=0.003)


def test_pocock_type_boundaries_match_the_published_ones_and_spend_exactly_alpha():
    # Lan-DeMets Pocock-type spending, 5 equally spaced looks, two-sided 0.05 (e.g. R gsDesign's sfLDPocock)
    assert two_sided_boundaries([0.2, 0.4, 0.6, 0.8, 1.0], 0.05) == pytest.approx(
        [2.4380, 2.4268, 2.4101, 2.3966, 2.3859], abs=2e-3)
    assert two_sided_boundaries([1.0], 0.05) == pytest.approx([1.95996], abs=1e-4)
    # a Brownian motion observed at the looks crosses the boundaries 5% of the time
    fractions = np.arange(2, 21) / 20
    bounds = two_sided_boundaries(list(fractions), 0.05)
    steps = np.random.default_rng(1).normal(size=(200_000, len(fractions))) * np.sqrt(np.diff(fractions, prepend=0))
    z = np.cumsum(steps, axis=1) / np.sqrt(fractions)
    assert np.mean((np.abs(z) >= bounds).any(axis=1)) == pytest.approx(0.05, abs=0.003)
    assert look_error(3, 20, 0.05) < 0.01 and look_error(20, 20, 0.05) < 0.05


def test_repeated_looks_keep_both_error_rates_under_five_percent(capsys):
    """Seeds added two at a time from three until decided, with seed and test-set noise as measured on IMDB."""
    setting = Setting()
    rows = {}
    for share in (0, 0.5, 1, 2):
        rows[share] = simulate(share * setting.margin, setting, comparisons=600 if share in (0, 2) else 200,
                               seed=11)
    null, wide = rows[0], rows[2]
    assert wrong_winner(null[0]) / 600 <= 0.05  # no difference, yet a winner named
    assert wide[0]["equivalent"] / 600 <= 0.05  # twice the margin, yet called equivalent
    assert wide[0]["better"] + wide[0]["better_beyond_margin"] > 0.9 * 600
    assert rows[0][1] > rows[2][1]  # a clear difference is decided with fewer seeds
    with capsys.disabled():
        print("\ntrue difference / margin: mean seeds per architecture  "
              + ", ".join(f"{share}: {seeds:.1f}" for share, (_, seeds) in rows.items()))


def test_the_interval_covers_the_true_difference_at_least_95_percent_of_the_time():
    """Simulated experiments where the truth is known: every review has a difficulty, each architecture a skill and
    each trained model a seed effect; a test set is a sample of reviews. The true difference is the architectures'
    expected accuracy gap over all reviews and all seeds."""
    rng = np.random.default_rng(3)
    population = rng.normal(1.8, 1.5, 200_000)  # review easiness (logit scale)
    skill = {"first": 0.10, "second": 0.0}
    seed_sd = 0.08

    def accuracy(easiness, shift):
        return 1 / (1 + np.exp(-(easiness + shift)))

    effects = rng.normal(0, seed_sd, 20_000)
    truth = np.mean([accuracy(population, skill["first"] + e).mean() - accuracy(population, skill["second"] + f).mean()
                     for e, f in zip(effects[:200], effects[200:400])])
    covered, experiments = 0, 400
    for _ in range(experiments):
        easiness = rng.choice(population, 2000)
        right = {name: np.array([rng.random(easiness.size) < accuracy(easiness, shift + rng.normal(0, seed_sd))
                                 for _ in range(3)]) for name, shift in skill.items()}
        found = decide(measure(right["first"], right["second"]), MARGIN, max_seeds=3)
        covered += found.low <= truth <= found.high
    assert 0.94 <= covered / experiments <= 0.999


def test_more_seeds_are_asked_for_until_decided_undecidable_or_at_the_maximum():
    assert next_look(3, "not_resolved", True, 2, 20) == 5 and next_look(19, "not_resolved", True, 2, 20) == 20
    assert next_look(1, "one_seed", True, 2, 20) == 3
    assert next_look(20, "not_resolved", True, 2, 20) is None and next_look(5, "not_resolved", False, 2, 20) is None
    assert all(next_look(3, decided, True, 2, 20) is None for decided in ("better_beyond_margin", "better",
                                                                          "equivalent"))


def test_seeds_needed_grows_as_the_gap_shrinks_and_the_test_sets_own_noise_can_make_seeds_useless():
    wide = Evidence((0.88, 0.90, 0.89), (0.885, 0.875, 0.88), 3e-6, 2e-6, 25_000)
    closer = Evidence((0.885, 0.895, 0.890), (0.877, 0.867, 0.872), 3e-6, 2e-6, 25_000)  # same spread, wider gap
    assert decide(wide, MARGIN, 20).outcome == "not_resolved"
    assert 3 < seeds_needed(closer, MARGIN, 20) < seeds_needed(wide, MARGIN, 20) <= 20
    # a gap of +0.35 points measured to +-0.05 (many seeds) while the test set alone is +-0.2 points: with infinitely
    # many seeds the interval would still hold zero and reach past the margin
    stuck = Evidence(tuple(0.8935 + 0.001 * np.sin(np.arange(40))), tuple(0.89 + 0.001 * np.cos(np.arange(40))),
                     4.1e-6, 4e-6, 25_000)
    found = decide(stuck, MARGIN, 40)
    assert found.outcome == "not_resolved" and not found.decidable
    assert decide(wide, MARGIN, 20).decidable


def test_an_architectures_scores_hold_each_seed_their_spread_and_the_seed_ensemble():
    labels = np.array([0, 0, 1, 1])
    probabilities = {42: np.array([0.1, 0.6, 0.7, 0.9]), 43: np.array([0.2, 0.3, 0.4, 0.8])}
    scores = architecture_scores(labels, probabilities)
    assert list(scores["seeds"]) == ["42", "43"]
    assert [scores["seeds"][seed]["accuracy"] for seed in ("42", "43")] == [0.75, 0.75]
    assert scores["mean"]["accuracy"] == 0.75 and scores["std"]["accuracy"] == 0
    assert scores["ensemble"]["accuracy"] == 1.0  # mean probabilities 0.15, 0.45, 0.55, 0.85
    assert spread([0.8, 0.9]) == pytest.approx({"mean": 0.85, "std": 0.0707107, "min": 0.8, "max": 0.9})
    assert mean_interval([0.8]) is None and mean_interval([0.8, 0.9])[0] < 0.85 < mean_interval([0.8, 0.9])[1]
