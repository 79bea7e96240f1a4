"""Test-set scores of a trained classifier, from scikit-learn."""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_score, recall_score, roc_auc_score

from pipeline.training import Batches, predict_proba

INFERENCE_BATCH = 512


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float | int]:
    predicted = (probabilities >= 0.5).astype(int)
    tn, fp, fn, tp = confusion_matrix(labels, predicted, labels=[0, 1]).ravel()
    both_classes = len(np.unique(labels)) == 2
    return {
        "accuracy": float(accuracy_score(labels, predicted)),
        "precision": float(precision_score(labels, predicted, zero_division=0)),
        "recall": float(recall_score(labels, predicted, zero_division=0)),
        "f1": float(f1_score(labels, predicted, zero_division=0)),
        "roc_auc": float(roc_auc_score(labels, probabilities)) if both_classes else math.nan,
        "true_negatives": int(tn),
        "false_positives": int(fp),
        "false_negatives": int(fn),
        "true_positives": int(tp),
    }


def timed_predictions(model: torch.nn.Module, batches: Batches) -> tuple[np.ndarray, float]:
    """Probabilities for every review and the inference throughput in reviews per second."""
    started = time.perf_counter()
    probabilities = predict_proba(model, batches, INFERENCE_BATCH)
    return probabilities, len(batches) / (time.perf_counter() - started)
