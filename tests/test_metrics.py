import numpy as np
import pytest

from pipeline.metrics import classification_metrics


def test_classification_metrics_match_hand_counts():
    labels = np.array([1, 1, 1, 0, 0, 0])
    probabilities = np.array([0.9, 0.8, 0.3, 0.6, 0.2, 0.1])
    metrics = classification_metrics(labels, probabilities)
    assert (metrics["true_positives"], metrics["false_negatives"]) == (2, 1)
    assert (metrics["true_negatives"], metrics["false_positives"]) == (2, 1)
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["precision"] == pytest.approx(2 / 3) and metrics["recall"] == pytest.approx(2 / 3)
    assert metrics["roc_auc"] == pytest.approx(8 / 9)


def test_a_model_that_predicts_one_class_gets_zero_f1_not_an_error():
    metrics = classification_metrics(np.array([1, 0, 1, 0]), np.zeros(4))
    assert metrics["f1"] == 0.0 and metrics["accuracy"] == 0.5 and metrics["roc_auc"] == 0.5
