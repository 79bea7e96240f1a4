"""Is one architecture more accurate than the other, by a margin that matters, beyond one training run and one
test set?

Each architecture is trained with several seeds and every trained model scores the same test reviews. The difference
in mean accuracy then varies for two reasons: another set of seeds trains other models (training-seed variance), and
another test set holds other reviews (test-sample variance). The interval here adds both:

- seeds: the variance of each architecture's mean accuracy over its seeds, s^2 / n, as in Welch's t-test;
- test reviews: the variance of the mean, over test reviews, of the per-review difference between the two
  architectures' seed-averaged correctness (the paired reviews' own noise), var(d_i) / N.

The two are added and the interval uses Student's t with Welch-Satterthwaite degrees of freedom. The test term also
holds part of the seeds' disagreement on single reviews, so the interval errs on the wide side, never the narrow one.

The verdict reads the interval against a margin of practical equivalence, [-margin, +margin] (Kruschke 2018's ROPE):
wholly beyond it, one architecture is better by more than the margin; excluding zero, it is better; wholly inside,
the two are practically equivalent; otherwise the question is not resolved. The interval is a repeated confidence
interval (pipeline/sequential.py), so the verdict keeps its error rates when seeds are added and it is read again.
Beside it, the probability that the difference lies above, inside and below the margin, from the same Student t
taken as a posterior (as Benavoli et al. 2017's Bayesian correlated t-test and the baycomp library report them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import stdtr, stdtrit

from pipeline.decision import is_right
from pipeline.metrics import CONFIDENCE, classification_metrics
from pipeline.sequential import critical_value, look_error, normal_critical_value

ERROR = 1 - CONFIDENCE  # spent over every look up to the planned maximum of seeds
OUTCOMES = ("better_beyond_margin", "better", "equivalent", "not_resolved", "one_seed")
DECIDED = OUTCOMES[:3]


@dataclass(frozen=True)
class Evidence:
    """What the verdict reads off two architectures' results on the same test reviews."""

    first: tuple[float, ...]  # each seed's test accuracy, first architecture
    second: tuple[float, ...]
    test_variance: float  # the test sample's variance of the difference, as measured with these seeds
    lasting_test_variance: float  # its part that no number of seeds removes: the reviews' own
    reviews: int

    @property
    def seeds(self) -> int:
        return min(len(self.first), len(self.second))

    @property
    def difference(self) -> float:
        return float(np.mean(self.first) - np.mean(self.second))

    def terms(self, seeds: int | None = None) -> list[tuple[float, float]]:
        """The difference's variance terms, each (variance, degrees of freedom): each architecture's seeds and the
        test sample, as measured, or as expected with `seeds` seeds per architecture and the spread as measured
        (the test term's seed part then shrinks as 1 / seeds)."""
        counts = (len(self.first), len(self.second)) if seeds is None else (seeds, seeds)
        test = self.test_variance
        if seeds is not None:
            test = self.lasting_test_variance + (test - self.lasting_test_variance) * self.seeds / seeds
        return [(float(np.var(self.first, ddof=1)) / counts[0], counts[0] - 1),
                (float(np.var(self.second, ddof=1)) / counts[1], counts[1] - 1),
                (test, self.reviews - 1)]


def measure(first_right: np.ndarray, second_right: np.ndarray) -> Evidence:
    """From two (seeds x test reviews) arrays saying whether each seed's model classified each review right."""
    first_right, second_right = np.asarray(first_right, float), np.asarray(second_right, float)
    per_review = first_right.mean(axis=0) - second_right.mean(axis=0)
    reviews = per_review.size
    spread_of_reviews = float(per_review.var(ddof=1)) if reviews > 1 else 0.0
    # the seeds' disagreement on single reviews: what averaging over more seeds takes out of var(d_i)
    disagreement = sum(float(right.var(axis=0, ddof=1).mean()) / len(right)
                       for right in (first_right, second_right) if len(right) > 1)
    return Evidence(tuple(first_right.mean(axis=1)), tuple(second_right.mean(axis=1)), spread_of_reviews / reviews,
                    max(spread_of_reviews - disagreement, 0.0) / reviews, reviews)


