"""Is one architecture more accurate than the other, beyond one training run and one test set?

Each architecture is trained with several seeds and every trained model scores the same test reviews. The difference
in mean accuracy then varies for two reasons: another set of seeds trains other models (training-seed variance), and
another test set holds other reviews (test-sample variance). The interval here adds both:

- seeds: the variance of each architecture's mean accuracy over its seeds, s^2 / n, as in Welch's t-test;
- test reviews: the variance of the mean, over test reviews, of the per-review difference between the two
  architectures' seed-averaged correctness (the paired reviews' own noise), var(d_i) / N.

The two are added and the 95% interval uses Student's t with Welch-Satterthwaite degrees of freedom, which with
three seeds per model are few: the interval is wide, as it should be. The test term also holds part of the seeds'
disagreement on single reviews, so the interval errs on the wide side, never the narrow one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import t as student_t

from pipeline.decision import is_right
from pipeline.metrics import CONFIDENCE, classification_metrics

MAX_SEEDS_NEEDED = 1000  # beyond this, "how many seeds would resolve it" has no useful answer


@dataclass(frozen=True)
class Difference:
    """First architecture's mean accuracy minus the second's, with its interval; no interval with one seed each."""

    difference: float
    low: float | None
    high: float | None
    seeds: int  # the smaller of the two architectures' seed counts
    seed_variance: float  # the difference's variance from the seeds (0 when a model has a single seed)
    test_variance: float  # the difference's variance from the test sample

    @property
    def resolved(self) -> bool:
        """The interval excludes zero: the sign of the difference holds beyond these seeds and these reviews."""
        return self.low is not None and (self.low > 0 or self.high < 0)

    @property
    def first_is_better(self) -> bool:
        return self.resolved and self.low > 0


def accuracy_difference(first_right: np.ndarray, second_right: np.ndarray) -> Difference:
    """From two (seeds x test reviews) arrays saying whether each seed's model classified each review right."""
    first_right, second_right = np.asarray(first_right, float), np.asarray(second_right, float)
    first_accuracy, second_accuracy = first_right.mean(axis=1), second_right.mean(axis=1)
    difference = float(first_accuracy.mean() - second_accuracy.mean())
    per_review = first_right.mean(axis=0) - second_right.mean(axis=0)
    reviews = per_review.size
    test_variance = float(per_review.var(ddof=1) / reviews) if reviews > 1 else 0.0
    seeds = min(len(first_accuracy), len(second_accuracy))
    if seeds < 2:
        return Difference(difference, None, None, seeds, 0.0, test_variance)
    terms = [(first_accuracy.var(ddof=1) / len(first_accuracy), len(first_accuracy) - 1),
             (second_accuracy.var(ddof=1) / len(second_accuracy), len(second_accuracy) - 1),
             (test_variance, reviews - 1)]
    seed_variance = float(terms[0][0] + terms[1][0])
    half_width = _half_width(terms)
    return Difference(difference, difference - half_width, difference + half_width, seeds, seed_variance,
                      test_variance)


def _half_width(terms: list[tuple[float, int]]) -> float:
    """Half the width of the t-interval of a sum of independent variance terms, each (variance, degrees of freedom),
    with Welch-Satterthwaite's degrees of freedom."""
    variance = sum(value for value, _ in terms)
    if variance == 0:
        return 0.0
    spread_of_variance = sum(value**2 / dof for value, dof in terms if dof > 0 and value > 0)
    freedom = variance**2 / spread_of_variance if spread_of_variance else math.inf
    return float(student_t.ppf((1 + CONFIDENCE) / 2, freedom) * math.sqrt(variance))


def seeds_needed(first_accuracies: list[float], second_accuracies: list[float], found: Difference) -> int | None:
    """Roughly how many seeds per architecture would make an interval exclude zero, if the difference and the seeds'
    spread stayed as measured; None when no number of seeds would (no difference, or the test set's own noise is
    already as large as the difference: only more test reviews would help)."""
    if found.seeds < 2 or found.difference == 0:
        return None
    spread = float(np.var(first_accuracies, ddof=1) + np.var(second_accuracies, ddof=1))
    reviews_dof = 10**6  # the test term's degrees of freedom: in the thousands, as good as infinite here
    for seeds in range(found.seeds + 1, MAX_SEEDS_NEEDED + 1):
        terms = [(spread / 2 / seeds, seeds - 1), (spread / 2 / seeds, seeds - 1), (found.test_variance, reviews_dof)]
        if _half_width(terms) < abs(found.difference):
            return seeds
    return None


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
    half_width = _half_width([(float(np.var(values, ddof=1)) / len(values), len(values) - 1)])
    return mean - half_width, mean + half_width


SCORES = ("accuracy", "f1", "roc_auc")  # each seed's, summarised over seeds


def seed_ensemble(probabilities: dict[int, np.ndarray]) -> np.ndarray:
    """The seeds' models as one classifier: the mean of their probabilities of positive."""
    return np.mean(list(probabilities.values()), axis=0)


def architecture_scores(labels: np.ndarray, probabilities: dict[int, np.ndarray]) -> dict[str, dict]:
    """One architecture on the test split: each seed's scores, their mean, std, lowest and highest, and the scores of
    the seed ensemble (the mean of the seeds' probabilities)."""
    seeds = {str(seed): classification_metrics(labels, scores) for seed, scores in probabilities.items()}
    summaries = {score: spread([scored[score] for scored in seeds.values()]) for score in SCORES}
    over_seeds = {statistic: {score: summaries[score][statistic] for score in SCORES}
                  for statistic in ("mean", "std", "min", "max")}
    ensemble = classification_metrics(labels, seed_ensemble(probabilities))
    return over_seeds | {"ensemble": ensemble, "seeds": seeds}


def compare_architectures(labels: np.ndarray, probabilities: dict[str, dict[int, np.ndarray]]) -> dict[str, object]:
    """The difference in mean accuracy between the two architectures (the first named minus the second), its
    interval, and the verdict: a winner only when the interval excludes zero."""
    first, second = probabilities
    right = {name: np.array([is_right(scores, labels) for scores in seeds.values()])
             for name, seeds in probabilities.items()}
    found = accuracy_difference(right[first], right[second])
    winner = (first if found.first_is_better else second) if found.resolved else None
    return {
        "difference": found.difference,
        "ci_low": found.low,
        "ci_high": found.high,
        "seeds": found.seeds,
        "resolved": found.resolved,
        "winner": winner,
        "seeds_needed": seeds_needed(list(right[first].mean(axis=1)), list(right[second].mean(axis=1)), found),
        "seed_variance": found.seed_variance,
        "test_variance": found.test_variance,
    }
