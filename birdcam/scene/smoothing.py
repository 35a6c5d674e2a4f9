"""Which label to show: a time-based moving average of the probabilities, hysteresis, and scene changes.

Frame by frame, a model's top class flickers between look-alike species and across the no-bird
threshold. LabelSmoother averages the probabilities with a time constant (so the result does not
depend on the frame rate) and only changes the shown label once a new one has led for a while.
A scene change (a bird flies in or off, the camera turns) restarts the average, so a bird that
left is not shown over an empty scene and a new one is named without waiting for the average;
for switch_after_s after a scene change the label follows the average without hysteresis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from birdcam.models.classifier import DEFAULT_THRESHOLD, Category
from birdcam.models.labels import Label
from birdcam.models.scores import bird_class_mask, top_k
from birdcam.util.checks import at_least, between


@dataclass(frozen=True)
class SmoothingOptions:
    """How the shown label follows the model's per-frame probabilities."""

    enabled: bool = True
    """False: show each frame's own result (no averaging, no hysteresis)."""
    time_constant_s: float = 0.3
    """Time constant of the exponential moving average of the probabilities."""
    switch_after_s: float = 0.4
    """A new species (or "no bird") must lead this long before the shown label changes."""
    threshold: float = DEFAULT_THRESHOLD
    """The averaged top score a bird needs; below it, or on the background class, "no bird"."""
    background_limit: float = 0.1
    """Also "no bird" while the background class has at least this much (the model doubts); 1 turns it off."""
    cut_distance: float = 0.6
    """Total-variation distance between a frame and the average above which the scene has changed."""
    top_k: int = 3
    """How many classes Shown.top lists."""

    def __post_init__(self) -> None:
        at_least(self, "time_constant_s", 0)
        at_least(self, "switch_after_s", 0)
        for field in ("threshold", "background_limit", "cut_distance"):
            between(self, field, 0, 1)
        at_least(self, "top_k", 1)


@dataclass(frozen=True)
class Shown:
    """What the overlay draws for one frame."""

    index: int | None
    """The shown class, None for "no bird"."""
    label: Label | None
    """Its label, None for "no bird"."""
    score: float
    """The averaged probability of the shown class; for "no bird", the best bird class's (how close it came)."""
    is_bird: bool
    """A bird is shown."""
    top: tuple[Category, ...]
    """The top classes and their averaged probabilities, best first."""


class LabelSmoother:
    """Turns a stream of probability vectors into the label to show. One per source and model; not thread-safe."""

    def __init__(
        self, labels: Sequence[Label], background_index: int | None, options: SmoothingOptions = SmoothingOptions()
    ):
        self.labels = tuple(labels)
        self.background_index = background_index
        self.options = options
        self._bird_classes = bird_class_mask(len(self.labels), background_index)
        self.reset()

    def reset(self) -> None:
        """Forgets the past (a new source, a seek, a paused feed)."""
        self._average: np.ndarray | None = None
        self._t: float | None = None
        self._shown: int | None = None
        self._leader: int | None = None
        self._leading_since: float | None = None
        self._unconfirmed_cut: np.ndarray | None = None
        self._scene_start = 0.0

    def update(self, probabilities: np.ndarray, t: float) -> Shown:
        """Takes one frame's probabilities; t is the capture time (seconds) of that frame."""
        frame = np.array(probabilities, dtype=np.float32).reshape(-1)  # a copy: it may be kept
        if frame.shape[0] != len(self.labels):
            raise ValueError(f"{frame.shape[0]} probabilities for {len(self.labels)} labels")
        if not self.options.enabled or self._average is None or self._t is None or t < self._t:
            self._restart(frame, t)
        else:
            self._follow(frame, t)
        self._t = t
        return self._shown_now()

    def _follow(self, frame: np.ndarray, t: float) -> None:
        assert self._average is not None and self._t is not None  # update() restarts the average when unset
        if _distance(frame, self._average) > self.options.cut_distance:
            takes_bird_away = self._shown is not None and self._candidate(frame) is None
            confirmed = (
                self._unconfirmed_cut is not None
                and _distance(frame, self._unconfirmed_cut) <= self.options.cut_distance
            )
            if takes_bird_away or confirmed:
                self._restart(frame, t)
            else:
                self._unconfirmed_cut = frame  # one odd frame is not a new scene: wait for a second
            return
        self._unconfirmed_cut = None
        tau = self.options.time_constant_s
        weight = 1.0 - math.exp(-(t - self._t) / tau) if tau > 0 else 1.0
        self._average += weight * (frame - self._average)
        candidate = self._candidate(self._average)
        if candidate == self._shown:
            self._leader = self._leading_since = None
            return
        if candidate != self._leader or self._leading_since is None:
            self._leader, self._leading_since = candidate, t
        settling = t - self._scene_start < self.options.switch_after_s  # no label yet worth holding on to
        if settling or t - self._leading_since >= self.options.switch_after_s:
            self._shown = candidate
            self._leader = self._leading_since = None

    def _restart(self, frame: np.ndarray, t: float) -> None:
        self._average = frame
        self._scene_start = t
        self._shown = self._candidate(frame)
        self._leader = self._leading_since = None
        self._unconfirmed_cut = None

    def _candidate(self, probabilities: np.ndarray) -> int | None:
        """The top class if it is a bird that reaches the threshold with little background, else None."""
        top = int(np.argmax(probabilities))
        if top == self.background_index or probabilities[top] < self.options.threshold:
            return None
        if self.background_index is not None and probabilities[self.background_index] >= self.options.background_limit:
            return None
        return top

    def _shown_now(self) -> Shown:
        average = self._average
        assert average is not None  # update() has set it
        top = tuple(Category(int(i), self.labels[i], float(average[i])) for i in top_k(average, self.options.top_k))
        if self._shown is None:
            bird_scores = average[self._bird_classes]
            return Shown(None, None, float(bird_scores.max()) if bird_scores.size else 0.0, False, top)
        return Shown(self._shown, self.labels[self._shown], float(average[self._shown]), True, top)


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    """Total-variation distance between two probability vectors: 0 same, 1 disjoint."""
    return 0.5 * float(np.abs(a - b).sum())
