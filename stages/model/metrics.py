"""Accuracy figures of one variant against the labels and against the reference variant's outputs."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score


def classification_metrics(
    labels: np.ndarray, probabilities: np.ndarray, reference_probabilities: np.ndarray, label_names: list[str]
) -> dict:
    """Accuracy, macro/weighted/per-class F1, confusion matrix, and agreement with the reference variant.

    Agreement and probability differences compare against the reference's *outputs*, not the labels: they say
    whether an optimization changed the model, which stays meaningful even for an untrained stand-in.
    """
    predicted = probabilities.argmax(axis=1)
    reference = reference_probabilities.argmax(axis=1)
    classes = list(range(len(label_names)))
    per_class = f1_score(labels, predicted, labels=classes, average=None, zero_division=0)
    prob_diff = np.abs(probabilities - reference_probabilities)
    return {
        "accuracy": float(accuracy_score(labels, predicted)),
        "f1_macro": float(f1_score(labels, predicted, labels=classes, average="macro", zero_division=0)),
        "f1_weighted": float(f1_score(labels, predicted, labels=classes, average="weighted", zero_division=0)),
        "f1_per_class": {name: float(score) for name, score in zip(label_names, per_class, strict=True)},
        "confusion_matrix": confusion_matrix(labels, predicted, labels=classes).tolist(),
        "agreement": float(np.mean(predicted == reference)),
        "max_abs_prob_diff": float(prob_diff.max()),
        "mean_abs_prob_diff": float(prob_diff.mean()),
    }
