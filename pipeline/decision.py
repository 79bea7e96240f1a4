"""How a probability of positive becomes a label: positive from 0.5 up, in scoring and serving alike.

NumPy only: the served model imports this, and must not bring in scikit-learn or SciPy (its logged requirements
do not list them), yet must decide exactly as the metrics do."""

from __future__ import annotations

import numpy as np


def predicted_labels(probabilities: np.ndarray | float) -> np.ndarray:
    """1 (positive) where the positive-class probability is at least 0.5, else 0, elementwise (a 0-d array for one
    review)."""
    return (np.asarray(probabilities) >= 0.5).astype(int)


def is_right(probabilities: np.ndarray | float, labels: np.ndarray | int) -> np.ndarray | bool:
    return predicted_labels(probabilities) == labels
