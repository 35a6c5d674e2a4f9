"""The scene pass: the birds in a frame, each named and followed from frame to frame.

Qt-free; the window, headless mode and `predict` all use it, and in the app it runs inside the
inference process (birdcam/inference.py).

Without a detector it is the whole-frame pass: the classifier looks at the fitted frame and
LabelSmoother keeps the label steady; a bird it names is one `Bird` whose box is the region the
classifier saw. With a detector, each frame gets one detector pass over a region the pass chooses
(see SearchPlan: the whole frame, tiles at full resolution in turn, each bird's neighbourhood),
the tracker follows the boxes, the classifier looks at a few birds' crops per frame and each
track's SpeciesEvidence names it; the whole-frame pass still runs for close-ups the detector misses.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from birdcam.models.boxes import Box, PixelBox, covered_fraction, non_maximum_suppression, overlap_area, pixel_box
from birdcam.models.classifier import Classifier
from birdcam.models.labels import Label
from birdcam.scene.appearance import Appearance
from birdcam.scene.evidence import EvidenceOptions, SpeciesEvidence
from birdcam.scene.smoothing import LabelSmoother, Shown, SmoothingOptions
from birdcam.scene.tracker import Track, Tracker, TrackerOptions

if TYPE_CHECKING:
    from birdcam.models.detector import Detector


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
    top: tuple[tuple[int, float], ...]
    """(class index, score) of the best classes for this bird, best first (runners-up for the overlay)."""
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
    tracking: TrackerOptions = TrackerOptions()
    """How detections become tracks (with a detector)."""
    naming: EvidenceOptions = EvidenceOptions()
    """How the looks at one bird become its name; its threshold is raised to `threshold` when that is higher."""
    tile_sizes: tuple[int, ...] = (448, 544)
    """Sides of the square tiles searched in turn for small birds, in frame pixels (one grid per size); (): whole
    frame only."""
    min_bird_px: int = 24
    """Boxes narrower or lower than this are not followed: too few pixels to name a bird (and mostly a detail
    of something else)."""
    neighbourhood: float = 1.6
    """A bird is followed by searching a square this many times its size around it."""
    crops_per_frame: int = 2
    """Most bird crops the classifier looks at in one frame."""
    crop_margin: float = 1.5
    """The square crop the classifier sees around a bird is this many times the box's longer side. A detector's box
    hugs the bird, and the classifier was trained on photos with room around it: on scene_quality's footage 1.5
    takes 0.042 wrong names a frame where 1.25 took 0.068 (seed 1: 0.002 and 0.025), with about as many right."""
    look_interval_s: float = 0.1
    """A bird whose name is not certain yet is looked at again after this long (while the budget allows)."""
    recheck_s: float = 1.0
    """A bird whose name is certain is looked at again after this long."""
    refresh_s: float = 0.3
    """A bird is searched for in its neighbourhood (to renew its box) after this long."""
    follow_likeness: float = 0.75
    """Between detections a bird is where its look matches this well (normalized cross-correlation)."""
    other_bird_likeness: float = 0.5
    """Two detections in a row on a bird's track that look less like it than this are another bird: a new track."""
    hide_after_misses: int = 3
    """A bird looked for and not found this many times in a row is no longer shown (its track may come back)."""
    hide_after_s: float = 1.0
    """A bird not seen for this long is no longer shown."""
    closeup_fraction: float = 0.15
    """A bird whose box covers this fraction of the whole-frame region is the whole-frame pass's bird (a close-up)."""
    other_object_score: float = 0.5
    """A detection of another class (apples, a cat) this sure counts against the whole-frame pass's bird."""
    other_object_cover: float = 0.25
    """Such detections covering this fraction of the whole-frame region, with no bird box there, mean the view is
    not a close-up of a bird: the whole-frame pass's bird is not shown on its own."""
    not_other_objects: tuple[str, ...] = (
        "person",
        "cat",
        "dog",
        "horse",
        "sheep",
        "cow",
        "elephant",
        "bear",
        "zebra",
        "giraffe",
        "teddy bear",
    )
    """Detector classes that never count against the whole-frame pass's bird: people and animals, which a detector
    sees in close-ups of birds (YOLOX-nano boxes a firecrest as a cat and an ani as a bear)."""
    view_memory_s: float = 2.0
    """What the detector last saw in the whole-frame region holds for this long."""
    detector_interval_s: float = 1 / 15
    """Least time between two detector passes (0: every frame). The detector costs several times the rest of a
    frame (YOLOX-nano: 30 ms on 2 cores); on the frames between, each bird is followed by its look."""


