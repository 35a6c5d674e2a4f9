"""The scene pass: the birds in a frame, each named and followed from frame to frame.

Qt-free; the window, headless mode and `predict` all use it, and in the app it runs inside the
inference process (birdcam/live/inference/).

Without a detector it is the whole-frame pass: the classifier looks at the fitted frame and
LabelSmoother keeps the label steady; a bird it names is one `Bird` whose box is the region the
classifier saw. With a detector, ScenePass joins its parts, each with its own state:

  Search       (search.py)    which region the detector looks at in this frame
  Tracker      (tracker.py)   the detector's boxes become tracks with stable ids
  Follower     (follow.py)    each bird followed by its look between detector passes
  Naming       (naming.py)    which birds' crops the classifier looks at; each bird's evidence names it
  CloseUps     (closeups.py)  the whole-frame pass beside the detector: close-ups, its own bird
  CutDetector  (cuts.py)      a new shot forgets every bird
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from birdcam.models.boxes import Box, PixelBox, iou, non_maximum_suppression, overlap_area, pixel_box
from birdcam.models.classifier import Category, Classifier, Result
from birdcam.models.labels import Label
from birdcam.scene.closeups import CloseUps
from birdcam.scene.cuts import CutDetector
from birdcam.scene.evidence import EvidenceOptions, SpeciesEvidence
from birdcam.scene.follow import Follower
from birdcam.scene.naming import Naming
from birdcam.scene.options import SceneOptions
from birdcam.scene.search import Search, SearchPlan, usable
from birdcam.scene.smoothing import LabelSmoother, Shown
from birdcam.scene.tracker import Track, Tracker

if TYPE_CHECKING:
    from birdcam.models.detector import Detector

STILL_NMS_IOU = 0.45
"""Boxes of one search everywhere (a still, a new shot's sweep) from overlapping regions of the search plan that
overlap more than this are one bird."""
SWEEP_SIGHTINGS = 2
"""A box a new shot's sweep saw in this many regions of the search plan (two views, at two scales or places) starts a
confirmed track; a box seen in one region only is confirmed by later passes, as a box seen once never is shown."""


@dataclass(frozen=True)
class Bird:
    """One bird the scene pass shows."""

    track: int
    """Stable id of this bird while it stays in view (a new id when it comes back)."""
    box: PixelBox
    """Where it is, in frame pixels rounded to whole pixels."""
    label: Label | None
    """Its species; None: a bird of a species this model does not know."""
    index: int | None
    """The model's output index of `label`; None with it."""
    score: float
    """Confidence in `label` (0-1), or, for an unknown species, in it being a bird."""
    top: tuple[Category, ...]
    """The best classes for this bird and their scores, best first (runners-up for the overlay)."""
    whole_frame: bool = False
    """Named by the whole-frame pass (a close-up) rather than found by the detector."""
    closeup: bool = False
    """Found by the detector and filling the whole-frame pass's view, which names it: a close-up."""

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
    """The birds to show, most confident first: named before unknown, a close-up (named by the detector and the
    whole frame both) before the others, then by score; empty: no bird."""
    whole: Shown
    """The whole-frame pass's smoothed label (the classifier on the whole fitted frame)."""
    probabilities: np.ndarray
    """The whole-frame probabilities, float32 over every output: this frame's, or with a detector pass on it and
    `whole_frame_between_passes`, the last frame's the classifier looked at."""
    timings: SceneTimings
    """Where the time went."""

    @property
    def is_bird(self) -> bool:
        return bool(self.birds)

    @property
    def top(self) -> Bird | None:
        """The most confident bird (the big panel), None when there is none."""
        return self.birds[0] if self.birds else None


class ScenePass:
    """Frames in, birds out. One per source and model; not thread-safe; `close()` closes the models.

    `detector` None: the whole-frame pass only (a bird filling the frame).
    A detector should report boxes down to `options.tracking.keep_score` (its own score threshold no higher).
    """

    def __init__(
        self, classifier: Classifier, detector: Detector | None = None, options: SceneOptions = SceneOptions()
    ):
        self.classifier = classifier
        self.detector = detector
        self.options = options
        self._smoother = self._new_smoother()
        self._tracker = Tracker(options.tracking)
        self._search = Search(options, detector.input_size if detector is not None else (0, 0))
        self._follower = Follower(options)
        self._naming = Naming(classifier, options, self._naming_options())
        self._closeups = CloseUps(options)
        self._cuts = CutDetector()
        self._sweep_due = True
        """The next frame is the first of a shot: the detector searches all of it (options.sweep_new_shot)."""
        self._last_whole: tuple[Result, Shown] | None = None
        """The whole-frame pass's last result and smoothed label (options.whole_frame_between_passes)."""

    @property
    def labels(self) -> tuple[Label, ...]:
        return self.classifier.labels

    @property
    def threshold(self) -> float:
        """The score a species needs: the options' threshold, else the classifier's."""
        return self.options.threshold if self.options.threshold is not None else float(self.classifier.threshold)

    def set_options(self, options: SceneOptions) -> None:
        """New options take effect on the next frame. A new threshold, smoothing or motion search (the app's still
        camera) keeps the birds followed and what is known of their species (a slider or a tick must not make them
        vanish); any other change starts them over. The whole-frame label starts over either way."""
        kept = {name: getattr(self.options, name) for name in ("threshold", "smoothing", "motion_search")}
        keeps_birds = dataclasses.replace(options, **kept) == self.options
        self.options = options
        self._smoother = self._new_smoother()
        self._last_whole = None
        self._tracker.options = options.tracking
        self._search.options = self._follower.options = self._closeups.options = options
        self._naming.set_options(options, self._naming_options())
        if not keeps_birds:
            self.reset()

    def set_species(self, allow, deny) -> None:
        """Species lists (allow None: every species); see Classifier.set_species_filter."""
        self.classifier.set_species_filter(allow, deny)

    def reset(self) -> None:
        """Forgets every bird (a new source, a seek)."""
        self._smoother.reset()
        self._cuts.reset()
        self._closeups.reset()
        self._new_shot()

    def process(self, frame: np.ndarray, t: float) -> SceneResult:
        """Finds, names and follows the birds in one BGR frame captured at time t (seconds, monotonic)."""
        if self.detector is None:
            return self._whole_frame_only(frame, t)
        start = time.perf_counter()
        if self._cuts.changed(frame, t):
            self._new_shot()
        self._search.watch(frame)
        detected = True
        if self._sweep_due and self.options.sweep_new_shot:
            tracks, detector_ms = self._sweep(self.detector, frame, t)
        elif self._search.due(t):
            tracks, detector_ms = self._detect(self.detector, frame, t)
        else:
            tracks, detector_ms = self._tracker.update([], [], t, looked=()), 0.0  # every bird goes by its look
            detected = False
        self._follower.update(frame, self._tracker, tracks, t)
        tracks = self._tracker.tracks
        live = {track.id for track in tracks}
        self._naming.keep(live)
        self._follower.keep(live)
        whole, shown, whole_ms = self._whole_frame(frame, t, detected)
        crops_ms = self._naming.look_at(frame, self._naming.to_look_at(tracks, t), t)
        return self._result(frame, tracks, whole, shown, t, start, detector_ms, whole_ms + crops_ms)

    def process_still(self, frame: np.ndarray) -> SceneResult:
        """Finds and names the birds in one photo on its own (`birdcam predict`); forgets the past.

        Showing a still to process() for a while would only repeat the same pixels to the same models:
        no new evidence, only time. So every region of the search plan is searched once, a box the
        detector is sure of (tracking.start_score) stands for a bird at once (a photo cannot confirm it
        by being seen again), and each bird's crop and the whole frame are classified once.
        """
        self.reset()
        if self.detector is None:
            return self._whole_frame_only(frame, 0.0)
        start = time.perf_counter()
        boxes, scores, _, detector_ms = self._search_everywhere(self.detector, frame, 0.0)
        tracks = self._tracker.update(boxes, scores, 0.0, start_confirmed=True)
        crops_ms = self._naming.look_at(frame, tracks, 0.0)
        whole = self.classifier.classify(frame)
        shown = self._smoother.update(whole.probabilities, 0.0)
        return self._result(
            frame, tracks, whole, shown, 0.0, start, detector_ms, crops_ms + whole.timings.total_ms, looks_for_a_bird=1
        )

    def close(self) -> None:
        self.classifier.close()
        if self.detector is not None:
            self.detector.close()

    def __enter__(self) -> ScenePass:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _whole_frame_only(self, frame: np.ndarray, t: float) -> SceneResult:
        start = time.perf_counter()
        whole = self.classifier.classify(frame)
        shown = self._smoother.update(whole.probabilities, t)
        whole_id = self._closeups.whole_frame_id(shown.is_bird, shown.index, self._tracker.new_id)
        birds: tuple[Bird, ...] = ()
        if whole_id is not None:
            box = self.classifier.fitted_region(frame.shape)
            birds = (Bird(whole_id, box, shown.label, shown.index, shown.score, shown.top, whole_frame=True),)
        return self._ending(birds, whole, shown, start, 0.0, whole.timings.total_ms)

    def _whole_frame(self, frame: np.ndarray, t: float, detected: bool) -> tuple[Result, Shown, float]:
        """The whole-frame pass: the classifier's result on the whole frame, its smoothed label, and the classifier's
        milliseconds. With `whole_frame_between_passes`, a frame the detector searched keeps the last look while
        that showed no bird (a shot's first frame is always looked at)."""
        last = self._last_whole
        if detected and self.options.whole_frame_between_passes and last is not None and not last[1].is_bird:
            return *last, 0.0
        whole = self.classifier.classify(frame)
        shown = self._smoother.update(whole.probabilities, t)
        self._last_whole = (whole, shown)
        return whole, shown, whole.timings.total_ms

    def _new_shot(self) -> None:
        """Forgets every followed bird (a cut, time running back, a new source); ids keep counting up."""
        self._sweep_due = True
        self._last_whole = None
        self._tracker.reset()
        self._search.reset()
        self._follower.reset()
        self._naming.reset()
        self._closeups.forget_shot()

    def _detect(self, detector: Detector, frame: np.ndarray, t: float) -> tuple[tuple[Track, ...], float]:
        """One detector pass over the region due; the tracks it updated, and its milliseconds."""
        options = self.options
        region, searching = self._search.next_region(frame.shape, self._tracker.tracks, t)
        found = detector.detect(frame, roi=region)
        birds = [d for d in found.birds if d.score >= options.tracking.keep_score]
        kept = [d for d in birds if self._usable(d.box, region, frame.shape)]
        if searching:
            doubtful = [d for d in birds if d not in kept or d.score < options.tracking.start_score]
            self._search.probe_later(doubtful, self._tracker.tracks, frame.shape, t)
        tracks = self._tracker.update([d.box for d in kept], [d.score for d in kept], t, looked=(region,))
        self._closeups.note_view(found, region, self.classifier.fitted_region(frame.shape), t)
        return tracks, found.timings.total_ms

    def _sweep(self, detector: Detector, frame: np.ndarray, t: float) -> tuple[tuple[Track, ...], float]:
        """The first frame of a shot searched everywhere: every region of the search plan at once, rather than one a
        pass, so that the birds already there are boxed in this frame rather than over the plan's second."""
        self._sweep_due = False
        boxes, scores, seen_in, detector_ms = self._search_everywhere(detector, frame, t)
        self._search.searched_everywhere(t)
        confirmed = [n >= SWEEP_SIGHTINGS for n in seen_in]
        return self._tracker.update(boxes, scores, t, start_confirmed=confirmed), detector_ms

    def _search_everywhere(
        self, detector: Detector, frame: np.ndarray, t: float
    ) -> tuple[list[Box], list[float], list[int], float]:
        """Every region of the search plan searched once: the sure, usable bird boxes (one per bird: the regions
        overlap), their scores, in how many regions each was seen, and the detector's milliseconds."""
        detector_ms = 0.0
        boxes: list[Box] = []
        scores: list[float] = []
        view = self.classifier.fitted_region(frame.shape)
        for region in SearchPlan((frame.shape[0], frame.shape[1]), self.options.tile_sizes).regions:
            found = detector.detect(frame, roi=region)
            detector_ms += found.timings.total_ms
            self._closeups.note_view(found, region, view, t)
            for bird in found.birds:
                if bird.score >= self.options.tracking.start_score and self._usable(bird.box, region, frame.shape):
                    boxes.append(bird.box)
                    scores.append(float(bird.score))
        kept = non_maximum_suppression(boxes, scores, iou_threshold=STILL_NMS_IOU)
        seen_in = [sum(iou(boxes[i], box) >= STILL_NMS_IOU for box in boxes) for i in kept]
        return [boxes[i] for i in kept], [scores[i] for i in kept], seen_in, detector_ms

    def _usable(self, box: Box, region: PixelBox, shape: tuple[int, ...]) -> bool:
        return usable(box, region, shape, self.options.min_bird_px)

    def _result(
        self,
        frame: np.ndarray,
        tracks: tuple[Track, ...],
        whole: Result,
        shown: Shown,
        t: float,
        start: float,
        detector_ms: float,
        classifier_ms: float,
        looks_for_a_bird: int | None = None,
    ) -> SceneResult:
        """The ending of process() and process_still(): the birds to show, and the frame's result. A bird of no
        known species needs `looks_for_a_bird` looks (default: options.unknown_looks; a still is looked at once)."""
        looks = self.options.unknown_looks if looks_for_a_bird is None else looks_for_a_bird
        birds = self._birds(frame.shape, tracks, shown, t, looks)
        return self._ending(birds, whole, shown, start, detector_ms, classifier_ms)

    def _ending(
        self,
        birds: tuple[Bird, ...],
        whole: Result,
        shown: Shown,
        start: float,
        detector_ms: float,
        classifier_ms: float,
    ) -> SceneResult:
        total_ms = (time.perf_counter() - start) * 1e3
        return SceneResult(birds, shown, whole.probabilities, SceneTimings(detector_ms, classifier_ms, total_ms))

    def _birds(
        self, shape: tuple[int, ...], tracks: tuple[Track, ...], whole: Shown, t: float, looks_for_a_bird: int
    ) -> tuple[Bird, ...]:
        """Confirmed tracks seen lately that the classifier does not call background, named by their evidence;
        a close-up is named by the whole-frame pass; the whole-frame pass's bird on its own when no track it
        saw is shown (a close-up the detector misses)."""
        shown = self._shown_tracks(tracks, t)
        view = self.classifier.fitted_region(shape)
        in_view, closeup = self._closeups.in_view(shown, view)
        top_k = self.options.smoothing.top_k
        birds = []
        for track, evidence in shown:
            box, track_id = pixel_box(track.predicted(t)), self._closeups.shown_id(track.id)
            if track is closeup and whole.is_bird:
                birds.append(Bird(track_id, box, whole.label, whole.index, whole.score, whole.top, closeup=True))
            elif evidence.index is not None:
                label = self.labels[evidence.index]
                birds.append(Bird(track_id, box, label, evidence.index, evidence.score, self._ranked(evidence, top_k)))
            elif self._sure_it_is_a_bird(track, evidence, looks_for_a_bird):
                birds.append(Bird(track_id, box, None, None, track.best_score, self._ranked(evidence, top_k)))
        whole_id = self._closeups.whole_frame_id(
            whole.is_bird and not in_view and self._closeups.may_show_whole_frame_bird(tracks, view, t),
            whole.index,
            self._tracker.new_id,
        )
        if whole_id is not None:
            birds.append(Bird(whole_id, view, whole.label, whole.index, whole.score, whole.top, whole_frame=True))
        birds.sort(key=lambda bird: (not bird.known, not (bird.closeup or bird.whole_frame), -bird.score))
        return tuple(birds)

    def _shown_tracks(self, tracks: tuple[Track, ...], t: float) -> list[tuple[Track, SpeciesEvidence]]:
        """The tracks to show, with their evidence: confirmed, looked at, seen lately, not background to the
        classifier, and not a box around another shown bird and its surroundings."""
        options = self.options
        shown: list[tuple[Track, SpeciesEvidence]] = []
        for track in tracks:
            evidence = self._naming.evidence(track.id)
            if (
                not track.confirmed
                or evidence is None
                or track.misses >= options.hide_after_misses
                or t - track.last_seen > options.hide_after_s
            ):
                continue
            if evidence.background >= evidence.options.background_limit:
                continue
            shown.append((track, evidence))
        return [
            (track, evidence)
            for track, evidence in shown
            if not any(_holds(track.box, other.box) for other, _ in shown if other is not track)
        ]

    def _sure_it_is_a_bird(self, track: Track, evidence: SpeciesEvidence, looks_needed: int) -> bool:
        """A bird no species is named for may be shown as a bird of a species the model does not know: the detector
        was sure of it and the classifier, looking `looks_needed` times, takes it for a bird. A fish or a dragonfly
        the detector doubted is not "a bird"."""
        options = self.options
        return (
            track.best_score >= options.unknown_box_score
            and evidence.looks >= looks_needed
            and evidence.background <= options.unknown_background
        )

    def _ranked(self, evidence: SpeciesEvidence, k: int) -> tuple[Category, ...]:
        """The k classes a bird's looks rank best, best first."""
        return tuple(Category(index, self.labels[index], score) for index, score in evidence.top(k))

    def _naming_options(self) -> EvidenceOptions:
        """The naming options with their threshold raised to the scene's when that is higher."""
        naming = self.options.naming
        return dataclasses.replace(naming, threshold=max(naming.threshold, self.threshold))

    def _new_smoother(self) -> LabelSmoother:
        options = dataclasses.replace(self.options.smoothing, threshold=self.threshold)
        return LabelSmoother(self.classifier.labels, self.classifier.background_index, options)


def _holds(outer: Box, inner: Box) -> bool:
    """The outer box is much larger and holds most of the inner one: a box around a bird and its surroundings."""
    inner_area = inner[2] * inner[3]
    return outer[2] * outer[3] >= 2.5 * inner_area and overlap_area(outer, inner) >= 0.6 * inner_area
