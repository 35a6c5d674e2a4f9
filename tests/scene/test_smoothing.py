"""LabelSmoother: flicker suppression, hysteresis timing, rejection, scene changes; on synthetic and real
probabilities."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from birdcam.models.labels import parse_label
from birdcam.scene.smoothing import LabelSmoother, SmoothingOptions

LABELS = tuple(
    parse_label(text)
    for text in (
        "Aix galericulata (Mandarin Duck)",
        "Aix sponsa (Wood Duck)",
        "Anas crecca (Green-winged Teal)",
        "background",
    )
)
A, B, C, BACKGROUND = range(4)


def probs(**scores: float) -> np.ndarray:
    """A probability vector: the named classes get their scores, the rest is spread evenly."""
    names = {"a": A, "b": B, "c": C, "bg": BACKGROUND}
    vector = np.zeros(len(LABELS), np.float32)
    for name, score in scores.items():
        vector[names[name]] = score
    rest = [i for i in range(len(LABELS)) if vector[i] == 0]
    if rest:
        vector[rest] = (1 - vector.sum()) / len(rest)
    return vector / vector.sum()


def feed(smoother: LabelSmoother, frames, fps: float = 30.0, start: float = 0.0):
    return [smoother.update(frame, start + n / fps) for n, frame in enumerate(frames)]


def changes(shown) -> int:
    return sum(a.index != b.index for a, b in zip(shown, shown[1:]))


def test_flicker_between_look_alikes_is_suppressed():
    frames = [probs(a=0.5, b=0.4) if n % 2 else probs(a=0.4, b=0.5) for n in range(90)]
    raw = feed(LabelSmoother(LABELS, BACKGROUND, SmoothingOptions(enabled=False)), frames)
    smoothed = feed(LabelSmoother(LABELS, BACKGROUND), frames)
    assert changes(raw) == 89
    assert changes(smoothed) == 0
    assert smoothed[-1].is_bird and smoothed[-1].index in (A, B)


def change_time(options: SmoothingOptions, fps: float) -> float:
    """When the shown label turns from A to B after the model's preference moves at t = 2 s."""
    smoother = LabelSmoother(LABELS, BACKGROUND, options)
    for n in range(int(4 * fps)):
        t = n / fps
        shown = smoother.update(probs(a=0.8, b=0.1) if t < 2 else probs(a=0.3, b=0.6), t)
        if t >= 2 and shown.index == B:
            return t - 2
    raise AssertionError("the label never changed to B")


def test_the_label_changes_after_the_average_crosses_and_the_hysteresis():
    # The averages cross after tau * ln(1 / 0.3) (A: 0.3 + 0.5 e^-t/tau, B: 0.6 - 0.5 e^-t/tau), then B must lead 0.4 s.
    assert change_time(SmoothingOptions(), fps=30) == pytest.approx(0.3 * np.log(1 / 0.3) + 0.4, abs=1 / 30 + 1e-6)
    assert change_time(SmoothingOptions(time_constant_s=0.1), fps=30) == pytest.approx(
        0.1 * np.log(1 / 0.3) + 0.4, abs=1 / 30 + 1e-6
    )
    assert change_time(SmoothingOptions(switch_after_s=0), fps=30) == pytest.approx(
        0.3 * np.log(1 / 0.3), abs=1 / 30 + 1e-6
    )


def test_the_delay_does_not_depend_on_the_frame_rate():
    slow, fast = change_time(SmoothingOptions(), fps=10), change_time(SmoothingOptions(), fps=60)
    assert slow == pytest.approx(fast, abs=0.1 + 1e-6)


def test_background_and_low_scores_are_no_bird():
    smoother = LabelSmoother(LABELS, BACKGROUND)
    background = feed(smoother, [probs(bg=0.7, a=0.2)] * 30)[-1]
    assert (background.is_bird, background.index, background.label) == (False, None, None)
    assert background.score == pytest.approx(0.2)  # how close the best bird came
    smoother.reset()
    unsure = feed(smoother, [probs(a=0.28, b=0.24, c=0.24, bg=0.24)] * 30)[-1]
    assert not unsure.is_bird and unsure.score == pytest.approx(0.28)
    lenient = LabelSmoother(LABELS, BACKGROUND, SmoothingOptions(threshold=0.25, background_limit=1.0))
    sure = lenient.update(probs(a=0.28, b=0.24, c=0.24, bg=0.24), 0)
    assert sure.is_bird and sure.label.common_name == "Mandarin Duck" and sure.score == pytest.approx(0.28)