class ScenePass:
    """Frames in, birds out. One per source and model; not thread-safe; `close()` closes the models.

    `detector` None: the whole-frame pass only (a bird filling the frame, as birdcam was before).
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
        self._whole_track: int | None = None
        self._whole_index: int | None = None
        self._cut = CutDetector()
        self._reset_scene()

    @property
    def labels(self) -> tuple[Label, ...]:
        return self.classifier.labels

    @property
    def threshold(self) -> float:
        """The score a species needs, as used now."""
        return self.options.threshold if self.options.threshold is not None else float(self.classifier.threshold)

    def set_options(self, options: SceneOptions) -> None:
        """New options take effect on the next frame. A new threshold or smoothing keeps the birds followed and
        what is known of their species (a threshold slider must not make them vanish); any other change starts
        them over. The whole-frame label starts over either way."""
        keeps_birds = (
            dataclasses.replace(options, threshold=self.options.threshold, smoothing=self.options.smoothing)
            == self.options
        )
        self.options = options
        self._smoother = self._new_smoother()
        self._tracker.options = options.tracking
        if keeps_birds:
            for evidence in self._evidence.values():
                evidence.set_options(self._naming_options())
        else:
            self.reset()

    def set_species(self, allow, deny) -> None:
        """Species lists (allow None: every species); see Classifier.set_species_filter."""
        self.classifier.set_species_filter(allow, deny)

    def reset(self) -> None:
        """Forgets every bird (a new source, a seek)."""
        self._smoother.reset()
        self._whole_track = None
        self._cut = CutDetector()
        self._reset_scene()

    def process(self, frame: np.ndarray, t: float) -> SceneResult:
        """Finds, names and follows the birds in one BGR frame captured at time t (seconds, monotonic)."""
        if self.detector is None:
            return self._whole_frame_only(frame, t)
        start = time.perf_counter()
        if (self._last_t is not None and t < self._last_t) or self._cut.changed(frame):
            self._reset_scene()
        self._last_t = t
        if self._last_detection is None or t - self._last_detection >= self.options.detector_interval_s - _SAME_TIME_S:
            tracks, detector_ms = self._detect(frame, t)
        else:
            tracks, detector_ms = self._tracker.update([], [], t, looked=()), 0.0  # every bird goes by its look
        self._follow(frame, tracks, t)
        tracks = self._tracker.tracks
        live = {track.id for track in tracks}
        self._evidence = {key: value for key, value in self._evidence.items() if key in live}
        self._appearance = {key: value for key, value in self._appearance.items() if key in live}
        whole = self.classifier.classify(frame)
        shown = self._smoother.update(whole.probabilities, t)
        classifier_ms = whole.timings.total_ms + self._look_at(frame, self._to_look_at(tracks, t), t)
        birds_shown = self._birds(frame.shape, tracks, shown, t)
        total_ms = (time.perf_counter() - start) * 1e3
        return SceneResult(birds_shown, shown, whole.probabilities, SceneTimings(detector_ms, classifier_ms, total_ms))

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
        detector_ms = 0.0
        boxes: list[list[float]] = []
        scores: list[float] = []
        for region in SearchPlan(frame.shape[:2], self.options.tile_sizes).regions:
            found = self.detector.detect(frame, roi=region)
            detector_ms += found.timings.total_ms
            self._note_view(found, region, frame.shape, 0.0)
            for bird in found.birds:
                if bird.score >= self.options.tracking.start_score and self._usable(bird.box, region, frame.shape):
                    boxes.append([float(v) for v in bird.box])
                    scores.append(float(bird.score))
        kept = non_maximum_suppression(boxes, scores, iou_threshold=0.45)
        tracks = self._tracker.update(
            [tuple(boxes[i]) for i in kept], [scores[i] for i in kept], 0.0, start_confirmed=True
        )
        classifier_ms = self._look_at(frame, tracks, 0.0)
        result = self.classifier.classify(frame)
        classifier_ms += result.timings.total_ms
        shown = self._smoother.update(result.probabilities, 0.0)
        birds = self._birds(frame.shape, tracks, shown, 0.0)
        total_ms = (time.perf_counter() - start) * 1e3
        return SceneResult(birds, shown, result.probabilities, SceneTimings(detector_ms, classifier_ms, total_ms))

    def close(self) -> None:
        self.classifier.close()
        if self.detector is not None:
            self.detector.close()

    def __enter__(self) -> ScenePass:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- whole frame ---------------------------------------------------------------------------

    def _whole_frame_only(self, frame: np.ndarray, t: float) -> SceneResult:
        start = time.perf_counter()
        result = self.classifier.classify(frame)
        shown = self._smoother.update(result.probabilities, t)
        birds: tuple[Bird, ...] = ()
        if shown.is_bird:
            if self._whole_track is None:
                self._whole_track = self._tracker.new_id()
            box = self.classifier.fitted_region(frame.shape)
            birds = (Bird(self._whole_track, box, shown.label, shown.index, shown.score, shown.top, whole_frame=True),)
        else:
            self._whole_track = None
        total_ms = (time.perf_counter() - start) * 1e3
        return SceneResult(birds, shown, result.probabilities, SceneTimings(0.0, result.timings.total_ms, total_ms))

    # -- with a detector -----------------------------------------------------------------------

    def _reset_scene(self) -> None:
        self._tracker.reset()
        self._evidence: dict[int, SpeciesEvidence] = {}
        self._looked_at: dict[int, float] = {}
        self._appearance: dict[int, Appearance] = {}
        self._unlike: set[int] = set()
        """Tracks whose last detector box did not look like their bird."""
        self._aliases: dict[int, int] = {}
        """Track id -> the id its bird is shown with (that of the whole-frame bird it took over from)."""
        self._plan: SearchPlan | None = None
        self._last_t: float | None = None
        self._last_detection: float | None = None
        self._refreshed = False
        self._probes: list[tuple[PixelBox, float]] = []
        self._view_of_other: float | None = None
        """When the detector last saw the whole-frame region taken by other objects and no bird (None: not lately)."""

    def _detect(self, frame: np.ndarray, t: float) -> tuple[tuple[Track, ...], float]:
        """One detector pass over the region due; the tracks it updated, and its milliseconds."""
        self._last_detection = t
        region, searching = self._region(frame.shape, t)
        found = self.detector.detect(frame, roi=region)
        birds = [d for d in found.birds if d.score >= self.options.tracking.keep_score]
        usable = [d for d in birds if self._usable(d.box, region, frame.shape)]
        if searching:
            doubtful = [d for d in birds if d not in usable or d.score < self.options.tracking.start_score]
            self._probe_later(doubtful, frame.shape, t)
        tracks = self._tracker.update([d.box for d in usable], [d.score for d in usable], t, looked=(region,))
        self._note_view(found, region, frame.shape, t)
        return tracks, found.timings.total_ms

    def _note_view(self, found, region: PixelBox, shape: tuple[int, ...], t: float) -> None:
        """Remembers whether the detector, looking at all of the whole-frame region, found it taken by objects of
        other classes and no bird: apples the classifier calls a parakeet are no close-up of one."""
        fitted = self.classifier.fitted_region(shape)
        if overlap_area(fitted, region) < 0.9 * fitted[2] * fitted[3]:
            return
        others = [
            d.box
            for d in found.others
            if d.score >= self.options.other_object_score and d.label.lower() not in self.options.not_other_objects
        ]
        taken = (
            not any(overlap_area(d.box, fitted) > 0 for d in found.birds)
            and _union_fraction(others, fitted) >= self.options.other_object_cover
        )
        self._view_of_other = t if taken else None

    def _usable(self, box: Box, region: PixelBox, shape: tuple[int, ...]) -> bool:
        """A box big enough to name a bird in, and not cut by an edge of the searched region inside the frame
        (that is part of a bird the region cut: a tile of the search plan shows it whole or the frame does)."""
        if min(box[2], box[3]) < self.options.min_bird_px:
            return False
        x, y, w, h = box
        rx, ry, rw, rh = region
        height, width = int(shape[0]), int(shape[1])
        cut = (
            (rx > 0 and x <= rx + 2)
            or (ry > 0 and y <= ry + 2)
            or (rx + rw < width and x + w >= rx + rw - 2)
            or (ry + rh < height and y + h >= ry + rh - 2)
        )
        return not cut

    def _follow(self, frame: np.ndarray, tracks: tuple[Track, ...], t: float) -> None:
        """Renews the look of each bird the detector just boxed; finds the others by their look.

        A box of about the bird's size on a track that does not look like the bird followed so far is a
        bad box or another bird in its place: the look is kept, and when the next such box does not look
        like it either, it is another bird and its track starts over (under a new id, unnamed).
        """
        for track in tracks:
            appearance = self._appearance.pop(track.id, None)
            if track.detected is None:
                if appearance is None:
                    continue
                box, likeness = appearance.find(frame, track.predicted(t))
                if likeness >= self.options.follow_likeness:
                    self._tracker.follow(track.id, box, t)
                else:
                    self._tracker.missed(track.id, t)
            elif appearance is None:
                appearance = Appearance(frame, track.detected)
            elif not appearance.comparable(track.detected):
                pass  # another box of the bird (its legs, a wing, a tile's cut): the look it had stays
            elif appearance.find(frame, track.detected, reach=0.25)[1] >= self.options.other_bird_likeness:
                appearance.renew(frame, track.detected)
                self._unlike.discard(track.id)
            elif track.id in self._unlike:
                self._unlike.discard(track.id)
                self._tracker.restart(track.id)
                appearance = Appearance(frame, track.detected)
            else:
                self._unlike.add(track.id)
            self._appearance[track.id] = appearance

    def _region(self, shape: tuple[int, ...], t: float) -> tuple[PixelBox, bool]:
        """Where the detector looks in this frame, and whether that is a search for new birds: the
        neighbourhood of a new bird (to confirm it), else a second look at a box a tile cut or doubted,
        else the neighbourhood of a bird not looked at for `refresh_s`, else the next region of the search plan."""
        if self._plan is None or self._plan.shape != shape[:2]:
            self._plan = SearchPlan(shape[:2], self.options.tile_sizes)
        due = [track for track in self._tracker.tracks if self._refresh_due(track, t)]
        new = [track for track in due if not track.confirmed]
        self._probes = [(region, until) for region, until in self._probes if until >= t]
        if new or (due and not self._probes):
            track = min(due, key=lambda tr: (tr.confirmed, tr.last_looked))
            self._refreshed = True
            return neighbourhood(track.predicted(t), self.options.neighbourhood, self.detector.input_size, shape), False
        self._refreshed = False
        if self._probes:
            return self._probes.pop(0)[0], True
        return self._plan.next_region(), True

    def _probe_later(self, boxes, shape: tuple[int, ...], t: float) -> None:
        """Queues a look at the neighbourhood of boxes a search found cut by its region's edge or doubtful, where
        no bird is followed: seen whole, or at another scale, the detector may be sure of them."""
        for detection in boxes:
            if len(self._probes) >= MAX_PROBES:
                return
            if any(overlap_area(detection.box, track.predicted(t)) > 0 for track in self._tracker.tracks):
                continue
            if any(
                overlap_area(detection.box, region) >= 0.5 * detection.box[2] * detection.box[3]
                for region, _ in self._probes
            ):
                continue
            region = neighbourhood(detection.box, self.options.neighbourhood, self.detector.input_size, shape)
            self._probes.append((region, t + PROBE_WITHIN_S))

    def _refresh_due(self, track: Track, t: float) -> bool:
        """New birds are looked for every frame until confirmed; the others every `refresh_s`, at most every
        other frame (so the search goes on), and half as often once their look is lost."""
        if not track.confirmed:
            return True
        if self._refreshed:
            return False
        interval = self.options.refresh_s * (2 if track.misses >= self.options.hide_after_misses else 1)
        return t - track.last_looked >= interval

    def _look_at(self, frame: np.ndarray, tracks, t: float) -> float:
        """The classifier on each track's crop, added to its evidence; returns the milliseconds it took."""
        ms = 0.0
        for track in tracks:
            crop = square_crop(track.predicted(t), self.options.crop_margin, frame.shape)
            result = self.classifier.classify(frame, roi=crop)
            ms += result.timings.total_ms
            self._evidence_for(track.id).add(result.probabilities, 1.0 if track.matched_now else 0.5)
            self._looked_at[track.id] = t
        return ms

    def _to_look_at(self, tracks: tuple[Track, ...], t: float) -> list[Track]:
        """The tracks the classifier looks at in this frame, up to `crops_per_frame`: birds never looked at first,
        then those with the fewest looks; a bird is looked at again after `look_interval_s` while its name is
        uncertain and after `recheck_s` once it is certain."""
        candidates = []
        for track in tracks:
            evidence = self._evidence.get(track.id)
            looks = evidence.looks if evidence is not None else 0
            certain = evidence is not None and evidence.certain
            interval = self.options.recheck_s if certain else self.options.look_interval_s if looks else 0.0
            last = self._looked_at.get(track.id, -math.inf)
            if t - last < interval or track.misses:
                continue
            candidates.append(((certain, looks, last), track))
        candidates.sort(key=lambda pair: pair[0])
        return [track for _, track in candidates[: self.options.crops_per_frame]]

    def _evidence_for(self, track_id: int) -> SpeciesEvidence:
        evidence = self._evidence.get(track_id)
        if evidence is None:
            evidence = SpeciesEvidence(len(self.labels), self.classifier.background_index, self._naming_options())
            self._evidence[track_id] = evidence
        return evidence

    def _naming_options(self) -> EvidenceOptions:
        """The naming options with their threshold raised to the scene's when that is higher."""
        naming = self.options.naming
        return dataclasses.replace(naming, threshold=max(naming.threshold, self.threshold))

    def _birds(self, shape: tuple[int, ...], tracks: tuple[Track, ...], whole: Shown, t: float) -> tuple[Bird, ...]:
        """Confirmed tracks seen lately that the classifier does not call background, named by their evidence;
        a close-up is named by the whole-frame pass; the whole-frame pass's bird on its own when no track it
        saw is shown (a close-up the detector misses)."""
        options = self.options
        shown: list[tuple[Track, SpeciesEvidence]] = []
        for track in tracks:
            evidence = self._evidence.get(track.id)
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
        shown = [
            (track, evidence)
            for track, evidence in shown
            if not any(_holds(track.box, other.box) for other, _ in shown if other is not track)
        ]
        fitted = self.classifier.fitted_region(shape)
        # The tracks the whole-frame pass saw: its bird is one of them, or a bird the detector has not got.
        in_view = [
            (track, evidence)
            for track, evidence in shown
            if overlap_area(track.box, fitted) >= 0.5 * track.box[2] * track.box[3]
        ]
        closeup = max(in_view, key=lambda pair: covered_fraction(pair[0].box, fitted), default=None)
        if closeup is not None and covered_fraction(closeup[0].box, fitted) < options.closeup_fraction:
            closeup = None
        if in_view and self._whole_track is not None:
            self._inherit_whole_frame_id(in_view, closeup)
        birds = []
        for track, evidence in shown:
            box, track_id = pixel_box(track.predicted(t)), self._aliases.get(track.id, track.id)
            if closeup is not None and track is closeup[0] and whole.is_bird:
                birds.append(Bird(track_id, box, whole.label, whole.index, whole.score, whole.top, closeup=True))
            elif evidence.index is not None:
                birds.append(
                    Bird(
                        track_id,
                        box,
                        self.labels[evidence.index],
                        evidence.index,
                        evidence.score,
                        evidence.top(options.smoothing.top_k),
                    )
                )
            else:
                birds.append(Bird(track_id, box, None, None, track.best_score, evidence.top(options.smoothing.top_k)))
        if whole.is_bird and not in_view and self._may_be_closeup(fitted, t):
            if self._whole_track is None:
                self._whole_track = self._tracker.new_id()
                self._whole_index = whole.index
            birds.append(
                Bird(self._whole_track, fitted, whole.label, whole.index, whole.score, whole.top, whole_frame=True)
            )
        else:
            self._whole_track = None
        birds.sort(key=lambda bird: (not bird.known, not (bird.closeup or bird.whole_frame), -bird.score))
        return tuple(birds)

    def _may_be_closeup(self, fitted: PixelBox, t: float) -> bool:
        """The whole-frame pass's bird may be shown on its own: no small bird is being followed in its view (the
        view holds birds the detector sees, and the whole-frame pass blurs them together with their background),
        and the detector did not lately see the view taken by objects of other classes."""
        options = self.options
        for track in self._tracker.tracks:
            if (
                overlap_area(track.box, fitted) >= 0.5 * track.box[2] * track.box[3]
                and covered_fraction(track.box, fitted) < options.closeup_fraction
                and track.misses < options.hide_after_misses
            ):
                return False
        return self._view_of_other is None or t - self._view_of_other > options.view_memory_s

    def _inherit_whole_frame_id(self, shown: list[tuple[Track, SpeciesEvidence]], closeup) -> None:
        """The whole-frame pass named a bird before the detector's track of it was confirmed: the track
        keeps that bird's id (one bird, one id, one visit), when it is the close-up or has the same name."""
        heir = (
            closeup[0]
            if closeup is not None
            else next(
                (
                    track
                    for track, evidence in shown
                    if evidence.index is not None and evidence.index == self._whole_index
                ),
                None,
            )
        )
        if heir is not None and heir.id not in self._aliases:
            self._aliases[heir.id] = self._whole_track

    def _new_smoother(self) -> LabelSmoother:
        options = dataclasses.replace(self.options.smoothing, threshold=self.threshold)
        return LabelSmoother(self.classifier.labels, self.classifier.background_index, options)


