"""Test-set scores of a classifier, their uncertainty, and the paired test between two classifiers."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import binomtest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_score, recall_score, roc_auc_score

from pipeline.decision import is_right, predicted_labels

CONFIDENCE = 0.95
SIGNIFICANCE = 0.05


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float | int]:
    predicted = predicted_labels(probabilities)
    tn, fp, fn, tp = confusion_matrix(labels, predicted, labels=[0, 1]).ravel()
    both_classes = len(np.unique(labels)) == 2
    low, high = accuracy_interval(int(tn + tp), len(labels))
    return {
        "accuracy": float(accuracy_score(labels, predicted)),
        "accuracy_ci_low": low,
        "accuracy_ci_high": high,
        "precision": float(precision_score(labels, predicted, zero_division=0)),
        "recall": float(recall_score(labels, predicted, zero_division=0)),
        "f1": float(f1_score(labels, predicted, zero_division=0)),
        "roc_auc": float(roc_auc_score(labels, probabilities)) if both_classes else math.nan,
        "true_negatives": int(tn),
        "false_positives": int(fp),
        "false_negatives": int(fn),
        "true_positives": int(tp),
    }


def accuracy_interval(correct: int, total: int) -> tuple[float, float]:
    """Wilson 95% interval for an accuracy: sound near 0 and 1 and on small test sets, unlike +-1.96 SE."""
    interval = binomtest(correct, total).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    return float(interval.low), float(interval.high)


@dataclass(frozen=True)
class PairedTest:
    """McNemar's exact test: do two classifiers err on the same reviews at different rates?"""

    only_first_right: int
    only_second_right: int
    p_value: float

    @property
    def significant(self) -> bool:
        return self.p_value < SIGNIFICANCE


def mcnemar_exact(labels: np.ndarray, first: np.ndarray, second: np.ndarray) -> PairedTest:
    """Only the reviews where exactly one model is right carry information; under "equally good" each
    of those is a fair coin flip, so the p-value is a two-sided binomial test on their split."""
    first_right = is_right(first, labels)
    second_right = is_right(second, labels)
    only_first = int((first_right & ~second_right).sum())
    only_second = int((~first_right & second_right).sum())
    disagreements = only_first + only_second
    p_value = binomtest(only_first, disagreements, 0.5).pvalue if disagreements else 1.0
    return PairedTest(only_first, only_second, float(p_value))


def accuracy_by_length(
    labels: np.ndarray, lengths: np.ndarray, max_len: int, probabilities: dict[str, np.ndarray]
) -> pd.DataFrame:
    """Each model's accuracy in four bands of review length relative to training's `max_len`; the last band
    holds the reviews that training would have cut. Columns: band, min_tokens, reviews, accuracy_<model>."""
    edges = sorted({edge for edge in (1, max_len // 4, max_len // 2, max_len) if edge >= 1})
    names = [f"{low}-{high - 1} tokens" for low, high in zip(edges, edges[1:])]
    names.append(f"{max_len}+ tokens (cut in training)")
    band = np.searchsorted(edges, lengths, side="right") - 1
    table = pd.DataFrame({"band": band})
    for name, probs in probabilities.items():
        table[f"accuracy_{name}"] = is_right(probs, labels).astype(float)
    grouped = table.groupby("band")
    summary = grouped.mean().reindex(range(len(edges)))
    summary.insert(0, "reviews", grouped.size().reindex(range(len(edges)), fill_value=0))
    summary.insert(0, "min_tokens", edges)
    summary.insert(0, "band", names)
    return summary.reset_index(drop=True)

