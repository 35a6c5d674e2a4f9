"""Following birds from frame to frame: boxes in, tracks with stable ids out.

In the spirit of SORT and ByteTrack, kept small: each track predicts where its bird is now from a
constant-velocity motion model; detections are matched to the predictions by overlap, the sure ones
first, then the doubtful ones, which may only continue a track, never start one (ByteTrack's idea:
a bird half hidden or blurred still scores something). A track is confirmed after a few hits, so a
box the detector saw once is never shown, and deleted once it has been looked for and not found for a
while. The scene pass looks at part of the frame in some frames (a tile, a bird's neighbourhood), so
update() is told where the detector looked: a track elsewhere was not missed, only not looked for.

Qt-free and model-free: boxes are (x, y, w, h) in frame pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from birdcam.errors import OptionsError
from birdcam.models.boxes import Box, iou, overlap_area
from birdcam.util.checks import at_least, between


@dataclass(frozen=True)
class TrackerOptions:
    """How detections become tracks."""

    start_score: float = 0.3
    """A detection this sure may start a new track."""
    keep_score: float = 0.1
    """A detection this sure may continue an existing track (below start_score it cannot start one)."""
    match_iou: float = 0.2
    """Least overlap (intersection over union) between a track's predicted box and a detection to match them."""
    confirm_hits: int = 3
    """Hits a track needs before it is confirmed (shown)."""
    confirm_within_s: float = 1.0
    """A new track that does not reach confirm_hits within this time, or is missed twice in a row, is dropped."""
    lost_after_s: float = 1.5
    """A track looked for and not found for this long is deleted, and so is one the detector has missed for this
    long."""
    forget_after_s: float = 4.0
    """A track not even looked for this long is deleted (its prediction means little by then)."""
    max_size_change: float = 2.5
    """A detection whose area differs from the track's by more than this factor is not its bird (a group, a part)."""
    box_gain: float = 0.6
    """How far a hit moves the box from the prediction to the detection (0-1)."""
    velocity_gain: float = 0.4
    """How far a hit moves the velocity towards the one it implies (0-1)."""

    def __post_init__(self) -> None:
        between(self, "start_score", 0, 1)
        if not 0 <= self.keep_score <= self.start_score:
            raise OptionsError(f"TrackerOptions.keep_score must be between 0 and start_score, not {self.keep_score!r}")
        between(self, "match_iou", 0, 1)
        at_least(self, "confirm_hits", 1)
        for field in ("confirm_within_s", "lost_after_s", "forget_after_s"):
            at_least(self, field, 0)
        at_least(self, "max_size_change", 1)
        between(self, "box_gain", 0, 1)
        between(self, "velocity_gain", 0, 1)


@dataclass
class Track:
    """One bird being followed. Mutated by the Tracker only."""

    id: int
    box: Box
    """Where the bird was last estimated to be (at `t`)."""
    t: float
    """Time of `box`."""
    first_seen: float
    last_seen: float
    """Time of the last hit or follow."""
    last_hit: float = 0.0
    """Time of the last detector hit."""
    velocity: tuple[float, float] = (0.0, 0.0)
    """Centre velocity, pixels per second."""
    hits: int = 1
    score: float = 0.0
    """Detector score of the last hit."""
    best_score: float = 0.0
    """Best detector score of any hit."""
    confirmed: bool = False
    last_looked: float = 0.0
    """Last time the detector looked where this track was expected."""
    misses: int = 0
    """Looks in a row (by the detector or by other means) that did not find it."""
    detector_misses: int = 0
    """Detector looks in a row that did not find it (following it by other means does not reset this)."""
    matched_now: bool = False
    """Hit by the detector (or followed) in the last update."""
    detected: Box | None = None
    """The detector's box of the last hit (the track's `box` blends it with the prediction)."""

    def predicted(self, t: float) -> Box:
        """Where the bird should be at time t."""
        dt = max(0.0, t - self.t)
        x, y, w, h = self.box
        return x + self.velocity[0] * dt, y + self.velocity[1] * dt, w, h