_SAME_TIME_S = 1e-3
"""Capture times this close count as equal (frame times are rounded by sources)."""
MAX_PROBES = 4
"""Second looks queued at most (boxes a search found cut or doubtful)."""
PROBE_WITHIN_S = 0.5
"""A second look not taken within this time is dropped (the bird has moved on)."""


class SearchPlan:
    """The regions the detector searches in turn for new birds: the whole frame, then grids of tiles.

    A 416-px pass over a 1280x720 frame shrinks a 200-px bird to 65 px, which the detector mostly
    misses; tiles of 448 px keep birds at about their own size, and visiting one per frame keeps the
    cost of a pass. The tiles of a grid overlap by at least a sixth, so that a bird cut by one edge is
    whole in the next tile; a second grid of another size shows each bird at another scale and place,
    as the detector misses some birds at one and finds them at the other.
    """

    def __init__(self, shape: tuple[int, int], tile_sizes: tuple[int, ...]):
        self.shape = (int(shape[0]), int(shape[1]))
        height, width = self.shape
        self.regions: list[PixelBox] = [(0, 0, width, height)]
        for size in tile_sizes:
            if size > 0 and max(width, height) > 1.25 * size:
                self.regions += [
                    (x, y, min(size, width), min(size, height))
                    for y in _tile_starts(height, size)
                    for x in _tile_starts(width, size)
                ]
        self._next = 0

    def next_region(self) -> PixelBox:
        region = self.regions[self._next]
        self._next = (self._next + 1) % len(self.regions)
        return region


