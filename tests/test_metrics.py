import numpy as np
import pytest

from pipeline.metrics import accuracy_by_length, accuracy_interval, classification_metrics, mcnemar_exact


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


def test_accuracy_interval_is_wilsons_and_stays_inside_zero_and_one():
    low, high = accuracy_interval(880, 1000)
    assert (low, high) == pytest.approx((0.8584, 0.8987), abs=1e-4)  # Wilson, z = 1.96
    assert accuracy_interval(10, 10)[1] == pytest.approx(1.0) and accuracy_interval(0, 10)[0] == pytest.approx(0.0)
    wide, narrow = accuracy_interval(45, 50), accuracy_interval(22_500, 25_000)
    assert wide[1] - wide[0] > 5 * (narrow[1] - narrow[0])


def test_mcnemar_counts_only_the_reviews_where_the_models_disagree():
    labels = np.array([1] * 12 + [0] * 8)
    first = labels.astype(float)  # right everywhere
    second = first.copy()
    second[:10] = 0.0  # wrong on ten reviews the first gets right
    result = mcnemar_exact(labels, first, second)
    assert (result.only_first_right, result.only_second_right) == (10, 0)
    assert result.p_value == pytest.approx(2 * 0.5**10) and result.significant
    assert mcnemar_exact(labels, first, first).p_value == 1.0
    balanced = mcnemar_exact(labels, first, np.where(np.arange(20) < 2, 1 - labels, labels).astype(float))
    assert balanced.p_value == pytest.approx(0.5) and not balanced.significant


def test_accuracy_by_length_puts_cut_reviews_in_their_own_band_and_keeps_empty_bands():
    labels = np.array([1, 0, 1, 0, 1])
    lengths = np.array([3, 40, 70, 256, 256])
    table = accuracy_by_length(labels, lengths, 256, {"a": np.array([0.9, 0.1, 0.1, 0.1, 0.9])})
    assert table["band"].tolist() == ["1-63 tokens", "64-127 tokens", "128-255 tokens", "256+ tokens (cut in training)"]
    assert table["reviews"].tolist() == [2, 1, 0, 2]
    assert table["accuracy_a"].iloc[0] == 1.0 and table["accuracy_a"].iloc[1] == 0.0
    assert np.isnan(table["accuracy_a"].iloc[2]) and table["accuracy_a"].iloc[3] == 1.0
    one_band = accuracy_by_length(labels, np.ones(5, int), 1, {"a": np.ones(5)})
    assert one_band["band"].tolist() == ["1+ tokens (cut in training)"]
