"""The scene pass: the birds in a frame, each named and followed from frame to frame.

Qt-free; the window, headless mode and `predict` all use it, and in the app it runs inside the
inference process (birdcam/inference.py). This version is the whole-frame pass: the classifier
looks at the fitted frame and LabelSmoother keeps the label steady; a bird it names is one `Bird`
whose box is the region the classifier saw.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from birdcam.engine import Classifier
from birdcam.labels import Label
from birdcam.smoothing import LabelSmoother, Shown, SmoothingOptions

Box = tuple[int, int, int, int]
"""(x, y, width, height) in frame pixels."""


@dataclass(frozen=True)
class Bird:
    """One bird the scene pass shows."""

    track: int
    """Stable id of this bird while it stays in view (a new id when it comes back)."""
    box: Box
    """Where it is, in frame pixels."""
    label: Label | None
    """Its species; None: a bird of a species this model does not know."""
    index: int | None
    """The model's output index of `label`; None with it."""
    score: float
    """Confidence in `label` (0-1), or, for an unknown species, in it being a bird."""
    top: tuple[tuple[int, float], ...]
    """(class index, score) of the best classes for this bird, best first (runners-up for the overlay)."""
    whole_frame: bool = False
    """Named by the whole-frame pass (a close-up) rather than found by the detector."""

    @property
    def known(self) -> bool:
        return self.label is not None


@dataclass(frozen=True)
class SceneTimings:
    """Milliseconds one frame took in each stage."""

    detector_ms: float
    """Every detector pass of this frame."""
    classifier_ms: float
    """Every classifier pass of this frame (crops and the whole frame)."""
    total_ms: float
    """The whole process() call."""


@dataclass(frozen=True)
class SceneResult:
    """What the scene pass shows for one frame."""

    birds: tuple[Bird, ...]
    """The birds to show, most confident first; empty: no bird."""
    whole: Shown
    """The whole-frame pass's smoothed label (what birdcam showed before it found birds one by one)."""
    probabilities: np.ndarray
    """This frame's whole-frame probabilities, float32 over every output."""
    timings: SceneTimings
    """Where the time went."""

    @property
    def is_bird(self) -> bool:
        return bool(self.birds)

    @property
    def top(self) -> Bird | None:
        """The most confident bird (the big panel), None when there is none."""
        return self.birds[0] if self.birds else None


@dataclass(frozen=True)
class SceneOptions:
    """How the scene pass finds, names and follows birds."""

    smoothing: SmoothingOptions = SmoothingOptions()
    """How the whole-frame label follows the per-frame probabilities (its threshold is replaced by `threshold`)."""
    threshold: float | None = None
    """Score a species needs to be named; None: the classifier's (its model card's, else the default)."""


class ScenePass:
    """Frames in, birds out. One per source and model; not thread-safe; `close()` closes the models."""

    def __init__(self, classifier: Classifier, detector=None, options: SceneOptions = SceneOptions()):
        self.classifier = classifier
        self.detector = detector
        self.options = options
        self._smoother = self._new_smoother()
        self._next_track = 1
        self._whole_track: int | None = None

    @property
    def labels(self) -> tuple[Label, ...]:
        return self.classifier.labels

    @property
    def threshold(self) -> float:
        """The score a species needs, as used now."""
        return self.options.threshold if self.options.threshold is not None else float(self.classifier.threshold)

    def set_options(self, options: SceneOptions) -> None:
        """New options take effect on the next frame; the smoothed label starts over."""
        self.options = options
        self._smoother = self._new_smoother()

    def set_species(self, allow, deny) -> None:
        """Species lists (allow None: every species); see Classifier.set_species_filter."""
        self.classifier.set_species_filter(allow, deny)

    def reset(self) -> None:
        """Forgets every bird (a new source, a seek)."""
        self._smoother.reset()
        self._whole_track = None

    def process(self, frame: np.ndarray, t: float) -> SceneResult:
        """Finds, names and follows the birds in one BGR frame captured at time t (seconds, monotonic)."""
        result = self.classifier.classify(frame)
        shown = self._smoother.update(result.probabilities, t)
        birds: tuple[Bird, ...] = ()
        if shown.is_bird:
            if self._whole_track is None:
                self._whole_track = self._new_track()
            box = self.classifier.fitted_region(frame.shape)
            birds = (Bird(self._whole_track, box, shown.label, shown.index, shown.score, shown.top, whole_frame=True),)
        else:
            self._whole_track = None
        ms = result.timings.total_ms
        return SceneResult(birds, shown, result.probabilities, SceneTimings(0.0, ms, ms))

    def close(self) -> None:
        self.classifier.close()
        if self.detector is not None:
            self.detector.close()

    def __enter__(self) -> ScenePass:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _new_track(self) -> int:
        track, self._next_track = self._next_track, self._next_track + 1
        return track

    def _new_smoother(self) -> LabelSmoother:
        options = dataclasses.replace(self.options.smoothing, threshold=self.threshold)
        return LabelSmoother(self.classifier.labels, self.classifier.background_index, options)