@dataclass(frozen=True)
class Verdict:
    """First architecture's mean accuracy minus the second's, its interval and what it decides."""

    outcome: str  # one of OUTCOMES
    difference: float
    low: float | None  # the repeated confidence interval; None with one seed
    high: float | None
    seeds: int  # the smaller of the two architectures' seed counts
    max_seeds: int  # the plan the interval's error is spread over
    margin: float
    above: float | None  # probability that the difference exceeds +margin
    inside: float | None  # that it lies within [-margin, +margin]
    below: float | None  # that it is below -margin
    decidable: bool  # False: the test set's own noise keeps the question open, whatever the seeds (see _undecidable)
    look_error: float | None  # the two-sided error this look's interval leaves out
    seed_variance: float
    test_variance: float
    lasting_test_variance: float

    @property
    def decided(self) -> bool:
        return self.outcome in DECIDED

    @property
    def first_is_better(self) -> bool | None:
        """True or False when one architecture is better (by the margin or not); None otherwise."""
        return self.low > 0 if self.outcome in ("better_beyond_margin", "better") else None


def next_look(seeds: int, outcome: str, decidable: bool, round_size: int, max_seeds: int) -> int | None:
    """How many seeds per architecture the next look should have, when adding seeds in rounds of `round_size`;
    None when this look ends the question: decided, undecidable by seeds, or at the maximum."""
    if outcome in DECIDED or not decidable or seeds >= max_seeds:
        return None
    return min(seeds + round_size, max_seeds)


def outcome(low: float, high: float, margin: float) -> str:
    """Where an interval lies against zero and the margin of practical equivalence."""
    if low > margin or high < -margin:
        return "better_beyond_margin"
    if -margin <= low and high <= margin:
        return "equivalent"
    if low > 0 or high < 0:
        return "better"
    return "not_resolved"


def decide(evidence: Evidence, margin: float, max_seeds: int) -> Verdict:
    """The verdict at this look: the repeated confidence interval of the difference read against the margin."""
    difference, seeds = evidence.difference, evidence.seeds
    if seeds < 2:
        return Verdict("one_seed", difference, None, None, seeds, max_seeds, margin, None, None, None, True,
                       None, 0.0, evidence.test_variance, evidence.lasting_test_variance)
    terms = evidence.terms()
    low, high = _look_interval(difference, terms, seeds, max_seeds)
    found = outcome(low, high, margin)
    above, inside, below = _probabilities(difference, *_pooled(terms), margin)
    decidable = found in DECIDED or not _undecidable(evidence, margin, max_seeds)
    return Verdict(found, difference, low, high, seeds, max_seeds, margin, above, inside, below, decidable,
                   look_error(seeds, max_seeds, ERROR), terms[0][0] + terms[1][0], evidence.test_variance,
                   evidence.lasting_test_variance)


def _undecidable(evidence: Evidence, margin: float, max_seeds: int) -> bool:
    """Whether no number of seeds could decide it. With ever more seeds the measured difference tends to this test
    set's own difference D, and the interval to D +- h, h being the reviews' own noise read at the last look's
    boundary: a D with margin - h <= |D| <= h leaves that interval holding zero and reaching past the margin. D is
    uncertain only through the seeds, so the question is undecidable when D's interval from the seeds' noise alone
    (at this look's critical value) lies wholly in that band. More test reviews would shrink h."""
    lasting = normal_critical_value(look_error(max_seeds, max_seeds, ERROR)) * math.sqrt(evidence.lasting_test_variance)
    first, second, test = evidence.terms()
    seeds_alone = [first, second, (test[0] - evidence.lasting_test_variance, test[1])]
    low, high = _look_interval(evidence.difference, seeds_alone, evidence.seeds, max_seeds)
    band = (margin - lasting, lasting)
    return band[0] <= band[1] and (band[0] <= low and high <= band[1] or -band[1] <= low and high <= -band[0])


def seeds_needed(evidence: Evidence, margin: float, max_seeds: int) -> int | None:
    """For a question still open, the fewest seeds per architecture whose interval would decide, if the difference
    and the spreads stayed as measured; None when not within max_seeds (or with one seed: no spread yet)."""
    if evidence.seeds < 2:
        return None
    for seeds in range(evidence.seeds + 1, max_seeds + 1):
        if outcome(*_look_interval(evidence.difference, evidence.terms(seeds), seeds, max_seeds), margin) in DECIDED:
            return seeds
    return None


def _look_interval(difference: float, terms: list[tuple[float, float]], seeds: int,
                   max_seeds: int) -> tuple[float, float]:
    """The repeated confidence interval around `difference` at the look with `seeds` seeds per architecture."""
    variance, freedom = _pooled(terms)
    half_width = critical_value(seeds, max_seeds, ERROR, freedom) * math.sqrt(variance)
    return difference - half_width, difference + half_width


def _pooled(terms: list[tuple[float, float]]) -> tuple[float, float]:
    """The variance of a sum of independent variance terms, each (variance, degrees of freedom), and its
    Welch-Satterthwaite degrees of freedom."""
    variance = sum(value for value, _ in terms)
    spread_of_variance = sum(value**2 / dof for value, dof in terms if dof > 0 and value > 0)
    return variance, (variance**2 / spread_of_variance if spread_of_variance else math.inf)