def _tile_starts(length: int, tile: int) -> list[int]:
    """Evenly spread starts of tiles of this size over a length, overlapping by at least a sixth of a tile."""
    if length <= tile:
        return [0]
    count = math.ceil((length - tile) / (tile * 5 / 6)) + 1
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def neighbourhood(box: Box, factor: float, input_size: tuple[int, int], shape: tuple[int, ...]) -> PixelBox:
    """A square around a box, `factor` times its longer side (at least the detector's input, so small birds are
    not enlarged past their pixels' worth), moved inside the frame."""
    side = max(factor * max(box[2], box[3]), float(min(input_size)))
    return _square_inside(box, side, shape)


def square_crop(box: Box, margin: float, shape: tuple[int, ...]) -> PixelBox:
    """The square the classifier sees around a bird: `margin` times the box's longer side, moved inside the frame."""
    return _square_inside(box, margin * max(box[2], box[3]), shape)


def _square_inside(box: Box, side: float, shape: tuple[int, ...]) -> PixelBox:
    height, width = int(shape[0]), int(shape[1])
    side = int(round(min(max(side, 8.0), width, height)))
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    x = int(round(min(max(cx - side / 2, 0), width - side)))
    y = int(round(min(max(cy - side / 2, 0), height - side)))
    return x, y, side, side