def test_a_bird_with_much_background_is_no_bird():
    doubted = probs(a=0.6, b=0.1, c=0.1, bg=0.2)
    assert not LabelSmoother(LABELS, BACKGROUND).update(doubted, 0).is_bird
    assert LabelSmoother(LABELS, BACKGROUND, SmoothingOptions(background_limit=0.25)).update(doubted, 0).index == A
    assert LabelSmoother(LABELS, None).update(doubted, 0).index == A  # a model without a background class


def test_a_bird_that_leaves_is_dropped_on_the_first_empty_frame():
    smoother = LabelSmoother(LABELS, BACKGROUND)
    assert feed(smoother, [probs(a=0.9)] * 30)[-1].index == A
    gone = smoother.update(probs(bg=0.95), 1.0)
    assert not gone.is_bird


def test_a_new_scene_is_taken_on_its_second_frame_and_one_odd_frame_is_ignored():
    smoother = LabelSmoother(LABELS, BACKGROUND)
    feed(smoother, [probs(bg=0.95)] * 30)
    assert not smoother.update(probs(a=0.9), 1.0).is_bird
    arrived = smoother.update(probs(a=0.9), 1 + 1 / 30)
    assert arrived.index == A and arrived.score == pytest.approx(0.9)

    steady = feed(smoother, [probs(a=0.9)] * 30, start=2)[-1]
    odd = smoother.update(probs(b=0.9), 3.0)
    after = smoother.update(probs(a=0.9), 3 + 1 / 30)
    assert odd.index == after.index == A
    assert odd.score == pytest.approx(steady.score) and after.score == pytest.approx(steady.score)


def test_disabled_smoothing_shows_each_frame_as_it_is():
    smoother = LabelSmoother(LABELS, BACKGROUND, SmoothingOptions(enabled=False))
    shown = feed(smoother, [probs(a=0.6, bg=0.05), probs(b=0.5, bg=0.05), probs(bg=0.9), probs(c=0.4, bg=0.05)])
    assert [s.index for s in shown] == [A, B, None, C]
    assert [round(s.score, 3) for s in shown] == [0.6, 0.5, pytest.approx(1 / 30, abs=1e-3), 0.4]


def test_time_going_back_starts_over():
    smoother = LabelSmoother(LABELS, BACKGROUND)
    feed(smoother, [probs(a=0.9)] * 30, start=10)
    assert smoother.update(probs(c=0.8), 0.0).index == C


def test_top_lists_the_smoothed_classes_best_first():
    smoother = LabelSmoother(LABELS, BACKGROUND, SmoothingOptions(top_k=2))
    shown = smoother.update(probs(a=0.1, b=0.6, c=0.25, bg=0.05), 0)
    assert [category.index for category in shown.top] == [B, C]
    assert [category.label for category in shown.top] == [LABELS[B], LABELS[C]]
    assert [category.score for category in shown.top] == pytest.approx([0.6, 0.25])


def test_wrong_length_is_refused():
    with pytest.raises(ValueError, match="3 probabilities for 4 labels"):
        LabelSmoother(LABELS, BACKGROUND).update(np.ones(3) / 3, 0)


def test_real_model_flicker_on_a_hand_held_shot_is_cut_by_more_than_half(starter_model, shared_dir):
    """The starter model on noisy, shifting frames of hard photos: frame by frame it flickers; smoothed it does not."""
    from birdcam.models.classifier import Classifier

    rng = np.random.default_rng(0)
    photos = sorted((shared_dir / "birds525-sample" / "valid" / "TAKAHE").glob("*.jpg"))[:2] + [
        shared_dir / "images" / "birds" / "mandarin_duck.jpg"
    ]
    frames = []
    for path in photos:
        picture = cv2.resize(cv2.imread(str(path)), (256, 256))
        for _ in range(45):
            dx, dy = rng.integers(0, 32, size=2)
            crop = picture[dy : dy + 224, dx : dx + 224].astype(np.float32)
            frames.append(np.clip(crop + rng.normal(0, 12, crop.shape), 0, 255).astype(np.uint8))
    with Classifier.from_path(starter_model, num_threads=2) as classifier:
        probabilities = [classifier.classify(frame).probabilities for frame in frames]
        labels, background = classifier.labels, classifier.background_index

    def shown_by(options):
        smoother = LabelSmoother(labels, background, options)
        return [smoother.update(p, n / 30) for n, p in enumerate(probabilities)]

    raw, smoothed = shown_by(SmoothingOptions(enabled=False)), shown_by(SmoothingOptions())
    raw_changes = sum(changes(raw[i : i + 45]) for i in (0, 45, 90))
    smoothed_changes = sum(changes(smoothed[i : i + 45]) for i in (0, 45, 90))
    assert raw_changes >= 6
    assert smoothed_changes <= raw_changes / 2
    duck = [s.label.scientific_name if s.is_bird else None for s in smoothed[90:]]
    assert duck.count("Aix galericulata") >= 40
