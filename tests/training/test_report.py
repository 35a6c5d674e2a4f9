"""Scores and the calibrated threshold on hand-checked numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from birdcam.training.export import agreement, calibrated_threshold
from birdcam.training.report import score

NAMES = ["A", "B", "C", "D", "E", "F"]


def test_score_counts_accuracy_top5_loss_and_confusions():
    probabilities = np.array(
        [
            [0.7, 0.1, 0.1, 0.05, 0.03, 0.02],  # A, right
            [0.6, 0.3, 0.05, 0.03, 0.01, 0.01],  # B taken for A
            [0.05, 0.05, 0.0, 0.05, 0.05, 0.8],  # C taken for F, C outside the top 5
            [0.1, 0.1, 0.1, 0.6, 0.05, 0.05],  # D, right
        ]
    )
    result = score(probabilities, [0, 1, 2, 3], NAMES, ["a.jpg", "b.jpg", "c.jpg", "d.jpg"])

    assert result["accuracy"] == 0.5
    assert result["top5_accuracy"] == 0.75
    assert result["loss"] == pytest.approx((-math.log(0.7) - math.log(0.3) - math.log(1e-7) - math.log(0.6)) / 4)
    assert result["per_class"]["B"] == {"images": 1, "accuracy": 0.0}
    assert [w["class"] for w in result["worst_classes"][:2]] == ["B", "C"]
    assert result["most_confused"] == [
        {"true": "B", "predicted": "A", "images": 1},
        {"true": "C", "predicted": "F", "images": 1},
    ]
    assert result["mistakes"][0] == {"file": "b.jpg", "true": "B", "predicted": "A"}


def test_the_threshold_lets_at_least_95_percent_of_correct_answers_pass():
    scores = np.arange(1, 101) / 100  # correct answers scored 0.01 ... 1.00
    probabilities = np.stack([scores, 1 - scores], axis=1)
    probabilities[:, 1] = np.minimum(probabilities[:, 1], scores - 1e-6)  # class 0 stays on top
    wrong = np.array([[0.1, 0.9]])

    threshold = calibrated_threshold(np.vstack([probabilities, wrong]), [0] * 100 + [0])

    assert threshold == pytest.approx(0.05)
    assert (scores >= threshold).mean() == 0.96


def test_no_correct_answer_gives_no_threshold_and_agreement_counts_top1():
    assert calibrated_threshold(np.array([[0.2, 0.8]]), [0]) is None
    assert agreement(np.array([[0.6, 0.4], [0.1, 0.9]]), np.array([[0.51, 0.49], [0.6, 0.4]])) == 0.5