def _union_fraction(boxes, region: PixelBox, cells: int = 32) -> float:
    """How much of the region the boxes cover together (on a cells x cells grid)."""
    if not boxes or region[2] <= 0 or region[3] <= 0:
        return 0.0
    covered = np.zeros((cells, cells), bool)
    for x, y, w, h in boxes:
        x0 = int(np.clip(np.floor((x - region[0]) / region[2] * cells), 0, cells))
        x1 = int(np.clip(np.ceil((x + w - region[0]) / region[2] * cells), 0, cells))
        y0 = int(np.clip(np.floor((y - region[1]) / region[3] * cells), 0, cells))
        y1 = int(np.clip(np.ceil((y + h - region[1]) / region[3] * cells), 0, cells))
        covered[y0:y1, x0:x1] = True
    return float(covered.mean())


def _holds(outer: Box, inner: Box) -> bool:
    """The outer box is much larger and holds most of the inner one: a box around a bird and its surroundings."""
    inner_area = inner[2] * inner[3]
    return outer[2] * outer[3] >= 2.5 * inner_area and overlap_area(outer, inner) >= 0.6 * inner_area


class CutDetector:
    """Tells a cut (a new shot, the camera turned) from a tiny grey thumbnail: most of it changed at once."""

    def __init__(self, changed_fraction: float = 0.5, level: float = 40.0):
        self.changed_fraction = changed_fraction
        self.level = level
        self._previous: np.ndarray | None = None

    def changed(self, frame: np.ndarray) -> bool:
        step = max(1, min(frame.shape[0], frame.shape[1]) // 48)
        thumb = frame[::step, ::step].astype(np.float32)
        thumb = thumb.mean(axis=2) if thumb.ndim == 3 else thumb
        previous, self._previous = self._previous, thumb
        if previous is None:
            return False
        if previous.shape != thumb.shape:
            return True  # another source
        return float(np.mean(np.abs(thumb - previous) > self.level)) >= self.changed_fraction
