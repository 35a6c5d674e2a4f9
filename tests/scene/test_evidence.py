"""SpeciesEvidence on hand-made looks: named at once when sure, steady against odd looks, unknown when unsure."""

from __future__ import annotations

import numpy as np
import pytest

from birdcam.scene.evidence import EvidenceOptions, SpeciesEvidence

CLASSES = 6
BACKGROUND = 5


def look(**scores: float) -> np.ndarray:
    """Probabilities with the given classes (c0..c5, c5 the background) and the rest spread evenly."""
    values = np.zeros(CLASSES, np.float32)
    for name, score in scores.items():
        values[int(name[1:])] = score
    rest = [i for i in range(CLASSES) if values[i] == 0]
    values[rest] = (1.0 - values.sum()) / len(rest)
    return values


def evidence(**options) -> SpeciesEvidence:
    return SpeciesEvidence(CLASSES, BACKGROUND, EvidenceOptions(**options))


def test_a_confident_first_look_names_the_bird_at_once():
    species = evidence(threshold=0.5)
    assert species.add(look(c2=0.8)) == 2
    assert species.score == pytest.approx(0.8)
    assert species.top(2)[0] == (2, pytest.approx(0.8))


def test_an_unsure_bird_stays_unknown():
    species = evidence(threshold=0.5)
    for _ in range(10):
        assert species.add(look(c1=0.35, c3=0.3)) is None
    assert species.index is None and not species.certain
    assert species.score == pytest.approx(0.35)


def test_one_odd_look_does_not_change_the_name_but_steady_evidence_does():
    species = evidence(threshold=0.5, switch_margin=0.15, memory=8)
    for _ in range(5):
        species.add(look(c1=0.8))
    assert species.certain
    assert species.add(look(c3=0.9)) == 1  # a bird turned, a bad crop: one look
    names = [species.add(look(c3=0.9)) for _ in range(12)]
    assert names[-1] == 3  # it was another bird all along (two birds swapped places)
    assert names.index(3) >= 2  # ... but only once the evidence was there


def test_a_name_that_fades_becomes_unknown_rather_than_wrong():
    species = evidence(threshold=0.5, keep_fraction=0.5, memory=4)
    species.add(look(c1=0.7))
    for _ in range(8):
        species.add(look(c1=0.1, c2=0.2, c4=0.2))
    assert species.index is None


def test_the_background_class_names_no_species():
    species = evidence(threshold=0.3, background_limit=0.5)
    assert species.add(look(c5=0.6, c0=0.35)) is None
    assert species.background == pytest.approx(0.6)


def test_weights_count_good_looks_more():
    species = evidence(threshold=0.5, memory=8)
    species.add(look(c2=0.9), weight=1.0)
    species.add(look(c4=0.9), weight=0.1)
    assert species.index == 2 and species.top(1)[0][0] == 2


def test_weaker_looks_add_up_where_one_weaker_look_does_not_name():
    species = evidence(threshold=0.7, first_threshold=0.8, threshold_step=0.05)
    assert species.add(look(c2=0.72)) is None  # one look: 0.8 needed
    assert species.add(look(c2=0.72)) is None  # two: 0.75
    assert species.add(look(c2=0.72)) == 2  # three agreeing looks: 0.7
    sure = evidence(threshold=0.7, first_threshold=0.8)
    assert sure.add(look(c3=0.85)) == 3  # a first look with a high score names at once


def test_a_look_alike_below_the_threshold_never_takes_the_name():
    # A bird of a species the model does not know: its look-alike scores 0.4-0.7 look after look.
    species = evidence()
    for score in [0.6, 0.65, 0.55, 0.68, 0.62, 0.6, 0.66, 0.58, 0.64, 0.61]:
        assert species.add(look(c1=score, c5=0.05)) is None
    assert species.score == pytest.approx(0.62, abs=0.02)