def _probabilities(difference: float, variance: float, freedom: float, margin: float) -> tuple[float, float, float]:
    """P(above +margin), P(inside), P(below -margin) for a Student t centred on the difference."""
    if variance == 0:
        above, below = float(difference > margin), float(difference < -margin)
    else:
        scale = math.sqrt(variance)
        above = float(stdtr(freedom, (difference - margin) / scale))
        below = float(stdtr(freedom, (-margin - difference) / scale))
    return above, max(1.0 - above - below, 0.0), below  # not -0.00 from rounding


def spread(values: list[float]) -> dict[str, float]:
    """Mean, standard deviation (n - 1; 0 for one value), lowest and highest of a score over seeds."""
    array = np.asarray(values, dtype=float)
    return {"mean": float(array.mean()), "std": float(array.std(ddof=1)) if array.size > 1 else 0.0,
            "min": float(array.min()), "max": float(array.max())}


def mean_interval(values: list[float]) -> tuple[float, float] | None:
    """95% t-interval of a mean over seeds (the seeds' spread only); None for a single seed."""
    if len(values) < 2:
        return None
    mean = float(np.mean(values))
    standard_error = float(np.std(values, ddof=1)) / math.sqrt(len(values))
    half_width = float(-stdtrit(len(values) - 1, ERROR / 2)) * standard_error
    return mean - half_width, mean + half_width


SCORES = ("accuracy", "f1", "roc_auc")  # each seed's, summarised over seeds


def seed_ensemble(probabilities: dict[int, np.ndarray]) -> np.ndarray:
    """The seeds' models as one classifier: the mean of their probabilities of positive."""
    return np.mean(list(probabilities.values()), axis=0)


def architecture_scores(labels: np.ndarray, probabilities: dict[int, np.ndarray]) -> dict[str, dict]:
    """One architecture on the test split: each seed's scores, their mean, std, lowest and highest, and the scores of
    the seed ensemble (the mean of the seeds' probabilities)."""
    seeds = {str(seed): classification_metrics(labels, scores) for seed, scores in probabilities.items()}
    ensemble = classification_metrics(labels, seed_ensemble(probabilities))
    return over_seeds(list(seeds.values()), SCORES) | {"ensemble": ensemble, "seeds": seeds}


def over_seeds(per_seed: list[dict[str, float]], keys) -> dict[str, dict[str, float]]:
    """Each key's spread over the seeds, by statistic: {"mean": {key: ...}, "std": ..., "min": ..., "max": ...}."""
    summaries = {key: spread([scores[key] for scores in per_seed]) for key in keys}
    return {statistic: {key: summaries[key][statistic] for key in keys} for statistic in ("mean", "std", "min", "max")}


def compare_architectures(labels: np.ndarray, probabilities: dict[str, dict[int, np.ndarray]], margin: float,
                          max_seeds: int) -> dict[str, object]:
    """metrics.json's verdict on the difference in mean accuracy between the two architectures (the first named minus
    the second): its interval, outcome and probabilities, and the variance terms behind them."""
    right = {name: np.array([is_right(scores, labels) for scores in seeds.values()])
             for name, seeds in probabilities.items()}
    return compare_per_review(right, margin, max_seeds)


def compare_per_review(values: dict[str, np.ndarray], margin: float, max_seeds: int) -> dict[str, object]:
    """The verdict on the difference in the mean of a per-review measure between two sides (the first named minus
    the second), each given as a (seeds x test reviews) array on the same reviews: whether a review was classified
    right, for accuracy, or any other measure of one review by one seed's model."""
    first, second = values
    evidence = measure(values[first], values[second])
    found = decide(evidence, margin, max_seeds)
    winner = {True: first, False: second, None: None}[found.first_is_better]
    return {
        "compared": [first, second],
        "outcome": found.outcome,
        "winner": winner,
        "difference": found.difference,
        "ci_low": found.low,
        "ci_high": found.high,
        "margin": margin,
        f"p_{first}_better": found.above,
        "p_equivalent": found.inside,
        f"p_{second}_better": found.below,
        "seeds": found.seeds,
        "max_seeds": max_seeds,
        "seeds_needed": None if found.decided or not found.decidable else seeds_needed(evidence, margin, max_seeds),
        "decidable": found.decidable,
        "look_error": found.look_error,
        "seed_variance": found.seed_variance,
        "test_variance": found.test_variance,
        "lasting_test_variance": found.lasting_test_variance,
    }