class Tracker:
    """Turns each frame's detections into tracks. One per source; not thread-safe."""

    def __init__(self, options: TrackerOptions = TrackerOptions(), first_id: int = 1):
        self.options = options
        self._tracks: list[Track] = []
        self._next_id = first_id

    @property
    def tracks(self) -> tuple[Track, ...]:
        """Every live track, confirmed or not, oldest first."""
        return tuple(self._tracks)

    @property
    def confirmed(self) -> tuple[Track, ...]:
        return tuple(track for track in self._tracks if track.confirmed)

    def reset(self) -> None:
        """Forgets every track (ids keep counting up)."""
        self._tracks.clear()

    def new_id(self) -> int:
        """An id no track has had: the scene pass gives whole-frame birds ids from the same counter."""
        track_id, self._next_id = self._next_id, self._next_id + 1
        return track_id

    def update(
        self,
        boxes: Sequence[Box],
        scores: Sequence[float],
        t: float,
        looked: Sequence[Box] | None = None,
        *,
        start_confirmed: bool | Sequence[bool] = False,
    ) -> tuple[Track, ...]:
        """Takes one frame's detections (boxes and scores) at time t; returns the live tracks.

        `looked`: the regions the detector searched (None: the whole frame). A track whose predicted box
        lies mostly outside them is carried forward on its prediction, neither hit nor missed.
        `start_confirmed`: new tracks are confirmed at once: all (a still photo, which cannot be seen again), or
        those of the boxes flagged (a box a new shot's first search saw in two regions of the frame).
        """
        options = self.options
        flags = [start_confirmed] * len(boxes) if isinstance(start_confirmed, bool) else list(start_confirmed)
        confirmed_boxes = {_floats(box) for box, flag in zip(boxes, flags) if flag}
        for track in self._tracks:
            track.matched_now = False
            track.detected = None
        predictions = {track.id: track.predicted(t) for track in self._tracks}
        looked_for = [
            track for track in self._tracks if looked is None or _mostly_inside(predictions[track.id], looked)
        ]
        detections = [(_floats(box), float(score)) for box, score in zip(boxes, scores) if score >= options.keep_score]
        sure = [d for d in detections if d[1] >= options.start_score]
        doubtful = [d for d in detections if d[1] < options.start_score]
        # Sure detections first, to every track looked for; then doubtful ones, to the tracks left.
        unmatched_sure = self._match(sure, looked_for, predictions, t)
        self._match(doubtful, [track for track in looked_for if not track.matched_now], predictions, t)
        for track in looked_for:
            track.last_looked = t
            if not track.matched_now:
                track.misses += 1
                track.detector_misses += 1
        for box, score in unmatched_sure:
            if any(_same_bird(box, predictions.get(track.id, track.box), options.match_iou) for track in self._tracks):
                continue  # a second box on a bird already followed (a tile's cut, a different scale): not a new bird
            self._tracks.append(
                Track(
                    self.new_id(),
                    box,
                    t,
                    t,
                    t,
                    last_hit=t,
                    score=score,
                    best_score=score,
                    last_looked=t,
                    confirmed=box in confirmed_boxes or options.confirm_hits <= 1,
                    matched_now=True,
                    detected=box,
                )
            )
        self._tracks = [track for track in self._tracks if not self._expired(track, t)]
        return self.tracks

    def follow(self, track_id: int, box: Box, t: float) -> None:
        """The bird of this track was seen at `box` by other means than the detector (its appearance): it moves
        there and counts as seen, but not as a hit (only the detector confirms a bird)."""
        track = self._find(track_id)
        if track is None:
            return
        self._move(track, box, track.predicted(t), t)
        track.misses = 0
        track.last_seen = t
        track.matched_now = True

    def restart(self, track_id: int) -> None:
        """The bird the detector just boxed on this track is another bird (it looks different): the track
        starts over as a new one there, under a new id, to be confirmed again."""
        track = self._find(track_id)
        if track is None:
            return
        track.id = self.new_id()
        track.hits, track.confirmed, track.velocity = 1, False, (0.0, 0.0)
        track.first_seen = track.last_seen = track.last_hit = track.t
        track.best_score = track.score

    def missed(self, track_id: int, t: float) -> None:
        """The bird of this track was looked for by other means at t and not found."""
        track = self._find(track_id)
        if track is not None and not track.matched_now:
            track.misses += 1

    def _find(self, track_id: int) -> Track | None:
        return next((track for track in self._tracks if track.id == track_id), None)

    def _match(
        self, detections: list[tuple[Box, float]], tracks: list[Track], predictions: dict[int, Box], t: float
    ) -> list[tuple[Box, float]]:
        """Greedy matching by overlap with the predictions, best pairs first; returns the detections left over."""
        pairs = []
        for d, (box, _) in enumerate(detections):
            for track in tracks:
                predicted = predictions[track.id]
                overlap = iou(box, predicted)
                if overlap >= self.options.match_iou and _similar_size(box, predicted, self.options.max_size_change):
                    pairs.append((overlap, d, track))
        pairs.sort(key=lambda pair: -pair[0])
        used: set[int] = set()
        for _, d, track in pairs:
            if d in used or track.matched_now:
                continue
            used.add(d)
            self._hit(track, *detections[d], predictions[track.id], t)
        return [detection for d, detection in enumerate(detections) if d not in used]

    def _hit(self, track: Track, box: Box, score: float, predicted: Box, t: float) -> None:
        options = self.options
        self._move(track, box, predicted, t)
        track.detected = box
        track.hits += 1
        track.misses = track.detector_misses = 0
        track.last_seen = track.last_hit = t
        track.score = score
        track.best_score = max(track.best_score, score)
        track.matched_now = True
        if track.hits >= options.confirm_hits:
            track.confirmed = True

    def _move(self, track: Track, box: Box, predicted: Box, t: float) -> None:
        """Blends an observed box into the track's estimate and its velocity (an alpha-beta filter)."""
        options = self.options
        dt = t - track.t
        gain = options.box_gain
        estimate = (
            _blend(predicted[0], box[0], gain),
            _blend(predicted[1], box[1], gain),
            _blend(predicted[2], box[2], gain),
            _blend(predicted[3], box[3], gain),
        )
        if dt > 0:
            old_cx, old_cy = _centre(track.box)
            new_cx, new_cy = _centre(box)
            implied = ((new_cx - old_cx) / dt, (new_cy - old_cy) / dt)
            gain = options.velocity_gain if track.hits > 1 else 1.0
            track.velocity = (_blend(track.velocity[0], implied[0], gain), _blend(track.velocity[1], implied[1], gain))
        track.box, track.t = estimate, t

    def _expired(self, track: Track, t: float) -> bool:
        options = self.options
        if not track.confirmed:
            return t - track.first_seen > options.confirm_within_s or track.misses >= 2
        if track.misses and t - track.last_seen > options.lost_after_s:
            return True
        if track.detector_misses >= 3 and t - track.last_hit > options.lost_after_s:
            return True  # followed by its look alone for too long: the look may have locked onto the background
        return t - max(track.last_seen, track.last_looked) > options.forget_after_s


def _blend(old: float, new: float, gain: float) -> float:
    """`gain` of the way from old to new."""
    return old + gain * (new - old)


def _floats(box: Sequence[float]) -> Box:
    x, y, w, h = box
    return float(x), float(y), float(w), float(h)


def _centre(box: Box) -> tuple[float, float]:
    return box[0] + box[2] / 2, box[1] + box[3] / 2


def _mostly_inside(box: Box, regions: Sequence[Box]) -> bool:
    """At least 60% of the box lies in one of the regions."""
    area = box[2] * box[3]
    return area > 0 and any(overlap_area(box, region) >= 0.6 * area for region in regions)


def _similar_size(a: Box, b: Box, factor: float) -> bool:
    area_a, area_b = a[2] * a[3], b[2] * b[3]
    return area_a > 0 and area_b > 0 and max(area_a, area_b) <= factor * min(area_a, area_b)


def _same_bird(a: Box, b: Box, match_iou: float) -> bool:
    """Two boxes overlap as much as a match, or most (60%) of the smaller lies inside the other."""
    smaller = min(a[2] * a[3], b[2] * b[3])
    return iou(a, b) >= match_iou or (smaller > 0 and overlap_area(a, b) >= 0.6 * smaller)
