import numpy as np
import pytest

from stages.model.metrics import classification_metrics

LABELS = ["negative", "neutral", "positive"]


def one_hot(indices: list[int]) -> np.ndarray:
    return np.eye(3)[indices]


def test_hand_checked_example() -> None:
    # truth:      neg neg neu neu pos pos
    # predicted:  neg neu neu neu pos neg
    labels = np.array([0, 0, 1, 1, 2, 2])
    predicted = one_hot([0, 1, 1, 1, 2, 0])
    reference = one_hot([0, 1, 1, 2, 2, 2])  # disagrees at rows 3 and 5
    m = classification_metrics(labels, predicted, reference, LABELS)
    assert m["accuracy"] == pytest.approx(4 / 6)
    # F1 negative: P=1/2, R=1/2 -> 0.5; neutral: P=2/3, R=1 -> 0.8; positive: P=1, R=1/2 -> 2/3
    assert m["f1_per_class"] == pytest.approx({"negative": 0.5, "neutral": 0.8, "positive": 2 / 3})
    assert m["f1_macro"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert m["agreement"] == pytest.approx(4 / 6)
    assert m["max_abs_prob_diff"] == 1.0
    assert m["mean_abs_prob_diff"] == pytest.approx(4 / 18)


def test_weighted_f1_weighs_each_class_by_its_examples() -> None:
    # truth:      neg neg neg neg neu pos   (4, 1, 1 examples)
    # predicted:  neg neg neg neu neu neg
    labels = np.array([0, 0, 0, 0, 1, 2])
    predicted = one_hot([0, 0, 0, 1, 1, 0])
    m = classification_metrics(labels, predicted, predicted, LABELS)
    # negative: P=3/4, R=3/4 -> 0.75; neutral: P=1/2, R=1 -> 2/3; positive: never predicted -> 0
    assert m["f1_per_class"] == pytest.approx({"negative": 0.75, "neutral": 2 / 3, "positive": 0.0})
    assert m["f1_macro"] == pytest.approx((0.75 + 2 / 3) / 3)
    assert m["f1_weighted"] == pytest.approx((4 * 0.75 + 2 / 3) / 6)


def test_class_absent_from_predictions_scores_zero_without_warning() -> None:
    labels = np.array([0, 1, 2])
    predicted = one_hot([0, 0, 0])
    m = classification_metrics(labels, predicted, predicted, LABELS)
    assert m["f1_per_class"]["neutral"] == 0.0 and m["agreement"] == 1.0
